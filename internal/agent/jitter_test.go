package agent

import (
	"testing"
	"time"
)

// Retries after a failure wait between half and all of the back-off, and
// not all the same.
func TestJitteredBackoff(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 200 {
		d := jittered(time.Second)
		if d < 500*time.Millisecond || d > time.Second {
			t.Fatalf("jittered(1s) = %v, want within [500ms, 1s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Fatalf("200 waits took only %d values: not jittered", len(seen))
	}
}
