package engine

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Check lists what in a task definition this agent cannot honour, one
// phrase per member, so a task is failed with a clear reason instead of
// running with something silently ignored. logDrivers are the logging
// drivers the runtime offers. The control plane rejects the same members at
// RunTask; this is the agent's own guard.
func Check(def *ecswire.TaskDefinition, logDrivers []string) []string {
	var out []string
	bad := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	switch def.NetworkMode {
	case "", "bridge", "host", "none":
	default:
		bad("networkMode %s (bridge, host and none are supported)", def.NetworkMode)
	}
	if def.ProxyConfiguration != nil {
		bad("proxyConfiguration")
	}
	if len(def.InferenceAccelerators) > 0 {
		bad("inferenceAccelerators")
	}
	if def.EphemeralStorage != nil {
		bad("ephemeralStorage (Fargate only)")
	}
	for _, v := range def.Volumes {
		switch {
		case v.EfsVolumeConfiguration != nil:
			bad("volume %s: efsVolumeConfiguration", v.Name)
		case v.FsxWindowsFileServerVolumeConfiguration != nil:
			bad("volume %s: fsxWindowsFileServerVolumeConfiguration", v.Name)
		case v.S3filesVolumeConfiguration != nil:
			bad("volume %s: s3filesVolumeConfiguration", v.Name)
		case v.ConfiguredAtLaunch != nil && *v.ConfiguredAtLaunch:
			bad("volume %s: configuredAtLaunch", v.Name)
		case v.DockerVolumeConfiguration != nil:
			dv := v.DockerVolumeConfiguration
			if dv.Driver != "" && dv.Driver != "local" {
				bad("volume %s: dockerVolumeConfiguration.driver %s (only local)", v.Name, dv.Driver)
			}
		}
	}
	for i := range def.ContainerDefinitions {
		d := &def.ContainerDefinitions[i]
		c := func(member string) { bad("container %s: %s", d.Name, member) }
		if len(d.CredentialSpecs) > 0 {
			c("credentialSpecs")
		}
		if len(d.EnvironmentFiles) > 0 {
			c("environmentFiles")
		}
		if d.FirelensConfiguration != nil {
			c("firelensConfiguration")
		}
		if d.RepositoryCredentials != nil {
			c("repositoryCredentials")
		}
		if len(d.ResourceRequirements) > 0 {
			c("resourceRequirements")
		}
		if d.RestartPolicy != nil && d.RestartPolicy.Enabled != nil && *d.RestartPolicy.Enabled {
			c("restartPolicy")
		}
		if len(d.Secrets) > 0 {
			c("secrets")
		}
		if lc := d.LogConfiguration; lc != nil {
			if len(lc.SecretOptions) > 0 {
				c("logConfiguration.secretOptions")
			}
			if !slices.Contains(logDrivers, lc.LogDriver) {
				c(fmt.Sprintf("logConfiguration.logDriver %s (the runtime offers %s)", lc.LogDriver, strings.Join(logDrivers, ", ")))
			}
		}
		for _, pm := range d.PortMappings {
			if pm.ContainerPortRange != "" {
				c("portMappings.containerPortRange")
			}
			if pm.ContainerPort == nil {
				c("portMappings without containerPort")
			}
		}
		if lp := d.LinuxParameters; lp != nil && lp.MaxSwap != nil && d.Memory == nil && taskMemoryMiB(def) == 0 {
			c("linuxParameters.maxSwap without a memory hard limit")
		}
		for _, dep := range d.DependsOn {
			if !slices.ContainsFunc(def.ContainerDefinitions, func(x ecswire.ContainerDefinition) bool { return x.Name == dep.ContainerName }) {
				c(fmt.Sprintf("dependsOn names unknown container %s", dep.ContainerName))
			}
		}
	}
	return out
}

// taskMemoryMiB parses the task-level memory ("512", "1GB", "1 GB"); 0 if
// unset or unreadable.
func taskMemoryMiB(def *ecswire.TaskDefinition) int32 {
	s := strings.ToUpper(strings.ReplaceAll(def.Memory, " ", ""))
	if s == "" {
		return 0
	}
	mult := 1.0
	if strings.HasSuffix(s, "GB") {
		s, mult = strings.TrimSuffix(s, "GB"), 1024
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0
	}
	return int32(f * mult)
}

// runtimeName is the Docker name of a container, as ECS names them:
// ecs-<family>-<revision>-<container>-<random hex>.
func runtimeName(family string, revision int32, container string) string {
	return fmt.Sprintf("ecs-%s-%d-%s-%s", family, revision, sanitize(container), randomHex(10))
}

// taskVolumeName is the Docker name of a task-scoped volume.
func taskVolumeName(family string, revision int32, volume, taskID string) string {
	return fmt.Sprintf("ecs-%s-%d-%s-%s", family, revision, sanitize(volume), taskID)
}

// sanitize keeps the characters Docker allows in names.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, s)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// taskID is the id at the end of a task ARN.
func taskID(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}
