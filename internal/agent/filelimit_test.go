package agent

import (
	"log/slog"
	"syscall"
	"testing"
)

// With the soft limit lowered below the hard one, RaiseFileLimit brings it
// back up to the hard limit.
func TestRaiseFileLimit(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	if orig.Max < 512 {
		t.Skipf("hard limit %d too low to lower the soft one", orig.Max)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) })
	low := orig
	low.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	RaiseFileLimit(slog.New(slog.DiscardHandler))
	var got syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &got); err != nil {
		t.Fatal(err)
	}
	if got.Cur != orig.Max {
		t.Fatalf("soft limit %d after RaiseFileLimit, want the hard limit %d", got.Cur, orig.Max)
	}
}
