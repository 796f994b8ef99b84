package dockerrt

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/go-connections/nat"

	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

const mib = 1 << 20

// ECS health check defaults (seconds), applied when the definition leaves a
// value out.
const (
	defaultHealthInterval = 30
	defaultHealthTimeout  = 5
	defaultHealthRetries  = 3
)

// translate maps a container spec to Docker's container and host configs.
// Every member of the definition that engine.Check admits is mapped here.
func translate(spec *rt.ContainerSpec) (*container.Config, *container.HostConfig, error) {
	d := &spec.Def
	cfg := &container.Config{
		Image:           d.Image,
		Cmd:             strslice.StrSlice(d.Command),
		Entrypoint:      strslice.StrSlice(d.EntryPoint),
		WorkingDir:      d.WorkingDirectory,
		User:            d.User,
		Hostname:        d.Hostname,
		Labels:          spec.Labels,
		NetworkDisabled: isTrue(d.DisableNetworking),
		Tty:             isTrue(d.PseudoTerminal),
		OpenStdin:       isTrue(d.Interactive),
		ExposedPorts:    nat.PortSet{},
	}
	for _, kv := range d.Environment {
		cfg.Env = append(cfg.Env, kv.Name+"="+kv.Value)
	}
	cfg.Env = append(cfg.Env, spec.ExtraEnv...)
	if d.StopTimeout != nil {
		t := int(*d.StopTimeout)
		cfg.StopTimeout = &t
	}
	if h := d.HealthCheck; h != nil {
		cfg.Healthcheck = &container.HealthConfig{
			Test:        h.Command,
			Interval:    seconds(h.Interval, defaultHealthInterval),
			Timeout:     seconds(h.Timeout, defaultHealthTimeout),
			Retries:     int(intOr(h.Retries, defaultHealthRetries)),
			StartPeriod: seconds(h.StartPeriod, 0),
		}
	}
	hc := &container.HostConfig{
		NetworkMode:    container.NetworkMode(spec.NetworkMode),
		PidMode:        container.PidMode(spec.PidMode),
		IpcMode:        container.IpcMode(spec.IpcMode),
		PortBindings:   nat.PortMap{},
		Links:          spec.Links,
		VolumesFrom:    spec.VolumesFrom,
		DNS:            d.DnsServers,
		DNSSearch:      d.DnsSearchDomains,
		ReadonlyRootfs: isTrue(d.ReadonlyRootFilesystem),
		Privileged:     isTrue(d.Privileged),
		SecurityOpt:    d.DockerSecurityOptions,
	}
	for _, m := range spec.Mounts {
		b := m.Source + ":" + m.Target
		if m.ReadOnly {
			b += ":ro"
		}
		hc.Binds = append(hc.Binds, b)
	}
	for _, e := range d.ExtraHosts {
		hc.ExtraHosts = append(hc.ExtraHosts, e.Hostname+":"+e.IpAddress)
	}
	if err := ports(spec, cfg, hc); err != nil {
		return nil, nil, err
	}
	if lc := d.LogConfiguration; lc != nil {
		hc.LogConfig = container.LogConfig{Type: lc.LogDriver, Config: lc.Options}
	}
	if len(d.SystemControls) > 0 {
		hc.Sysctls = map[string]string{}
		for _, s := range d.SystemControls {
			hc.Sysctls[s.Namespace] = s.Value
		}
	}
	if err := resources(spec, &hc.Resources); err != nil {
		return nil, nil, err
	}
	if err := linux(d.LinuxParameters, hc); err != nil {
		return nil, nil, err
	}
	return cfg, hc, nil
}

