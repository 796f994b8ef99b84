package ecs_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// agentRegistration is what an agent sends on its first registration.
func agentRegistration(cluster string) *ecs.RegisterContainerInstanceInput {
	in := &ecs.RegisterContainerInstanceInput{
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 2048},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 3928},
			{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: []string{"22", "2375", "2376", "51678", "51679"}},
			{Name: aws.String("PORTS_UDP"), Type: aws.String("STRINGSET"), StringSetValue: []string{}},
		},
		Attributes: []types.Attribute{
			{Name: aws.String("ecs.os-type"), Value: aws.String("linux")},
			{Name: aws.String("ecs.instance-type"), Value: aws.String("t3.medium")},
			{Name: aws.String("com.amazonaws.ecs.capability.docker-remote-api.1.41")},
			{Name: aws.String("stack"), Value: aws.String("prod")},
		},
		VersionInfo: &types.VersionInfo{
			AgentVersion: aws.String("1.0.0"), AgentHash: aws.String("abc123"), DockerVersion: aws.String("DockerVersion: 20.10.24"),
		},
		InstanceIdentityDocument: aws.String(`{"instanceId": "i-0123456789abcdef0", "region": "us-east-1"}`),
		Tags:                     []types.Tag{{Key: aws.String("team"), Value: aws.String("infra")}},
	}
	if cluster != "" {
		in.Cluster = aws.String(cluster)
	}
	return in
}

// register registers an instance into cluster (created first unless it is
// "" or "default") and returns it.
func register(t *testing.T, c *ecs.Client, cluster string) types.ContainerInstance {
	t.Helper()
	ctx := context.Background()
	if cluster != "" && cluster != "default" {
		gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}))(t)
	}
	return *gt.Must(c.RegisterContainerInstance(ctx, agentRegistration(cluster)))(t).ContainerInstance
}

func attr(ci types.ContainerInstance, name string) (string, bool) {
	for _, a := range ci.Attributes {
		if aws.ToString(a.Name) == name {
			return aws.ToString(a.Value), true
		}
	}
	return "", false
}

func resource(rs []types.Resource, name string) types.Resource {
	for _, r := range rs {
		if aws.ToString(r.Name) == name {
			return r
		}
	}
	return types.Resource{}
}

