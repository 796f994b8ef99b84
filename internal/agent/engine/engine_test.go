package engine_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/engine"
	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// A busybox httpd task is reachable on the dynamic host port Docker picked
// on 127.0.0.1, and StopTask stops it with the control plane's reason.
func TestWebTaskOnDynamicPort(t *testing.T) {
	h := newHarness(t, nil)
	web := ctr("web", "httpd", "-f", "-p", "80", "-h", "/var/www")
	web.PortMappings = []ecswire.PortMapping{{ContainerPort: ptr(int32(80))}}
	web.LinuxParameters = &ecswire.LinuxParameters{InitProcessEnabled: ptr(true)}
	web.Memory = ptr(int32(64))
	a := h.run(task("web", web))

	sc := h.wait(a, agentproto.StatusRunning, 30*time.Second)
	if sc.PullStartedAt == nil || sc.PullStoppedAt == nil {
		t.Errorf("RUNNING report lacks pull timestamps: %+v", sc)
	}
	c := container(t, sc, "web")
	if c.RuntimeID == "" || len(c.NetworkBindings) != 1 {
		t.Fatalf("container report: %+v", c)
	}
	b := c.NetworkBindings[0]
	if b.BindIP != "127.0.0.1" || *b.ContainerPort != 80 || *b.HostPort == 0 || b.Protocol != "tcp" {
		t.Fatalf("binding: %+v", b)
	}
	body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", *b.HostPort))
	if body != "hello from gantry\n" {
		t.Fatalf("GET: %q", body)
	}

	start := time.Now()
	h.stopTask(a, "Task stopped by the test")
	sc = h.wait(a, agentproto.StatusStopped, 30*time.Second)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop with --init took %s", d)
	}
	if sc.Reason != "Task stopped by the test" || sc.StopCode != agentproto.StopCodeUserInitiated || sc.ExecutionStoppedAt == nil {
		t.Errorf("STOPPED report: %+v", sc)
	}
	if c := container(t, sc, "web"); c.Status != agentproto.StatusStopped || c.ExitCode == nil {
		t.Errorf("container after stop: %+v", c)
	}
	if m := h.eng.Manifest(); len(m) != 1 || m[0].KnownStatus != agentproto.StatusStopped {
		t.Errorf("manifest: %+v", m)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	var lastErr error
	for i := 0; i < 50; i++ {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return ""
}

// A container that ignores SIGTERM (sleep as PID 1) is killed after its
// stopTimeout (exit 137); one that traps SIGTERM exits with its own code.
func TestStopTimeoutSigtermThenSigkill(t *testing.T) {
	h := newHarness(t, nil)
	stubborn := ctr("stubborn", "sleep", "60")
	stubborn.StopTimeout = ptr(int32(2))
	polite := ctr("polite", "sh", "-c", "trap 'exit 3' TERM; while true; do sleep 0.1; done")
	polite.StopTimeout = ptr(int32(20))
	a := h.run(task("stop", stubborn, polite))
	h.wait(a, agentproto.StatusRunning, 30*time.Second)
	time.Sleep(500 * time.Millisecond) // let sh install its trap: PID 1 ignores SIGTERM until then

	start := time.Now()
	h.stopTask(a, "stop test")
	sc := h.wait(a, agentproto.StatusStopped, 30*time.Second)
	d := time.Since(start)
	if d < 2*time.Second || d > 10*time.Second {
		t.Errorf("stop took %s; want about the 2s stopTimeout", d)
	}
	if c := container(t, sc, "stubborn"); c.ExitCode == nil || *c.ExitCode != 137 {
		t.Errorf("stubborn: %+v, want SIGKILL's 137", c)
	}
	if c := container(t, sc, "polite"); c.ExitCode == nil || *c.ExitCode != 3 {
		t.Errorf("polite: %+v, want 3 from its TERM trap", c)
	}
}

// A non-essential container's exit leaves the task running (and is
// reported); an essential one's stops the task with ECS's reason, and the
// other containers are stopped.
func TestEssentialAndNonEssentialExits(t *testing.T) {
	h := newHarness(t, nil)
	side := ctr("side", "sh", "-c", "exit 5")
	side.Essential = ptr(false)
	main := ctr("main", "sh", "-c", "sleep 2; exit 3")
	other := ctr("other", "sleep", "60")
	other.StopTimeout = ptr(int32(1))
	a := h.run(task("exits", side, main, other))

	sc := h.rec.Wait(t, a.TaskArn, 30*time.Second, containerIs("side", agentproto.StatusStopped))
	if sc.Status == agentproto.StatusStopped {
		t.Fatalf("the task stopped with its non-essential container: %+v", sc)
	}
	if c := container(t, sc, "side"); *c.ExitCode != 5 {
		t.Errorf("side: %+v", c)
	}
	sc = h.wait(a, agentproto.StatusStopped, 30*time.Second)
	if sc.Reason != engine.ReasonEssentialExited || sc.StopCode != agentproto.StopCodeEssentialContainerExited {
		t.Errorf("reason %q code %q", sc.Reason, sc.StopCode)
	}
	if c := container(t, sc, "main"); *c.ExitCode != 3 {
		t.Errorf("main: %+v", c)
	}
	if c := container(t, sc, "other"); c.Status != agentproto.StatusStopped || *c.ExitCode != 137 {
		t.Errorf("other: %+v", c)
	}
	// Reports for one task arrive in order: never RUNNING after STOPPED.
	seen := false
	for _, c := range h.rec.Changes(a.TaskArn) {
		if seen && c.Status != agentproto.StatusStopped {
			t.Errorf("report %s after STOPPED", c.Status)
		}
		seen = seen || c.Status == agentproto.StatusStopped
	}
}

// dependsOn: web starts only after init succeeded and db is HEALTHY; the
// task's health rolls up from its containers'.
func TestDependsOnOrderingWithHealthy(t *testing.T) {
	h := newHarness(t, nil)
	initC := ctr("init", "sh", "-c", "sleep 1; exit 0")
	initC.Essential = ptr(false)
	db := ctr("db", "sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 60")
	db.HealthCheck = &ecswire.HealthCheck{Command: []string{"CMD-SHELL", "test -f /tmp/ready"}, Interval: ptr(int32(1)), Timeout: ptr(int32(1)), Retries: ptr(int32(3))}
	db.StopTimeout = ptr(int32(1))
	web := ctr("web", "sleep", "60")
	web.StopTimeout = ptr(int32(1))
	web.DependsOn = []ecswire.ContainerDependency{{ContainerName: "init", Condition: "SUCCESS"}, {ContainerName: "db", Condition: "HEALTHY"}}
	a := h.run(task("deps", web, db, initC))

	running := h.wait(a, agentproto.StatusRunning, 60*time.Second)
	if c := container(t, running, "db"); c.HealthStatus != engine.HealthHealthy {
		t.Errorf("db at task RUNNING: %+v", c)
	}
	if c := container(t, running, "init"); c.Status != agentproto.StatusStopped || *c.ExitCode != 0 {
		t.Errorf("init at task RUNNING: %+v", c)
	}
	if running.HealthStatus != engine.HealthHealthy {
		t.Errorf("task health %s", running.HealthStatus)
	}
	// web was PENDING in every report before db was HEALTHY.
	for _, sc := range h.rec.Changes(a.TaskArn) {
		if container(t, sc, "db").HealthStatus != engine.HealthHealthy && container(t, sc, "web").Status != agentproto.StatusPending {
			t.Errorf("web %s before db was healthy", container(t, sc, "web").Status)
		}
	}
	st, ok := h.eng.Task(a.TaskArn)
	if !ok {
		t.Fatal("task unknown to the engine")
	}
	var dbStarted, webStarted time.Time
	for _, c := range st.Containers {
		switch c.Name {
		case "db":
			dbStarted = *c.StartedAt
		case "web":
			webStarted = *c.StartedAt
		}
	}
	if webStarted.Sub(dbStarted) < 2*time.Second {
		t.Errorf("web started %s after db; db needs 2s to become healthy", webStarted.Sub(dbStarted))
	}
	h.stopTask(a, "done")
	h.wait(a, agentproto.StatusStopped, 30*time.Second)
}

// A dependency that can never be met (SUCCESS of a container that fails)
// stops the task with a reason that says so.
func TestDependencyNeverMet(t *testing.T) {
	h := newHarness(t, nil)
	bad := ctr("migrate", "sh", "-c", "exit 1")
	bad.Essential = ptr(false)
	app := ctr("app", "sleep", "60")
	app.DependsOn = []ecswire.ContainerDependency{{ContainerName: "migrate", Condition: "SUCCESS"}}
	a := h.run(task("never", bad, app))
	sc := h.wait(a, agentproto.StatusStopped, 30*time.Second)
	if !strings.Contains(sc.Reason, "DependencyNeverMet") || !strings.Contains(sc.Reason, "exited with code 1") || sc.StopCode != agentproto.StopCodeTaskFailedToStart {
		t.Errorf("reason %q code %q", sc.Reason, sc.StopCode)
	}
	if c := container(t, sc, "app"); c.Status != agentproto.StatusStopped || c.RuntimeID != "" {
		t.Errorf("app should never have been created: %+v", c)
	}
}

// A container that allocates past its memory limit is OOM-killed and
// reported with exit code 137 and ECS's reason.
func TestOOMKill(t *testing.T) {
	h := newHarness(t, nil)
	hog := ctr("hog", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
	hog.Memory = ptr(int32(16))
	hog.LinuxParameters = &ecswire.LinuxParameters{MaxSwap: ptr(int32(0))}
	a := h.run(task("oom", hog))
	sc := h.wait(a, agentproto.StatusStopped, 30*time.Second)
	c := container(t, sc, "hog")
	if c.ExitCode == nil || *c.ExitCode != 137 || c.Reason != engine.ReasonOutOfMemory {
		t.Errorf("hog: %+v", c)
	}
}

// A task definition member the agent cannot honour fails the task with a
// reason naming it; nothing is created.
func TestUnsupportedMemberFailsTask(t *testing.T) {
	h := newHarness(t, nil)
	c := ctr("app", "true")
	c.Secrets = []ecswire.Secret{{Name: "X", ValueFrom: "arn:aws:ssm:us-east-1:000000000000:parameter/x"}}
	a := h.run(task("unsupported", c))
	sc := h.wait(a, agentproto.StatusStopped, 10*time.Second)
	if !strings.Contains(sc.Reason, "container app: secrets") || sc.StopCode != agentproto.StopCodeTaskFailedToStart {
		t.Errorf("reason %q", sc.Reason)
	}
}

// A task-scoped Docker volume is shared by two containers, and a host bind
// mount is read-only when asked; both are gone after cleanup.
func TestVolumes(t *testing.T) {
	h := newHarness(t, func(c *engine.Config) { c.CleanupWait = 0 })
	dir := t.TempDir()
	writer := ctr("writer", "sh", "-c", "echo shared > /data/f && cat /host/hello > /data/g")
	writer.Essential = ptr(false)
	writer.MountPoints = []ecswire.MountPoint{{SourceVolume: "data", ContainerPath: "/data"}, {SourceVolume: "host", ContainerPath: "/host", ReadOnly: ptr(true)}}
	reader := ctr("reader", "sh", "-c", "test \"$(cat /data/f)\" = shared && test \"$(cat /data/g)\" = hi && ! touch /host/x 2>/dev/null")
	reader.MountPoints = []ecswire.MountPoint{{SourceVolume: "data", ContainerPath: "/data"}, {SourceVolume: "host", ContainerPath: "/host"}}
	reader.DependsOn = []ecswire.ContainerDependency{{ContainerName: "writer", Condition: "SUCCESS"}}
	reader.MountPoints[1].ReadOnly = ptr(true)
	a := task("vols", writer, reader)
	a.Definition.Volumes = []ecswire.Volume{
		{Name: "data", DockerVolumeConfiguration: &ecswire.DockerVolumeConfiguration{Scope: "task", Driver: "local"}},
		{Name: "host", Host: &ecswire.HostVolumeProperties{SourcePath: dir}},
	}
	if err := writeFile(dir+"/hello", "hi"); err != nil {
		t.Fatal(err)
	}
	h.run(a)
	sc := h.wait(a, agentproto.StatusStopped, 30*time.Second)
	if c := container(t, sc, "reader"); c.ExitCode == nil || *c.ExitCode != 0 {
		t.Fatalf("reader: %+v", c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := h.eng.Task(a.TaskArn)
		if st != nil && st.CleanedUp {
			if len(st.Volumes) != 1 {
				t.Errorf("task volumes: %v", st.Volumes)
			}
			ok, err := h.docker.VolumeExists(context.Background(), st.Volumes[0])
			if err != nil || ok {
				t.Errorf("task volume %s still exists (%v)", st.Volumes[0], err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("task not cleaned up")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// In host mode each container port is the host port; in none mode the
// container has no network and no bindings.
func TestHostAndNoneNetworkModes(t *testing.T) {
	h := newHarness(t, nil)
	c := ctr("app", "sleep", "60")
	c.StopTimeout = ptr(int32(1))
	c.PortMappings = []ecswire.PortMapping{{ContainerPort: ptr(int32(18080))}}
	host := task("hostmode", c)
	host.Definition.NetworkMode = "host"
	h.run(host)
	n := ctr("app", "sh", "-c", "! wget -q -O /dev/null http://127.0.0.1:1/ 2>/dev/null; test \"$(ls /sys/class/net)\" = lo")
	none := task("nonemode", n)
	none.Definition.NetworkMode = "none"
	h.run(none)

	sc := h.wait(host, agentproto.StatusRunning, 30*time.Second)
	b := container(t, sc, "app").NetworkBindings
	if len(b) != 1 || *b[0].HostPort != 18080 || *b[0].ContainerPort != 18080 {
		t.Errorf("host mode bindings: %+v", b)
	}
	sc = h.wait(none, agentproto.StatusStopped, 30*time.Second)
	if c := container(t, sc, "app"); c.ExitCode == nil || *c.ExitCode != 0 || len(c.NetworkBindings) != 0 {
		t.Errorf("none mode: %+v", c)
	}
	h.stopTask(host, "done")
	h.wait(host, agentproto.StatusStopped, 20*time.Second)
}

// TestRunningInOneReport: a task reaches RUNNING in the same report as its
// last container, never as "container RUNNING, task PENDING" first (one
// SubmitTaskStateChange less per task).
func TestRunningInOneReport(t *testing.T) {
	h := newHarness(t, nil)
	a := h.run(task("one-report", ctr("app", "sleep", "60")))
	h.wait(a, "RUNNING", 60*time.Second)
	for _, ch := range h.rec.Changes(a.TaskArn) {
		for _, c := range ch.Containers {
			if c.Status == "RUNNING" && ch.Status != "RUNNING" {
				t.Fatalf("reported container RUNNING with the task %s: %+v", ch.Status, ch)
			}
		}
	}
}
