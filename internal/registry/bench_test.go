package registry_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/registry"
)

// BenchmarkUploadSessionFDs opens b.N upload sessions over /v2/ (bounded by
// -benchtime=Nx; each gets a 5-byte chunk) and leaves them open, as a user
// who never completes them does. It reports the open files of the process
// per 1,000 sessions: with no file held between requests, it stays at 0.
func BenchmarkUploadSessionFDs(b *testing.B) {
	e := newEnvAt(b, time.Time{}, func(c *registry.Config) { c.MaxUploads = b.N + 1 })
	e.createRepo(b, "up", "MUTABLE")
	warm := e.do(b, "POST", "/v2/up/blobs/uploads/", "", nil) // opens the client's connection
	if warm.StatusCode != http.StatusAccepted {
		b.Fatalf("POST: %s", warm.Status)
	}
	before := openFiles(b)
	b.ResetTimer()
	for range b.N {
		r := e.do(b, "POST", "/v2/up/blobs/uploads/", "", nil)
		if r.StatusCode != http.StatusAccepted {
			b.Fatalf("POST: %s", r.Status)
		}
		if r := e.do(b, "PATCH", r.Header.Get("Location"), "", []byte("chunk"), "Content-Range", "0-4"); r.StatusCode != http.StatusAccepted {
			b.Fatalf("PATCH: %s", r.Status)
		}
	}
	b.StopTimer()
	grown := openFiles(b) - before
	b.ReportMetric(float64(grown)*1000/float64(b.N), "fds/1000sessions")
	b.ReportMetric(float64(grown), "fds_grown")
}
