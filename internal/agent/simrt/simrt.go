// Package simrt is a simulated rt.Runtime: containers are records in
// memory, nothing is pulled, no process runs and no socket is opened. One
// process can hold thousands of them (`gantry agent --runtime sim`), which
// is what tests and benchmarks of placement and services at scale need. It
// never stands in for Docker in a test that claims real containers.
//
// # What a simulated container does
//
// Create records the container; Start takes the start delay (Options, or
// the container's own) and returns with the container running, its ports
// published; the container then runs until it is stopped, or until it exits
// by itself as its container definition's environment asks:
//
//	GANTRY_SIM_RUN_FOR=<duration>     exit by itself this long after starting
//	                                  (Go duration: 200ms, 5s, 1m). Unset: run
//	                                  until stopped.
//	GANTRY_SIM_EXIT_CODE=<0..255>     the code of that exit (default 0). Set
//	                                  without GANTRY_SIM_RUN_FOR, the container
//	                                  exits as soon as it has started.
//	GANTRY_SIM_HEALTH=healthy|unhealthy
//	                                  the health status a container whose
//	                                  definition has a healthCheck reports, from
//	                                  Options.HealthDelay after it started
//	                                  ("starting" until then; default healthy).
//	GANTRY_SIM_START_FAIL=<message>   Start fails with this message (the agent
//	                                  reports CannotStartContainerError).
//	GANTRY_SIM_IGNORE_SIGTERM=true    Stop waits the whole stop timeout, then
//	                                  kills: exit code 137 (SIGKILL). Otherwise
//	                                  a stopped container exits at once with
//	                                  143 (SIGTERM), as Docker reports it.
//	GANTRY_SIM_START_DELAY=<duration> this container's start delay, instead of
//	                                  Options.StartDelay.
//
// A value that does not parse fails Create, so a test's typo shows up as
// CannotCreateContainerError instead of a container that ignores it. The
// variables come from the definition's environment (RunTask's
// containerOverrides environment reaches them too).
//
// Images: EnsureImage never contacts a registry (Pulled is false) and
// succeeds, with a digest derived from the image name, unless the name
// contains "sim-missing": then it fails with rt.ErrImageNotFound.
//
// Ports: in bridge mode each portMapping is published on the spec's HostIP,
// a static hostPort as given (Start fails, as Docker's does, when another
// running container of this runtime holds it), a dynamic one from a counter
// of this runtime that starts at 32768 and wraps at 60999 (Linux's ephemeral
// range), skipping ports in use. In host and none modes nothing is
// published.
//
// State lives in the Runtime value only: an agent restarted with a fresh
// simrt finds none of its containers, and reports them gone.
package simrt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/rt"
)

// Options tune a simulated runtime; Default gives the values of
// `gantry agent --runtime sim`.
type Options struct {
	// StartDelay is how long Start takes before the container runs.
	StartDelay time.Duration
	// HealthDelay is how long after starting a container with a health
	// check reports its GANTRY_SIM_HEALTH status ("starting" until then).
	HealthDelay time.Duration
	// CPUUnits and MemoryMiB are the simulated host's size, reported by Info
	// (CPUs rounded up to whole cores).
	CPUUnits  int
	MemoryMiB int64
}

// Default returns a 2-core, 4 GiB host whose containers start in 100 ms.
func Default() Options {
	return Options{StartDelay: 100 * time.Millisecond, HealthDelay: 100 * time.Millisecond, CPUUnits: 2048, MemoryMiB: 4096}
}

// Validate says what is wrong with the options.
func (o Options) Validate() error {
	switch {
	case o.StartDelay < 0:
		return fmt.Errorf("simrt: the start delay %s must not be negative", o.StartDelay)
	case o.HealthDelay < 0:
		return fmt.Errorf("simrt: the health delay %s must not be negative", o.HealthDelay)
	case o.CPUUnits <= 0:
		return fmt.Errorf("simrt: %d CPU units: must be positive", o.CPUUnits)
	case o.MemoryMiB <= 0:
		return fmt.Errorf("simrt: %d MiB of memory: must be positive", o.MemoryMiB)
	}
	return nil
}

// Version is what Info reports as the engine's version.
const Version = "sim"

// logDrivers are the logging drivers a simulated runtime offers (it
// discards every log line anyway): those the agent knows how to advertise.
var logDrivers = []string{"json-file", "local", "journald", "syslog", "fluentd", "gelf"}

