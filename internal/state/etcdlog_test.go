package state

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What ends etcd (a panic or a fatal error, such as a full disk) reaches
// stderr as well as etcd.log; ordinary errors stay in etcd.log.
func TestEtcdLoggerSendsWhatEndsItToStderr(t *testing.T) {
	var stderr bytes.Buffer
	path := filepath.Join(t.TempDir(), "etcd.log")
	lg := etcdLogger(path, &stderr)
	lg.Error("an ordinary error")
	lg.DPanic("failed to commit tx: no space left on device")
	lg.Sync()
	if got := stderr.String(); !strings.Contains(got, "no space left on device") || strings.Contains(got, "ordinary") {
		t.Fatalf("stderr: %q, want only the fatal line", got)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(file), "ordinary error") || !strings.Contains(string(file), "no space left") {
		t.Fatalf("etcd.log: %q, want both lines", file)
	}
}
