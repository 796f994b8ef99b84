package main

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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/gantrytest"
)

// haServer is one `gantry server` of a cluster whose embedded etcd members
// are its peers.
type haServer struct {
	name, addr, etcdClient string
	args                   []string
	cmd                    *exec.Cmd
}

// freeAddrOn is a free port on the loopback address ip.
func freeAddrOn(t *testing.T, ip string) string {
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startHACluster starts n servers on 127.0.0.1..n, whose embedded etcd
// members form one cluster with the certificate authority in pki, and waits
// until each answers.
func startHACluster(t *testing.T, n int, pki string) []*haServer {
	var peers []string
	servers := make([]*haServer, n)
	for i := range servers {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		s := &haServer{name: fmt.Sprintf("s%d", i+1), addr: freeAddrOn(t, ip), etcdClient: freeAddrOn(t, ip)}
		peer := freeAddrOn(t, ip)
		peers = append(peers, s.name+"=https://"+peer)
		s.args = []string{"server", "--listen", s.addr, "--data-dir", t.TempDir(), "--access-key", "AKIDDUR:secret", "--log-level", "warn",
			"--etcd-name", s.name, "--etcd-pki-dir", pki, "--etcd-peer-listen", peer, "--etcd-client-listen", s.etcdClient}
		servers[i] = s
	}
	for _, s := range servers {
		s.args = append(s.args, "--etcd-initial-cluster", strings.Join(peers, ","))
		s.start(t)
	}
	for _, s := range servers {
		s.waitUp(t)
	}
	return servers
}

func (s *haServer) start(t *testing.T) {
	cmd := exec.Command(binary, s.args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

func (s *haServer) waitUp(t *testing.T) {
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + s.addr + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gantry server %s on %s did not come up", s.name, s.addr)
		}
	}
}

func (s *haServer) kill9() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

// servicesLeader returns the HTTP address of the server that leads the
// service controller, read from the election in etcd through the members'
// client endpoints.
func servicesLeader(t *testing.T, pki string, servers []*haServer) string {
	var eps []string
	for _, s := range servers {
		eps = append(eps, "https://"+s.etcdClient)
	}
	leader, err := gantrytest.ServicesLeader(pki, eps, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return leader
}

// startSimFleet runs `gantry agent --runtime sim` for cluster against the
// server at addr and waits until its instances are registered.
func startSimFleet(t *testing.T, addr, cluster string, instances, cpu int) {
	cmd := exec.Command(binary, "agent", "--runtime", "sim", "--instances", fmt.Sprint(instances), "--cpu", fmt.Sprint(cpu),
		"--memory", "4096", "--sim-start-delay", "10ms", "--cluster", cluster, "--endpoint", "http://"+addr,
		"--access-key", "AKIDDUR:secret", "--data-dir", t.TempDir(), "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := client(addr)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := c.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
		if err == nil && len(out.ContainerInstanceArns) == instances {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the simulated fleet of %s did not register: %v", cluster, err)
		}
	}
}

// TestKill9LeaderAndMemberUnderLoad runs three servers whose embedded etcd
// members form one cluster, under a bounded RunTask load from the SDK on a
// fleet too small for it, and kills -9 first the service controller's
// leader, then (once it is back) another member, then pauses the leader of
// the moment past its lease. Every acknowledged task exists once; no
// instance is committed beyond its resources; the service keeps exactly
// its desired tasks (no second set, no stale write by a deposed leader),
// and a new leader reconciles its changes after each failure.
func TestKill9LeaderAndMemberUnderLoad(t *testing.T) {
	ctx := context.Background()
	pki := filepath.Join(t.TempDir(), "pki")
	if out, err := exec.Command(binary, "etcd", "init-pki", "--dir", pki).CombinedOutput(); err != nil {
		t.Fatalf("gantry etcd init-pki: %v\n%s", err, out)
	}
	servers := startHACluster(t, 3, pki)
	leader := servicesLeader(t, pki, servers)
	// The agents talk to a server that is never killed.
	var home *haServer
	var others []*haServer
	for _, s := range servers {
		if s.addr != leader && home == nil {
			home = s
		} else {
			others = append(others, s)
		}
	}
	if others[0].addr != leader {
		others[0], others[1] = others[1], others[0]
	}
	first, second := others[0], others[1] // the leader, then another member
	const loadCluster, svcCluster = "load", "svc"
	hc := retryingClient(home.addr)
	for _, cl := range []string{loadCluster, svcCluster} {
		if _, err := hc.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cl)}); err != nil {
			t.Fatal(err)
		}
	}
	// 3 instances of 256 CPU units hold 6 tasks of 128: the load asks for
	// more, so that an over-commit would show.
	startSimFleet(t, home.addr, loadCluster, 3, 256)
	startSimFleet(t, home.addr, svcCluster, 2, 1024)
	if _, err := hc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("chaos"), Cpu: aws.String("128"), Memory: aws.String("128"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("gantry-test/busybox")}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := hc.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(svcCluster), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("chaos"), DesiredCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	waitService(t, hc, svcCluster, "web", 2)

	// The load: two clients, each a RunTask every 200 ms to the live
	// servers in turn (100 calls at most), each stopping its oldest task
	// when it holds 4, or 2 and a task found no room: up to 8 tasks wanted
	// on room for 6, and the cluster stays full.
	var mu sync.Mutex
	live := []*haServer{home, first, second}
	acked := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var held []string
			for i := 0; i < 50; i++ {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				mu.Lock()
				s := live[(w+i)%len(live)]
				mu.Unlock()
				c := client(s.addr)
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				out, err := c.RunTask(rctx, &ecs.RunTaskInput{Cluster: aws.String(loadCluster), TaskDefinition: aws.String("chaos")})
				if err == nil {
					mu.Lock()
					for _, task := range out.Tasks {
						acked[aws.ToString(task.TaskArn)]++
						held = append(held, aws.ToString(task.TaskArn))
					}
					mu.Unlock()
				}
				if len(held) >= 4 || (err == nil && len(out.Tasks) == 0 && len(held) > 1) {
					if _, err := c.StopTask(rctx, &ecs.StopTaskInput{Cluster: aws.String(loadCluster), Task: aws.String(held[0])}); err == nil {
						held = held[1:]
					}
				}
				cancel()
			}
		}()
	}
	without := func(dead *haServer) {
		mu.Lock()
		defer mu.Unlock()
		live = slicesDelete(live, dead)
	}

	time.Sleep(time.Second)
	without(first)
	first.kill9()
	scale(t, hc, svcCluster, "web", 4)
	waitService(t, hc, svcCluster, "web", 4)

	first.start(t)
	first.waitUp(t)
	mu.Lock()
	live = append(live, first)
	mu.Unlock()
	without(second)
	second.kill9()
	scale(t, retryingClient(first.addr), svcCluster, "web", 6)
	waitService(t, hc, svcCluster, "web", 6)

	// The member comes back; then the services leader is paused (SIGSTOP)
	// past its lease, another takes over and scales the service, and the
	// old one wakes up with its stale view of the service: its writes are
	// fenced, so the service keeps the new leader's count.
	second.start(t)
	second.waitUp(t)
	mu.Lock()
	live = append(live, second)
	mu.Unlock()
	paused := servers[slices.IndexFunc(servers, func(s *haServer) bool { return s.addr == servicesLeader(t, pki, servers) })]
	var other *haServer
	for _, s := range servers {
		if s != paused && other == nil {
			other = s
		}
	}
	without(paused)
	paused.cmd.Process.Signal(syscall.SIGSTOP)
	for deadline := time.Now().Add(60 * time.Second); servicesLeader(t, pki, servers) == paused.addr; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the paused leader kept its leadership for 60s")
		}
	}
	oc := retryingClient(other.addr)
	scale(t, oc, svcCluster, "web", 8)
	// The new leader places the tasks (they run once the fleet's server,
	// if it is the one paused, wakes up).
	for deadline := time.Now().Add(60 * time.Second); len(listServiceTasks(t, oc, svcCluster, types.DesiredStatusRunning)) != 8; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the new leader did not place the service's 8 tasks in 60s")
		}
	}
	paused.cmd.Process.Signal(syscall.SIGCONT)
	mu.Lock()
	live = append(live, paused)
	mu.Unlock()
	time.Sleep(2 * time.Second) // the woken leader's window to write
	waitService(t, oc, svcCluster, "web", 8)
	close(stop)
	wg.Wait()

	// Every acknowledged task exists, once.
	var all []string
	for _, desired := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
		p := ecs.NewListTasksPaginator(hc, &ecs.ListTasksInput{Cluster: aws.String(loadCluster), DesiredStatus: desired})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, out.TaskArns...)
		}
	}
	seen := map[string]int{}
	for _, a := range all {
		seen[a]++
	}
	for a, n := range acked {
		if n != 1 || seen[a] != 1 {
			t.Errorf("acknowledged task %s: acknowledged %d times, listed %d times", a, n, seen[a])
		}
	}
	if len(acked) == 0 {
		t.Fatal("no RunTask was acknowledged")
	}
	// No instance is committed beyond what it registered, and what it has
	// left is what its tasks not yet stopped take (once the stops the load
	// asked for are done).
	var used map[string]int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		used = map[string]int{}
		stopping := 0
		for i := 0; i < len(all); i += 100 {
			d, err := hc.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(loadCluster), Tasks: all[i:min(i+100, len(all))]})
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range d.Tasks {
				switch {
				case aws.ToString(task.DesiredStatus) == "RUNNING":
					used[aws.ToString(task.ContainerInstanceArn)] += 128
				case aws.ToString(task.LastStatus) != "STOPPED":
					stopping++
				}
			}
		}
		if stopping == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d stopped tasks still stopping after 60s", stopping)
		}
	}
	insts, err := hc.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(loadCluster)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := hc.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(loadCluster), ContainerInstances: insts.ContainerInstanceArns})
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range d.ContainerInstances {
		arn := aws.ToString(ci.ContainerInstanceArn)
		remaining := resource(ci.RemainingResources, "CPU")
		if used[arn] > 256 || remaining < 0 || remaining != 256-used[arn] {
			t.Errorf("instance %s: its running tasks take %d CPU of 256, it has %d left", arn, used[arn], remaining)
		}
	}
	t.Logf("%d RunTask tasks acknowledged, %d tasks in the cluster, %d CPU units of 768 held at the end", len(acked), len(all), sum(used))
	// The service has exactly its tasks: no leader started a second set.
	if n := len(listServiceTasks(t, hc, svcCluster, types.DesiredStatusRunning)) + len(listServiceTasks(t, hc, svcCluster, types.DesiredStatusStopped)); n != 8 {
		t.Errorf("the service has %d tasks in all, want 8", n)
	}
}

