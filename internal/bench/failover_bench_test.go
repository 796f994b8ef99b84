package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// BenchmarkFailover measures the control plane's failover with embedded
// etcd: three `gantry server` processes whose etcd members form one
// cluster (peers on 127.0.0.1-3, TLS), a simulated fleet of 4 instances
// (`gantry agent --runtime sim`) on the first server, which stays out of
// the services election (--no-service-controller) so that the fleet's
// server is never the one killed. Each iteration kills -9 the server that
// leads the service controller (its etcd member with it) and times, from
// the kill:
//
//   - place: until a RunTask (retried every 25 ms on a live server) is
//     acknowledged with its task placed;
//   - reconcile: until a service scaled up by one at the kill runs its new
//     task (the new leader's service controller did it).
//
// Then it restarts the killed server (its member rejoins from its data)
// before the next iteration. BENCH_LEADER_TTL sets the servers'
// --leader-ttl (default: the server's default).
func BenchmarkFailover(b *testing.B) {
	bin := gantryBinary(b)
	pki := filepath.Join(b.TempDir(), "pki")
	if out, err := exec.Command(bin, "etcd", "init-pki", "--dir", pki).CombinedOutput(); err != nil {
		b.Fatalf("gantry etcd init-pki: %v\n%s", err, out)
	}
	type member struct {
		addr, etcdClient string
		args             []string
		p                *proc
	}
	var peers []string
	ms := make([]*member, 3)
	for i := range ms {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		m := &member{addr: freeAddrOn(b, ip), etcdClient: freeAddrOn(b, ip)}
		peer := freeAddrOn(b, ip)
		name := fmt.Sprintf("s%d", i+1)
		peers = append(peers, name+"=https://"+peer)
		m.args = []string{"server", "--listen", m.addr, "--data-dir", b.TempDir(), "--access-key", gt.KeyID + ":" + gt.KeySecret,
			"--log-level", "error", "--etcd-name", name, "--etcd-pki-dir", pki, "--etcd-peer-listen", peer, "--etcd-client-listen", m.etcdClient}
		if ttl := os.Getenv("BENCH_LEADER_TTL"); ttl != "" {
			m.args = append(m.args, "--leader-ttl", ttl)
		}
		if i == 0 {
			m.args = append(m.args, "--no-service-controller")
		}
		ms[i] = m
	}
	for _, m := range ms {
		m.args = append(m.args, "--etcd-initial-cluster", strings.Join(peers, ","))
		m.p = startProc(b, "server", bin, m.args...)
	}
	for _, m := range ms {
		waitUp(b, m.addr)
	}
	home := procClient("http://" + ms[0].addr)
	const cluster = "failover"
	ctx := context.Background()
	if _, err := home.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		b.Fatal(err)
	}
	startFleetProc(b, bin, "http://"+ms[0].addr, home, cluster, 4, 4096, 4096, 10*time.Millisecond)
	if _, err := home.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("failover"), Cpu: aws.String("128"), Memory: aws.String("128"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("gantry-test/busybox")}},
	}); err != nil {
		b.Fatal(err)
	}
	desired := int32(2)
	if _, err := home.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("failover"), DesiredCount: aws.Int32(desired)}); err != nil {
		b.Fatal(err)
	}
	waitRunning(b, home, cluster, "web", desired)

	eps := []string{"https://" + ms[0].etcdClient, "https://" + ms[1].etcdClient, "https://" + ms[2].etcdClient}
	var place, reconcile []time.Duration
	b.ResetTimer()
	for range b.N {
		leader := electionLeader(b, pki, eps)
		i := slices.IndexFunc(ms, func(m *member) bool { return m.addr == leader })
		if i <= 0 {
			b.Fatalf("the services leader %q is not one of the servers that campaign", leader)
		}
		victim := ms[i]
		desired++
		t0 := time.Now()
		victim.p.cmd.Process.Signal(syscall.SIGKILL)
		victim.p.cmd.Wait()

		placed := make(chan time.Duration, 1)
		go func() {
			for {
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				out, err := home.RunTask(rctx, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: aws.String("failover")})
				cancel()
				if err == nil && len(out.Tasks) == 1 {
					placed <- time.Since(t0)
					home.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: out.Tasks[0].TaskArn})
					return
				}
				time.Sleep(25 * time.Millisecond)
			}
		}()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(25 * time.Millisecond) {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := home.UpdateService(rctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String("web"), DesiredCount: aws.Int32(desired)})
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("UpdateService after the kill: %v", err)
			}
		}
		waitRunning(b, home, cluster, "web", desired)
		reconcile = append(reconcile, time.Since(t0))
		place = append(place, <-placed)

		b.StopTimer()
		victim.p = startProc(b, "server", bin, victim.args...)
		waitUp(b, victim.addr)
		waitRunning(b, home, cluster, "web", desired)
		time.Sleep(2 * time.Second) // let the restarted member catch up
		b.StartTimer()
	}
	b.StopTimer()
	report := func(name string, ds []time.Duration) {
		b.ReportMetric(mean(ds).Seconds(), name+"-s/failover")
		b.ReportMetric(slices.Max(ds).Seconds(), name+"-max-s")
		b.Logf("%s: %v", name, ds)
	}
	report("place", place)
	report("reconcile", reconcile)
}

func mean(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s / time.Duration(len(ds))
}

// freeAddrOn is a free port on the loopback address ip.
func freeAddrOn(b *testing.B, ip string) string {
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitUp(b *testing.B, addr string) {
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("gantry server on %s did not come up", addr)
		}
	}
}

// electionLeader is the address of the server leading the service
// controller, read from its election in etcd.
func electionLeader(b *testing.B, pki string, endpoints []string) string {
	leader, err := gt.ServicesLeader(pki, endpoints, 60*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	return leader
}

// waitRunning waits until the service runs n tasks and none is pending.
func waitRunning(b *testing.B, c *ecs.Client, cluster, name string, n int32) {
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		d, err := c.DescribeServices(rctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
		cancel()
		if err != nil || len(d.Services) != 1 {
			last = fmt.Sprint(err)
			continue
		}
		s := d.Services[0]
		if s.RunningCount == n && s.PendingCount == 0 {
			return
		}
		last = fmt.Sprintf("running %d, pending %d", s.RunningCount, s.PendingCount)
	}
	b.Fatalf("service %s did not run %d tasks in 60s: %s", name, n, last)
}
