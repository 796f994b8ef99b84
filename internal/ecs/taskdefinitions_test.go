package ecs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// tdContainer is a minimal valid container definition.
func tdContainer(name string) types.ContainerDefinition {
	return types.ContainerDefinition{Name: aws.String(name), Image: aws.String("busybox:latest"), Memory: aws.Int32(128)}
}

func registerTD(t *testing.T, c *ecs.Client, family string, cs ...types.ContainerDefinition) *types.TaskDefinition {
	t.Helper()
	if len(cs) == 0 {
		cs = []types.ContainerDefinition{tdContainer("app")}
	}
	out := gt.Must(c.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family), ContainerDefinitions: cs,
	}))(t)
	return out.TaskDefinition
}

func deregisterTD(t *testing.T, c *ecs.Client, ref string) *types.TaskDefinition {
	t.Helper()
	out := gt.Must(c.DeregisterTaskDefinition(context.Background(), &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(ref)}))(t)
	return out.TaskDefinition
}

func tdARN(c *ecs.Client, ref string) string {
	return "arn:aws:ecs:" + c.Options().Region + ":" + gt.Account + ":task-definition/" + ref
}

func tdAttrNames(as []types.Attribute) []string {
	var out []string
	for _, a := range as {
		out = append(out, aws.ToString(a.Name))
	}
	return out
}

func TestTaskDefinitionLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	before := time.Now().Add(-time.Second)

	out := gt.Must(c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("web"),
		ContainerDefinitions: []types.ContainerDefinition{tdContainer("app")},
		Tags:                 []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}},
	}))(t)
	td := out.TaskDefinition
	if aws.ToString(td.TaskDefinitionArn) != tdARN(c, "web:1") || td.Revision != 1 || aws.ToString(td.Family) != "web" {
		t.Fatalf("registered %s revision %d", aws.ToString(td.TaskDefinitionArn), td.Revision)
	}
	if td.Status != types.TaskDefinitionStatusActive {
		t.Fatalf("status = %s", td.Status)
	}
	if got := fmt.Sprint(td.Compatibilities); got != "[EXTERNAL EC2]" {
		t.Fatalf("compatibilities = %s", got)
	}
	if aws.ToString(td.RegisteredBy) != "arn:aws:iam::"+gt.Account+":root" {
		t.Fatalf("registeredBy = %s", aws.ToString(td.RegisteredBy))
	}
	if td.RegisteredAt == nil || td.RegisteredAt.Before(before) || td.RegisteredAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("registeredAt = %v", td.RegisteredAt)
	}
	if len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "team" {
		t.Fatalf("register response tags = %+v", out.Tags)
	}
	if ess := td.ContainerDefinitions[0].Essential; ess == nil || !*ess {
		t.Fatalf("essential not defaulted to true: %v", ess)
	}

	// Describe by family, family:revision and ARN; tags only when included.
	for _, ref := range []string{"web", "web:1", tdARN(c, "web:1")} {
		d := gt.Must(c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref)}))(t)
		if d.TaskDefinition.Revision != 1 || len(d.Tags) != 0 {
			t.Fatalf("describe %s = revision %d, tags %v", ref, d.TaskDefinition.Revision, d.Tags)
		}
	}
	d := gt.Must(c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String("web"), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
	}))(t)
	if len(d.Tags) != 1 || aws.ToString(d.Tags[0].Value) != "web" {
		t.Fatalf("describe with TAGS = %+v", d.Tags)
	}

	// A second revision becomes the latest; deregistering it falls back to 1.
	if td2 := registerTD(t, c, "web"); td2.Revision != 2 {
		t.Fatalf("second revision = %d", td2.Revision)
	}
	if d := gt.Must(c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web")}))(t); d.TaskDefinition.Revision != 2 {
		t.Fatalf("latest = %d, want 2", d.TaskDefinition.Revision)
	}
	dr := deregisterTD(t, c, "web:2")
	if dr.Status != types.TaskDefinitionStatusInactive || dr.DeregisteredAt == nil {
		t.Fatalf("deregistered = %s at %v", dr.Status, dr.DeregisteredAt)
	}
	if d := gt.Must(c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web")}))(t); d.TaskDefinition.Revision != 1 {
		t.Fatalf("latest after deregister = %d, want 1", d.TaskDefinition.Revision)
	}
	// An INACTIVE revision can still be described by revision, and
	// deregistering it again returns it unchanged.
	if d := gt.Must(c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:2")}))(t); d.TaskDefinition.Status != types.TaskDefinitionStatusInactive {
		t.Fatalf("describe web:2 = %s", d.TaskDefinition.Status)
	}
	if again := deregisterTD(t, c, tdARN(c, "web:2")); again.Status != types.TaskDefinitionStatusInactive || !again.DeregisteredAt.Equal(*dr.DeregisteredAt) {
		t.Fatalf("deregister again = %s at %v", again.Status, again.DeregisteredAt)
	}

	// Delete: INACTIVE ones go, ACTIVE, unknown and malformed ones fail.
	del := gt.Must(c.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{
		TaskDefinitions: []string{"web:2", "web:1", "web:99", "ghost:1", "not valid!", "web"},
	}))(t)
	if len(del.TaskDefinitions) != 1 || del.TaskDefinitions[0].Status != types.TaskDefinitionStatusDeleteInProgress ||
		del.TaskDefinitions[0].Revision != 2 || del.TaskDefinitions[0].DeleteRequestedAt == nil {
		t.Fatalf("deleted = %+v", del.TaskDefinitions)
	}
	reasons := map[string]string{}
	for _, f := range del.Failures {
		reasons[aws.ToString(f.Arn)] = aws.ToString(f.Reason)
	}
	for ref, want := range map[string]string{"web:1": "still in ACTIVE status", "web:99": "does not exist", "ghost:1": "does not exist", "not valid!": "identifier is invalid", "web": "identifier is invalid"} {
		if !strings.Contains(reasons[ref], want) {
			t.Errorf("failure for %s = %q, want it to mention %q", ref, reasons[ref], want)
		}
	}
	_, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:2")})
	gt.WantCode(t, err, "ClientException")
	if !strings.Contains(err.Error(), "Unable to describe task definition.") {
		t.Fatalf("describe deleted: %v", err)
	}

	// Revision numbers are never reused.
	if td3 := registerTD(t, c, "web"); td3.Revision != 3 {
		t.Fatalf("revision after delete = %d, want 3", td3.Revision)
	}
}

