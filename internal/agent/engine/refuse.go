package engine

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Policy is what an instance's operator refuses to run, though the engine
// could: privileged containers, and host volumes that expose the Docker
// socket. The zero Policy refuses nothing.
type Policy struct {
	// DisablePrivileged refuses privileged containers
	// (gantry agent --disable-privileged).
	DisablePrivileged bool
	// DockerSockets, when not empty, are the Docker daemon's socket paths;
	// a host volume exposing one of them (the socket or a directory holding
	// it) is refused (gantry agent --disable-docker-socket-mounts).
	DockerSockets []string
}

// Refused lists, one phrase per member, what in a task definition the
// policy refuses.
func (p Policy) Refused(def *ecswire.TaskDefinition) []string {
	var out []string
	if p.DisablePrivileged {
		for _, d := range def.ContainerDefinitions {
			if d.Privileged != nil && *d.Privileged {
				out = append(out, fmt.Sprintf("container %s is privileged, and this instance disables privileged containers (gantry agent --disable-privileged)", d.Name))
			}
		}
	}
	if len(p.DockerSockets) == 0 {
		return out
	}
	for _, v := range def.Volumes {
		var src string
		switch {
		case v.Host != nil && v.Host.SourcePath != "":
			src = v.Host.SourcePath
		case v.DockerVolumeConfiguration != nil && v.DockerVolumeConfiguration.DriverOpts["device"] != "":
			src = v.DockerVolumeConfiguration.DriverOpts["device"] // a local bind volume
		default:
			continue
		}
		if sock := p.exposedSocket(src); sock != "" {
			out = append(out, fmt.Sprintf("volume %s: host path %s exposes the Docker socket %s, and this instance refuses Docker socket mounts (gantry agent --disable-docker-socket-mounts)", v.Name, src, sock))
		}
	}
	return out
}

// exposedSocket returns the Docker socket that host path src is or holds
// ("" if none), comparing both the path as given and with symlinks
// resolved (/var/run is often a link to /run).
func (p Policy) exposedSocket(src string) string {
	paths := []string{filepath.Clean(src)}
	if r, err := filepath.EvalSymlinks(src); err == nil {
		paths = append(paths, r)
	}
	for _, sock := range p.DockerSockets {
		for _, dir := range paths {
			if sock == dir || dir == "/" || strings.HasPrefix(sock, dir+"/") {
				return sock
			}
		}
	}
	return ""
}

// DockerSockets are the paths of the Docker socket at host (a unix://
// address, or "" for the default /var/run/docker.sock), as given and with
// symlinks resolved.
func DockerSockets(host string) []string {
	paths := []string{"/var/run/docker.sock", "/run/docker.sock"}
	if p, ok := strings.CutPrefix(host, "unix://"); ok && p != "" {
		paths = append(paths, filepath.Clean(p))
	}
	out := paths
	for _, p := range paths {
		if r, err := filepath.EvalSymlinks(p); err == nil && r != p {
			out = append(out, r)
		}
	}
	return out
}
