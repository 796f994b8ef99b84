package dirlock

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// A second Acquire of a held directory fails at once, naming the directory
// and the holder; once released, the directory can be taken again.
func TestSecondAcquireFailsUntilReleased(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "gantry agent")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, "gantry agent")
	var inUse *InUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("second Acquire: %v, want an InUseError", err)
	}
	if inUse.PID != os.Getpid() || inUse.Role != "gantry agent" {
		t.Errorf("holder = pid %d %q, want pid %d gantry agent", inUse.PID, inUse.Role, os.Getpid())
	}
	for _, want := range []string{dir, "pid " + strconv.Itoa(os.Getpid()), "--data-dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir, "gantry server")
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l2.Release()
	l2.Release()
}