func TestTaskDefinitionRevisionsNeverReused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	registerTD(t, c, "once")
	registerTD(t, c, "once")
	for _, ref := range []string{"once:1", "once:2"} {
		deregisterTD(t, c, ref)
	}
	del := gt.Must(c.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"once:1", "once:2"}}))(t)
	if len(del.TaskDefinitions) != 2 || len(del.Failures) != 0 {
		t.Fatalf("delete = %+v", del)
	}
	// The family is gone from every listing...
	fams := gt.Must(c.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{Status: types.TaskDefinitionFamilyStatusAll}))(t)
	if len(fams.Families) != 0 {
		t.Fatalf("families after deleting every revision = %v", fams.Families)
	}
	_, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("once")})
	gt.WantCode(t, err, "ClientException")
	// ...but its counter remains.
	if td := registerTD(t, c, "once"); td.Revision != 3 {
		t.Fatalf("revision after deleting all = %d, want 3", td.Revision)
	}
}

func TestTaskDefinitionConcurrentRegistrations(t *testing.T) {
	t.Parallel()
	c := gt.Shared(t).ECS()
	const n = 10
	revs := make([]int32, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			out, err := c.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
				Family: aws.String("busy"), ContainerDefinitions: []types.ContainerDefinition{tdContainer(fmt.Sprint("c", i))},
			})
			if err != nil {
				errs <- err
				return
			}
			revs[i] = out.TaskDefinition.Revision
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(revs)
	for i, r := range revs {
		if r != int32(i+1) {
			t.Fatalf("revisions = %v, want 1..%d", revs, n)
		}
	}
}

