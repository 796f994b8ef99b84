package simrt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// The environment variables that tell a simulated container what to do
// (see the package documentation).
const (
	EnvRunFor       = "GANTRY_SIM_RUN_FOR"
	EnvExitCode     = "GANTRY_SIM_EXIT_CODE"
	EnvHealth       = "GANTRY_SIM_HEALTH"
	EnvStartFail    = "GANTRY_SIM_START_FAIL"
	EnvIgnoreTerm   = "GANTRY_SIM_IGNORE_SIGTERM"
	EnvStartDelay   = "GANTRY_SIM_START_DELAY"
	exitSIGTERM     = 128 + 15
	exitSIGKILL     = 128 + 9
	healthEventVerb = "health_status: "
)

// behaviour is what a container's environment asks of it.
type behaviour struct {
	exits      bool          // exits by itself...
	runFor     time.Duration // ...this long after starting
	exitCode   int           // ...with this code
	health     string        // rt.HealthHealthy or rt.HealthUnhealthy
	startFail  string
	ignoreTerm bool
	startDelay *time.Duration
}

// parseBehaviour reads the GANTRY_SIM_* variables of a definition.
func parseBehaviour(env []ecswire.KeyValuePair) (behaviour, error) {
	b := behaviour{health: rt.HealthHealthy}
	var errs []error
	duration := func(name, v string) time.Duration {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s=%q is not a duration such as 200ms or 5s", name, v))
		}
		return d
	}
	codeSet := false
	for _, kv := range env {
		switch kv.Name {
		case EnvRunFor:
			b.exits, b.runFor = true, duration(kv.Name, kv.Value)
		case EnvExitCode:
			n, err := strconv.Atoi(kv.Value)
			if err != nil || n < 0 || n > 255 {
				errs = append(errs, fmt.Errorf("%s=%q is not an exit code (0 to 255)", kv.Name, kv.Value))
			}
			b.exitCode, codeSet = n, true
		case EnvHealth:
			switch kv.Value {
			case rt.HealthHealthy, rt.HealthUnhealthy:
				b.health = kv.Value
			default:
				errs = append(errs, fmt.Errorf("%s=%q must be healthy or unhealthy", kv.Name, kv.Value))
			}
		case EnvStartFail:
			b.startFail = kv.Value
			if b.startFail == "" {
				b.startFail = "simulated start failure"
			}
		case EnvIgnoreTerm:
			v, err := strconv.ParseBool(kv.Value)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q must be true or false", kv.Name, kv.Value))
			}
			b.ignoreTerm = v
		case EnvStartDelay:
			d := duration(kv.Name, kv.Value)
			b.startDelay = &d
		}
	}
	if codeSet {
		b.exits = true
	}
	if len(errs) > 0 {
		return behaviour{}, fmt.Errorf("simulated container: %w", errors.Join(errs...))
	}
	return b, nil
}

// phase is where a container is in its life.
type phase int

const (
	created phase = iota
	starting
	running
	exited
)

// container is one simulated container. Its fields are guarded by the
// runtime's mutex.
type container struct {
	id, name string
	seq      int64
	labels   map[string]string // never changed after Create (events share it)
	spec     *rt.ContainerSpec
	digest   string // of its image
	do       behaviour

	phase      phase
	startDone  chan struct{} // closed when a start attempt ends
	exitedCh   chan struct{} // closed when the container exits
	stopping   bool
	startedAt  time.Time
	finishedAt time.Time
	exitCode   int
	errText    string
	health     string
	ports      []ecswire.NetworkBinding
	portKeys   []string
	timers     []*time.Timer
	removed    bool
}

