package ecs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// RunTask refuses, naming the field, every task definition that uses what
// the agent cannot honour; what it honours runs.
func TestRunTaskRefusesWhatGantryCannotHonour(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	startAgent(t, env, c, "prod", 8192, 8192)
	app := func(edit func(*types.ContainerDefinition)) []types.ContainerDefinition {
		cd := types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(64)}
		if edit != nil {
			edit(&cd)
		}
		return []types.ContainerDefinition{cd}
	}
	for _, tc := range []struct {
		name string
		in   ecs.RegisterTaskDefinitionInput
		want string // in the message; "" when the task runs
	}{
		{"task role", ecs.RegisterTaskDefinitionInput{TaskRoleArn: aws.String("arn:aws:iam::123456789012:role/r")}, "taskRoleArn"},
		{"awsvpc", ecs.RegisterTaskDefinitionInput{NetworkMode: types.NetworkModeAwsvpc}, "networkMode awsvpc"},
		{"ephemeral storage", ecs.RegisterTaskDefinitionInput{EphemeralStorage: &types.EphemeralStorage{SizeInGiB: 30}}, "ephemeralStorage"},
		{"windows", ecs.RegisterTaskDefinitionInput{RuntimePlatform: &types.RuntimePlatform{OperatingSystemFamily: types.OSFamilyWindowsServer2022Core}}, "operatingSystemFamily WINDOWS_SERVER_2022_CORE"},
		{"efs volume", ecs.RegisterTaskDefinitionInput{Volumes: []types.Volume{{Name: aws.String("v"), EfsVolumeConfiguration: &types.EFSVolumeConfiguration{FileSystemId: aws.String("fs-1")}}}}, "volumes[v].efsVolumeConfiguration"},
		{"volume driver", ecs.RegisterTaskDefinitionInput{Volumes: []types.Volume{{Name: aws.String("v"), DockerVolumeConfiguration: &types.DockerVolumeConfiguration{Driver: aws.String("rexray/ebs")}}}}, "driver rexray/ebs"},
		{"configured at launch", ecs.RegisterTaskDefinitionInput{Volumes: []types.Volume{{Name: aws.String("v"), ConfiguredAtLaunch: aws.Bool(true)}}}, "configuredAtLaunch"},
		{"secrets", ecs.RegisterTaskDefinitionInput{ContainerDefinitions: app(func(cd *types.ContainerDefinition) {
			cd.Secrets = []types.Secret{{Name: aws.String("S"), ValueFrom: aws.String("arn:aws:ssm:x:1:parameter/p")}}
		})}, "containerDefinitions[app].secrets"},
		{"environment files", ecs.RegisterTaskDefinitionInput{ContainerDefinitions: app(func(cd *types.ContainerDefinition) {
			cd.EnvironmentFiles = []types.EnvironmentFile{{Type: types.EnvironmentFileTypeS3, Value: aws.String("arn:aws:s3:::b/k.env")}}
		})}, "environmentFiles"},
		{"repository credentials", ecs.RegisterTaskDefinitionInput{ContainerDefinitions: app(func(cd *types.ContainerDefinition) {
			cd.RepositoryCredentials = &types.RepositoryCredentials{CredentialsParameter: aws.String("arn:aws:secretsmanager:x:1:secret:s")}
		})}, "repositoryCredentials"},
		{"gpu", ecs.RegisterTaskDefinitionInput{ContainerDefinitions: app(func(cd *types.ContainerDefinition) {
			cd.ResourceRequirements = []types.ResourceRequirement{{Type: types.ResourceTypeGpu, Value: aws.String("1")}}
		})}, "resourceRequirements"},
		{"awslogs", ecs.RegisterTaskDefinitionInput{ContainerDefinitions: app(func(cd *types.ContainerDefinition) {
			cd.LogConfiguration = &types.LogConfiguration{LogDriver: types.LogDriverAwslogs}
		})}, "logDriver awslogs"},
		{"log secrets", ecs.RegisterTaskDefinitionInput{ContainerDefinitions: app(func(cd *types.ContainerDefinition) {
			cd.LogConfiguration = &types.LogConfiguration{LogDriver: types.LogDriverSyslog, SecretOptions: []types.Secret{{Name: aws.String("a"), ValueFrom: aws.String("b")}}}
		})}, "logConfiguration.secretOptions"},
		{"port range", ecs.RegisterTaskDefinitionInput{ContainerDefinitions: app(func(cd *types.ContainerDefinition) {
			cd.PortMappings = []types.PortMapping{{ContainerPortRange: aws.String("8000-8010")}}
		})}, "containerPortRange"},
		{"restart policy", ecs.RegisterTaskDefinitionInput{ContainerDefinitions: app(func(cd *types.ContainerDefinition) {
			cd.RestartPolicy = &types.ContainerRestartPolicy{Enabled: aws.Bool(true)}
		})}, "restartPolicy"},
		{"firelens", ecs.RegisterTaskDefinitionInput{ContainerDefinitions: app(func(cd *types.ContainerDefinition) {
			cd.FirelensConfiguration = &types.FirelensConfiguration{Type: types.FirelensConfigurationTypeFluentbit}
		})}, "firelensConfiguration"},

		// What the agent honours runs.
		{"execution role", ecs.RegisterTaskDefinitionInput{ExecutionRoleArn: aws.String("arn:aws:iam::123456789012:role/exec")}, ""},
		{"host network, pid and ipc", ecs.RegisterTaskDefinitionInput{NetworkMode: types.NetworkModeHost, PidMode: types.PidModeHost, IpcMode: types.IpcModeNone}, ""},
		{"linux runtime", ecs.RegisterTaskDefinitionInput{RuntimePlatform: &types.RuntimePlatform{OperatingSystemFamily: types.OSFamilyLinux, CpuArchitecture: types.CPUArchitectureX8664}}, ""},
		{"volumes", ecs.RegisterTaskDefinitionInput{Volumes: []types.Volume{
			{Name: aws.String("h"), Host: &types.HostVolumeProperties{SourcePath: aws.String("/tmp")}},
			{Name: aws.String("d"), DockerVolumeConfiguration: &types.DockerVolumeConfiguration{Scope: types.ScopeShared, Autoprovision: aws.Bool(true), Driver: aws.String("local")}},
			{Name: aws.String("e")},
		}}, ""},
		{"rich container", ecs.RegisterTaskDefinitionInput{ContainerDefinitions: app(func(cd *types.ContainerDefinition) {
			cd.LogConfiguration = &types.LogConfiguration{LogDriver: types.LogDriverJsonFile, Options: map[string]string{"max-size": "1m"}}
			cd.LinuxParameters = &types.LinuxParameters{InitProcessEnabled: aws.Bool(true), SharedMemorySize: aws.Int32(64)}
			cd.HealthCheck = &types.HealthCheck{Command: []string{"CMD-SHELL", "true"}}
			cd.Ulimits = []types.Ulimit{{Name: types.UlimitNameNofile, SoftLimit: 1024, HardLimit: 2048}}
			cd.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80), Name: aws.String("http"), AppProtocol: types.ApplicationProtocolHttp}}
			cd.RestartPolicy = &types.ContainerRestartPolicy{Enabled: aws.Bool(false)}
			cd.VersionConsistency = types.VersionConsistencyDisabled
			cd.StopTimeout = aws.Int32(2)
		})}, ""},
	} {
		in := tc.in
		in.Family = aws.String("check-" + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name))
		if in.ContainerDefinitions == nil {
			in.ContainerDefinitions = app(nil)
		}
		if _, err := c.RegisterTaskDefinition(ctx, &in); err != nil {
			t.Errorf("%s: register: %v", tc.name, err)
			continue
		}
		out, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: in.Family})
		switch {
		case tc.want == "" && (err != nil || len(out.Tasks) != 1):
			t.Errorf("%s: run = %+v, %v; want a task", tc.name, out, err)
		case tc.want != "" && (gt.Code(err) != "InvalidParameterException" || !strings.Contains(err.Error(), "cannot honour ") || !strings.Contains(err.Error(), tc.want+" yet")):
			t.Errorf("%s: got %v, want InvalidParameterException naming %s", tc.name, err, tc.want)
		}
	}
}
