// Package agent makes a host a container instance: it registers with the
// control plane (ECS RegisterContainerInstance through the AWS SDK),
// long-polls the agent protocol (agentproto) for the tasks placed on it,
// hands each payload to the task engine, reports every state change with
// SubmitTaskStateChange, and checkpoints everything to its data directory so
// that a restarted agent (even after kill -9) keeps its identity and
// re-adopts its containers. Images of the control plane's built-in registry
// are pulled with a token the agent gets from ECR GetAuthorizationToken.
//
// It talks to the control plane only over HTTP: it never imports server
// code (internal/archtest enforces it).
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-dev/gantry/internal/agent/dockerrt"
	"github.com/gantry-dev/gantry/internal/agent/engine"
	"github.com/gantry-dev/gantry/internal/agent/metadata"
	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/dirlock"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Agent is a running agent.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	rt    rt.Runtime
	info  rt.Info
	ecs   *ecs.Client
	cl    *client
	store *fileStore
	eng   *engine.Engine
	meta  *metadata.Server
	arn   string
	ready chan struct{}
	// lock is the data directory's lock (nil for a fleet's instance: the
	// fleet holds its parent directory's).
	lock *dirlock.Lock
	// gate holds the poll loop while the container runtime does not answer.
	gate runtimeGate
}

// New locks the data directory (a second agent on it fails at once, naming
// the process that holds it), connects the runtime and opens the
// checkpoint; Run does the rest and releases the directory when it returns
// (Close releases it for an agent that never runs).
func New(ctx context.Context, cfg Config) (a *Agent, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var lock *dirlock.Lock
	if !cfg.dirLocked {
		if lock, err = dirlock.Acquire(cfg.DataDir, "gantry agent"); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				lock.Release()
			}
		}()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "agent")
	runtime := cfg.Runtime
	if runtime == nil {
		d, err := dockerrt.New(ctx, cfg.DockerHost, log)
		if err != nil {
			return nil, err
		}
		runtime = d
	}
	info, err := runtime.Info(ctx)
	if err != nil {
		return nil, err
	}
	store, err := openStore(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, log: log, rt: runtime, info: info, ecs: ecsClient(&cfg), cl: newClient(&cfg),
		store: store, ready: make(chan struct{}), lock: lock}, nil
}

// Close releases the data directory; Run calls it when it returns.
func (a *Agent) Close() error { return a.lock.Release() }

// Run starts an agent and runs it until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	a, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// InstanceArn is the instance's ARN once registered ("" before).
func (a *Agent) InstanceArn() string {
	select {
	case <-a.ready:
		return a.arn
	default:
		return ""
	}
}

