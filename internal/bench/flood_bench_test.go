package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// BenchmarkAPIUnderConnectionFlood measures what a client without
// credentials can do to `gantry server`: it holds many idle connections
// (reopening each a second after the server closes it) and 100 slow
// uploads (50 signed-looking bodies that trickle in, 50 unsigned 10 MiB
// bodies sent again and again), and meanwhile signs DescribeClusters
// calls, whose latency it reports with the server's peak memory and open
// descriptors, and whether it stayed up. Everything runs on loopback and
// stops by itself after the window.
//
//	BENCH_IDLE_CONNS    idle connections to hold (default 15,000, bounded by
//	                    this process's open files limit)
//	BENCH_FLOOD_SECONDS the measured window (default 20)
//	BENCH_GANTRY_BIN    a gantry binary to measure instead of this checkout's
func BenchmarkAPIUnderConnectionFlood(b *testing.B) {
	idle := benchEnvInt("BENCH_IDLE_CONNS", 15000)
	window := time.Duration(benchEnvInt("BENCH_FLOOD_SECONDS", 20)) * time.Second
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && uint64(idle) > lim.Cur-1000 {
		idle = int(lim.Cur - 1000)
		b.Logf("idle connections bounded by this process's open files limit: %d", idle)
	}
	bin := os.Getenv("BENCH_GANTRY_BIN")
	if bin == "" {
		bin = gantryBinary(b)
	}
	srv, url := startServerProc(b, bin)
	addr := strings.TrimPrefix(url, "http://")
	client := procClient(url)
	call := func() error {
		_, err := client.DescribeClusters(context.Background(), &ecs.DescribeClustersInput{})
		return err
	}
	if err := call(); err != nil {
		b.Fatal(err)
	}
	rss0 := procRSS(srv)

	// The flood runs in a process of its own (this test binary, re-run),
	// so that its goroutines and descriptors are not the measuring
	// client's; it stops by itself after the ramp and the window.
	const ramp = 5 * time.Second
	ctx, stop := context.WithTimeout(context.Background(), ramp+window)
	defer stop()
	var wg sync.WaitGroup
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	var floodOut bytes.Buffer
	fl := exec.Command(os.Args[0], "-test.run", "^TestFloodProcess$", "-test.v")
	fl.Env = append(os.Environ(), "BENCH_FLOOD_ADDR="+addr, "BENCH_FLOOD_IDLE="+strconv.Itoa(idle),
		"BENCH_FLOOD_FOR="+(ramp+window).String())
	fl.Stdout, fl.Stderr = &floodOut, os.Stderr
	if err := fl.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		fl.Process.Kill() // only if it did not stop by itself
		fl.Wait()
	}()

	// Sample the server's memory and descriptors while it runs.
	var peakRSS, peakFDs atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for sleep(250 * time.Millisecond) {
			peakRSS.Store(max(peakRSS.Load(), procRSS(srv)))
			peakFDs.Store(max(peakFDs.Load(), int64(procFDs(srv))))
		}
	}()

	sleep(ramp)
	b.ResetTimer()
	cpu0 := srv.cpu()
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	var firstErr atomic.Value
	var workers sync.WaitGroup
	for range 2 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := call(); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	workers.Wait()
	b.StopTimer()
	serverCPU := srv.cpu() - cpu0
	stop()
	wg.Wait()
	if err := fl.Wait(); err != nil {
		b.Logf("flood process: %v", err)
	}

	up := srv.cmd.ProcessState == nil && syscall.Kill(srv.cmd.Process.Pid, 0) == nil
	if resp, err := http.Get(url + "/healthz"); err != nil {
		up = false
	} else {
		resp.Body.Close()
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))]) / 1e6
	}
	for _, line := range strings.Split(floodOut.String(), "\n") {
		if strings.Contains(line, "flood:") {
			b.Log(strings.TrimSpace(line))
		}
	}
	b.Logf("DescribeClusters: %d calls, %d errors (first: %v); p50 %.2f ms, p99 %.2f ms; server RSS %d MB before, %d MB peak; %d descriptors peak; server CPU %s in the %s window; up: %v",
		len(lat), errs.Load(), firstErr.Load(), q(0.5), q(0.99), rss0>>20, peakRSS.Load()>>20, peakFDs.Load(), serverCPU, window, up)
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(len(lat))/window.Seconds(), "req/s")
	b.ReportMetric(float64(errs.Load()), "errors")
	b.ReportMetric(float64(peakRSS.Load()>>20), "peak-rss-MB")
	b.ReportMetric(float64(peakFDs.Load()), "peak-fds")
	b.ReportMetric(0, "ns/op")
	if !up {
		b.Fatal("the server did not stay up")
	}
}