// Create records a container built from spec.
func (r *Runtime) Create(ctx context.Context, spec *rt.ContainerSpec) (string, error) {
	do, err := parseBehaviour(spec.Def.Environment)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	for _, pm := range spec.Def.PortMappings {
		if pm.ContainerPort == nil {
			return "", fmt.Errorf("create container %s: portMappings: containerPort is required", spec.Name)
		}
	}
	b := make([]byte, 32)
	rand.Read(b)
	c := &container{
		id:       hex.EncodeToString(b),
		name:     spec.Name,
		labels:   maps.Clone(spec.Labels),
		spec:     spec,
		digest:   imageDigest(spec.Def.Image),
		do:       do,
		exitedCh: make(chan struct{}),
	}
	if c.labels == nil {
		c.labels = map[string]string{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.name == "" {
		c.name = c.id[:12]
	}
	if id, ok := r.names[c.name]; ok {
		return "", fmt.Errorf("create container %s: Conflict. The container name %q is already in use by container %q", spec.Name, "/"+c.name, id)
	}
	r.seq++
	c.seq = r.seq
	r.ctrs[c.id] = c
	r.names[c.name] = c.id
	for k, v := range c.labels {
		l := k + "=" + v
		if r.byLabel[l] == nil {
			r.byLabel[l] = map[string]*container{}
		}
		r.byLabel[l][c.id] = c
	}
	r.emit(c, "create")
	return c.id, nil
}

// lookup returns a container; call with r.mu held.
func (r *Runtime) lookup(op, id string) (*container, error) {
	c, ok := r.ctrs[id]
	if !ok {
		return nil, fmt.Errorf("%s container %s: %w", op, short(id), rt.ErrNotFound)
	}
	return c, nil
}

// Start publishes the container's ports, takes the start delay and returns
// with the container running. Starting a running container does nothing.
func (r *Runtime) Start(ctx context.Context, id string) error {
	r.mu.Lock()
	c, err := r.lookup("start", id)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	switch c.phase {
	case running:
		r.mu.Unlock()
		return nil
	case exited:
		r.mu.Unlock()
		return fmt.Errorf("start container %s: the simulated container has exited; create a new one", short(id))
	case starting:
		done := c.startDone
		r.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		return r.Start(ctx, id)
	}
	if c.do.startFail != "" {
		c.errText = c.do.startFail
		r.mu.Unlock()
		return fmt.Errorf("start container %s: %s", short(id), c.do.startFail)
	}
	if err := r.publish(c); err != nil {
		c.errText = err.Error()
		r.mu.Unlock()
		return fmt.Errorf("start container %s: %w", short(id), err)
	}
	c.phase, c.startDone, c.errText = starting, make(chan struct{}), ""
	delay := r.opts.StartDelay
	if c.do.startDelay != nil {
		delay = *c.do.startDelay
	}
	r.mu.Unlock()

	var cancelled error
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			cancelled = ctx.Err()
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	defer close(c.startDone)
	if c.removed {
		return fmt.Errorf("start container %s: removed while starting: %w", short(id), rt.ErrNotFound)
	}
	if cancelled != nil {
		c.phase, c.ports = created, nil
		r.unpublish(c)
		return cancelled
	}
	c.phase = running
	c.startedAt = time.Now()
	if c.spec.Def.HealthCheck != nil {
		c.health = rt.HealthStarting
		status := c.do.health
		c.after(r.opts.HealthDelay, func() { r.setHealth(c, status) })
	}
	if c.do.exits {
		code := c.do.exitCode
		c.after(c.do.runFor, func() { r.exit(c, code) })
	}
	r.emit(c, "start")
	return nil
}

// after runs f after d, unless the container exits first.
func (c *container) after(d time.Duration, f func()) {
	c.timers = append(c.timers, time.AfterFunc(d, f))
}

// setHealth changes a running container's health status.
func (r *Runtime) setHealth(c *container, status string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.phase != running || c.health == status {
		return
	}
	c.health = status
	r.emit(c, healthEventVerb+status)
}

// exit ends a running container with code. Call without r.mu.
func (r *Runtime) exit(c *container, code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exitLocked(c, code)
}

// exitLocked ends a running container with code; call with r.mu held.
func (r *Runtime) exitLocked(c *container, code int) {
	if c.phase != running {
		return
	}
	c.phase = exited
	c.exitCode = code
	c.finishedAt = time.Now()
	for _, t := range c.timers {
		t.Stop()
	}
	c.timers = nil
	r.unpublish(c)
	close(c.exitedCh)
	r.emit(c, "die")
}

// Stop stops a running container: at once with exit code 143 (SIGTERM),
// or, for one that ignores SIGTERM, with 137 (SIGKILL) once timeout has
// passed. It returns when the container has exited; a container never
// started, or unknown, is left as it is.
func (r *Runtime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	r.mu.Lock()
	c, ok := r.ctrs[id]
	if !ok || c.phase == created || c.phase == exited {
		r.mu.Unlock()
		return nil
	}
	if c.phase == starting {
		done := c.startDone
		r.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		return r.Stop(ctx, id, timeout)
	}
	if !c.stopping {
		c.stopping = true
		r.emit(c, "kill")
		if c.do.ignoreTerm {
			c.after(max(timeout, 0), func() { r.exit(c, exitSIGKILL) })
		} else {
			r.exitLocked(c, exitSIGTERM)
		}
	}
	done := c.exitedCh
	r.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Inspect returns a container's state.
func (r *Runtime) Inspect(ctx context.Context, id string) (rt.ContainerState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.lookup("inspect", id)
	if err != nil {
		return rt.ContainerState{}, err
	}
	return c.state(), nil
}

// state is what Inspect reports of c; call with r.mu held.
func (c *container) state() rt.ContainerState {
	st := rt.ContainerState{
		ID:          c.id,
		Name:        c.name,
		Labels:      c.labels,
		Running:     c.phase == running,
		Exited:      c.phase == exited,
		Error:       c.errText,
		StartedAt:   c.startedAt,
		FinishedAt:  c.finishedAt,
		Health:      c.health,
		Ports:       slices.Clone(c.ports),
		ImageDigest: c.digest,
	}
	if c.phase == exited {
		st.ExitCode = c.exitCode
	}
	return st
}

// Remove forgets a container, killing it first if it runs.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.ctrs[id]
	if !ok {
		return nil
	}
	r.exitLocked(c, exitSIGKILL)
	for _, t := range c.timers {
		t.Stop()
	}
	r.unpublish(c)
	c.removed = true
	delete(r.ctrs, id)
	delete(r.names, c.name)
	for k, v := range c.labels {
		l := k + "=" + v
		delete(r.byLabel[l], c.id)
		if len(r.byLabel[l]) == 0 {
			delete(r.byLabel, l)
		}
	}
	r.emit(c, "destroy")
	return nil
}

// List returns the containers carrying all of labels, oldest first.
func (r *Runtime) List(ctx context.Context, labels map[string]string) ([]rt.ContainerState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Look only among the containers with the rarest of the labels asked
	// for (an agent lists a task's containers by its task label).
	among := r.ctrs
	for k, v := range labels {
		if set := r.byLabel[k+"="+v]; len(set) < len(among) {
			among = set
		}
	}
	var found []*container
	for _, c := range among {
		match := true
		for k, v := range labels {
			if got, ok := c.labels[k]; !ok || got != v {
				match = false
				break
			}
		}
		if match {
			found = append(found, c)
		}
	}
	slices.SortFunc(found, func(a, b *container) int { return int(a.seq - b.seq) })
	out := make([]rt.ContainerState, 0, len(found))
	for _, c := range found {
		out = append(out, c.state())
	}
	return out, nil
}

// publish binds the container's port mappings (bridge mode only); call
// with r.mu held.
func (r *Runtime) publish(c *container) error {
	if c.spec.NetworkMode != "bridge" && c.spec.NetworkMode != "" {
		return nil
	}
	ip := c.spec.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	var out []ecswire.NetworkBinding
	for _, pm := range c.spec.Def.PortMappings {
		proto := strings.ToLower(pm.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		var host int32
		if pm.HostPort != nil && *pm.HostPort != 0 {
			host = *pm.HostPort
			if holder, ok := r.ports[portKey(proto, ip, host)]; ok || r.wildcardClash(proto, ip, host) {
				if !ok {
					holder = "another container"
				}
				r.unpublish(c)
				return fmt.Errorf("driver failed programming external connectivity on endpoint %s: Bind for %s:%d failed: port is already allocated (held by %s)", c.name, ip, host, short(holder))
			}
		} else {
			p, ok := r.dynamicPort(proto, ip)
			if !ok {
				r.unpublish(c)
				return errors.New("no free host port in the dynamic range 32768-60999")
			}
			host = p
		}
		k := portKey(proto, ip, host)
		r.ports[k] = c.id
		c.portKeys = append(c.portKeys, k)
		cp := *pm.ContainerPort
		out = append(out, ecswire.NetworkBinding{BindIP: ip, ContainerPort: &cp, HostPort: &host, Protocol: proto})
	}
	c.ports = out
	return nil
}

// wildcardClash says whether a port on ip clashes with the same port bound
// on every address, or (for 0.0.0.0) on any address.
func (r *Runtime) wildcardClash(proto, ip string, port int32) bool {
	if ip != "0.0.0.0" {
		_, ok := r.ports[portKey(proto, "0.0.0.0", port)]
		return ok
	}
	suffix := "/" + strconv.Itoa(int(port))
	for k := range r.ports {
		if strings.HasPrefix(k, proto+"/") && strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}

// dynamicPort picks the next free port of the dynamic range.
func (r *Runtime) dynamicPort(proto, ip string) (int32, bool) {
	const n = lastDynamicPort - firstDynamicPort + 1
	for range n {
		p := int32(r.nextPort)
		r.nextPort++
		if r.nextPort > lastDynamicPort {
			r.nextPort = firstDynamicPort
		}
		if _, used := r.ports[portKey(proto, ip, p)]; !used && !r.wildcardClash(proto, ip, p) {
			return p, true
		}
	}
	return 0, false
}

// unpublish releases the container's ports (the bindings stay readable,
// as Docker's do after an exit); call with r.mu held.
func (r *Runtime) unpublish(c *container) {
	for _, k := range c.portKeys {
		if r.ports[k] == c.id {
			delete(r.ports, k)
		}
	}
	c.portKeys = nil
}

func portKey(proto, ip string, port int32) string {
	return proto + "/" + ip + "/" + strconv.Itoa(int(port))
}

// short abbreviates a container id for messages.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
