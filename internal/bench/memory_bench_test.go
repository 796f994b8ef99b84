package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/state"
)

// BenchmarkEmbeddedEtcdMemory commits 15,000 transactions of ten 1 KiB puts
// (over a fixed set of 10,000 keys, so the data stays at 10 MiB) into a fresh
// embedded etcd, and reports the process's resident memory after a GC. etcd
// keeps recent raft entries in memory, so memory follows a count of entries
// (150 MiB of them are written here), not the size of the data. Run it alone,
// with -benchtime 1x: RSS is the whole process's.
func BenchmarkEmbeddedEtcdMemory(b *testing.B) {
	for range b.N {
		dir := b.TempDir()
		st, err := state.Open(context.Background(), state.Config{DataDir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			b.Fatal(err)
		}
		val := strings.Repeat("x", 1024)
		for i := 0; i < 15000; i++ {
			tx := st.Txn()
			for j := 0; j < 10; j++ {
				tx.Put(fmt.Sprintf("mem/%05d", (i*10+j)%10000), val)
			}
			if _, err := tx.Commit(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		debug.FreeOSMemory()
		b.ReportMetric(rssMB(), "RSS-MB")
		b.ReportMetric(0, "ns/op")
		st.Close()
	}
}

func rssMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb float64
		if _, err := fmt.Sscanf(sc.Text(), "VmRSS: %f kB", &kb); err == nil {
			return kb / 1024
		}
	}
	return 0
}