func idOf(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

func TestRegisterContainerInstance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	before := time.Now().Add(-time.Second)
	ci := register(t, c, "prod")

	arn := aws.ToString(ci.ContainerInstanceArn)
	pat := regexp.MustCompile(`^arn:aws:ecs:` + c.Options().Region + `:` + gt.Account + `:container-instance/prod/[0-9a-f]{32}$`)
	if !pat.MatchString(arn) {
		t.Fatalf("arn = %s", arn)
	}
	if aws.ToString(ci.Status) != "ACTIVE" || !ci.AgentConnected || ci.Version != 1 || ci.RunningTasksCount != 0 || ci.PendingTasksCount != 0 {
		t.Fatalf("registered = %+v", ci)
	}
	if aws.ToString(ci.Ec2InstanceId) != "i-0123456789abcdef0" {
		t.Fatalf("ec2InstanceId = %q", aws.ToString(ci.Ec2InstanceId))
	}
	if ci.RegisteredAt == nil || ci.RegisteredAt.Before(before) || ci.RegisteredAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("registeredAt = %v", ci.RegisteredAt)
	}
	if cpu := resource(ci.RegisteredResources, "CPU"); cpu.IntegerValue != 2048 || aws.ToString(cpu.Type) != "INTEGER" {
		t.Fatalf("registered CPU = %+v", cpu)
	}
	if mem := resource(ci.RemainingResources, "MEMORY"); mem.IntegerValue != 3928 {
		t.Fatalf("remaining MEMORY = %+v", mem)
	}
	if p := resource(ci.RemainingResources, "PORTS"); len(p.StringSetValue) != 5 {
		t.Fatalf("remaining PORTS = %+v", p)
	}
	if v, ok := attr(ci, "ecs.os-type"); !ok || v != "linux" {
		t.Fatalf("attributes = %+v", ci.Attributes)
	}
	if _, ok := attr(ci, "com.amazonaws.ecs.capability.docker-remote-api.1.41"); !ok {
		t.Fatalf("capability attribute missing: %+v", ci.Attributes)
	}
	if aws.ToString(ci.VersionInfo.AgentHash) != "abc123" {
		t.Fatalf("versionInfo = %+v", ci.VersionInfo)
	}

	// Describe by id and by ARN (the same instance, once), and an unknown id.
	ghost := strings.Repeat("0", 32)
	d := gt.Must(c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String("prod"), ContainerInstances: []string{idOf(arn), arn, ghost},
	}))(t)
	if len(d.ContainerInstances) != 1 || len(d.Failures) != 1 {
		t.Fatalf("describe = %d instances, %d failures", len(d.ContainerInstances), len(d.Failures))
	}
	wantGhost := "arn:aws:ecs:" + c.Options().Region + ":" + gt.Account + ":container-instance/prod/" + ghost
	if f := d.Failures[0]; aws.ToString(f.Reason) != "MISSING" || aws.ToString(f.Arn) != wantGhost {
		t.Fatalf("failure = %+v", f)
	}
	if got := d.ContainerInstances[0]; len(got.Tags) != 0 || got.HealthStatus != nil || aws.ToString(got.ContainerInstanceArn) != arn {
		t.Fatalf("describe without include = %+v", got)
	}
	d = gt.Must(c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String("prod"), ContainerInstances: []string{arn},
		Include: []types.ContainerInstanceField{types.ContainerInstanceFieldTags, types.ContainerInstanceFieldContainerInstanceHealth},
	}))(t)
	got := d.ContainerInstances[0]
	if len(got.Tags) != 1 || aws.ToString(got.Tags[0].Value) != "infra" {
		t.Fatalf("tags = %+v", got.Tags)
	}
	if got.HealthStatus == nil || got.HealthStatus.OverallStatus == "" {
		t.Fatalf("healthStatus = %+v", got.HealthStatus)
	}

	// The cluster counts it.
	cl := gt.Must(c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod"}}))(t)
	if n := cl.Clusters[0].RegisteredContainerInstancesCount; n != 1 {
		t.Fatalf("registeredContainerInstancesCount = %d", n)
	}
	l := gt.Must(c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod")}))(t)
	if !slices.Equal(l.ContainerInstanceArns, []string{arn}) {
		t.Fatalf("list = %v", l.ContainerInstanceArns)
	}
}

func TestRegisterDefaultCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	// The default cluster is created by the first registration.
	ci := register(t, c, "")
	if !strings.Contains(aws.ToString(ci.ContainerInstanceArn), ":container-instance/default/") {
		t.Fatalf("arn = %s", aws.ToString(ci.ContainerInstanceArn))
	}
	d := gt.Must(c.DescribeClusters(ctx, &ecs.DescribeClustersInput{}))(t)
	if len(d.Clusters) != 1 || aws.ToString(d.Clusters[0].Status) != "ACTIVE" || d.Clusters[0].RegisteredContainerInstancesCount != 1 {
		t.Fatalf("default cluster = %+v", d)
	}
	// Describe and list default to it too.
	ds := gt.Must(c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{idOf(aws.ToString(ci.ContainerInstanceArn))}}))(t)
	if len(ds.ContainerInstances) != 1 {
		t.Fatalf("describe in default = %+v", ds)
	}

	// Any other missing or INACTIVE cluster is not created.
	_, err := c.RegisterContainerInstance(ctx, agentRegistration("nope"))
	gt.WantCode(t, err, "ClusterNotFoundException")
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("gone")}))(t)
	gt.Must(c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("gone")}))(t)
	_, err = c.RegisterContainerInstance(ctx, agentRegistration("gone"))
	gt.WantCode(t, err, "ClusterNotFoundException")
}

