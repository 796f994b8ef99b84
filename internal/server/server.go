package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/gantry-dev/gantry/internal/awsapi"
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
	http  *http.Server
	done  chan error

	// leading is true while this server runs the service controller.
	leading atomic.Bool

	// stop ends the background loops (the purge); loops tracks them.
	stop      context.CancelFunc
	loops     sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start opens the store, binds the listener and serves in the background:
// the ECS API and the agent protocol on one edge, and the purge of old
// stopped tasks.
func Start(ctx context.Context, cfg Config) (*Server, error) {
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
	if len(cfg.EtcdEndpoints) == 0 {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	store, err := state.Open(ctx, state.Config{Endpoints: cfg.EtcdEndpoints, DataDir: cfg.DataDir}, log)
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
	secret, err := registrySecret(ctx, store)
	if err != nil {
		ln.Close()
		store.Close()
		return nil, err
	}
	reg, err := registry.New(registry.Config{
		Store:       store,
		DataDir:     filepath.Join(cfg.DataDir, "registry"),
		Account:     cfg.AccountID,
		TokenSecret: secret,
		Logger:      log.With("component", "registry"),
	})
	if err != nil {
		ln.Close()
		store.Close()
		return nil, err
	}
	ecrOps := ecr.New(reg, log)
	services := []*awsapi.Service{ops.API(), ops.AgentAPI(), ecrOps.API()}
	knowTargets(mets, services)
	edge := awsapi.NewEdge(awsapi.EdgeConfig{
		Keys:     keys,
		Services: services,
		Logger:   log,
		// PutImage carries manifests of up to 4 MiB, JSON-escaped.
		MaxBody: 10 << 20,
	})
	// The Query-protocol APIs (form in, XML out), chosen by the signing
	// service and the form's Version.
	queryEdge := awsapi.NewQueryEdge(awsapi.QueryEdgeConfig{
		Keys:     keys,
		Services: []*awsapi.QueryService{ec2.New(store, log).API()},
		Logger:   log,
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("GET /metrics", mets.Handler())
	mux.Handle("/v2/", mets.Registry(reg))
	mux.Handle("/", mets.API(awsapi.Dispatch(edge, queryEdge)))
	s := &Server{cfg: cfg, log: log, store: store, ecs: ops, ecr: ecrOps, reg: reg, ln: ln, done: make(chan error, 1)}
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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
	log.Info("gantry server listening", "addr", ln.Addr().String(), "data_dir", cfg.DataDir, "etcd", cfg.EtcdEndpoints)
	return s, nil
}

// registrySecret returns the key that signs registry tokens, creating it on
// first start. It lives in etcd so that every replica shares it and tokens
// survive restarts.
func registrySecret(ctx context.Context, store *state.Store) ([]byte, error) {
	const key = "registry-token-secret"
	return state.Retry(ctx, func() ([]byte, error) {
		var secret []byte
		_, err := store.Get(ctx, key, &secret)
		if err == nil {
			return secret, nil
		}
		if !errors.Is(err, state.ErrNotFound) {
			return nil, err
		}
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		if _, err := store.Txn().Expect(key, 0).Put(key, secret).Commit(ctx); err != nil {
			return nil, err
		}
		return secret, nil
	})
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

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
		s.closeErr = errors.Join(err, s.store.Close())
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

// lead wins election, runs work while leading, then resigns.
func (s *Server) lead(ctx context.Context, election string, work func(ctx context.Context) error) error {
	sess, err := concurrency.NewSession(s.store.Client(), concurrency.WithTTL(10))
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
	term, stop := context.WithCancel(ctx)
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