// TestTaskDefinitionRoundTrip registers definitions that set nearly every
// member of the schema and checks that Describe returns them unchanged.
func TestTaskDefinitionRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()

	kitchen := types.ContainerDefinition{
		Name:                  aws.String("web"),
		Image:                 aws.String("127.0.0.1:4566/web:1.2"),
		Command:               []string{"httpd", "-f", "-p", "80"},
		EntryPoint:            []string{"/bin/sh", "-c"},
		Cpu:                   256,
		Memory:                aws.Int32(512),
		MemoryReservation:     aws.Int32(256),
		Essential:             aws.Bool(true),
		CredentialSpecs:       []string{"credentialspec:file://spec.json"},
		DependsOn:             []types.ContainerDependency{{ContainerName: aws.String("init"), Condition: types.ContainerConditionSuccess}, {ContainerName: aws.String("log-router"), Condition: types.ContainerConditionHealthy}},
		DisableNetworking:     aws.Bool(false),
		DnsSearchDomains:      []string{"example.com"},
		DnsServers:            []string{"10.0.0.2"},
		DockerLabels:          map[string]string{"com.example.tier": "front", "owner": "me"},
		DockerSecurityOptions: []string{"no-new-privileges"},
		Environment:           []types.KeyValuePair{{Name: aws.String("PORT"), Value: aws.String("80")}, {Name: aws.String("MODE"), Value: aws.String("prod")}},
		EnvironmentFiles:      []types.EnvironmentFile{{Type: types.EnvironmentFileTypeS3, Value: aws.String("arn:aws:s3:::bucket/web.env")}},
		ExtraHosts:            []types.HostEntry{{Hostname: aws.String("db"), IpAddress: aws.String("10.0.0.5")}},
		HealthCheck: &types.HealthCheck{Command: []string{"CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"},
			Interval: aws.Int32(10), Timeout: aws.Int32(3), Retries: aws.Int32(4), StartPeriod: aws.Int32(20)},
		Hostname:    aws.String("web"),
		Interactive: aws.Bool(true),
		Links:       []string{"init:setup"},
		LinuxParameters: &types.LinuxParameters{
			Capabilities:       &types.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}},
			Devices:            []types.Device{{HostPath: aws.String("/dev/fuse"), ContainerPath: aws.String("/dev/fuse"), Permissions: []types.DeviceCgroupPermission{types.DeviceCgroupPermissionRead, types.DeviceCgroupPermissionWrite}}},
			InitProcessEnabled: aws.Bool(true),
			MaxSwap:            aws.Int32(1024),
			SharedMemorySize:   aws.Int32(64),
			Swappiness:         aws.Int32(10),
			Tmpfs:              []types.Tmpfs{{ContainerPath: aws.String("/run"), Size: 32, MountOptions: []string{"noexec"}}},
		},
		LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs,
			Options:       map[string]string{"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"},
			SecretOptions: []types.Secret{{Name: aws.String("token"), ValueFrom: aws.String("arn:aws:ssm:us-east-1:123456789012:parameter/token")}}},
		MountPoints:            []types.MountPoint{{SourceVolume: aws.String("data"), ContainerPath: aws.String("/data"), ReadOnly: aws.Bool(true)}},
		PortMappings:           []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080), Protocol: types.TransportProtocolTcp, Name: aws.String("http"), AppProtocol: types.ApplicationProtocolHttp}, {ContainerPort: aws.Int32(53), HostPort: aws.Int32(0), Protocol: types.TransportProtocolUdp}},
		Privileged:             aws.Bool(false),
		PseudoTerminal:         aws.Bool(true),
		ReadonlyRootFilesystem: aws.Bool(true),
		RepositoryCredentials:  &types.RepositoryCredentials{CredentialsParameter: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:registry")},
		ResourceRequirements:   []types.ResourceRequirement{{Type: types.ResourceTypeGpu, Value: aws.String("1")}},
		RestartPolicy:          &types.ContainerRestartPolicy{Enabled: aws.Bool(true), IgnoredExitCodes: []int32{0, 143}, RestartAttemptPeriod: aws.Int32(300)},
		Secrets:                []types.Secret{{Name: aws.String("DB_PASSWORD"), ValueFrom: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:db")}},
		StartTimeout:           aws.Int32(60),
		StopTimeout:            aws.Int32(30),
		SystemControls:         []types.SystemControl{{Namespace: aws.String("net.core.somaxconn"), Value: aws.String("1024")}},
		Ulimits:                []types.Ulimit{{Name: types.UlimitNameNofile, SoftLimit: 1024, HardLimit: 4096}},
		User:                   aws.String("1000:1000"),
		VersionConsistency:     types.VersionConsistencyDisabled,
		VolumesFrom:            []types.VolumeFrom{{SourceContainer: aws.String("init"), ReadOnly: aws.Bool(true)}},
		WorkingDirectory:       aws.String("/srv"),
	}
	initC := tdContainer("init")
	initC.Essential = aws.Bool(false)
	logRouter := tdContainer("log-router")
	logRouter.Essential = aws.Bool(true)
	logRouter.FirelensConfiguration = &types.FirelensConfiguration{Type: types.FirelensConfigurationTypeFluentbit, Options: map[string]string{"enable-ecs-log-metadata": "true"}}
	logRouter.HealthCheck = &types.HealthCheck{Command: []string{"CMD", "true"}, Interval: aws.Int32(30), Timeout: aws.Int32(5), Retries: aws.Int32(3)}
	in := &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("kitchen-sink"),
		ContainerDefinitions: []types.ContainerDefinition{kitchen, initC, logRouter},
		NetworkMode:          types.NetworkModeBridge,
		TaskRoleArn:          aws.String("arn:aws:iam::123456789012:role/web"),
		ExecutionRoleArn:     aws.String("arn:aws:iam::123456789012:role/exec"),
		Cpu:                  aws.String("1024"),
		Memory:               aws.String("2048"),
		PidMode:              types.PidModeTask,
		IpcMode:              types.IpcModeTask,
		PlacementConstraints: []types.TaskDefinitionPlacementConstraint{{Type: types.TaskDefinitionPlacementConstraintTypeMemberOf, Expression: aws.String("attribute:ecs.instance-type =~ t3.*")}},
		Volumes: []types.Volume{
			{Name: aws.String("data"), Host: &types.HostVolumeProperties{SourcePath: aws.String("/srv/data")}},
			{Name: aws.String("cache"), DockerVolumeConfiguration: &types.DockerVolumeConfiguration{Scope: types.ScopeShared, Autoprovision: aws.Bool(true), Driver: aws.String("local"), DriverOpts: map[string]string{"type": "tmpfs"}, Labels: map[string]string{"a": "b"}}},
		},
		RuntimePlatform:      &types.RuntimePlatform{CpuArchitecture: types.CPUArchitectureX8664, OperatingSystemFamily: types.OSFamilyLinux},
		EnableFaultInjection: aws.Bool(true),
	}
	reg := gt.Must(c.RegisterTaskDefinition(ctx, in))(t).TaskDefinition
	got := gt.Must(c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: reg.TaskDefinitionArn}))(t).TaskDefinition
	withECSLists(in.ContainerDefinitions)
	tdSameJSON(t, "containerDefinitions", in.ContainerDefinitions, got.ContainerDefinitions)
	tdSameJSON(t, "registered containerDefinitions", in.ContainerDefinitions, reg.ContainerDefinitions)
	tdSameJSON(t, "volumes", in.Volumes, got.Volumes)
	tdSameJSON(t, "placementConstraints", in.PlacementConstraints, got.PlacementConstraints)
	tdSameJSON(t, "runtimePlatform", in.RuntimePlatform, got.RuntimePlatform)
	if aws.ToString(got.TaskRoleArn) != aws.ToString(in.TaskRoleArn) || aws.ToString(got.ExecutionRoleArn) != aws.ToString(in.ExecutionRoleArn) ||
		got.PidMode != in.PidMode || got.IpcMode != in.IpcMode || got.NetworkMode != in.NetworkMode || !aws.ToBool(got.EnableFaultInjection) ||
		aws.ToString(got.Cpu) != "1024" || aws.ToString(got.Memory) != "2048" {
		t.Fatalf("task-level members changed: %+v", got)
	}
	wantAttrs := []string{
		"com.amazonaws.ecs.capability.docker-remote-api.1.18", "com.amazonaws.ecs.capability.docker-remote-api.1.19",
		"com.amazonaws.ecs.capability.docker-remote-api.1.21", "com.amazonaws.ecs.capability.docker-remote-api.1.24",
		"com.amazonaws.ecs.capability.docker-remote-api.1.25", "com.amazonaws.ecs.capability.logging-driver.awslogs",
		"com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager", "com.amazonaws.ecs.capability.task-iam-role",
		"ecs.capability.container-health-check", "ecs.capability.container-ordering", "ecs.capability.execution-role-awslogs",
		"ecs.capability.firelens.fluentbit", "ecs.capability.secrets.asm.environment-variables",
	}
	if got := tdAttrNames(got.RequiresAttributes); !slices.Equal(got, wantAttrs) {
		t.Fatalf("requiresAttributes =\n%v\nwant\n%v", got, wantAttrs)
	}

	// An awsvpc definition with the members bridge mode cannot have.
	vpc := tdContainer("envoy")
	vpc.Essential = aws.Bool(true)
	vpc.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(15000), HostPort: aws.Int32(15000), Protocol: types.TransportProtocolTcp, ContainerPortRange: nil}}
	app := tdContainer("app")
	app.Essential = aws.Bool(true)
	app.PortMappings = []types.PortMapping{{ContainerPortRange: aws.String("8000-8010"), Protocol: types.TransportProtocolTcp}}
	in2 := &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("mesh"),
		ContainerDefinitions: []types.ContainerDefinition{app, vpc},
		NetworkMode:          types.NetworkModeAwsvpc,
		ProxyConfiguration: &types.ProxyConfiguration{Type: types.ProxyConfigurationTypeAppmesh, ContainerName: aws.String("envoy"),
			Properties: []types.KeyValuePair{{Name: aws.String("ProxyIngressPort"), Value: aws.String("15000")}}},
		EphemeralStorage: &types.EphemeralStorage{SizeInGiB: 30},
		Volumes:          []types.Volume{{Name: aws.String("efs"), EfsVolumeConfiguration: &types.EFSVolumeConfiguration{FileSystemId: aws.String("fs-1234"), RootDirectory: aws.String("/"), TransitEncryption: types.EFSTransitEncryptionEnabled}}},
	}
	reg2 := gt.Must(c.RegisterTaskDefinition(ctx, in2))(t).TaskDefinition
	got2 := gt.Must(c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: reg2.TaskDefinitionArn}))(t).TaskDefinition
	withECSLists(in2.ContainerDefinitions)
	tdSameJSON(t, "awsvpc containerDefinitions", in2.ContainerDefinitions, got2.ContainerDefinitions)
	tdSameJSON(t, "proxyConfiguration", in2.ProxyConfiguration, got2.ProxyConfiguration)
	tdSameJSON(t, "ephemeralStorage", in2.EphemeralStorage, got2.EphemeralStorage)
	tdSameJSON(t, "efs volume", in2.Volumes, got2.Volumes)
	if fmt.Sprint(got2.Compatibilities) != "[EC2]" {
		t.Fatalf("awsvpc without task size: compatibilities = %v", got2.Compatibilities)
	}
}

