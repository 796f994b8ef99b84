package metrics

import (
	"context"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	tasksDesc = prometheus.NewDesc("gantry_tasks",
		"Tasks by lastStatus, in every account and region (counted at most every CensusEvery).", []string{"status"}, nil)
	instancesDesc = prometheus.NewDesc("gantry_container_instances",
		"Registered container instances, in every account and region.", nil, nil)
	agentsDesc = prometheus.NewDesc("gantry_agents_connected",
		"Registered container instances whose agent polled within the agent timeout.", nil, nil)
	censusUpDesc = prometheus.NewDesc("gantry_census_ok",
		"1 when the last census of tasks and instances succeeded, else 0.", nil, nil)
	probeDesc = prometheus.NewDesc("gantry_store_read_seconds",
		"Latency of one read from the store (etcd), measured at scrape time.", nil, nil)
	storeUpDesc = prometheus.NewDesc("gantry_store_up",
		"1 when the store answered the scrape's read, else 0.", nil, nil)
)

// stateCollector reads the state when scraped: the census and a store probe.
type stateCollector struct{ m *Metrics }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{tasksDesc, instancesDesc, agentsDesc, censusUpDesc, probeDesc, storeUpDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	counts, err := c.m.census(ctx)
	ch <- prometheus.MustNewConstMetric(censusUpDesc, prometheus.GaugeValue, boolValue(err == nil))
	if err == nil {
		statuses := make([]string, 0, len(counts.TasksByStatus))
		for s := range counts.TasksByStatus {
			statuses = append(statuses, s)
		}
		sort.Strings(statuses)
		for _, s := range statuses {
			ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(counts.TasksByStatus[s]), s)
		}
		ch <- prometheus.MustNewConstMetric(instancesDesc, prometheus.GaugeValue, float64(counts.Instances))
		ch <- prometheus.MustNewConstMetric(agentsDesc, prometheus.GaugeValue, float64(counts.AgentsConnected))
	}
	if c.m.cfg.Probe != nil {
		start := time.Now()
		err := c.m.cfg.Probe(ctx)
		ch <- prometheus.MustNewConstMetric(storeUpDesc, prometheus.GaugeValue, boolValue(err == nil))
		if err == nil {
			ch <- prometheus.MustNewConstMetric(probeDesc, prometheus.GaugeValue, time.Since(start).Seconds())
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// statusRecorder remembers the status a handler wrote and counts the bytes
// of its body.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// flushes) through the recorder.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush passes flushes through (long polls and streamed blobs use them).
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	c prometheus.Counter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.Add(float64(n))
	return n, err
}

// ReadFrom keeps the underlying writer's fast path (sendfile for blobs)
// while counting.
func (r *statusRecorder) ReadFrom(src io.Reader) (int64, error) {
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(src)
		r.bytes += n
		return n, err
	}
	n, err := io.Copy(struct{ io.Writer }{r.ResponseWriter}, src)
	r.bytes += n
	return n, err
}
