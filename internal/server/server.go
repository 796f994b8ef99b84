package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/dirlock"
	"github.com/gantry-dev/gantry/internal/ec2"
	"github.com/gantry-dev/gantry/internal/ecr"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/state"
)

// Server is a running control plane.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store *state.Store
	ecs   *ecs.Service
	ecr   *ecr.Service
	reg   *registry.Registry
	ln    net.Listener
	conns *connLimiter
	http  *http.Server
	done  chan error

	// leading is true while this server runs the service controller.
	leading atomic.Bool

	// stop ends the background loops (the purge); loops tracks them.
	stop      context.CancelFunc
	loops     sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	// lock holds the data directory while the embedded etcd runs in it.
	lock *dirlock.Lock
}

// Start opens the store, binds the listener and serves in the background:
// the ECS API and the agent protocol on one edge, and the purge of old
// stopped tasks.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pairs, err := cfg.keys()
	if err != nil {
		return nil, err
	}
	keys := awsapi.Keys{}
	for _, p := range pairs {
		keys.Add(p[0], p[1], cfg.AccountID)
	}
	var lock *dirlock.Lock
	if len(cfg.EtcdEndpoints) == 0 {
		// Before the embedded etcd opens: a second server on this data dir
		// fails here at once instead of waiting on etcd's own file lock.
		if lock, err = dirlock.Acquire(cfg.DataDir, "a gantry control plane"); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				lock.Release()
			}
		}()
	}
	maxConns := cfg.MaxConnections
	if nofile := raiseOpenFiles(log); nofile > 0 && uint64(maxConns) > nofile/2 {
		// Half the descriptors stay for etcd, the registry's files and
		// the process's own clients.
		log.Warn("connection cap lowered to half the open files limit", logMaxConns, cfg.MaxConnections, "open_files", nofile, "now", nofile/2)
		maxConns = int(nofile / 2)
	}
	tcp, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	conns := newConnLimiter(maxConns, log)
	ln := limitListener{Listener: tcp, l: conns}
	// The store outlives ctx (a signal ends a command's context before
	// Close runs): its etcd clients must not be cancelled under the
	// elections and writes Close still makes.
	store, err := state.Open(context.WithoutCancel(ctx), state.Config{Endpoints: cfg.EtcdEndpoints, DataDir: cfg.DataDir, PKIDir: cfg.EtcdPKIDir, Member: cfg.Etcd}, log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	var ops *ecs.Service
	mets := newMetrics(store, func() *ecs.Service { return ops }, log)
	ops = ecs.NewWithOptions(store, log, ecs.Options{
		AgentTimeout:         cfg.AgentTimeout,
		AgentLostAfter:       cfg.AgentLostAfter,
		StoppedTaskRetention: cfg.StoppedTaskRetention,
		OnPlaced:             mets.Placed,
	})
	reg, err := newRegistry(ctx, cfg, store, keys, log)
	if err != nil {
		ln.Close()
		store.Close()
		return nil, err
	}
	ecrOps := ecr.New(reg, log)
	services := []*awsapi.Service{ops.API(), ops.AgentAPI(), ecrOps.API()}
	queryServices := []*awsapi.QueryService{ec2.New(store, log).API()}
	knowTargets(mets, services, queryServices)
	edge := awsapi.NewEdge(awsapi.EdgeConfig{
		Keys:     keys,
		Services: services,
		Logger:   log,
		// The default body limit is 1 MiB; ECR's actions that carry
		// manifests and layer parts raise theirs (ecr.Service.API).
		MaxBuffered: cfg.MaxBufferedBodies,
	})
	// The Query-protocol APIs (form in, XML out), chosen by the signing
	// service and the form's Version.
	queryEdge := awsapi.NewQueryEdge(awsapi.QueryEdgeConfig{
		Keys:     keys,
		Services: queryServices,
		Logger:   log,
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("GET /metrics", mets.Handler())
	mux.Handle("/v2/", mets.Registry(reg))
	mux.Handle("/", mets.API(awsapi.Dispatch(edge, queryEdge)))
	s := &Server{cfg: cfg, log: log, store: store, ecs: ops, ecr: ecrOps, reg: reg, ln: ln, conns: conns, done: make(chan error, 1), lock: lock}
	// No ReadTimeout or WriteTimeout for the whole server: they would cut
	// registry uploads and downloads, and agents' long polls. guard sets
	// each request's deadlines instead; headers and idle keep-alives have
	// their own timeouts, and conns caps what is open.
	s.http = &http.Server{
		Handler:           guard(mux, conns, cfg.BodyStallTimeout, apiWriteTimeout),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ConnState:         conns.connState,
		ConnContext:       connContext,
	}
	loopCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.loops.Add(1)
	go s.leaderLoop(loopCtx, purgeElection, s.purge)
	if !cfg.NoServiceController {
		s.loops.Add(1)
		go s.leaderLoop(loopCtx, servicesElection, s.runServices)
	}
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	log.Info("gantry server listening", "addr", ln.Addr().String(), "data_dir", cfg.DataDir, "etcd", cfg.EtcdEndpoints, "etcd_client_url", store.ClientURL(), logMaxConns, maxConns)
	return s, nil
}

// newRegistry builds the registry of cfg: its blobs in cfg.RegistryDir
// behind the disk reserve, its tokens signed with the secret kept in the
// store (replaced first if cfg.RotateRegistrySecret) and valid only while
// the access key they were issued for is among keys.
func newRegistry(ctx context.Context, cfg Config, store *state.Store, keys awsapi.Keys, log *slog.Logger) (*registry.Registry, error) {
	reserve, pct, err := ParseDiskReserve(cfg.RegistryDiskReserve)
	if err != nil {
		return nil, err
	}
	if cfg.RotateRegistrySecret {
		if err := registry.RotateTokenSecret(ctx, store); err != nil {
			return nil, fmt.Errorf("rotate the registry token secret: %w", err)
		}
		log.Info("rotated the registry token secret: tokens issued before no longer work")
	}
	return registry.New(registry.Config{
		Store:              store,
		DataDir:            cfg.registryDir(),
		Account:            cfg.AccountID,
		KeyActive:          func(id string) bool { _, ok := keys[id]; return ok },
		MaxUploads:         cfg.RegistryMaxUploads,
		DiskReserveBytes:   reserve,
		DiskReservePercent: pct,
		Logger:             log.With("component", "registry"),
	})
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// OpenConnections is the number of client connections the server holds.
func (s *Server) OpenConnections() int { return s.conns.open() }

// URL is the endpoint URL clients use.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Store is the server's state store.
func (s *Server) Store() *state.Store { return s.store }

// Wait blocks until the server stops serving.
func (s *Server) Wait() error { return <-s.done }

// Close stops serving (pending agent long polls answer at once), stops the
// background loops and closes the store. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.ecs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.http.Shutdown(ctx)
		s.stop()
		s.loops.Wait()
		s.reg.Close()
		s.closeErr = errors.Join(err, s.store.Close(), s.lock.Release())
	})
	return s.closeErr
}