// tdSameJSON fails unless want and got marshal to the same JSON.
// withECSLists sets the lists ECS answers as [] when a container leaves
// them out, as a registered container definition comes back.
func withECSLists(cds []types.ContainerDefinition) {
	for i := range cds {
		cd := &cds[i]
		cd.PortMappings, cd.Environment = nonNilSlice(cd.PortMappings), nonNilSlice(cd.Environment)
		cd.MountPoints, cd.VolumesFrom = nonNilSlice(cd.MountPoints), nonNilSlice(cd.VolumesFrom)
	}
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func tdSameJSON(t *testing.T, what string, want, got any) {
	t.Helper()
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Fatalf("%s changed in the round trip:\nsent %s\ngot  %s", what, a, b)
	}
}

func TestTaskDefinitionDefaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	web := tdContainer("web")
	web.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80)}}
	web.HealthCheck = &types.HealthCheck{Command: []string{"CMD", "true"}}
	td := gt.Must(c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("defaults"), NetworkMode: types.NetworkModeAwsvpc, ContainerDefinitions: []types.ContainerDefinition{web},
	}))(t).TaskDefinition
	got := td.ContainerDefinitions[0]
	if pm := got.PortMappings[0]; aws.ToInt32(pm.HostPort) != 80 || pm.Protocol != types.TransportProtocolTcp {
		t.Fatalf("awsvpc port mapping = hostPort %d protocol %s, want 80 tcp", aws.ToInt32(pm.HostPort), pm.Protocol)
	}
	if hc := got.HealthCheck; aws.ToInt32(hc.Interval) != 30 || aws.ToInt32(hc.Timeout) != 5 || aws.ToInt32(hc.Retries) != 3 || hc.StartPeriod != nil {
		t.Fatalf("health check defaults = %+v", hc)
	}
	if !slices.Contains(tdAttrNames(td.RequiresAttributes), "ecs.capability.task-eni") {
		t.Fatalf("awsvpc without ecs.capability.task-eni: %v", tdAttrNames(td.RequiresAttributes))
	}

	// In bridge mode a host port of 0 or none is dynamic: the same container
	// port can be mapped by several containers, and stays unassigned.
	a, b := tdContainer("a"), tdContainer("b")
	a.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80)}}
	b.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(0)}}
	br := registerTD(t, c, "bridge-dynamic", a, b)
	if br.NetworkMode != "" || br.ContainerDefinitions[0].PortMappings[0].HostPort != nil || aws.ToInt32(br.ContainerDefinitions[1].PortMappings[0].HostPort) != 0 {
		t.Fatalf("bridge dynamic ports = %+v", br.ContainerDefinitions)
	}
}

