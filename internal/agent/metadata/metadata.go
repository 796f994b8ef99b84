// Package metadata serves the ECS task metadata endpoint (version 4) that
// the agent injects into every container as ECS_CONTAINER_METADATA_URI_V4:
// GET ${URI} answers the container's metadata, GET ${URI}/task the task's,
// in the JSON shapes of ECS's endpoint. The URI's last element is the
// container's runtime name, which identifies it. The same server answers
// the agent API a task reaches at ECS_AGENT_URI: task scale-in protection
// (protection.go).
//
// A task that floods the endpoint is throttled as the ECS agent throttles
// it (429 past 40 requests a second, bursts of 60, per task), and the
// endpoint bounds its connections (MaxConns, MaxConnsPerSource, read, write
// and idle timeouts) so that a flood cannot take the agent's file
// descriptors, which its Docker and control-plane connections need.
package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/engine"
	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Source finds the task a container belongs to.
type Source interface {
	// Lookup returns the task of the container whose runtime name is name,
	// and the container's name in the task definition.
	Lookup(runtimeName string) (*engine.Task, string, bool)
}

// Server is a running metadata endpoint.
type Server struct {
	ln    net.Listener
	http  *http.Server
	log   *slog.Logger
	limit *limiter
	mu    sync.RWMutex
	src   Source
	// protector carries task protection calls (protection.go).
	protector Protector
	// AvailabilityZone is reported in task metadata.
	zone string
}

// Start listens on addr (host:port, port 0 for any) and serves until
// Close. zone is the instance's availability zone.
func Start(ctx context.Context, addr, zone string, log *slog.Logger) (*Server, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("task metadata endpoint: %w", err)
	}
	s := &Server{ln: ln, log: log, zone: zone, limit: newLimiter(RequestRate, RequestBurst)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v4/{token}", s.container)
	mux.HandleFunc("GET /v4/{token}/task", s.task)
	mux.HandleFunc("GET /api/{token}/task-protection/v1/state", s.protection)
	mux.HandleFunc("PUT /api/{token}/task-protection/v1/state", s.protection)
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go s.http.Serve(newLimitListener(ln, MaxConns, MaxConnsPerSource))
	log.Info("task metadata endpoint listening", "addr", ln.Addr().String())
	return s, nil
}

// SetSource sets where tasks are looked up (the engine, once built).
func (s *Server) SetSource(src Source) {
	s.mu.Lock()
	s.src = src
	s.mu.Unlock()
}

// URI is the endpoint URI of the container with runtime name token.
func (s *Server) URI(token string) string {
	return "http://" + s.ln.Addr().String() + "/v4/" + token
}

// Close stops serving.
func (s *Server) Close() error { return s.http.Close() }

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (*engine.Task, string, bool) {
	s.mu.RLock()
	src := s.src
	s.mu.RUnlock()
	if src == nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return nil, "", false
	}
	t, name, ok := src.Lookup(r.PathValue("token"))
	key := "addr " + host(r.RemoteAddr)
	if ok {
		key = "task " + t.Assignment.TaskArn
	}
	if !s.limit.allow(key, time.Now()) {
		// As the ECS agent: per task (an unknown token, per source address).
		http.Error(w, "You have reached maximum request limit.", http.StatusTooManyRequests)
		return nil, "", false
	}
	if !ok {
		http.Error(w, "no such container", http.StatusNotFound)
		return nil, "", false
	}
	return t, name, true
}

func (s *Server) container(w http.ResponseWriter, r *http.Request) {
	t, name, ok := s.lookup(w, r)
	if !ok {
		return
	}
	writeJSON(w, containerMeta(t, t.Containers[indexOf(t, name)]))
}

