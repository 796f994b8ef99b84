package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/state"
)

// Server is a running control plane.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store *state.Store
	ln    net.Listener
	http  *http.Server
	done  chan error
}

// Start opens the store, binds the listener and serves in the background.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
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
	edge := awsapi.NewEdge(awsapi.EdgeConfig{
		Keys:     keys,
		Services: []*awsapi.Service{ecs.New(store, log).API()},
		Logger:   log,
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("/", edge)
	s := &Server{cfg: cfg, log: log, store: store, ln: ln, done: make(chan error, 1)}
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the endpoint URL clients use.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Store is the server's state store.
func (s *Server) Store() *state.Store { return s.store }

// Wait blocks until the server stops serving.
func (s *Server) Wait() error { return <-s.done }

// Close stops serving and closes the store.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	return errors.Join(err, s.store.Close())
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
		return errors.Join(err, s.store.Close())
	}
}