func TestTaskDefinitionFargateSizes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	fargate := func(cpu, mem string) (*types.TaskDefinition, error) {
		out, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String("fg"), NetworkMode: types.NetworkModeAwsvpc, Cpu: aws.String(cpu), Memory: aws.String(mem),
			RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
			ContainerDefinitions:    []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox")}},
		})
		if err != nil {
			return nil, err
		}
		return out.TaskDefinition, nil
	}
	ok := [][2]string{
		{"256", "512"}, {"256", "1024"}, {"256", "2048"}, {"512", "1024"}, {"512", "4096"}, {"1024", "2048"}, {"1024", "8192"},
		{"2048", "4096"}, {"2048", "16384"}, {"4096", "8192"}, {"4096", "30720"}, {"8192", "16384"}, {"8192", "61440"},
		{"16384", "32768"}, {"16384", "122880"}, {"16384", "40960"}, {".25 vCPU", "0.5 GB"},
	}
	for _, s := range ok {
		if _, err := fargate(s[0], s[1]); err != nil {
			t.Errorf("cpu %s memory %s: %v", s[0], s[1], err)
		}
	}
	bad := [][2]string{
		{"256", "1536"}, {"256", "4096"}, {"512", "512"}, {"512", "5120"}, {"1024", "1024"}, {"1024", "9216"},
		{"2048", "2048"}, {"4096", "31744"}, {"8192", "18432"}, {"8192", "65536"}, {"16384", "36864"}, {"128", "512"}, {"3072", "8192"},
	}
	for _, s := range bad {
		_, err := fargate(s[0], s[1])
		if gt.Code(err) != "ClientException" || !strings.Contains(err.Error(), "No Fargate configuration exists for given values") {
			t.Errorf("cpu %s memory %s: want ClientException No Fargate configuration, got %v", s[0], s[1], err)
		}
	}

	// "1 vCPU" and "2 GB" are stored as units and MiB.
	td, err := fargate("1 vCPU", "2 GB")
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(td.Cpu) != "1024" || aws.ToString(td.Memory) != "2048" {
		t.Fatalf("normalised cpu %s memory %s, want 1024 2048", aws.ToString(td.Cpu), aws.ToString(td.Memory))
	}
	if fmt.Sprint(td.Compatibilities) != "[EC2 FARGATE]" || fmt.Sprint(td.RequiresCompatibilities) != "[FARGATE]" {
		t.Fatalf("compatibilities %v, requires %v", td.Compatibilities, td.RequiresCompatibilities)
	}
	// Fargate-compatible without asking for it.
	plain := gt.Must(c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("fg-maybe"), NetworkMode: types.NetworkModeAwsvpc, Cpu: aws.String("0.5 vcpu"), Memory: aws.String("1gb"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox")}},
	}))(t).TaskDefinition
	if fmt.Sprint(plain.Compatibilities) != "[EC2 FARGATE]" || aws.ToString(plain.Cpu) != "512" || aws.ToString(plain.Memory) != "1024" {
		t.Fatalf("awsvpc 0.5 vCPU/1 GB: compatibilities %v cpu %s memory %s", plain.Compatibilities, aws.ToString(plain.Cpu), aws.ToString(plain.Memory))
	}
}

func TestTaskDefinitionValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	with := func(f func(*types.ContainerDefinition)) types.ContainerDefinition {
		cd := tdContainer("app")
		f(&cd)
		return cd
	}
	reg := func(mut func(*ecs.RegisterTaskDefinitionInput), cs ...types.ContainerDefinition) func() error {
		return func() error {
			if len(cs) == 0 {
				cs = []types.ContainerDefinition{tdContainer("app")}
			}
			in := &ecs.RegisterTaskDefinitionInput{Family: aws.String("v"), ContainerDefinitions: cs}
			if mut != nil {
				mut(in)
			}
			_, err := c.RegisterTaskDefinition(ctx, in)
			return err
		}
	}
	awsvpc := func(in *ecs.RegisterTaskDefinitionInput) { in.NetworkMode = types.NetworkModeAwsvpc }
	fargate := func(in *ecs.RegisterTaskDefinitionInput) {
		in.NetworkMode, in.Cpu, in.Memory = types.NetworkModeAwsvpc, aws.String("256"), aws.String("512")
		in.RequiresCompatibilities = []types.Compatibility{types.CompatibilityFargate}
	}
	port := func(cp, hp int32) func(*types.ContainerDefinition) {
		return func(cd *types.ContainerDefinition) {
			cd.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(cp), HostPort: aws.Int32(hp)}}
		}
	}
	named := func(name string, f func(*types.ContainerDefinition)) types.ContainerDefinition {
		cd := with(f)
		cd.Name = aws.String(name)
		return cd
	}
	nop := func(*types.ContainerDefinition) {}
	hc := func(h types.HealthCheck) types.ContainerDefinition {
		return with(func(cd *types.ContainerDefinition) { cd.HealthCheck = &h })
	}
	cmd := []string{"CMD", "true"}
	cases := []struct {
		name string
		call func() error
		code string
	}{
		{"family with spaces", reg(func(in *ecs.RegisterTaskDefinitionInput) { in.Family = aws.String("no spaces") }), "ClientException"},
		{"family too long", reg(func(in *ecs.RegisterTaskDefinitionInput) { in.Family = aws.String(strings.Repeat("f", 256)) }), "ClientException"},
		{"no containers", reg(func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions = []types.ContainerDefinition{} }), "ClientException"},
		{"11 containers", reg(func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions = nil
			for i := range 11 {
				in.ContainerDefinitions = append(in.ContainerDefinitions, tdContainer(fmt.Sprint("c", i)))
			}
		}), "ClientException"},
		{"duplicate container names", reg(nil, tdContainer("a"), tdContainer("a")), "ClientException"},
		{"bad container name", reg(nil, tdContainer("a.b")), "ClientException"},
		{"missing container name", reg(nil, with(func(cd *types.ContainerDefinition) { cd.Name = nil })), "ClientException"},
		{"missing image", reg(nil, with(func(cd *types.ContainerDefinition) { cd.Image = nil })), "ClientException"},
		{"no essential container", reg(nil, with(func(cd *types.ContainerDefinition) { cd.Essential = aws.Bool(false) })), "ClientException"},
		{"memory not above reservation", reg(nil, with(func(cd *types.ContainerDefinition) { cd.MemoryReservation = aws.Int32(128) })), "ClientException"},
		{"no memory anywhere", reg(nil, with(func(cd *types.ContainerDefinition) { cd.Memory = nil })), "ClientException"},
		{"container memory above task memory", reg(func(in *ecs.RegisterTaskDefinitionInput) { in.Memory = aws.String("64") }), "ClientException"},
		{"container cpu above task cpu", reg(func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu = aws.String("256") }, with(func(cd *types.ContainerDefinition) { cd.Cpu = 512 })), "ClientException"},
		{"bad task cpu", reg(func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu = aws.String("lots") }), "ClientException"},
		{"fractional task memory", reg(func(in *ecs.RegisterTaskDefinitionInput) { in.Memory = aws.String("0.0001 GB") }), "ClientException"},
		{"bad network mode", reg(func(in *ecs.RegisterTaskDefinitionInput) { in.NetworkMode = "overlay" }), "InvalidParameterException"},
		{"awsvpc host port differs", reg(awsvpc, with(port(80, 8080))), "ClientException"},
		{"host mode host port differs", reg(func(in *ecs.RegisterTaskDefinitionInput) { in.NetworkMode = types.NetworkModeHost }, with(port(80, 81))), "ClientException"},
		{"duplicate host ports", reg(nil, named("a", port(80, 8080)), named("b", port(81, 8080))), "ClientException"},
		{"duplicate awsvpc ports", reg(awsvpc, named("a", port(80, 0)), named("b", port(80, 0))), "ClientException"},
		{"container port out of range", reg(nil, with(port(70000, 0))), "ClientException"},
		{"missing container port", reg(nil, with(func(cd *types.ContainerDefinition) { cd.PortMappings = []types.PortMapping{{HostPort: aws.Int32(80)}} })), "ClientException"},
		{"ports with network none", reg(func(in *ecs.RegisterTaskDefinitionInput) { in.NetworkMode = types.NetworkModeNone }, with(port(80, 80))), "ClientException"},
		{"links in awsvpc", reg(awsvpc, named("a", func(cd *types.ContainerDefinition) { cd.Links = []string{"b"} }), named("b", nop)), "ClientException"},
		{"link to unknown container", reg(nil, with(func(cd *types.ContainerDefinition) { cd.Links = []string{"db"} })), "ClientException"},
		{"unknown mount volume", reg(nil, with(func(cd *types.ContainerDefinition) {
			cd.MountPoints = []types.MountPoint{{SourceVolume: aws.String("data"), ContainerPath: aws.String("/d")}}
		})), "ClientException"},
		{"unknown volumesFrom", reg(nil, with(func(cd *types.ContainerDefinition) {
			cd.VolumesFrom = []types.VolumeFrom{{SourceContainer: aws.String("ghost")}}
		})), "ClientException"},
		{"dependsOn unknown", reg(nil, with(func(cd *types.ContainerDefinition) {
			cd.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("ghost"), Condition: types.ContainerConditionStart}}
		})), "ClientException"},
		{"dependsOn self", reg(nil, with(func(cd *types.ContainerDefinition) {
			cd.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("app"), Condition: types.ContainerConditionStart}}
		})), "ClientException"},
		{"dependsOn bad condition", reg(nil, named("a", nop), named("b", func(cd *types.ContainerDefinition) {
			cd.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("a"), Condition: "READY"}}
		})), "InvalidParameterException"},
		{"dependsOn cycle", reg(nil,
			named("a", func(cd *types.ContainerDefinition) {
				cd.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("b"), Condition: types.ContainerConditionStart}}
			}),
			named("b", func(cd *types.ContainerDefinition) {
				cd.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("c"), Condition: types.ContainerConditionStart}}
			}),
			named("c", func(cd *types.ContainerDefinition) {
				cd.VolumesFrom = []types.VolumeFrom{{SourceContainer: aws.String("a")}}
			}),
		), "ClientException"},
		{"HEALTHY without health check", reg(nil, named("a", nop), named("b", func(cd *types.ContainerDefinition) {
			cd.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("a"), Condition: types.ContainerConditionHealthy}}
		})), "ClientException"},
		{"COMPLETE on essential", reg(nil, named("a", nop), named("b", func(cd *types.ContainerDefinition) {
			cd.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("a"), Condition: types.ContainerConditionComplete}}
		})), "ClientException"},
		{"health check empty command", reg(nil, hc(types.HealthCheck{Command: []string{}})), "ClientException"},
		{"health check bad kind", reg(nil, hc(types.HealthCheck{Command: []string{"RUN", "true"}})), "ClientException"},
		{"health interval 4", reg(nil, hc(types.HealthCheck{Command: cmd, Interval: aws.Int32(4)})), "ClientException"},
		{"health interval 301", reg(nil, hc(types.HealthCheck{Command: cmd, Interval: aws.Int32(301)})), "ClientException"},
		{"health timeout 1", reg(nil, hc(types.HealthCheck{Command: cmd, Timeout: aws.Int32(1)})), "ClientException"},
		{"health timeout 121", reg(nil, hc(types.HealthCheck{Command: cmd, Timeout: aws.Int32(121)})), "ClientException"},
		{"health retries 0", reg(nil, hc(types.HealthCheck{Command: cmd, Retries: aws.Int32(0)})), "ClientException"},
		{"health retries 11", reg(nil, hc(types.HealthCheck{Command: cmd, Retries: aws.Int32(11)})), "ClientException"},
		{"health startPeriod 301", reg(nil, hc(types.HealthCheck{Command: cmd, StartPeriod: aws.Int32(301)})), "ClientException"},
		{"ulimit soft above hard", reg(nil, with(func(cd *types.ContainerDefinition) {
			cd.Ulimits = []types.Ulimit{{Name: types.UlimitNameNofile, SoftLimit: 10, HardLimit: 5}}
		})), "ClientException"},
		{"fargate with bridge", reg(func(in *ecs.RegisterTaskDefinitionInput) {
			fargate(in)
			in.NetworkMode = types.NetworkModeBridge
		}), "ClientException"},
		{"fargate without cpu", reg(func(in *ecs.RegisterTaskDefinitionInput) { fargate(in); in.Cpu = nil }), "ClientException"},
		{"fargate without memory", reg(func(in *ecs.RegisterTaskDefinitionInput) { fargate(in); in.Memory = nil }), "ClientException"},
		{"fargate privileged", reg(fargate, with(func(cd *types.ContainerDefinition) { cd.Privileged = aws.Bool(true) })), "ClientException"},
		{"fargate host volume", reg(func(in *ecs.RegisterTaskDefinitionInput) {
			fargate(in)
			in.Volumes = []types.Volume{{Name: aws.String("v"), Host: &types.HostVolumeProperties{SourcePath: aws.String("/srv")}}}
		}), "ClientException"},
		{"external with awsvpc", reg(func(in *ecs.RegisterTaskDefinitionInput) {
			in.NetworkMode = types.NetworkModeAwsvpc
			in.RequiresCompatibilities = []types.Compatibility{types.CompatibilityExternal}
		}), "ClientException"},
		{"aws: tag", reg(func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}
		}), "InvalidParameterException"},
		{"describe unknown family", func() error {
			_, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("ghost")})
			return err
		}, "ClientException"},
		{"describe bad revision", func() error {
			_, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("ghost:x")})
			return err
		}, "ClientException"},
		{"describe ARN of another account", func() error {
			_, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("arn:aws:ecs:" + c.Options().Region + ":999999999999:task-definition/v:1")})
			return err
		}, "ClientException"},
		{"deregister without revision", func() error {
			_, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("v")})
			return err
		}, "ClientException"},
		{"deregister unknown", func() error {
			_, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("ghost:1")})
			return err
		}, "ClientException"},
		{"delete 11", func() error {
			refs := make([]string, 11)
			for i := range refs {
				refs[i] = fmt.Sprint("v:", i+1)
			}
			_, err := c.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: refs})
			return err
		}, "InvalidParameterException"},
		{"list maxResults 0", func() error {
			_, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(0)})
			return err
		}, "InvalidParameterException"},
		{"list bad status", func() error {
			_, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{Status: "GONE"})
			return err
		}, "InvalidParameterException"},
		{"list garbage token", func() error {
			_, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{NextToken: aws.String("garbage")})
			return err
		}, "InvalidParameterException"},
		{"families maxResults 101", func() error {
			_, err := c.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{MaxResults: aws.Int32(101)})
			return err
		}, "InvalidParameterException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { gt.WantCode(t, tc.call(), tc.code) })
	}
	// None of the failed registrations left a revision behind.
	if l := gt.Must(c.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{}))(t); len(l.Families) != 0 {
		t.Fatalf("failed registrations left families: %v", l.Families)
	}
}

