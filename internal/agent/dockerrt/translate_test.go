package dockerrt

import (
	"slices"
	"testing"
	"time"

	"github.com/docker/go-connections/nat"

	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

func ptr[T any](v T) *T { return &v }

// Every member of a container definition the engine admits reaches Docker's
// container or host config.
func TestTranslateMapsEveryMember(t *testing.T) {
	spec := &rt.ContainerSpec{
		Name:        "ecs-web-1-app-abc",
		Labels:      map[string]string{"a": "b"},
		NetworkMode: "bridge",
		IpcMode:     "shareable",
		HostIP:      "127.0.0.1",
		Mounts:      []rt.Mount{{Type: rt.MountBind, Source: "/srv", Target: "/data", ReadOnly: true}, {Type: rt.MountVolume, Source: "vol", Target: "/v"}},
		VolumesFrom: []string{"abc:ro"},
		Links:       []string{"ecs-web-1-db-abc:db"},
		ExtraEnv:    []string{"ECS_CONTAINER_METADATA_URI_V4=http://x"},
		Def: ecswire.ContainerDefinition{
			Image: "img", Command: []string{"c"}, EntryPoint: []string{"e"}, Cpu: 1,
			Memory: ptr(int32(128)), MemoryReservation: ptr(int32(64)),
			Environment:      []ecswire.KeyValuePair{{Name: "K", Value: "V"}},
			WorkingDirectory: "/w", User: "nobody", Hostname: "h",
			Ulimits:      []ecswire.Ulimit{{Name: "nofile", SoftLimit: 10, HardLimit: 20}},
			PortMappings: []ecswire.PortMapping{{ContainerPort: ptr(int32(80))}, {ContainerPort: ptr(int32(53)), HostPort: ptr(int32(5353)), Protocol: "udp"}},
			ExtraHosts:   []ecswire.HostEntry{{Hostname: "db", IpAddress: "10.0.0.1"}},
			DnsServers:   []string{"10.0.0.2"}, DnsSearchDomains: []string{"local"},
			DisableNetworking: ptr(false), ReadonlyRootFilesystem: ptr(true), Privileged: ptr(true),
			DockerSecurityOptions: []string{"no-new-privileges"}, Interactive: ptr(true), PseudoTerminal: ptr(true),
			LogConfiguration: &ecswire.LogConfiguration{LogDriver: "json-file", Options: map[string]string{"max-size": "1m"}},
			SystemControls:   []ecswire.SystemControl{{Namespace: "net.core.somaxconn", Value: "1024"}},
			StopTimeout:      ptr(int32(5)),
			HealthCheck:      &ecswire.HealthCheck{Command: []string{"CMD-SHELL", "true"}, Interval: ptr(int32(2))},
			LinuxParameters: &ecswire.LinuxParameters{
				InitProcessEnabled: ptr(true), Capabilities: &ecswire.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}},
				Devices:          []ecswire.Device{{HostPath: "/dev/null", Permissions: []string{"read"}}},
				SharedMemorySize: ptr(int32(32)), Tmpfs: []ecswire.Tmpfs{{ContainerPath: "/t", Size: 8, MountOptions: []string{"noexec"}}},
				MaxSwap: ptr(int32(0)), Swappiness: ptr(int32(10)),
			},
		},
	}
	cfg, hc, err := translate(spec)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s not mapped", what)
		}
	}
	check("image/command/entryPoint", cfg.Image == "img" && cfg.Cmd[0] == "c" && cfg.Entrypoint[0] == "e")
	check("environment", slices.Equal(cfg.Env, []string{"K=V", "ECS_CONTAINER_METADATA_URI_V4=http://x"}))
	check("workingDirectory/user/hostname", cfg.WorkingDir == "/w" && cfg.User == "nobody" && cfg.Hostname == "h")
	check("interactive/pseudoTerminal", cfg.OpenStdin && cfg.Tty)
	check("stopTimeout", *cfg.StopTimeout == 5)
	check("healthCheck", cfg.Healthcheck.Test[0] == "CMD-SHELL" && cfg.Healthcheck.Interval == 2*time.Second && cfg.Healthcheck.Timeout == 5*time.Second && cfg.Healthcheck.Retries == 3)
	check("cpu min 2", hc.CPUShares == 2)
	check("memory", hc.Memory == 128<<20 && hc.MemoryReservation == 64<<20)
	check("maxSwap 0 = no swap", hc.MemorySwap == 128<<20)
	check("swappiness", *hc.MemorySwappiness == 10)
	check("ulimits", hc.Ulimits[0].Name == "nofile" && hc.Ulimits[0].Soft == 10 && hc.Ulimits[0].Hard == 20)
	check("dynamic port on the host IP", slices.Equal(hc.PortBindings[nat.Port("80/tcp")], []nat.PortBinding{{HostIP: "127.0.0.1", HostPort: ""}}))
	check("static udp port", slices.Equal(hc.PortBindings[nat.Port("53/udp")], []nat.PortBinding{{HostIP: "127.0.0.1", HostPort: "5353"}}))
	check("mounts", slices.Equal(hc.Binds, []string{"/srv:/data:ro", "vol:/v"}))
	check("volumesFrom/links", hc.VolumesFrom[0] == "abc:ro" && hc.Links[0] == "ecs-web-1-db-abc:db")
	check("extraHosts/dns", hc.ExtraHosts[0] == "db:10.0.0.1" && hc.DNS[0] == "10.0.0.2" && hc.DNSSearch[0] == "local")
	check("readonlyRootFilesystem/privileged/securityOptions", hc.ReadonlyRootfs && hc.Privileged && hc.SecurityOpt[0] == "no-new-privileges")
	check("logConfiguration", hc.LogConfig.Type == "json-file" && hc.LogConfig.Config["max-size"] == "1m")
	check("systemControls", hc.Sysctls["net.core.somaxconn"] == "1024")
	check("init", *hc.Init)
	check("capabilities", hc.CapAdd[0] == "NET_ADMIN" && hc.CapDrop[0] == "MKNOD")
	check("devices", hc.Devices[0].PathInContainer == "/dev/null" && hc.Devices[0].CgroupPermissions == "r")
	check("sharedMemorySize", hc.ShmSize == 32<<20)
	check("tmpfs", hc.Tmpfs["/t"] == "size=8m,noexec")
	check("ipc", hc.IpcMode == "shareable")
}

// Host mode publishes nothing (the container port is the host port); a
// task's memory applies when the container has no hard limit.
func TestTranslateHostModeAndTaskMemory(t *testing.T) {
	spec := &rt.ContainerSpec{NetworkMode: "host", MemoryMiB: 256, Def: ecswire.ContainerDefinition{
		Image: "img", PortMappings: []ecswire.PortMapping{{ContainerPort: ptr(int32(8080))}},
	}}
	cfg, hc, err := translate(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(hc.PortBindings) != 0 || len(cfg.ExposedPorts) != 1 {
		t.Errorf("host mode: bindings %v exposed %v", hc.PortBindings, cfg.ExposedPorts)
	}
	if hc.Memory != 256<<20 {
		t.Errorf("memory %d", hc.Memory)
	}
	spec.MemoryMiB = 0
	spec.Def.LinuxParameters = &ecswire.LinuxParameters{MaxSwap: ptr(int32(10))}
	if _, _, err := translate(spec); err == nil {
		t.Error("maxSwap without a memory limit must fail")
	}
}