func TestReregisterContainerInstance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	ci := register(t, c, "prod")
	arn := aws.ToString(ci.ContainerInstanceArn)
	gt.Must(c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("prod"), Attributes: []types.Attribute{
		{Name: aws.String("rack"), Value: aws.String("r1"), TargetId: aws.String(arn)},
	}}))(t)
	gt.Must(c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("prod"), ContainerInstances: []string{arn}, Status: types.ContainerInstanceStatusDraining,
	}))(t)

	// The agent restarts on a host with more memory and another Docker API.
	in := agentRegistration("prod")
	in.ContainerInstanceArn = aws.String(arn)
	in.TotalResources[1].IntegerValue = 7000
	in.Attributes = []types.Attribute{
		{Name: aws.String("ecs.os-type"), Value: aws.String("linux")},
		{Name: aws.String("com.amazonaws.ecs.capability.docker-remote-api.1.44")},
		{Name: aws.String("stack"), Value: aws.String("staging")},
	}
	in.VersionInfo.AgentVersion = aws.String("1.1.0")
	re := *gt.Must(c.RegisterContainerInstance(ctx, in))(t).ContainerInstance
	if aws.ToString(re.ContainerInstanceArn) != arn {
		t.Fatalf("re-registration made a new instance %s", aws.ToString(re.ContainerInstanceArn))
	}
	if re.Version <= ci.Version+2 {
		t.Fatalf("version = %d after register (%d), put, drain, re-register", re.Version, ci.Version)
	}
	if aws.ToString(re.Status) != "DRAINING" || !re.AgentConnected || !re.RegisteredAt.Equal(*ci.RegisteredAt) {
		t.Fatalf("re-registered = %+v", re)
	}
	if r := resource(re.RegisteredResources, "MEMORY"); r.IntegerValue != 7000 {
		t.Fatalf("registered MEMORY = %+v", r)
	}
	if r := resource(re.RemainingResources, "MEMORY"); r.IntegerValue != 7000 {
		t.Fatalf("remaining MEMORY = %+v", r)
	}
	if _, ok := attr(re, "com.amazonaws.ecs.capability.docker-remote-api.1.41"); ok {
		t.Fatalf("stale capability kept: %+v", re.Attributes)
	}
	if _, ok := attr(re, "ecs.instance-type"); ok {
		t.Fatalf("agent attribute no longer reported was kept: %+v", re.Attributes)
	}
	if v, _ := attr(re, "rack"); v != "r1" {
		t.Fatalf("custom attribute from PutAttributes lost: %+v", re.Attributes)
	}
	if v, _ := attr(re, "stack"); v != "staging" {
		t.Fatalf("custom attribute not updated: %+v", re.Attributes)
	}
	if aws.ToString(re.VersionInfo.AgentVersion) != "1.1.0" {
		t.Fatalf("versionInfo = %+v", re.VersionInfo)
	}
	l := gt.Must(c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod")}))(t)
	if len(l.ContainerInstanceArns) != 1 {
		t.Fatalf("list after re-registration = %v", l.ContainerInstanceArns)
	}

	// An unknown ARN, or one of another cluster, cannot register again.
	in.ContainerInstanceArn = aws.String(strings.Replace(arn, idOf(arn), strings.Repeat("a", 32), 1))
	_, err := c.RegisterContainerInstance(ctx, in)
	gt.WantCode(t, err, "ClientException")
	in.ContainerInstanceArn = aws.String(strings.Replace(arn, "/prod/", "/other/", 1))
	_, err = c.RegisterContainerInstance(ctx, in)
	gt.WantCode(t, err, "ClientException")
	in.ContainerInstanceArn = aws.String("arn:aws:ecs:" + c.Options().Region + ":" + gt.Account + ":cluster/prod")
	_, err = c.RegisterContainerInstance(ctx, in)
	gt.WantCode(t, err, "InvalidParameterException")

	// Nor can a deregistered one.
	gt.Must(c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(arn)}))(t)
	in.ContainerInstanceArn = aws.String(arn)
	_, err = c.RegisterContainerInstance(ctx, in)
	gt.WantCode(t, err, "ClientException")
}

func TestDeregisterContainerInstance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	a := register(t, c, "prod")
	b := *gt.Must(c.RegisterContainerInstance(ctx, agentRegistration("prod")))(t).ContainerInstance
	arnA, arnB := aws.ToString(a.ContainerInstanceArn), aws.ToString(b.ContainerInstanceArn)

	// By id.
	out := *gt.Must(c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{
		Cluster: aws.String("prod"), ContainerInstance: aws.String(idOf(arnA)),
	}))(t).ContainerInstance
	if aws.ToString(out.Status) != "INACTIVE" || out.AgentConnected || out.Version != a.Version+1 || aws.ToString(out.ContainerInstanceArn) != arnA {
		t.Fatalf("deregistered = %+v", out)
	}
	// Gone from the list, still described, listed as INACTIVE.
	l := gt.Must(c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod")}))(t)
	if !slices.Equal(l.ContainerInstanceArns, []string{arnB}) {
		t.Fatalf("list = %v, want only %s", l.ContainerInstanceArns, arnB)
	}
	l = gt.Must(c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod"), Status: "INACTIVE"}))(t)
	if !slices.Equal(l.ContainerInstanceArns, []string{arnA}) {
		t.Fatalf("list INACTIVE = %v", l.ContainerInstanceArns)
	}
	d := gt.Must(c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("prod"), ContainerInstances: []string{arnA}}))(t)
	if len(d.ContainerInstances) != 1 || aws.ToString(d.ContainerInstances[0].Status) != "INACTIVE" {
		t.Fatalf("describe deregistered = %+v", d)
	}
	// Twice, or an unknown one: not found.
	_, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(arnA)})
	gt.WantCode(t, err, "InvalidParameterException")
	_, err = c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(strings.Repeat("b", 32))})
	gt.WantCode(t, err, "InvalidParameterException")
	_, err = c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{ContainerInstance: aws.String(arnB)})
	gt.WantCode(t, err, "ClusterNotFoundException")

	// With a task on it, only force deregisters.
	registerTD(t, c, "app")
	gt.Must(c.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("app"), ContainerInstances: []string{arnB}}))(t)
	_, err = c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(arnB)})
	gt.WantCode(t, err, "InvalidParameterException")
	gt.Must(c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(arnB), Force: aws.Bool(true)}))(t)
}

func TestDeleteClusterWithInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	ci := register(t, c, "prod")
	_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("prod")})
	gt.WantCode(t, err, "ClusterContainsContainerInstancesException")
	gt.Must(c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: ci.ContainerInstanceArn}))(t)
	del := gt.Must(c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("prod")}))(t)
	if aws.ToString(del.Cluster.Status) != "INACTIVE" {
		t.Fatalf("deleted = %+v", del.Cluster)
	}
	// The deregistered instance is still described in the INACTIVE cluster.
	d := gt.Must(c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("prod"), ContainerInstances: []string{aws.ToString(ci.ContainerInstanceArn)}}))(t)
	if len(d.ContainerInstances) != 1 {
		t.Fatalf("describe after cluster deletion = %+v", d)
	}
}

func TestRegisterRacesDeleteCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	// Whatever the interleaving, either the registration fails or the
	// deletion does: never an instance in an INACTIVE cluster.
	for i := range 10 {
		name := fmt.Sprintf("race%d", i)
		gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}))(t)
		regErr, delErr := make(chan error, 1), make(chan error, 1)
		go func() { _, err := c.RegisterContainerInstance(ctx, agentRegistration(name)); regErr <- err }()
		go func() {
			_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String(name)})
			delErr <- err
		}()
		re, de := <-regErr, <-delErr
		switch {
		case re == nil && de == nil:
			t.Fatalf("%s: both the registration and the deletion succeeded", name)
		case re != nil && gt.Code(re) != "ClusterNotFoundException":
			t.Fatalf("%s: register: %v", name, re)
		case de != nil && gt.Code(de) != "ClusterContainsContainerInstancesException":
			t.Fatalf("%s: delete: %v", name, de)
		}
	}
}

func TestUpdateContainerInstancesState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	a := register(t, c, "prod")
	b := *gt.Must(c.RegisterContainerInstance(ctx, agentRegistration("prod")))(t).ContainerInstance
	arnA, arnB := aws.ToString(a.ContainerInstanceArn), aws.ToString(b.ContainerInstanceArn)
	ghost := strings.Repeat("c", 32)

	u := gt.Must(c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("prod"), ContainerInstances: []string{idOf(arnA), ghost}, Status: types.ContainerInstanceStatusDraining,
	}))(t)
	if len(u.ContainerInstances) != 1 || aws.ToString(u.ContainerInstances[0].Status) != "DRAINING" || u.ContainerInstances[0].Version != a.Version+1 {
		t.Fatalf("update = %+v", u.ContainerInstances)
	}
	if len(u.Failures) != 1 || aws.ToString(u.Failures[0].Reason) != "MISSING" || !strings.HasSuffix(aws.ToString(u.Failures[0].Arn), ghost) {
		t.Fatalf("failures = %+v", u.Failures)
	}
	list := func(status types.ContainerInstanceStatus) []string {
		return gt.Must(c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod"), Status: status}))(t).ContainerInstanceArns
	}
	if got := list(types.ContainerInstanceStatusDraining); !slices.Equal(got, []string{arnA}) {
		t.Fatalf("DRAINING = %v", got)
	}
	if got := list(types.ContainerInstanceStatusActive); !slices.Equal(got, []string{arnB}) {
		t.Fatalf("ACTIVE = %v", got)
	}
	if got := list(""); len(got) != 2 {
		t.Fatalf("all = %v", got)
	}
	// Setting the status it has changes nothing.
	u = gt.Must(c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("prod"), ContainerInstances: []string{arnA}, Status: types.ContainerInstanceStatusDraining,
	}))(t)
	if u.ContainerInstances[0].Version != a.Version+1 {
		t.Fatalf("no-op update bumped version to %d", u.ContainerInstances[0].Version)
	}
	u = gt.Must(c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("prod"), ContainerInstances: []string{arnA}, Status: types.ContainerInstanceStatusActive,
	}))(t)
	if aws.ToString(u.ContainerInstances[0].Status) != "ACTIVE" || u.ContainerInstances[0].Version != a.Version+2 {
		t.Fatalf("back to ACTIVE = %+v", u.ContainerInstances[0])
	}

	for _, status := range []types.ContainerInstanceStatus{"REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED", "INACTIVE", "SLEEPING"} {
		_, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
			Cluster: aws.String("prod"), ContainerInstances: []string{arnA}, Status: status,
		})
		gt.WantCode(t, err, "InvalidParameterException")
	}
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprintf("%032x", i)
	}
	_, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("prod"), ContainerInstances: eleven, Status: types.ContainerInstanceStatusDraining,
	})
	gt.WantCode(t, err, "InvalidParameterException")
	_, err = c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{
		Cluster: aws.String("ghost"), ContainerInstances: []string{arnA}, Status: types.ContainerInstanceStatusDraining,
	})
	gt.WantCode(t, err, "ClusterNotFoundException")
}