// listTDs pages through ListTaskDefinitions and returns family:revision of
// every ARN, checking each page's size.
func listTDs(t *testing.T, c *ecs.Client, in ecs.ListTaskDefinitionsInput) (refs []string, pages int) {
	t.Helper()
	p := ecs.NewListTaskDefinitionsPaginator(c, &in)
	for p.HasMorePages() {
		out := gt.Must(p.NextPage(context.Background()))(t)
		pages++
		if in.MaxResults != nil && len(out.TaskDefinitionArns) > int(*in.MaxResults) {
			t.Fatalf("page of %d > maxResults %d", len(out.TaskDefinitionArns), *in.MaxResults)
		}
		for _, a := range out.TaskDefinitionArns {
			refs = append(refs, a[strings.LastIndexByte(a, '/')+1:])
		}
	}
	return refs, pages
}

func TestListTaskDefinitionsPaginates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	// Families chosen so that name order differs from naive key order: "a"
	// sorts before "a-b" and "a_b".
	counts := map[string]int{"b": 3, "a-b": 2, "a": 4, "a_b": 1, "zz": 2}
	for f, n := range counts {
		for range n {
			registerTD(t, c, f)
		}
	}
	for _, ref := range []string{"a:2", "b:1", "b:3", "zz:1", "zz:2"} {
		deregisterTD(t, c, ref)
	}
	active := []string{"a:1", "a:3", "a:4", "a-b:1", "a-b:2", "a_b:1", "b:2"}
	inactive := []string{"a:2", "b:1", "b:3", "zz:1", "zz:2"}
	reversed := func(s []string) []string { s = slices.Clone(s); slices.Reverse(s); return s }

	for _, tc := range []struct {
		name      string
		in        ecs.ListTaskDefinitionsInput
		want      []string
		wantPages int
	}{
		{"default", ecs.ListTaskDefinitionsInput{}, active, 1},
		{"ASC by 3", ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(3)}, active, 3},
		{"DESC by 3", ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(3), Sort: types.SortOrderDesc}, reversed(active), 3},
		{"DESC by 1", ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(1), Sort: types.SortOrderDesc}, reversed(active), 7},
		{"INACTIVE by 2", ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(2), Status: types.TaskDefinitionStatusInactive}, inactive, 3},
		{"INACTIVE DESC by 2", ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(2), Status: types.TaskDefinitionStatusInactive, Sort: types.SortOrderDesc}, reversed(inactive), 3},
		{"family a", ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("a"), MaxResults: aws.Int32(2)}, []string{"a:1", "a:3", "a:4"}, 2},
		{"family a DESC", ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("a"), Sort: types.SortOrderDesc}, []string{"a:4", "a:3", "a:1"}, 1},
		{"familyPrefix is a full name", ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("a-")}, nil, 1},
		{"DELETE_IN_PROGRESS", ecs.ListTaskDefinitionsInput{Status: types.TaskDefinitionStatusDeleteInProgress}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, pages := listTDs(t, c, tc.in)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("listed %v, want %v", got, tc.want)
			}
			if pages != tc.wantPages {
				t.Fatalf("%d pages, want %d", pages, tc.wantPages)
			}
		})
	}

	// A DESC token is refused by an ASC listing.
	out := gt.Must(c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(1), Sort: types.SortOrderDesc}))(t)
	_, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{NextToken: out.NextToken})
	gt.WantCode(t, err, "InvalidParameterException")
}