// Dynamic host ports come from Linux's ephemeral range, as Docker's do.
const (
	firstDynamicPort = 32768
	lastDynamicPort  = 60999
)

// Runtime is a simulated container runtime. The zero value is not usable:
// call New.
type Runtime struct {
	opts Options

	mu       sync.Mutex
	ctrs     map[string]*container            // by id
	names    map[string]string                // name -> id
	byLabel  map[string]map[string]*container // "key=value" -> id -> container
	volumes  map[string]rt.VolumeSpec
	ports    map[string]string // "proto/hostIP/port" -> id holding it
	nextPort int               // next dynamic port to try
	seq      int64             // creation order, for List

	subMu sync.Mutex
	subs  map[*subscriber]struct{}
}

var _ rt.Runtime = (*Runtime)(nil)

// New returns an empty simulated runtime.
func New(opts Options) (*Runtime, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Runtime{
		opts:     opts,
		ctrs:     map[string]*container{},
		names:    map[string]string{},
		byLabel:  map[string]map[string]*container{},
		volumes:  map[string]rt.VolumeSpec{},
		ports:    map[string]string{},
		nextPort: firstDynamicPort,
		subs:     map[*subscriber]struct{}{},
	}, nil
}

// Info describes the simulated host.
func (r *Runtime) Info(ctx context.Context) (rt.Info, error) {
	return rt.Info{
		Name:         "sim",
		Version:      Version,
		APIVersion:   "1.41",
		CPUs:         (r.opts.CPUUnits + 1023) / 1024,
		MemoryMiB:    r.opts.MemoryMiB,
		Architecture: "x86_64",
		LogDrivers:   append([]string(nil), logDrivers...),
	}, nil
}

// MissingImage is the part of an image name that makes EnsureImage fail.
const MissingImage = "sim-missing"

// EnsureImage succeeds without contacting a registry, unless the image's
// name contains MissingImage.
func (r *Runtime) EnsureImage(ctx context.Context, image string, policy rt.PullPolicy, creds rt.Credentials) (rt.ImageResult, error) {
	if strings.Contains(image, MissingImage) {
		return rt.ImageResult{}, fmt.Errorf("%w: %s (simulated: the name contains %q)", rt.ErrImageNotFound, image, MissingImage)
	}
	return rt.ImageResult{Digest: imageDigest(image)}, nil
}

// imageDigest is the simulated digest of an image: a hash of its name.
func imageDigest(image string) string {
	sum := sha256.Sum256([]byte(image))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CreateVolume records a volume unless one of that name exists.
func (r *Runtime) CreateVolume(ctx context.Context, v rt.VolumeSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.volumes[v.Name]; !ok {
		r.volumes[v.Name] = v
	}
	return nil
}

// VolumeExists says whether a volume of that name was created.
func (r *Runtime) VolumeExists(ctx context.Context, name string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.volumes[name]
	return ok, nil
}

// RemoveVolume forgets a volume; a missing one is not an error.
func (r *Runtime) RemoveVolume(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.volumes, name)
	return nil
}

// subscriber is one Events stream.
type subscriber struct {
	label string
	ch    chan rt.Event
}

// eventBuffer is how many events a stream holds for a slow reader; past
// that the stream breaks (the channel closes), and the reader re-subscribes
// and re-inspects, as rt.Runtime.Events says.
const eventBuffer = 256

// Events streams the events of containers carrying label until ctx ends
// or the reader falls eventBuffer events behind.
func (r *Runtime) Events(ctx context.Context, label string) <-chan rt.Event {
	s := &subscriber{label: label, ch: make(chan rt.Event, eventBuffer)}
	r.subMu.Lock()
	r.subs[s] = struct{}{}
	r.subMu.Unlock()
	context.AfterFunc(ctx, func() { r.unsubscribe(s) })
	return s.ch
}

// unsubscribe ends a stream (once).
func (r *Runtime) unsubscribe(s *subscriber) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if _, ok := r.subs[s]; ok {
		delete(r.subs, s)
		close(s.ch)
	}
}

// emit delivers an event of c to the streams whose label it carries. It
// never blocks: a stream that is full is broken.
func (r *Runtime) emit(c *container, action string) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	for s := range r.subs {
		if _, ok := c.labels[s.label]; !ok {
			continue
		}
		select {
		case s.ch <- rt.Event{ContainerID: c.id, Action: action, Labels: c.labels}:
		default:
			delete(r.subs, s)
			close(s.ch)
		}
	}
}
