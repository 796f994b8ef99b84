package ecs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// What Gantry's agent can run. RunTask and StartTask refuse, with an
// InvalidParameterException that names the field, any task definition or
// override that uses something the agent cannot honour: a field is never
// silently ignored. The check is a list of the members the agent honours
// (by JSON name, at each level of the definition), so a member the service
// model gains later is refused until someone teaches the agent about it; a
// few members are honoured only with some values, checked after.

// keySet builds a set of JSON member names.
func keySet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

var (
	// honouredTask are the task-level members: what the agent runs, and what
	// ECS fills in on registration (ARN, revision, status, ...), and what
	// placement honours (placementConstraints).
	honouredTask = keySet("family", "taskDefinitionArn", "revision", "status", "registeredAt", "registeredBy",
		"deregisteredAt", "compatibilities", "requiresCompatibilities", "requiresAttributes",
		"containerDefinitions", "volumes", "networkMode", "cpu", "memory", "pidMode", "ipcMode",
		"executionRoleArn", "runtimePlatform", "enableFaultInjection", "placementConstraints")
	honouredContainer = keySet("name", "image", "cpu", "memory", "memoryReservation", "essential", "command",
		"entryPoint", "environment", "workingDirectory", "user", "ulimits", "dockerLabels", "mountPoints",
		"volumesFrom", "portMappings", "links", "hostname", "extraHosts", "dnsServers", "dnsSearchDomains",
		"disableNetworking", "readonlyRootFilesystem", "privileged", "dockerSecurityOptions", "interactive",
		"pseudoTerminal", "stopTimeout", "startTimeout", "dependsOn", "healthCheck", "logConfiguration",
		"systemControls", "linuxParameters", "versionConsistency", "restartPolicy")
	// honouredPortMapping: name and appProtocol only label the port (Service
	// Connect, load balancers); containerPortRange is refused.
	honouredPortMapping = keySet("containerPort", "hostPort", "protocol", "name", "appProtocol")
	honouredLinux       = keySet("initProcessEnabled", "capabilities", "devices", "sharedMemorySize", "tmpfs", "maxSwap", "swappiness")
	honouredLog         = keySet("logDriver", "options")
	honouredVolume      = keySet("name", "host", "dockerVolumeConfiguration", "configuredAtLaunch")
	honouredDockerVol   = keySet("scope", "autoprovision", "driver", "driverOpts", "labels")
	honouredRuntime     = keySet("operatingSystemFamily", "cpuArchitecture")
	honouredOverride    = keySet("containerOverrides", "cpu", "memory", "executionRoleArn")
	honouredContOverr   = keySet("name", "command", "environment", "cpu", "memory", "memoryReservation")

	// honouredLogDrivers are the Docker log drivers the agent configures.
	honouredLogDrivers = []string{"json-file", "local", "journald", "syslog", "none", "fluentd", "gelf"}
)

// whyNot explains, for the members refused most often, what the agent
// lacks; others get a generic explanation.
var whyNot = map[string]string{
	"taskRoleArn":                             "tasks get no IAM role credentials from Gantry",
	"proxyConfiguration":                      "App Mesh proxies are not configured",
	"inferenceAccelerators":                   "there are no Elastic Inference accelerators",
	"ephemeralStorage":                        "ephemeral storage is a Fargate setting",
	"secrets":                                 "secrets are not fetched from Secrets Manager or SSM",
	"environmentFiles":                        "environment files are not fetched from S3",
	"repositoryCredentials":                   "registry credentials are not fetched from Secrets Manager",
	"firelensConfiguration":                   "FireLens log routing is not set up",
	"resourceRequirements":                    "GPUs and accelerators are not assigned",
	"credentialSpecs":                         "gMSA credential specs are Windows only",
	"secretOptions":                           "log driver secrets are not fetched",
	"containerPortRange":                      "port ranges are not published",
	"efsVolumeConfiguration":                  "EFS file systems are not mounted",
	"fsxWindowsFileServerVolumeConfiguration": "FSx file systems are not mounted",
	"s3filesVolumeConfiguration":              "S3 file systems are not mounted",
}

// refuse is the error for a member Gantry cannot honour.
func refuse(path, why string) error {
	if why == "" {
		why = "the Gantry agent does not support it"
	}
	return InvalidParameter.Errorf("Gantry cannot honour %s yet: %s. Remove it to run this task.", path, why)
}

// unknownMember returns the first member of v (as JSON) that allowed does
// not list, as path.member, or "".
func unknownMember(path string, v any, allowed map[string]bool) (string, string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", "", err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return "", "", err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !allowed[k] {
			return path + k, k, nil
		}
	}
	return "", "", nil
}

// onlyHonoured refuses v if it has a member allowed does not list.
func onlyHonoured(path string, v any, allowed map[string]bool) error {
	p, k, err := unknownMember(path, v, allowed)
	if err != nil || p == "" {
		return err
	}
	return refuse(p, whyNot[k])
}