func TestListContainerInstancesPaginates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("big")}))(t)
	var want, gone []string
	for range 23 {
		ci := gt.Must(c.RegisterContainerInstance(ctx, agentRegistration("big")))(t).ContainerInstance
		want = append(want, aws.ToString(ci.ContainerInstanceArn))
	}
	slices.Sort(want) // listed in id order
	for _, arn := range []string{want[3], want[4], want[10]} {
		gt.Must(c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("big"), ContainerInstance: aws.String(arn)}))(t)
		gone = append(gone, arn)
	}
	want = slices.DeleteFunc(want, func(s string) bool { return slices.Contains(gone, s) })

	var got []string
	pages := 0
	p := ecs.NewListContainerInstancesPaginator(c, &ecs.ListContainerInstancesInput{Cluster: aws.String("big"), MaxResults: aws.Int32(7)})
	for p.HasMorePages() {
		out := gt.Must(p.NextPage(ctx))(t)
		pages++
		if len(out.ContainerInstanceArns) > 7 {
			t.Fatalf("page of %d > maxResults 7", len(out.ContainerInstanceArns))
		}
		got = append(got, out.ContainerInstanceArns...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d, want %d: %v", len(got), len(want), got)
	}
	if pages != 3 {
		t.Fatalf("%d pages, want 3 (20 instances by 7)", pages)
	}
	// The deregistered ones, in pages of 2.
	first := gt.Must(c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("big"), Status: "INACTIVE", MaxResults: aws.Int32(2)}))(t)
	if len(first.ContainerInstanceArns) != 2 || first.NextToken == nil {
		t.Fatalf("first INACTIVE page = %+v", first)
	}
	second := gt.Must(c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("big"), Status: "INACTIVE", MaxResults: aws.Int32(2), NextToken: first.NextToken}))(t)
	if all := append(first.ContainerInstanceArns, second.ContainerInstanceArns...); !slices.Equal(all, gone) || second.NextToken != nil {
		t.Fatalf("INACTIVE = %v (next %v), want %v", all, second.NextToken, gone)
	}
	// A token of the INACTIVE listing does not resume another listing.
	_, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("big"), NextToken: first.NextToken})
	gt.WantCode(t, err, "InvalidParameterException")
	// A filter that does not parse is refused, saying where.
	_, err = c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("big"), Filter: aws.String("attribute:ecs.os-type ==")})
	gt.WantCode(t, err, "InvalidParameterException")
}

func TestContainerInstanceErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	ci := register(t, c, "prod")
	arn := aws.ToString(ci.ContainerInstanceArn)
	reg := func(change func(in *ecs.RegisterContainerInstanceInput)) func() error {
		return func() error {
			in := agentRegistration("prod")
			change(in)
			_, err := c.RegisterContainerInstance(ctx, in)
			return err
		}
	}
	cases := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown resource", reg(func(in *ecs.RegisterContainerInstanceInput) {
			in.TotalResources = append(in.TotalResources, types.Resource{Name: aws.String("DISK"), Type: aws.String("INTEGER"), IntegerValue: 1})
		}), "InvalidParameterException"},
		{"resource of the wrong type", reg(func(in *ecs.RegisterContainerInstanceInput) {
			in.TotalResources[0].Type = aws.String("STRINGSET")
		}), "InvalidParameterException"},
		{"negative memory", reg(func(in *ecs.RegisterContainerInstanceInput) { in.TotalResources[1].IntegerValue = -1 }), "InvalidParameterException"},
		{"resource twice", reg(func(in *ecs.RegisterContainerInstanceInput) {
			in.TotalResources = append(in.TotalResources, in.TotalResources[0])
		}), "InvalidParameterException"},
		{"port not a number", reg(func(in *ecs.RegisterContainerInstanceInput) {
			in.TotalResources[2].StringSetValue = []string{"ssh"}
		}), "InvalidParameterException"},
		{"bad attribute name", reg(func(in *ecs.RegisterContainerInstanceInput) {
			in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String("no spaces")})
		}), "InvalidParameterException"},
		{"attribute name too long", reg(func(in *ecs.RegisterContainerInstanceInput) {
			in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String(strings.Repeat("a", 129))})
		}), "InvalidParameterException"},
		{"bad attribute value", reg(func(in *ecs.RegisterContainerInstanceInput) {
			in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String("x"), Value: aws.String(" padded")})
		}), "InvalidParameterException"},
		{"11 custom attributes", reg(func(in *ecs.RegisterContainerInstanceInput) {
			for i := range 10 {
				in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String(fmt.Sprint("custom", i))})
			}
		}), "InvalidParameterException"},
		{"identity document not JSON", reg(func(in *ecs.RegisterContainerInstanceInput) { in.InstanceIdentityDocument = aws.String("{") }), "InvalidParameterException"},
		{"aws: tag", reg(func(in *ecs.RegisterContainerInstanceInput) {
			in.Tags = []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}
		}), "InvalidParameterException"},
		{"describe none", func() error {
			_, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("prod"), ContainerInstances: []string{}})
			return err
		}, "ClientException"},
		{"describe 101", func() error {
			_, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("prod"), ContainerInstances: make([]string, 101)})
			return err
		}, "InvalidParameterException"},
		{"describe in missing cluster", func() error {
			_, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("ghost"), ContainerInstances: []string{arn}})
			return err
		}, "ClusterNotFoundException"},
		{"describe a cluster ARN", func() error {
			_, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("prod"), ContainerInstances: []string{"arn:aws:ecs:r:1:cluster/prod"}})
			return err
		}, "InvalidParameterException"},
		{"list in missing cluster", func() error {
			_, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("ghost")})
			return err
		}, "ClusterNotFoundException"},
		{"list maxResults 0", func() error {
			_, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod"), MaxResults: aws.Int32(0)})
			return err
		}, "InvalidParameterException"},
		{"list garbage token", func() error {
			_, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod"), NextToken: aws.String("garbage")})
			return err
		}, "InvalidParameterException"},
		{"list unknown status", func() error {
			_, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod"), Status: "SLEEPING"})
			return err
		}, "InvalidParameterException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { gt.WantCode(t, tc.call(), tc.code) })
	}
	// Agent-reported attributes do not count against the custom limit.
	in := agentRegistration("prod")
	for i := range 20 {
		in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String(fmt.Sprint("ecs.capability.feature-", i))})
	}
	gt.Must(c.RegisterContainerInstance(ctx, in))(t)
	// None of the failed registrations left an instance behind.
	l := gt.Must(c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod")}))(t)
	if len(l.ContainerInstanceArns) != 2 {
		t.Fatalf("instances after failed registrations: %v", l.ContainerInstanceArns)
	}
}

func TestRegisterPlatformDevices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	in := agentRegistration("")
	in.PlatformDevices = []types.PlatformDevice{
		{Id: aws.String("GPU-0"), Type: types.PlatformDeviceTypeGpu},
		{Id: aws.String("GPU-1"), Type: types.PlatformDeviceTypeGpu},
	}
	ci := gt.Must(c.RegisterContainerInstance(ctx, in))(t).ContainerInstance
	if g := resource(ci.RegisteredResources, "GPU"); !slices.Equal(g.StringSetValue, []string{"GPU-0", "GPU-1"}) {
		t.Fatalf("GPU resource = %+v", g)
	}
	in.PlatformDevices = append(in.PlatformDevices, in.PlatformDevices[0])
	_, err := c.RegisterContainerInstance(ctx, in)
	gt.WantCode(t, err, "InvalidParameterException")
}
