// Package metrics serves the control plane's figures in Prometheus's text
// format at /metrics: the API calls by action and answer with their latency,
// the tasks placed, the registry's bytes, the tasks by status and the agents
// connected (counted when scraped), and the store's read latency. The
// embedded etcd's own metrics (WAL fsync, backend commit, raft) and Go's
// runtime figures come from Prometheus's default registry, which they
// register with.
//
// It knows nothing of Gantry's other packages: the server gives it the
// functions that count (Census) and probe the store, and wraps the AWS edge
// and the registry with its middleware.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Counts is what a census of the control plane's state finds.
type Counts struct {
	// TasksByStatus counts the tasks of every account and region by
	// lastStatus (PROVISIONING, PENDING, RUNNING, STOPPED, ...).
	TasksByStatus map[string]int
	// Instances is the number of registered container instances.
	Instances int
	// AgentsConnected is how many of them have a connected agent.
	AgentsConnected int
}

// Config is what the metrics need from the server.
type Config struct {
	// Census counts tasks and instances; it is called at most once per
	// CensusEvery, when scraped.
	Census func(ctx context.Context) (Counts, error)
	// CensusEvery bounds how often a scrape reads the whole state
	// (default 15 s): scrapes in between answer the last census.
	CensusEvery time.Duration
	// Probe reads one key from the store; its latency is exported.
	Probe func(ctx context.Context) error
	// KnownTarget says whether a target names an action the edge serves:
	// an X-Amz-Target, or "<signing name>.<Action>" for a Query request.
	// Others are counted under action "unknown", so that a client cannot
	// grow the label set without bound.
	KnownTarget func(target string) bool
	Logger      *slog.Logger
}

// Metrics holds the control plane's collectors.
type Metrics struct {
	cfg      Config
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	regBytes *prometheus.CounterVec
	regCalls *prometheus.CounterVec
	placed   prometheus.Counter

	mu         sync.Mutex
	lastCensus time.Time
	counts     Counts
	censusErr  error
}

// New builds the collectors.
func New(cfg Config) *Metrics {
	if cfg.CensusEvery <= 0 {
		cfg.CensusEvery = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Metrics{
		cfg: cfg,
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_api_requests_total",
			Help: "AWS API calls answered, by service (target prefix), action and code (the error code, or OK).",
		}, []string{"service", "action", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gantry_api_request_duration_seconds",
			Help:    "Time to answer an AWS API call, by service and action.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"service", "action"}),
		regBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_registry_bytes_total",
			Help: "Bytes the registry received (in: pushes) and sent (out: pulls) under /v2/.",
		}, []string{"direction"}),
		regCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_registry_requests_total",
			Help: "Registry requests under /v2/, by method and HTTP status.",
		}, []string{"method", "status"}),
		placed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_tasks_placed_total",
			Help: "Tasks placed on container instances by this server (RunTask, StartTask, services).",
		}),
	}
	m.reg.MustRegister(m.calls, m.latency, m.regBytes, m.regCalls, m.placed, &stateCollector{m: m})
	return m
}

// Handler serves /metrics: Gantry's collectors, then the default
// registry's (Go runtime, process, embedded etcd).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(prometheus.Gatherers{m.reg, prometheus.DefaultGatherer},
		promhttp.HandlerOpts{ErrorLog: slogErrorLog{m.cfg.Logger}, ErrorHandling: promhttp.ContinueOnError})
}

// Placed counts n tasks placed.
func (m *Metrics) Placed(n int) { m.placed.Add(float64(n)) }

// API wraps the AWS edge: it counts each call by the target it named and the
// code it was answered with (the X-Amzn-ErrorType the edge sets, or OK).
func (m *Metrics) API(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		target := r.Header.Get("X-Amz-Target")
		var head *bodyHead
		if target == "" && r.Body != nil {
			// A Query request names its action in its form body.
			head = &bodyHead{ReadCloser: r.Body}
			r.Body = head
		}
		next.ServeHTTP(rec, r)
		if head != nil {
			target = queryTarget(r, head.buf)
		}
		service, action := "unknown", "unknown"
		if m.cfg.KnownTarget != nil && m.cfg.KnownTarget(target) {
			service, action, _ = strings.Cut(target, ".")
		}
		code := "OK"
		if rec.status >= 300 {
			code = strings.TrimSuffix(w.Header().Get("X-Amzn-ErrorType"), ":")
			if i := strings.IndexByte(code, ':'); i >= 0 {
				code = code[:i]
			}
			if code == "" {
				code = strconv.Itoa(rec.status)
			}
		}
		m.calls.WithLabelValues(service, action, code).Inc()
		m.latency.WithLabelValues(service, action).Observe(time.Since(start).Seconds())
	})
}

// Registry wraps the registry's /v2/ handler: it counts the bytes of
// request bodies (pushes) and responses (pulls), and requests by method
// and status.
func (m *Metrics) Registry(next http.Handler) http.Handler {
	in, out := m.regBytes.WithLabelValues("in"), m.regBytes.WithLabelValues("out")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		if r.Body != nil {
			r.Body = &countingBody{ReadCloser: r.Body, c: in}
		}
		next.ServeHTTP(rec, r)
		out.Add(float64(rec.bytes))
		method := r.Method
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete:
		default:
			method = "other"
		}
		m.regCalls.WithLabelValues(method, strconv.Itoa(rec.status)).Inc()
	})
}

// census returns the counts, taking a new census when the last one is older
// than CensusEvery.
func (m *Metrics) census(ctx context.Context) (Counts, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cfg.Census == nil {
		return Counts{}, nil
	}
	if !m.lastCensus.IsZero() && time.Since(m.lastCensus) < m.cfg.CensusEvery {
		return m.counts, m.censusErr
	}
	m.counts, m.censusErr = m.cfg.Census(ctx)
	m.lastCensus = time.Now()
	if m.censusErr != nil {
		m.cfg.Logger.Warn("metrics census", "err", m.censusErr)
	}
	return m.counts, m.censusErr
}

// slogErrorLog lets promhttp report through slog.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Warn("metrics", "err", v) }

// SetKnownTargets sets Config.KnownTarget; call it before serving.
func (m *Metrics) SetKnownTargets(known func(target string) bool) { m.cfg.KnownTarget = known }
