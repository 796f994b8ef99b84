package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// Benchmarks at scale run the product as a user would: `gantry server`
// (with its embedded etcd) and `gantry agent --runtime sim` as their own
// processes, built from this checkout, and the benchmark's SDK clients in
// the test process. Each process then has its own heap and its own garbage
// collector, as in a deployment, and the CPU each took is reported.

// procRegion is the region the benchmark's processes sign for; they use
// gantrytest's key.
const procRegion = "us-east-1"

// gantryBinary builds cmd/gantry into the benchmark's temporary directory.
func gantryBinary(b *testing.B) string {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(b.TempDir(), "gantry")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/gantry")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build gantry: %v\n%s", err, out)
	}
	return bin
}

// proc is a process of the benchmark.
type proc struct {
	name  string
	cmd   *exec.Cmd
	pprof string // address of its profiler, if BENCH_PROFILE_DIR is set
}

// start runs bin with args until the benchmark ends (SIGTERM, then the
// wait).
func startProc(b *testing.B, name, bin string, args ...string) *proc {
	p := &proc{name: name}
	if os.Getenv("BENCH_PROFILE_DIR") != "" {
		p.pprof = freeAddr(b)
		args = append(args, "--pprof-addr", p.pprof)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "HTTPS_PROXY=http://127.0.0.1:9")
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", name, err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	p.cmd = cmd
	return p
}

// profile writes a CPU profile of the next d of the process to
// BENCH_PROFILE_DIR/<name>.cpu, in the background; the returned function
// waits for it.
func (p *proc) profile(b *testing.B, d time.Duration) func() {
	dir := os.Getenv("BENCH_PROFILE_DIR")
	if dir == "" || p.pprof == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.pprof, int(d.Seconds())))
		if err != nil {
			b.Logf("profile %s: %v", p.name, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(dir, p.name+".cpu"))
		if err != nil {
			b.Logf("profile %s: %v", p.name, err)
			return
		}
		defer f.Close()
		io.Copy(f, resp.Body)
	}()
	return func() { <-done }
}

// freeAddr is a free loopback address.
func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// cpu is the user and system CPU time the process has used so far (from
// /proc, whose clock ticks are 1/100 s on Linux).
func (p *proc) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// startServerProc runs `gantry server` with an embedded etcd on a free
// loopback port and returns it with its URL once it answers.
func startServerProc(b *testing.B, bin string) (*proc, string) {
	addr := freeAddr(b)
	p := startProc(b, "server", bin, "server", "--listen", addr, "--data-dir", b.TempDir(),
		"--access-key", gt.KeyID+":"+gt.KeySecret, "--log-level", "warn")
	url := "http://" + addr
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			return p, url
		}
		if time.Now().After(deadline) {
			b.Fatalf("gantry server on %s did not come up", addr)
		}
	}
}

// startFleetProc runs `gantry agent --runtime sim` with instances in zones
// a, b and c of cluster, each of cpu units and memory MiB, whose
// containers start after startDelay; it waits until all are connected.
func startFleetProc(b *testing.B, bin, url string, c *ecs.Client, cluster string, instances int, cpu, memory int, startDelay time.Duration) *proc {
	p := startProc(b, "fleet", bin, "agent", "--runtime", "sim", "--instances", strconv.Itoa(instances), "--zones", "a,b,c",
		"--cpu", strconv.Itoa(cpu), "--memory", strconv.Itoa(memory), "--sim-start-delay", startDelay.String(),
		"--cluster", cluster, "--endpoint", url, "--access-key", gt.KeyID+":"+gt.KeySecret, "--region", procRegion,
		"--data-dir", b.TempDir(), "--log-level", "warn")
	waitConnected(b, c, cluster, instances, nil)
	return p
}

// waitConnected waits until instances instances of cluster are connected;
// an error from fleet (nil: none to watch) ends the benchmark at once.
func waitConnected(b *testing.B, c *ecs.Client, cluster string, instances int, fleet <-chan error) {
	t0 := time.Now()
	for {
		n := 0
		p := ecs.NewListContainerInstancesPaginator(c, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster),
			MaxResults: aws.Int32(100), Filter: aws.String("agentConnected == true")})
		for p.HasMorePages() {
			out, err := p.NextPage(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			n += len(out.ContainerInstanceArns)
		}
		if n >= instances {
			break
		}
		if time.Since(t0) > 5*time.Minute {
			b.Fatalf("only %d of %d instances connected after 5 minutes", n, instances)
		}
		select {
		case err := <-fleet:
			b.Fatalf("fleet stopped: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	b.Logf("%d instances registered and connected in %s", instances, time.Since(t0).Round(time.Millisecond))
}

// procClient is an ECS client of the server process at url, configured as
// gantrytest's clients are.
func procClient(url string) *ecs.Client {
	return ecs.NewFromConfig(gt.ConfigFor(url, procRegion))
}
