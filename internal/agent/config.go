package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/rt"
)

// Config is everything an agent needs; cmd/gantry fills it from flags and
// environment, `gantry dev` and tests build it directly.
type Config struct {
	// Endpoint is the control plane's URL.
	Endpoint string
	// Cluster is the cluster the instance joins.
	Cluster string
	// DataDir holds the checkpoint.
	DataDir string
	// AccessKeyID and SecretAccessKey sign every request.
	AccessKeyID, SecretAccessKey string
	// Region is the region requests are signed for (ARNs carry it).
	Region string
	// HostIP is the address bridge-mode ports are published on.
	HostIP string
	// MemoryReserveMiB is kept back from the host's memory when registering.
	MemoryReserveMiB int64
	// ReservedPorts are registered as used (PORTS).
	ReservedPorts []int
	// AvailabilityZone and InstanceType become the ecs.availability-zone and
	// ecs.instance-type attributes.
	AvailabilityZone string
	InstanceType     string
	// Attributes are custom attributes, "name=value" (or "name").
	Attributes []string
	// PullPolicy decides when images are pulled.
	PullPolicy rt.PullPolicy
	// DockerHost is the Docker daemon's address ("" for DOCKER_HOST or the
	// default socket).
	DockerHost string
	// RuntimeName names the runtime: "docker", or "sim" for the simulated
	// instances RunFleet runs (each with its own simrt in Runtime).
	RuntimeName string
	// Runtime, when set, is used instead of connecting to RuntimeName (tests,
	// `gantry dev`, which shares one Docker client, and RunFleet).
	Runtime rt.Runtime
	// CPUUnits and MemoryMiB, when positive, are the CPU and MEMORY the
	// instance registers, instead of the runtime's host size (1024 units
	// per CPU; memory less MemoryReserveMiB). RunFleet sets them.
	CPUUnits  int
	MemoryMiB int64
	// InstanceID, when set, is the instance's EC2-like id (ec2InstanceId),
	// sent as the instanceId of the registration's identity document.
	InstanceID string
	// CheckpointInterval is for simulated instances only (RunFleet; 0 with
	// docker): when positive, checkpoint writes lag the changes by up to this
	// long, one write covering them all, instead of one write per change
	// before the engine goes on. A simulated container does not outlive its
	// process, so a crash loses little that a write would have kept.
	CheckpointInterval time.Duration
	// StopTimeout is the default stopTimeout of containers.
	StopTimeout time.Duration
	// CleanupWait is how long stopped tasks' containers are kept.
	CleanupWait time.Duration
	// DisablePrivileged refuses privileged containers, as the ECS agent's
	// ECS_DISABLE_PRIVILEGED: the instance does not advertise
	// com.amazonaws.ecs.capability.privileged-container (so placement never
	// sends it a privileged task), and a privileged task that arrives anyway
	// is stopped with a reason naming the flag.
	DisablePrivileged bool
	// DisableDockerSocketMounts refuses tasks with a host volume that
	// exposes the Docker socket (the socket itself or a directory holding
	// it): such a container controls the host's Docker.
	DisableDockerSocketMounts bool
	// RuntimeCheckInterval is how often the agent checks that the
	// container runtime answers (default 10s; not for simulated instances).
	RuntimeCheckInterval time.Duration
	// StopTasksOnExit stops every task (and waits, up to StopTasksWait, for
	// the stops to be reported) when Run's context ends, instead of leaving
	// the containers running for the next start to re-adopt.
	StopTasksOnExit bool
	// Metadata serves the task metadata endpoint when true.
	Metadata bool
	// AgentVersion is reported in versionInfo.
	AgentVersion string
	Logger       *slog.Logger

	// dirLocked is set by RunFleet, which locks the fleet's data directory
	// once for all its instances' subdirectories.
	dirLocked bool
}

// DefaultReservedPorts are the ports the ECS agent reserves by default.
var DefaultReservedPorts = []int{22, 2375, 2376, 51678, 51679, 51680}

// Default returns the configuration of an agent next to a local control
// plane.
func Default() Config {
	home, _ := os.UserHomeDir()
	return Config{
		Endpoint:             "http://127.0.0.1:4566",
		Cluster:              "default",
		DataDir:              filepath.Join(home, ".gantry", "agent"),
		Region:               "us-east-1",
		HostIP:               "127.0.0.1",
		MemoryReserveMiB:     256,
		ReservedPorts:        append([]int(nil), DefaultReservedPorts...),
		AvailabilityZone:     "local-a",
		InstanceType:         "gantry.local",
		PullPolicy:           rt.PullDefault,
		RuntimeName:          "docker",
		StopTimeout:          30 * time.Second,
		CleanupWait:          time.Hour,
		Metadata:             true,
		AgentVersion:         "dev",
		RuntimeCheckInterval: 10 * time.Second,
	}
}

// Validate checks the configuration and says what to fix.
func (c *Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--endpoint %q must be an http(s) URL", c.Endpoint))
	}
	if c.Cluster == "" {
		errs = append(errs, errors.New("--cluster must not be empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required (the checkpoint lives there)"))
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		errs = append(errs, errors.New("no credentials: pass --access-key ID:SECRET or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("--region must not be empty"))
	}
	if net.ParseIP(c.HostIP) == nil {
		errs = append(errs, fmt.Errorf("--host-ip %q is not an IP address", c.HostIP))
	}
	if c.MemoryReserveMiB < 0 {
		errs = append(errs, fmt.Errorf("--memory-reserve %d must not be negative", c.MemoryReserveMiB))
	}
	for _, p := range c.ReservedPorts {
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("--reserved-ports: %d is not a port", p))
		}
	}
	for _, a := range c.Attributes {
		name, _, _ := strings.Cut(a, "=")
		if name == "" {
			errs = append(errs, fmt.Errorf("--attribute %q must be name=value", a))
		}
	}
	if !c.PullPolicy.Valid() {
		errs = append(errs, fmt.Errorf("--pull-policy %q must be default, always, once or prefer-cached", c.PullPolicy))
	}
	switch {
	case c.RuntimeName != "docker" && c.RuntimeName != "sim":
		errs = append(errs, fmt.Errorf("--runtime %q must be docker or sim", c.RuntimeName))
	case c.RuntimeName == "sim" && c.Runtime == nil:
		errs = append(errs, errors.New("--runtime sim: simulated instances are run by agent.RunFleet, which gives each its own simulated runtime"))
	}
	if c.CheckpointInterval < 0 || (c.CheckpointInterval > 0 && c.RuntimeName != "sim") {
		errs = append(errs, fmt.Errorf("--sim-checkpoint-interval %s: only simulated instances defer checkpoint writes (and not by a negative time)", c.CheckpointInterval))
	}
	if c.CPUUnits < 0 {
		errs = append(errs, fmt.Errorf("--cpu %d must not be negative", c.CPUUnits))
	}
	if c.MemoryMiB < 0 {
		errs = append(errs, fmt.Errorf("--memory %d must not be negative", c.MemoryMiB))
	}
	if c.StopTimeout <= 0 {
		errs = append(errs, errors.New("the stop timeout must be positive"))
	}
	if c.CleanupWait < 0 {
		errs = append(errs, errors.New("the cleanup wait must not be negative"))
	}
	return errors.Join(errs...)
}