// Run starts a server and serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return s.Close()
	case err := <-s.done:
		return errors.Join(err, s.Close())
	}
}

// The server's leader-only work: each job has its etcd election, so that
// one replica does it at a time (even with one replica).
const (
	// servicesElection's leader runs the service controller.
	servicesElection = "/gantry/elections/services"
	// purgeElection's leader purges stopped tasks and maintains the
	// registry.
	purgeElection = "/gantry/elections/purge"
)

// leaderLoop campaigns for election until ctx ends, and each time it wins
// runs work with a context that ends when ctx does or leadership is lost.
// A failed term is logged and the campaign starts again a second later.
func (s *Server) leaderLoop(ctx context.Context, election string, work func(ctx context.Context) error) {
	defer s.loops.Done()
	for ctx.Err() == nil {
		err := s.lead(ctx, election, work)
		if err == nil || ctx.Err() != nil {
			continue
		}
		s.log.Warn("leader work", "election", election, "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
}

// lead wins election, runs work while leading, then resigns. The session's
// lease lasts LeaderTTL: a leader that stops answering (killed, paused,
// cut off) loses its term that long after its last keep-alive. Work runs
// with a context that fences its writes to this term (state.WithFence),
// so that a leader paused past the end of its term cannot write once
// another server leads.
func (s *Server) lead(ctx context.Context, election string, work func(ctx context.Context) error) error {
	sess, err := concurrency.NewSession(s.store.Client(), concurrency.WithTTL(max(int(s.cfg.LeaderTTL/time.Second), 1)))
	if err != nil {
		return fmt.Errorf("start election session: %w", err)
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, election)
	if err := el.Campaign(ctx, s.Addr()); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		el.Resign(rctx)
	}()
	s.log.Debug("leading", "election", election)
	term, stop := context.WithCancel(state.WithFence(ctx, state.Fence{Key: el.Key(), Rev: el.Rev()}))
	defer stop()
	go func() {
		select {
		case <-sess.Done():
			stop()
		case <-term.Done():
		}
	}()
	err = work(term)
	select {
	case <-sess.Done():
		return errors.New("election session expired")
	default:
	}
	if errors.Is(err, state.ErrFenced) {
		return fmt.Errorf("leadership lost: %w", err)
	}
	return err
}

// LeadsServices says whether this server runs the service controller now.
func (s *Server) LeadsServices() bool { return s.leading.Load() }

// runServices runs the service controller for one term of leadership.
func (s *Server) runServices(ctx context.Context) error {
	s.leading.Store(true)
	defer s.leading.Store(false)
	return s.ecs.RunServiceController(ctx)
}

// purge purges every PurgeInterval and maintains the registry (lifecycle
// policies, then garbage collection) every RegistryMaintenanceInterval, for
// one term of leadership.
func (s *Server) purge(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.PurgeInterval)
	defer tick.Stop()
	maint := time.NewTicker(s.cfg.RegistryMaintenanceInterval)
	defer maint.Stop()
	for {
		n, err := s.ecs.Purge(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("purge stopped tasks", "err", err)
		case n > 0:
			s.log.Debug("purged stopped tasks and old client tokens", "records", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-maint.C:
			s.maintainRegistry(ctx)
			continue
		case <-tick.C:
		}
	}
}

// maintainRegistry applies every repository's lifecycle policy, then
// collects the blobs no image references any more. Both are safe to repeat;
// errors are logged and the next round tries again.
func (s *Server) maintainRegistry(ctx context.Context) {
	now := time.Now()
	if n, err := s.ecr.ApplyLifecyclePolicies(ctx, now); err != nil && ctx.Err() == nil {
		s.log.Warn("apply lifecycle policies", "err", err)
	} else if n > 0 {
		s.log.Info("lifecycle policies expired images", "images", n)
	}
	if n, err := s.reg.CollectGarbage(ctx, now); err != nil && ctx.Err() == nil {
		s.log.Warn("collect registry garbage", "err", err)
	} else if n > 0 {
		s.log.Info("registry garbage collected", "blobs", n)
	}
}
