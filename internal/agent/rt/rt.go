// Package rt is the seam between the agent's task engine and what actually
// runs containers: the Runtime interface, and the runtime-neutral types it
// speaks (a container spec built from the ECS container definition, the
// observed state of a container, events).
//
// The Docker implementation lives in internal/agent/dockerrt; the simulated
// runtime (--runtime=sim, one process acting as thousands of instances) in
// internal/agent/simrt implements the same interface, and the conformance
// suite in rttest runs against both. A runtime never decides anything about a
// task: the engine asks it to pull, create, start, stop, inspect and remove,
// and reacts to what it observes.
package rt

import (
	"context"
	"errors"
	"time"

	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Runtime runs containers for the task engine.
//
// Lifecycle of a container: EnsureImage, Create (returns the runtime id),
// Start, then the container runs until it exits by itself or Stop is
// called; Inspect tells its state at any time; Remove deletes it. Every
// container a runtime creates carries the spec's Labels, so List can find it
// again after the agent restarts. All methods are safe for concurrent use.
type Runtime interface {
	// Info describes the runtime and the host, for registration.
	Info(ctx context.Context) (Info, error)
	// EnsureImage makes image available locally following policy, and says
	// whether a registry was contacted. A pull presents the credentials
	// creds gives for the image (creds may be nil: every pull anonymous);
	// when the registry refuses them, it asks creds once more with refresh
	// and pulls again.
	EnsureImage(ctx context.Context, image string, policy PullPolicy, creds Credentials) (ImageResult, error)
	// CreateVolume creates a volume unless one of that name exists.
	CreateVolume(ctx context.Context, v VolumeSpec) error
	// VolumeExists says whether a volume of that name exists.
	VolumeExists(ctx context.Context, name string) (bool, error)
	// RemoveVolume removes a volume; a missing one is not an error.
	RemoveVolume(ctx context.Context, name string) error
	// Create creates a container and returns its runtime id.
	Create(ctx context.Context, spec *ContainerSpec) (string, error)
	// Start starts a created container.
	Start(ctx context.Context, id string) error
	// Stop sends SIGTERM, waits up to timeout, then SIGKILL. It returns when
	// the container has exited.
	Stop(ctx context.Context, id string, timeout time.Duration) error
	// Inspect returns the current state of a container; ErrNotFound if the
	// runtime does not know it.
	Inspect(ctx context.Context, id string) (ContainerState, error)
	// Remove removes a container (stopping it first if need be) and its
	// anonymous volumes; a missing one is not an error.
	Remove(ctx context.Context, id string) error
	// List returns every container, running or not, whose labels include all
	// of labels.
	List(ctx context.Context, labels map[string]string) ([]ContainerState, error)
	// Events streams container events of containers carrying label (any
	// value) until ctx ends or the stream breaks, then closes the channel;
	// the caller re-subscribes and re-inspects what it cares about.
	Events(ctx context.Context, label string) <-chan Event
}

// ErrNotFound is returned by Inspect for a container the runtime does not
// know.
var ErrNotFound = errors.New("rt: no such container")

// ErrImageNotFound is returned by EnsureImage when policy forbids a pull (or
// the pull failed) and the image is not present locally.
var ErrImageNotFound = errors.New("rt: image not found")

// PullPolicy is when to contact a registry for an image, with the semantics
// of the ECS agent's ECS_IMAGE_PULL_BEHAVIOR.
type PullPolicy string

// Pull policies.
const (
	// PullDefault pulls every time and falls back to a cached image if the
	// pull fails.
	PullDefault PullPolicy = "default"
	// PullAlways pulls every time and fails the container if the pull fails.
	PullAlways PullPolicy = "always"
	// PullOnce pulls only if the image is not present locally.
	PullOnce PullPolicy = "once"
	// PullPreferCached uses a local image if there is one, else pulls.
	PullPreferCached PullPolicy = "prefer-cached"
)

// Valid says whether p is one of the policies.
func (p PullPolicy) Valid() bool {
	switch p {
	case PullDefault, PullAlways, PullOnce, PullPreferCached:
		return true
	}
	return false
}

// RegistryAuth is what a pull presents to a registry.
type RegistryAuth struct {
	Username string
	Password string
	// ServerAddress is the registry's host[:port].
	ServerAddress string
}

// Credentials gives the runtime the credentials to pull an image with.
type Credentials interface {
	// RegistryAuth returns the credentials for image's registry, or nil for
	// an anonymous pull. With refresh (the registry refused what an earlier
	// call returned), cached credentials are discarded and new ones
	// obtained. An error fails the pull.
	RegistryAuth(ctx context.Context, image string, refresh bool) (*RegistryAuth, error)
}

// ImageResult says how EnsureImage made an image available.
type ImageResult struct {
	// Pulled is true when a registry was contacted.
	Pulled bool
	// Digest is the image's repo digest (sha256:...), if known.
	Digest string
}

// Info describes a runtime and its host.
type Info struct {
	// Name is the runtime's name ("docker", "sim").
	Name string
	// Version is the engine's version (e.g. Docker's "20.10.24").
	Version string
	// APIVersion is the negotiated API version (Docker's "1.41").
	APIVersion string
	// CPUs and MemoryMiB are the host's totals.
	CPUs      int
	MemoryMiB int64
	// Architecture is the host's CPU architecture as ECS names it
	// (x86_64, arm64).
	Architecture string
	// LogDrivers are the logging drivers the runtime offers.
	LogDrivers []string
	// BridgeGateway is the address containers on the default bridge reach
	// the host at ("" if there is none).
	BridgeGateway string
}

// VolumeSpec is a volume to create.
type VolumeSpec struct {
	Name       string
	Driver     string
	DriverOpts map[string]string
	Labels     map[string]string
}

// Mount is one filesystem mount of a container.
type Mount struct {
	// Type is MountBind (Source is a host path) or MountVolume (Source is a
	// volume name).
	Type     string
	Source   string
	Target   string
	ReadOnly bool
}

// Mount types.
const (
	MountBind   = "bind"
	MountVolume = "volume"
)

// ContainerSpec is everything a runtime needs to create one container of a
// task: the ECS container definition (overrides merged) and what the engine
// resolved around it. The runtime honours every field of Def that
// engine.Check accepts, and nothing else may reach it.
type ContainerSpec struct {
	// Name is the runtime's container name (ecs-<family>-<rev>-<name>-<hex>).
	Name string
	// Labels go on the container (agent labels and dockerLabels).
	Labels map[string]string
	// Def is the container definition.
	Def ecswire.ContainerDefinition
	// NetworkMode is bridge, host or none (already defaulted).
	NetworkMode string
	// PidMode and IpcMode are the runtime's values: "", "host", "none",
	// "shareable", or "container:<id>" (the engine maps ECS's "task").
	PidMode string
	IpcMode string
	// HostIP is the address published ports bind to in bridge mode.
	HostIP string
	// Mounts are the container's mountPoints, resolved to sources.
	Mounts []Mount
	// VolumesFrom are runtime container ids, with ":ro" when read-only.
	VolumesFrom []string
	// Links are "<runtime name>:<alias>".
	Links []string
	// ExtraEnv is added to the definition's environment (the metadata URI).
	ExtraEnv []string
	// MemoryMiB is the hard limit to apply when the definition has none (the
	// task's memory), 0 for none.
	MemoryMiB int32
}

// ContainerState is what a runtime observes of a container.
type ContainerState struct {
	ID     string
	Name   string
	Labels map[string]string
	// Running is true while the container runs; Exited once it has run and
	// stopped (ExitCode valid then).
	Running bool
	Exited  bool
	// ExitCode is the exit status; OOMKilled is true when the kernel killed
	// it for memory.
	ExitCode  int
	OOMKilled bool
	// Error is the runtime's error text for a container that failed to
	// start.
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	// Health is "" without a health check, else HealthStarting,
	// HealthHealthy or HealthUnhealthy.
	Health string
	// Ports are the published ports, read back from the runtime.
	Ports []ecswire.NetworkBinding
	// ImageDigest is the digest of the image the container runs.
	ImageDigest string
}

// Health states, as Docker names them.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Event is a change to a container: it exited, its health changed, it was
// killed for memory, ... The engine re-inspects the container on any event.
type Event struct {
	ContainerID string
	Action      string
	// Labels are the container's labels, as the runtime reports them with
	// the event (the engine routes the event by the task ARN label).
	Labels map[string]string
}
