package engine

import (
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

func TestPolicyRefused(t *testing.T) {
	yes := true
	host := func(path string) ecswire.TaskDefinition {
		return ecswire.TaskDefinition{Volumes: []ecswire.Volume{{Name: "v", Host: &ecswire.HostVolumeProperties{SourcePath: path}}}}
	}
	socks := Policy{DockerSockets: []string{"/var/run/docker.sock", "/run/docker.sock"}}
	for _, c := range []struct {
		name string
		p    Policy
		def  ecswire.TaskDefinition
		want string // a phrase of the refusal; "" for none
	}{
		{"privileged refused", Policy{DisablePrivileged: true},
			ecswire.TaskDefinition{ContainerDefinitions: []ecswire.ContainerDefinition{{Name: "root", Privileged: &yes}}}, "container root is privileged"},
		{"privileged allowed by default", Policy{},
			ecswire.TaskDefinition{ContainerDefinitions: []ecswire.ContainerDefinition{{Name: "root", Privileged: &yes}}}, ""},
		{"the socket", socks, host("/var/run/docker.sock"), "exposes the Docker socket /var/run/docker.sock"},
		{"its directory", socks, host("/run/"), "exposes the Docker socket /run/docker.sock"},
		{"the root", socks, host("/"), "exposes the Docker socket"},
		{"a sibling path", socks, host("/run/docker.sockets"), ""},
		{"another directory", socks, host("/srv/data"), ""},
		{"a local bind volume", socks, ecswire.TaskDefinition{Volumes: []ecswire.Volume{{Name: "v", DockerVolumeConfiguration: &ecswire.DockerVolumeConfiguration{
			Driver: "local", DriverOpts: map[string]string{"type": "none", "o": "bind", "device": "/var/run"}}}}}, "volume v: host path /var/run"},
		{"sockets allowed by default", Policy{}, host("/var/run/docker.sock"), ""},
	} {
		got := strings.Join(c.p.Refused(&c.def), "; ")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: refused %q, want %q", c.name, got, c.want)
		}
	}
}