// TestFloodProcess is the flood of BenchmarkAPIUnderConnectionFlood, run
// in a process of its own; it does nothing unless the benchmark starts it.
func TestFloodProcess(t *testing.T) {
	addr := os.Getenv("BENCH_FLOOD_ADDR")
	if addr == "" {
		t.Skip("run by BenchmarkAPIUnderConnectionFlood")
	}
	idle, _ := strconv.Atoi(os.Getenv("BENCH_FLOOD_IDLE"))
	d, _ := time.ParseDuration(os.Getenv("BENCH_FLOOD_FOR"))
	const ramp = 5 * time.Second
	ctx, stop := context.WithTimeout(context.Background(), d)
	defer stop()
	var wg sync.WaitGroup
	var dialed, closedByServer, dialErrs atomic.Int64
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	var dialer net.Dialer
	for i := range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !sleep(time.Duration(i) * ramp / time.Duration(idle) * 3 / 5) {
				return
			}
			for ctx.Err() == nil {
				c, err := dialer.DialContext(ctx, "tcp", addr)
				if err != nil {
					dialErrs.Add(1)
					sleep(time.Second)
					continue
				}
				dialed.Add(1)
				stopClose := context.AfterFunc(ctx, func() { c.Close() })
				io.Copy(io.Discard, c) // until the server (or the end) closes it
				if stopClose() {
					closedByServer.Add(1)
				}
				c.Close()
				sleep(time.Second)
			}
		}()
	}
	// 50 bodies that trickle in: signed-looking headers with the key id
	// the server knows (a key id is no secret), 1 KiB every 500 ms.
	head := fmt.Sprintf("POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.DescribeClusters\r\n"+
		"X-Amz-Date: %%s\r\nAuthorization: AWS4-HMAC-SHA256 Credential=%s/%%s/%s/ecs/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=%s\r\n"+
		"Content-Length: %d\r\n\r\n", addr, "AKIDGANTRYTEST", procRegion, strings.Repeat("0", 64), 1<<20)
	chunk := bytes.Repeat([]byte(" "), 1024)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := dialer.DialContext(ctx, "tcp", addr)
				if err != nil {
					sleep(time.Second)
					continue
				}
				stopClose := context.AfterFunc(ctx, func() { c.Close() })
				now := time.Now().UTC()
				_, err = fmt.Fprintf(c, head, now.Format("20060102T150405Z"), now.Format("20060102"))
				for err == nil && sleep(500*time.Millisecond) {
					_, err = c.Write(chunk)
				}
				stopClose()
				c.Close()
			}
		}()
	}
	// 50 unsigned 10 MiB uploads, as fast as the server takes them.
	big := bytes.Repeat([]byte(" "), 10<<20)
	unsigned := fmt.Sprintf("POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.DescribeClusters\r\nContent-Length: %d\r\n\r\n", addr, len(big))
	var unsignedSent atomic.Int64
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := dialer.DialContext(ctx, "tcp", addr)
				if err != nil {
					sleep(time.Second)
					continue
				}
				stopClose := context.AfterFunc(ctx, func() { c.Close() })
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(c, unsigned); err == nil {
					c.Write(big)
					unsignedSent.Add(1)
				}
				stopClose()
				c.Close()
				sleep(time.Second)
			}
		}()
	}

	wg.Wait()
	t.Logf("flood: %d idle connections held (%d dialed, %d closed by the server, %d dial errors), 50 trickling bodies, %d unsigned 10 MiB uploads sent",
		idle, dialed.Load(), closedByServer.Load(), dialErrs.Load(), unsignedSent.Load())
}

// procRSS is the resident memory of the process, in bytes.
func procRSS(p *proc) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// procFDs is the number of descriptors the process has open.
func procFDs(p *proc) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	return len(ents)
}

func benchEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
