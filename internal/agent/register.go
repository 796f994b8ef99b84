package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/gantry-dev/gantry/internal/agent/rt"
)

// loggingDrivers are the drivers the agent advertises when the runtime
// offers them (none is always there).
var loggingDrivers = []string{"json-file", "local", "journald", "syslog", "none", "fluentd", "gelf"}

// privilegedCapability says the instance runs privileged containers; an
// agent with DisablePrivileged leaves it out, as ECS_DISABLE_PRIVILEGED does.
const privilegedCapability = "com.amazonaws.ecs.capability.privileged-container"

// capabilities are what the task engine honours, as ECS names them.
var capabilities = []string{
	"ecs.capability.container-health-check",
	"ecs.capability.container-ordering",
	privilegedCapability,
	"ecs.capability.docker-plugin.local",
	"ecs.capability.pid-ipc-namespace-sharing",
	"com.amazonaws.ecs.capability.task-cpu-mem-limit",
}

// awsConfig is the SDK configuration of the agent's calls to the control
// plane: its endpoint, keys and region.
func awsConfig(cfg *Config) aws.Config {
	return aws.Config{
		Region:       cfg.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		BaseEndpoint: aws.String(cfg.Endpoint),
	}
}

// ecsClient builds the SDK's ECS client for the control plane.
func ecsClient(cfg *Config) *ecs.Client { return ecs.NewFromConfig(awsConfig(cfg)) }

// registration builds the RegisterContainerInstance request of this host.
func registration(cfg *Config, info rt.Info, arn string) *ecs.RegisterContainerInstanceInput {
	ports := make([]string, 0, len(cfg.ReservedPorts))
	for _, p := range cfg.ReservedPorts {
		ports = append(ports, strconv.Itoa(p))
	}
	cpu, mem := registeredSize(cfg, info)
	in := &ecs.RegisterContainerInstanceInput{
		Cluster: aws.String(cfg.Cluster),
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: int32(cpu)},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: int32(mem)},
			{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: ports},
			{Name: aws.String("PORTS_UDP"), Type: aws.String("STRINGSET"), StringSetValue: []string{}},
		},
		Attributes: attributes(cfg, info),
		VersionInfo: &types.VersionInfo{
			AgentVersion:  aws.String(cfg.AgentVersion),
			DockerVersion: aws.String("DockerVersion: " + info.Version),
		},
	}
	if arn != "" {
		in.ContainerInstanceArn = aws.String(arn)
	}
	if cfg.InstanceID != "" {
		doc, _ := json.Marshal(map[string]string{"instanceId": cfg.InstanceID})
		in.InstanceIdentityDocument = aws.String(string(doc))
	}
	return in
}

// registeredSize is the CPU (units) and memory (MiB) the instance offers:
// the configured sizes, else the host's, memory less the reserve.
func registeredSize(cfg *Config, info rt.Info) (cpu int, memMiB int64) {
	cpu, memMiB = info.CPUs*1024, max(info.MemoryMiB-cfg.MemoryReserveMiB, 0)
	if cfg.CPUUnits > 0 {
		cpu = cfg.CPUUnits
	}
	if cfg.MemoryMiB > 0 {
		memMiB = cfg.MemoryMiB
	}
	return cpu, memMiB
}

// attributes are the instance's attributes: platform, placement, the
// capabilities of the engine and runtime, and the custom ones.
func attributes(cfg *Config, info rt.Info) []types.Attribute {
	var out []types.Attribute
	add := func(name, value string) {
		a := types.Attribute{Name: aws.String(name)}
		if value != "" {
			a.Value = aws.String(value)
		}
		out = append(out, a)
	}
	add("ecs.os-type", "linux")
	add("ecs.os-family", "LINUX")
	add("ecs.cpu-architecture", info.Architecture)
	add("ecs.availability-zone", cfg.AvailabilityZone)
	add("ecs.instance-type", cfg.InstanceType)
	for _, v := range remoteAPIVersions(info.APIVersion) {
		add("com.amazonaws.ecs.capability.docker-remote-api."+v, "")
	}
	for _, d := range loggingDrivers {
		if d == "none" || slices.Contains(info.LogDrivers, d) {
			add("com.amazonaws.ecs.capability.logging-driver."+d, "")
		}
	}
	for _, c := range capabilities {
		if c == privilegedCapability && cfg.DisablePrivileged {
			continue // placement then never sends a privileged task here
		}
		add(c, "")
	}
	for _, a := range cfg.Attributes {
		name, value, _ := strings.Cut(a, "=")
		add(name, value)
	}
	return out
}

// remoteAPIVersions lists Docker API versions 1.17 up to the runtime's, as
// the ECS agent advertises them.
func remoteAPIVersions(api string) []string {
	major, minor, ok := strings.Cut(api, ".")
	m, err := strconv.Atoi(minor)
	if !ok || major != "1" || err != nil {
		return nil
	}
	var out []string
	for v := 17; v <= m; v++ {
		out = append(out, fmt.Sprintf("1.%d", v))
	}
	return out
}

// register registers the instance, again under arn if it has one; an
// identity the control plane no longer knows is replaced by a new one.
func (a *Agent) register(ctx context.Context, arn string) (string, error) {
	out, err := a.ecs.RegisterContainerInstance(ctx, registration(&a.cfg, a.info, arn))
	if err != nil && arn != "" && identityGone(err) {
		a.log.Warn("registering again under the checkpointed identity failed; registering a new instance", "instance", arn, "err", err)
		out, err = a.ecs.RegisterContainerInstance(ctx, registration(&a.cfg, a.info, ""))
	}
	if err != nil {
		return "", fmt.Errorf("register container instance: %w", err)
	}
	return aws.ToString(out.ContainerInstance.ContainerInstanceArn), nil
}

// identityGone says whether the control plane refused an instance identity
// (unknown or deregistered), as opposed to failing to answer.
func identityGone(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "ClientException", "InvalidParameterException":
		return true
	}
	return false
}

// fatalRegistration says whether a registration error will not go away by
// retrying: bad credentials, or a cluster that does not exist.
func fatalRegistration(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "UnrecognizedClientException", "InvalidSignatureException", "AccessDeniedException", "ClusterNotFoundException":
		return true
	}
	return false
}