// Ready is closed once the agent has registered and started its engine.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Run registers (retrying until the control plane answers), restores the
// engine from the checkpoint and polls until ctx ends. Containers keep
// running when it returns, to be re-adopted by the next run, unless
// StopTasksOnExit has it stop them first.
func (a *Agent) Run(ctx context.Context) error {
	defer a.Close()
	cp := a.store.snapshot()
	prev := cp.InstanceArn
	if cp.Cluster != a.cfg.Cluster || cp.Endpoint != a.cfg.Endpoint {
		prev = "" // another control plane or cluster: a new identity
	}
	var arn string
	for backoff := 500 * time.Millisecond; ; backoff = min(backoff*2, 15*time.Second) {
		var err error
		arn, err = a.register(ctx, prev)
		if err == nil {
			break
		}
		if fatalRegistration(err) {
			return err
		}
		wait := jittered(backoff)
		a.log.Warn("registration failed, retrying", "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	a.arn = arn
	a.log.Info("registered", "instance", arn, "cluster", a.cfg.Cluster, "cpu", a.info.CPUs*1024,
		"memory_mib", a.info.MemoryMiB-a.cfg.MemoryReserveMiB, "docker", a.info.Version)
	if err := a.store.update(func(c *checkpoint) {
		c.Cluster, c.Endpoint, c.InstanceArn = a.cfg.Cluster, a.cfg.Endpoint, arn
	}); err != nil {
		return err
	}
	ecfg := engine.Default()
	ecfg.InstanceArn = arn
	ecfg.HostIP = a.cfg.HostIP
	ecfg.PullPolicy = a.cfg.PullPolicy
	ecfg.Credentials = newRegistryCreds(&a.cfg, a.log)
	ecfg.StopTimeout = a.cfg.StopTimeout
	ecfg.CleanupWait = a.cfg.CleanupWait
	ecfg.LogDrivers = append(a.info.LogDrivers, "none")
	ecfg.Policy.DisablePrivileged = a.cfg.DisablePrivileged
	if a.cfg.DisableDockerSocketMounts {
		host := a.cfg.DockerHost
		if host == "" {
			host = os.Getenv("DOCKER_HOST")
		}
		ecfg.Policy.DockerSockets = engine.DockerSockets(host)
	}
	ecfg.Logger = a.log
	var engCP *engine.Checkpoint
	if prev == arn {
		engCP = cp.Engine
	}
	if a.cfg.Metadata {
		m, err := metadata.Start(ctx, a.metadataAddr(), a.cfg.AvailabilityZone, a.log)
		if err != nil {
			a.log.Warn("task metadata endpoint not served", "err", err)
		} else {
			a.meta = m
			ecfg.MetadataURI, ecfg.AgentURI = m.URI, m.AgentURI
			m.SetProtector(protector{a.cl})
		}
	}
	a.eng = engine.New(ecfg, a.rt, &reporter{cl: a.cl}, a.store)
	if a.meta != nil {
		a.meta.SetSource(a.eng)
	}
	// The engine outlives ctx by as long as stopTasks takes.
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		cancel()
		a.eng.Wait()
		if a.meta != nil {
			a.meta.Close()
		}
	}()
	a.eng.Start(ectx, engCP)
	close(a.ready)
	go a.watchRuntime(ectx)
	err := a.poll(ctx)
	if a.cfg.StopTasksOnExit {
		a.stopTasks()
	}
	return err
}

// StopTasksWait bounds how long an agent with StopTasksOnExit waits for its
// tasks to stop and the stops to be reported (ECS's longest stopTimeout is
// two minutes).
const StopTasksWait = 150 * time.Second

// stopTasks stops every task of the instance and waits until they are
// stopped and reported, or StopTasksWait has passed.
func (a *Agent) stopTasks() {
	n := a.eng.Active()
	if n == 0 {
		return
	}
	a.log.Info("stopping the instance's tasks before exiting", "tasks", n)
	a.eng.StopAll("Stopped by the agent on exit (--stop-tasks-on-exit)")
	deadline := time.Now().Add(StopTasksWait)
	for !a.eng.Settled() {
		if time.Now().After(deadline) {
			a.log.Warn("tasks still not stopped and reported; exiting anyway", "after", StopTasksWait, "tasks", a.eng.Active())
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ActiveTasks counts the instance's tasks whose containers are not all
// stopped (0 before Run has started the engine).
func (a *Agent) ActiveTasks() int {
	select {
	case <-a.ready:
		return a.eng.Active()
	default:
		return 0
	}
}

// metadataAddr is where the task metadata endpoint listens: the Docker
// bridge's gateway, which containers on the default bridge reach (and so
// does the host, for host-mode containers).
func (a *Agent) metadataAddr() string {
	ip := a.info.BridgeGateway
	if ip == "" {
		ip = "127.0.0.1"
	}
	return ip + ":0"
}

// fullSyncEvery is how often the agent asks for a full payload, with its
// manifest, while it otherwise applies payloads of changes: the check
// that nothing was missed, and the expiry of tombstones.
const fullSyncEvery = time.Minute

// poll long-polls for payloads and applies each until ctx ends. The first
// poll after a start asks with AckSeq 0 (answer at once with everything);
// later ones ask for the changes since the last payload, and for a full
// payload every fullSyncEvery.
func (a *Agent) poll(ctx context.Context) error {
	var ack int64
	var lastFull time.Time
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		pctx, done := a.pollContext(ctx)
		if ctx.Err() != nil {
			break
		}
		full := ack == 0 || time.Since(lastFull) >= fullSyncEvery
		req := agentproto.PollRequest{
			Cluster:              a.cfg.Cluster,
			ContainerInstanceArn: a.arn,
			AckSeq:               ack,
			WaitSeconds:          agentproto.MaxWaitSeconds,
			Changes:              !full,
			AgentVersion:         a.cfg.AgentVersion,
			DockerVersion:        "DockerVersion: " + a.info.Version,
		}
		if full {
			req.Manifest = a.eng.Manifest()
		}
		var resp agentproto.PollResponse
		err := a.cl.call(pctx, agentproto.TargetPrefix+".Poll", &req, &resp, (agentproto.MaxWaitSeconds+15)*time.Second)
		interrupted := pctx.Err() != nil
		done()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if interrupted {
				continue // the runtime stopped answering: wait for it
			}
			wait := jittered(backoff)
			if code := apiCode(err); code == "ClientException" || code == "InvalidParameterException" {
				a.log.Error("the control plane no longer knows this instance; restart the agent to register again", "instance", a.arn, "err", err)
			} else {
				a.log.Warn("poll failed, retrying", "in", wait, "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 500 * time.Millisecond
		if resp.Changes {
			a.eng.ApplyChanges(resp.Tasks, resp.Removed)
		} else {
			a.eng.Apply(resp.Tasks)
			lastFull = time.Now()
		}
		if resp.Seq != ack {
			ack = resp.Seq
			if err := a.store.update(func(c *checkpoint) { c.AckSeq = ack }); err != nil {
				a.log.Error("checkpoint failed", "err", err)
			}
		}
	}
	return nil
}

// reporter sends the engine's state changes with SubmitTaskStateChange.
type reporter struct {
	cl *client
	// single is set once the control plane answered SubmitStateChanges
	// with UnknownOperationException (a server older than the agent):
	// changes then go one by one, as SubmitTaskStateChange.
	single atomic.Bool
}

// ReportBatch sends the changes of several tasks in one SubmitStateChanges;
// a client error of the whole call, or of one change, is permanent.
func (r *reporter) ReportBatch(ctx context.Context, changes []*engine.StateChange) []error {
	errs := make([]error, len(changes))
	if r.single.Load() {
		for i, sc := range changes {
			errs[i] = r.Report(ctx, sc)
		}
		return errs
	}
	in := struct {
		Cluster string                `json:"cluster"`
		Changes []*engine.StateChange `json:"changes"`
	}{Cluster: changes[0].Cluster, Changes: changes}
	var out agentproto.StateChangesResponse
	err := r.cl.call(ctx, agentproto.TargetPrefix+".SubmitStateChanges", &in, &out, 30*time.Second)
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == "UnknownOperationException" {
		r.single.Store(true)
		return r.ReportBatch(ctx, changes)
	}
	if errors.As(err, &ae) && ae.permanent() {
		err = fmt.Errorf("%w: %v", engine.ErrRejected, err)
	}
	for i := range errs {
		errs[i] = err
	}
	if err != nil {
		return errs
	}
	for _, rj := range out.Rejected {
		if rj.Index >= 0 && rj.Index < len(errs) {
			errs[rj.Index] = fmt.Errorf("%w: %s: %s", engine.ErrRejected, rj.Code, rj.Message)
		}
	}
	return errs
}

// Report sends one state change; a client error is permanent.
func (r *reporter) Report(ctx context.Context, sc *engine.StateChange) error {
	var out ecswire.SubmitTaskStateChangeResponse
	err := r.cl.call(ctx, ecswire.TargetPrefix+".SubmitTaskStateChange", sc, &out, 30*time.Second)
	var ae *APIError
	if errors.As(err, &ae) && ae.permanent() {
		return fmt.Errorf("%w: %v", engine.ErrRejected, err)
	}
	return err
}
