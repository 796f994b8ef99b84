package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	dockerclient "github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agentproto"

	"github.com/gantry-dev/gantry/internal/testlog"
)

// agentFiles is the open-file limit the flooded agent runs with: low, so
// that a bounded flood would exhaust it if the endpoint let it.
const agentFiles = 256

// metadataURI reads a container's ECS_CONTAINER_METADATA_URI_V4 from Docker.
func metadataURI(t *testing.T, id string) string {
	t.Helper()
	cli, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	j, err := cli.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range j.Config.Env {
		if v, ok := strings.CutPrefix(e, "ECS_CONTAINER_METADATA_URI_V4="); ok {
			return v
		}
	}
	t.Fatalf("container %s has no ECS_CONTAINER_METADATA_URI_V4: %v", id, j.Config.Env)
	return ""
}

// holdConnections keeps up to n connections open to addr, each sending the
// start of a request and never finishing it, and opens a new one for each
// the server closes (a tenth of a second later), until stop is closed (or
// 60 s, or 50,000 connections in all, have passed).
func holdConnections(addr string, n int, stop <-chan struct{}) (wait func()) {
	var wg sync.WaitGroup
	var dials atomic.Int64
	deadline := time.Now().Add(60 * time.Second)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for dials.Add(1) <= 50000 && time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				c.Write([]byte("GET /v4/flood HTTP/1.1\r\nHost: x\r\n"))
				closed := make(chan struct{})
				go func() { io.Copy(io.Discard, c); close(closed) }()
				select {
				case <-stop:
					c.Close()
					return
				case <-closed:
					c.Close()
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	return wg.Wait
}

// One task floods the agent's task metadata endpoint, with requests and
// with connections it holds open. The agent answers the excess requests
// with 429, as the ECS agent does; the connections do not take its file
// descriptors, so while the flood lasts it still runs a new task on Docker
// and stays connected; after the burst the task's own requests succeed.
func TestMetadataFloodLeavesAgentWorking(t *testing.T) {
	if err := imagesOnce(); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startServer(t, t.TempDir(), addr)
	cmd := exec.Command("sh", "-c", `ulimit -n "$1" && shift && exec "$@"`, "sh", itoa(agentFiles), binary, "agent",
		"--endpoint", "http://"+addr, "--access-key", "AKIDDUR:secret", "--data-dir", t.TempDir(),
		"--pull-policy", "prefer-cached", "--stop-timeout", "2s", "--log-level", "warn")
	logs := new(testlog.Buffer)
	cmd.Stderr = io.MultiWriter(os.Stderr, logs)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := client(addr)
	ctx := context.Background()
	var inst string
	for deadline := time.Now().Add(30 * time.Second); inst == ""; time.Sleep(100 * time.Millisecond) {
		if out, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{}); err == nil && len(out.ContainerInstanceArns) == 1 {
			inst = out.ContainerInstanceArns[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not register")
		}
	}
	agenttest.CleanupLabel(t, agentproto.LabelInstanceArn, inst)
	app := busybox("app", "sleep", "300")
	app.StopTimeout = aws.Int32(1)
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("flood"), ContainerDefinitions: []types.ContainerDefinition{app}}); err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, ecs: c, cluster: "default"}
	runOne := func() types.Task {
		run, err := c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("flood")})
		if err != nil || len(run.Tasks) != 1 {
			t.Fatalf("RunTask: %v %+v", err, run)
		}
		return e.waitStatus(aws.ToString(run.Tasks[0].TaskArn), agentproto.StatusRunning)
	}
	task := runOne()
	uri := metadataURI(t, aws.ToString(task.Containers[0].RuntimeId))
	get := func(path string) (int, []byte) {
		resp, err := http.Get(uri + path)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	// A burst of requests: beyond the per-task burst, 429.
	var ok, throttled atomic.Int64
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 30 {
				switch code, _ := get(""); code {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusTooManyRequests:
					throttled.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("a burst of 300 requests of one task: %d answered, %d throttled (429)", ok.Load(), throttled.Load())
	if ok.Load() == 0 || throttled.Load() == 0 {
		t.Errorf("a burst of 300 requests of one task: %d answered, %d throttled (429); want both", ok.Load(), throttled.Load())
	}

	// Connections held open, more than the agent has file descriptors:
	// meanwhile the agent still runs a new task and stays connected.
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	wait := holdConnections(u.Host, 2*agentFiles, stop)
	time.Sleep(time.Second)
	second := runOne()
	ci, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{inst}})
	if err != nil || len(ci.ContainerInstances) != 1 || !ci.ContainerInstances[0].AgentConnected {
		t.Errorf("instance during the flood: %v %+v, want its agent connected", err, ci)
	}
	close(stop)
	wait()
	if strings.Contains(logs.String(), "too many open files") {
		t.Errorf("the flood took the agent's file descriptors (limit %d): its log says \"too many open files\"", agentFiles)
	}

	// After the burst, the task's own requests succeed.
	var meta struct{ DockerName, TaskARN string }
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		code, body := get("/task")
		if code == http.StatusOK {
			if err := json.Unmarshal(body, &meta); err != nil || meta.TaskARN != aws.ToString(task.TaskArn) {
				t.Fatalf("task metadata after the flood: %v %s", err, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task's metadata request still fails after the flood: %d %s", code, body)
		}
	}
	for _, x := range []types.Task{task, second} {
		if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Task: x.TaskArn}); err != nil {
			t.Fatal(err)
		}
		e.waitStatus(aws.ToString(x.TaskArn), agentproto.StatusStopped)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