// checkHonourable refuses a task definition (overrides already applied)
// that uses what the agent cannot do, for a task of launch type EC2.
func checkHonourable(td *w.TaskDefinition) error {
	if err := onlyHonoured("", td, honouredTask); err != nil {
		return err
	}
	if td.NetworkMode == modeAwsvpc {
		return refuse("networkMode awsvpc", "tasks of launch type EC2 run in bridge, host or none network mode; awsvpc comes with Fargate")
	}
	if td.EnableFaultInjection != nil && *td.EnableFaultInjection {
		return refuse("enableFaultInjection", "fault injection endpoints are not served")
	}
	if rp := td.RuntimePlatform; rp != nil {
		if err := onlyHonoured("runtimePlatform.", rp, honouredRuntime); err != nil {
			return err
		}
		if rp.OperatingSystemFamily != "" && rp.OperatingSystemFamily != "LINUX" {
			return refuse("runtimePlatform.operatingSystemFamily "+rp.OperatingSystemFamily, "Gantry agents run Linux containers")
		}
	}
	for _, v := range td.Volumes {
		if err := checkVolume(v); err != nil {
			return err
		}
	}
	for i := range td.ContainerDefinitions {
		if err := checkHonourableContainer(&td.ContainerDefinitions[i]); err != nil {
			return err
		}
	}
	return nil
}

// checkVolume refuses a volume other than a bind mount of a host path, a
// Docker volume of the local driver, or an unnamed Docker volume.
func checkVolume(v w.Volume) error {
	path := fmt.Sprintf("volumes[%s].", v.Name)
	if err := onlyHonoured(path, v, honouredVolume); err != nil {
		return err
	}
	if v.ConfiguredAtLaunch != nil && *v.ConfiguredAtLaunch {
		return refuse(path+"configuredAtLaunch", "EBS volumes configured at launch are not attached")
	}
	if dv := v.DockerVolumeConfiguration; dv != nil {
		if err := onlyHonoured(path+"dockerVolumeConfiguration.", dv, honouredDockerVol); err != nil {
			return err
		}
		if dv.Driver != "" && dv.Driver != "local" {
			return refuse(path+"dockerVolumeConfiguration.driver "+dv.Driver, "only the local volume driver is available")
		}
	}
	return nil
}

// checkHonourableContainer refuses a container that uses what the agent
// cannot do.
func checkHonourableContainer(c *w.ContainerDefinition) error {
	path := fmt.Sprintf("containerDefinitions[%s].", c.Name)
	if err := onlyHonoured(path, c, honouredContainer); err != nil {
		return err
	}
	if rp := c.RestartPolicy; rp != nil && rp.Enabled != nil && *rp.Enabled {
		return refuse(path+"restartPolicy", "containers are not restarted in place")
	}
	for j, pm := range c.PortMappings {
		if err := onlyHonoured(fmt.Sprintf("%sportMappings[%d].", path, j), pm, honouredPortMapping); err != nil {
			return err
		}
	}
	if lp := c.LinuxParameters; lp != nil {
		if err := onlyHonoured(path+"linuxParameters.", lp, honouredLinux); err != nil {
			return err
		}
	}
	if lc := c.LogConfiguration; lc != nil {
		if err := onlyHonoured(path+"logConfiguration.", lc, honouredLog); err != nil {
			return err
		}
		if !slices.Contains(honouredLogDrivers, lc.LogDriver) {
			return refuse(path+"logConfiguration.logDriver "+lc.LogDriver,
				"the log drivers available are "+strings.Join(honouredLogDrivers, ", "))
		}
	}
	return nil
}

// checkHonourableOverrides refuses overrides the agent cannot apply.
func checkHonourableOverrides(ov *w.TaskOverride) error {
	if ov == nil {
		return nil
	}
	if err := onlyHonoured("overrides.", ov, honouredOverride); err != nil {
		return err
	}
	for _, co := range ov.ContainerOverrides {
		if err := onlyHonoured(fmt.Sprintf("overrides.containerOverrides[%s].", co.Name), co, honouredContOverr); err != nil {
			return err
		}
	}
	return nil
}

// checkRunRequest refuses the members of a RunTask or StartTask request
// that Gantry cannot honour yet. mode is the definition's network mode.
func checkRunRequest(mode string, nc *w.NetworkConfiguration, vcs []w.TaskVolumeConfiguration, execCmd bool) error {
	if nc != nil && mode != modeAwsvpc {
		return withHint(InvalidParameter.Errorf("Network Configuration is not valid for the given networkMode of this task definition."), "networkConfiguration is only for networkMode awsvpc; this task definition's is %s", mode)
	}
	if len(vcs) > 0 {
		return refuse("volumeConfigurations", "EBS volumes configured at launch are not attached")
	}
	if execCmd {
		return refuse("enableExecuteCommand", "ECS Exec sessions are not served")
	}
	return nil
}