// ports exposes each port mapping and, in bridge mode, publishes it on the
// host IP (hostPort 0 or absent: Docker picks a free ephemeral port).
func ports(spec *rt.ContainerSpec, cfg *container.Config, hc *container.HostConfig) error {
	for _, pm := range spec.Def.PortMappings {
		if pm.ContainerPort == nil {
			return errors.New("portMappings: containerPort is required")
		}
		proto := strings.ToLower(pm.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		p, err := nat.NewPort(proto, strconv.Itoa(int(*pm.ContainerPort)))
		if err != nil {
			return fmt.Errorf("portMappings: %w", err)
		}
		cfg.ExposedPorts[p] = struct{}{}
		if spec.NetworkMode != "bridge" {
			continue
		}
		host := ""
		if pm.HostPort != nil && *pm.HostPort != 0 {
			host = strconv.Itoa(int(*pm.HostPort))
		}
		hc.PortBindings[p] = append(hc.PortBindings[p], nat.PortBinding{HostIP: spec.HostIP, HostPort: host})
	}
	return nil
}

// resources maps cpu (shares, at least 2), memory (hard limit),
// memoryReservation (soft limit), ulimits, maxSwap and swappiness.
func resources(spec *rt.ContainerSpec, r *container.Resources) error {
	d := &spec.Def
	r.CPUShares = max(int64(d.Cpu), 2)
	hard := int64(spec.MemoryMiB)
	if d.Memory != nil {
		hard = int64(*d.Memory)
	}
	r.Memory = hard * mib
	if d.MemoryReservation != nil {
		r.MemoryReservation = int64(*d.MemoryReservation) * mib
	}
	for _, u := range d.Ulimits {
		r.Ulimits = append(r.Ulimits, &container.Ulimit{Name: u.Name, Soft: int64(u.SoftLimit), Hard: int64(u.HardLimit)})
	}
	if lp := d.LinuxParameters; lp != nil {
		if lp.MaxSwap != nil {
			if hard == 0 {
				return errors.New("linuxParameters.maxSwap needs a memory hard limit (memory)")
			}
			r.MemorySwap = (hard + int64(*lp.MaxSwap)) * mib
		}
		if lp.Swappiness != nil {
			s := int64(*lp.Swappiness)
			r.MemorySwappiness = &s
		}
	}
	return nil
}

// linux maps linuxParameters: init process, capabilities, devices, shared
// memory and tmpfs mounts (maxSwap and swappiness are in resources).
func linux(lp *ecswire.LinuxParameters, hc *container.HostConfig) error {
	if lp == nil {
		return nil
	}
	if lp.InitProcessEnabled != nil {
		v := *lp.InitProcessEnabled
		hc.Init = &v
	}
	if c := lp.Capabilities; c != nil {
		hc.CapAdd = strslice.StrSlice(c.Add)
		hc.CapDrop = strslice.StrSlice(c.Drop)
	}
	for _, dev := range lp.Devices {
		perms := ""
		for _, p := range dev.Permissions {
			switch p {
			case "read":
				perms += "r"
			case "write":
				perms += "w"
			case "mknod":
				perms += "m"
			default:
				return fmt.Errorf("linuxParameters.devices: unknown permission %q (read, write, mknod)", p)
			}
		}
		if perms == "" {
			perms = "rwm"
		}
		target := dev.ContainerPath
		if target == "" {
			target = dev.HostPath
		}
		hc.Devices = append(hc.Devices, container.DeviceMapping{PathOnHost: dev.HostPath, PathInContainer: target, CgroupPermissions: perms})
	}
	if lp.SharedMemorySize != nil {
		hc.ShmSize = int64(*lp.SharedMemorySize) * mib
	}
	if len(lp.Tmpfs) > 0 {
		hc.Tmpfs = map[string]string{}
		for _, t := range lp.Tmpfs {
			opts := append([]string{fmt.Sprintf("size=%dm", t.Size)}, t.MountOptions...)
			hc.Tmpfs[t.ContainerPath] = strings.Join(opts, ",")
		}
	}
	return nil
}

// stateOf reads what the engine needs from a container's inspection.
func stateOf(c container.InspectResponse) rt.ContainerState {
	st := rt.ContainerState{
		ID:          c.ID,
		Name:        strings.TrimPrefix(c.Name, "/"),
		ImageDigest: c.Image,
	}
	if c.Config != nil {
		st.Labels = c.Config.Labels
	}
	if s := c.State; s != nil {
		st.Running = s.Running || s.Restarting
		st.ExitCode = s.ExitCode
		st.OOMKilled = s.OOMKilled
		st.Error = s.Error
		st.StartedAt = parseTime(s.StartedAt)
		st.FinishedAt = parseTime(s.FinishedAt)
		st.Exited = !st.Running && (s.Status == "exited" || s.Status == "dead" || !st.FinishedAt.IsZero())
		if s.Health != nil {
			st.Health = string(s.Health.Status)
		}
	}
	if c.NetworkSettings != nil {
		keys := make([]string, 0, len(c.NetworkSettings.Ports))
		for p := range c.NetworkSettings.Ports {
			keys = append(keys, string(p))
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := nat.Port(k)
			for _, b := range c.NetworkSettings.Ports[p] {
				hp, err := strconv.Atoi(b.HostPort)
				if err != nil {
					continue
				}
				cp := int32(p.Int())
				h := int32(hp)
				st.Ports = append(st.Ports, ecswire.NetworkBinding{BindIP: b.HostIP, ContainerPort: &cp, HostPort: &h, Protocol: p.Proto()})
			}
		}
	}
	return st
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 2000 {
		return time.Time{}
	}
	return t
}

func isTrue(b *bool) bool { return b != nil && *b }

func intOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func seconds(p *int32, def int32) time.Duration {
	return time.Duration(intOr(p, def)) * time.Second
}