// retryingClient is a client of the server at addr that retries what
// never reached an answer and 5xx faults (an etcd leader change), as the
// SDK does by default; the load's client does not retry, so that what it
// counts as acknowledged was answered once.
func retryingClient(addr string) *ecs.Client {
	return ecs.New(ecs.Options{}, func(o *ecs.Options) {
		*o = client(addr).Options()
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = 5; so.RateLimiter = ratelimit.None })
	})
}

func slicesDelete(l []*haServer, s *haServer) []*haServer {
	out := l[:0:0]
	for _, x := range l {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func resource(rs []types.Resource, name string) int {
	for _, r := range rs {
		if aws.ToString(r.Name) == name {
			return int(r.IntegerValue)
		}
	}
	return -1
}

func scale(t *testing.T, c *ecs.Client, cluster, name string, n int32) {
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, err := c.UpdateService(context.Background(), &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), DesiredCount: aws.Int32(n)})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("scale %s to %d: %v", name, n, err)
		}
	}
}

// waitService waits until the service runs n tasks, has no other task
// wanted running, and is steady.
func waitService(t *testing.T, c *ecs.Client, cluster, name string, n int32) {
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		d, err := c.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
		if err != nil || len(d.Services) != 1 {
			last = fmt.Sprint(err)
			continue
		}
		svc := d.Services[0]
		running, err := c.ListTasks(context.Background(), &ecs.ListTasksInput{Cluster: aws.String(cluster), DesiredStatus: types.DesiredStatusRunning, MaxResults: aws.Int32(100)})
		if err != nil {
			last = fmt.Sprint(err)
			continue
		}
		last = fmt.Sprintf("running %d, pending %d, %d tasks wanted running", svc.RunningCount, svc.PendingCount, len(running.TaskArns))
		if svc.RunningCount == n && svc.PendingCount == 0 && len(running.TaskArns) == int(n) {
			return
		}
	}
	t.Fatalf("service %s did not reach %d tasks in 60s: %s", name, n, last)
}

func listServiceTasks(t *testing.T, c *ecs.Client, cluster string, desired types.DesiredStatus) []string {
	out, err := c.ListTasks(context.Background(), &ecs.ListTasksInput{Cluster: aws.String(cluster), DesiredStatus: desired, MaxResults: aws.Int32(100)})
	if err != nil {
		t.Fatal(err)
	}
	return out.TaskArns
}