func TestListTaskDefinitionsManyRevisions(t *testing.T) {
	t.Parallel()
	c := gt.Shared(t).ECS()
	// More revisions than one scan window, with holes, in both orders.
	var want []string
	for i := 1; i <= 150; i++ {
		registerTD(t, c, "many")
		if i%7 == 0 {
			deregisterTD(t, c, fmt.Sprint("many:", i))
		} else {
			want = append(want, fmt.Sprint("many:", i))
		}
	}
	got, pages := listTDs(t, c, ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(40)})
	if !slices.Equal(got, want) || pages != 4 {
		t.Fatalf("ASC listed %d in %d pages, want %d in 4", len(got), pages, len(want))
	}
	got, pages = listTDs(t, c, ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(40), Sort: types.SortOrderDesc})
	slices.Reverse(want)
	if !slices.Equal(got, want) || pages != 4 {
		t.Fatalf("DESC listed %v in %d pages, want %v", got, pages, want)
	}
	// The latest ACTIVE revision is found past the INACTIVE ones.
	for _, ref := range []string{"many:150", "many:149", "many:148"} {
		deregisterTD(t, c, ref) // and 147 is INACTIVE already
	}
	d := gt.Must(c.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("many")}))(t)
	if d.TaskDefinition.Revision != 146 {
		t.Fatalf("latest ACTIVE = %d, want 146", d.TaskDefinition.Revision)
	}
}

func TestListTaskDefinitionFamilies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	for _, f := range []string{"api", "api-worker", "batch", "web", "web_v2", "gone"} {
		registerTD(t, c, f)
	}
	registerTD(t, c, "web")
	deregisterTD(t, c, "batch:1")
	deregisterTD(t, c, "web:1")
	deregisterTD(t, c, "gone:1")
	gt.Must(c.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"gone:1"}}))(t)

	list := func(in ecs.ListTaskDefinitionFamiliesInput) []string {
		t.Helper()
		var out []string
		p := ecs.NewListTaskDefinitionFamiliesPaginator(c, &in)
		for p.HasMorePages() {
			page := gt.Must(p.NextPage(ctx))(t)
			if in.MaxResults != nil && len(page.Families) > int(*in.MaxResults) {
				t.Fatalf("page of %d > maxResults %d", len(page.Families), *in.MaxResults)
			}
			out = append(out, page.Families...)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   ecs.ListTaskDefinitionFamiliesInput
		want []string
	}{
		{"default lists all", ecs.ListTaskDefinitionFamiliesInput{}, []string{"api", "api-worker", "batch", "web", "web_v2"}},
		{"ALL by 2", ecs.ListTaskDefinitionFamiliesInput{Status: types.TaskDefinitionFamilyStatusAll, MaxResults: aws.Int32(2)}, []string{"api", "api-worker", "batch", "web", "web_v2"}},
		{"ACTIVE by 1", ecs.ListTaskDefinitionFamiliesInput{Status: types.TaskDefinitionFamilyStatusActive, MaxResults: aws.Int32(1)}, []string{"api", "api-worker", "web", "web_v2"}},
		{"INACTIVE", ecs.ListTaskDefinitionFamiliesInput{Status: types.TaskDefinitionFamilyStatusInactive}, []string{"batch"}},
		{"prefix api", ecs.ListTaskDefinitionFamiliesInput{FamilyPrefix: aws.String("api")}, []string{"api", "api-worker"}},
		{"prefix web ACTIVE", ecs.ListTaskDefinitionFamiliesInput{FamilyPrefix: aws.String("web"), Status: types.TaskDefinitionFamilyStatusActive}, []string{"web", "web_v2"}},
		{"prefix nothing", ecs.ListTaskDefinitionFamiliesInput{FamilyPrefix: aws.String("x")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(tc.in); !slices.Equal(got, tc.want) {
				t.Fatalf("families %v, want %v", got, tc.want)
			}
		})
	}
	// Deregistering the last ACTIVE revision moves a family to INACTIVE.
	deregisterTD(t, c, "web:2")
	got := list(ecs.ListTaskDefinitionFamiliesInput{Status: types.TaskDefinitionFamilyStatusInactive})
	sort.Strings(got)
	if !slices.Equal(got, []string{"batch", "web"}) {
		t.Fatalf("INACTIVE families after deregistering web:2 = %v", got)
	}
}