func (s *Server) task(w http.ResponseWriter, r *http.Request) {
	t, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	writeJSON(w, taskMeta(t, s.zone))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func indexOf(t *engine.Task, name string) int {
	for i, c := range t.Containers {
		if c.Name == name {
			return i
		}
	}
	return 0
}

// TaskMeta is the task metadata ECS's v4 endpoint answers at ${URI}/task.
type TaskMeta struct {
	Cluster            string          `json:"Cluster"`
	TaskARN            string          `json:"TaskARN"`
	Family             string          `json:"Family"`
	Revision           string          `json:"Revision"`
	DesiredStatus      string          `json:"DesiredStatus"`
	KnownStatus        string          `json:"KnownStatus"`
	Limits             *Limits         `json:"Limits,omitempty"`
	PullStartedAt      *time.Time      `json:"PullStartedAt,omitempty"`
	PullStoppedAt      *time.Time      `json:"PullStoppedAt,omitempty"`
	ExecutionStoppedAt *time.Time      `json:"ExecutionStoppedAt,omitempty"`
	AvailabilityZone   string          `json:"AvailabilityZone,omitempty"`
	LaunchType         string          `json:"LaunchType"`
	Containers         []ContainerMeta `json:"Containers"`
}

// Limits are a task's or container's CPU units and memory MiB.
type Limits struct {
	CPU    float64 `json:"CPU,omitempty"`
	Memory int64   `json:"Memory,omitempty"`
}

// ContainerMeta is the container metadata ECS's v4 endpoint answers at
// ${URI}.
type ContainerMeta struct {
	DockerID      string            `json:"DockerId"`
	Name          string            `json:"Name"`
	DockerName    string            `json:"DockerName"`
	Image         string            `json:"Image"`
	ImageID       string            `json:"ImageID,omitempty"`
	Labels        map[string]string `json:"Labels,omitempty"`
	DesiredStatus string            `json:"DesiredStatus"`
	KnownStatus   string            `json:"KnownStatus"`
	ExitCode      *int32            `json:"ExitCode,omitempty"`
	Limits        Limits            `json:"Limits"`
	StartedAt     *time.Time        `json:"StartedAt,omitempty"`
	Type          string            `json:"Type"`
	Health        *Health           `json:"Health,omitempty"`
	Networks      []Network         `json:"Networks,omitempty"`
	Ports         []Port            `json:"Ports,omitempty"`
	LogDriver     string            `json:"LogDriver,omitempty"`
	LogOptions    map[string]string `json:"LogOptions,omitempty"`
}

// Health is a container's health in the metadata.
type Health struct {
	Status string `json:"status"`
}

// Network is one network of a container.
type Network struct {
	NetworkMode string `json:"NetworkMode"`
}

// Port is one published port.
type Port struct {
	ContainerPort int32  `json:"ContainerPort"`
	Protocol      string `json:"Protocol"`
	HostPort      int32  `json:"HostPort"`
	HostIP        string `json:"HostIp"`
}

func taskMeta(t *engine.Task, zone string) TaskMeta {
	def := &t.Assignment.Definition
	m := TaskMeta{
		Cluster:            t.Assignment.ClusterArn,
		TaskARN:            t.Assignment.TaskArn,
		Family:             def.Family,
		Revision:           strconv.Itoa(int(def.Revision)),
		DesiredStatus:      t.Desired,
		KnownStatus:        t.Known.Wire(),
		PullStartedAt:      t.PullStartedAt,
		PullStoppedAt:      t.PullStoppedAt,
		ExecutionStoppedAt: t.ExecutionStoppedAt,
		AvailabilityZone:   zone,
		LaunchType:         "EC2",
	}
	cpu, _ := strconv.ParseFloat(def.Cpu, 64)
	mem, _ := strconv.ParseInt(strings.TrimSpace(def.Memory), 10, 64)
	if cpu > 0 || mem > 0 {
		m.Limits = &Limits{CPU: cpu / 1024, Memory: mem}
	}
	for _, c := range t.Containers {
		m.Containers = append(m.Containers, containerMeta(t, c))
	}
	return m
}

func containerMeta(t *engine.Task, c *engine.Container) ContainerMeta {
	var d ecswire.ContainerDefinition
	for _, x := range t.Assignment.Definition.ContainerDefinitions {
		if x.Name == c.Name {
			d = x
		}
	}
	desired := agentproto.StatusRunning
	if t.Desired == agentproto.StatusStopped {
		desired = agentproto.StatusStopped
	}
	mode := t.Assignment.Definition.NetworkMode
	if mode == "" {
		mode = "bridge"
	}
	m := ContainerMeta{
		DockerID:      c.RuntimeID,
		Name:          c.Name,
		DockerName:    c.RuntimeName,
		Image:         d.Image,
		ImageID:       c.ImageDigest,
		Labels:        d.DockerLabels,
		DesiredStatus: desired,
		KnownStatus:   c.Known.Wire(),
		ExitCode:      c.ExitCode,
		Limits:        Limits{CPU: float64(d.Cpu)},
		StartedAt:     c.StartedAt,
		Type:          "NORMAL",
		Networks:      []Network{{NetworkMode: mode}},
	}
	if d.Memory != nil {
		m.Limits.Memory = int64(*d.Memory)
	}
	if c.Health != "" {
		m.Health = &Health{Status: c.Health}
	}
	for _, b := range c.Bindings {
		p := Port{Protocol: b.Protocol, HostIP: b.BindIP}
		if b.ContainerPort != nil {
			p.ContainerPort = *b.ContainerPort
		}
		if b.HostPort != nil {
			p.HostPort = *b.HostPort
		}
		m.Ports = append(m.Ports, p)
	}
	if lc := d.LogConfiguration; lc != nil {
		m.LogDriver, m.LogOptions = lc.LogDriver, lc.Options
	} else {
		m.LogDriver = "json-file"
	}
	return m
}
