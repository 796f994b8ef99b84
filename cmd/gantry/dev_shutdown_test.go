package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	dockerclient "github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agentproto"

	"github.com/gantry-dev/gantry/internal/testlog"
)

// devProc is a `gantry dev` process run by a test.
type devProc struct {
	cmd    *exec.Cmd
	stdout *testlog.Buffer
	stderr *testlog.Buffer
	ecs    *ecs.Client
	done   chan error
}

// startDev runs `gantry dev` on dataDir and waits until its banner is out.
// The agent keeps its identity only on the same endpoint: a restart uses
// the same address.
func startDev(t *testing.T, addr, dataDir string, extra ...string) *devProc {
	t.Helper()
	args := append([]string{"dev", "--listen", addr, "--data-dir", dataDir}, extra...)
	d := &devProc{cmd: exec.Command(binary, args...), stdout: new(testlog.Buffer), stderr: new(testlog.Buffer), done: make(chan error, 1)}
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
	})
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(d.stdout.String(), "Ctrl-C"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gantry dev did not start:\n%s\n%s", d.stdout, d.stderr)
		}
	}
	d.ecs = ecs.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String("http://" + addr),
	})
	return d
}

// interrupt sends SIGINT and returns the exit error (nil for exit 0).
func (d *devProc) interrupt(t *testing.T) error {
	t.Helper()
	d.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-d.done:
		d.done <- err // for the cleanup
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("gantry dev still running a minute after SIGINT:\n%s\n%s", d.stdout, d.stderr)
		return nil
	}
}

// waitTask waits until the task's lastStatus is status.
func (d *devProc) waitTask(t *testing.T, arn, status string) types.Task {
	t.Helper()
	var last types.Task
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, err := d.ecs.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Tasks: []string{arn}})
		if err == nil && len(out.Tasks) == 1 {
			last = out.Tasks[0]
			if aws.ToString(last.LastStatus) == status {
				return last
			}
		}
	}
	t.Fatalf("task %s never %s: last %s (%s)", arn, status, aws.ToString(last.LastStatus), aws.ToString(last.StoppedReason))
	return last
}

// runSleeper registers and runs a task whose container sleeps, and waits
// until it runs.
func (d *devProc) runSleeper(t *testing.T) types.Task {
	t.Helper()
	ctx := context.Background()
	def := busybox("app", "sleep", "300")
	def.StopTimeout = aws.Int32(1)
	if _, err := d.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("devexit"), ContainerDefinitions: []types.ContainerDefinition{def}}); err != nil {
		t.Fatal(err)
	}
	run, err := d.ecs.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("devexit")})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, run)
	}
	arn := aws.ToString(run.Tasks[0].TaskArn)
	agenttest.CleanupLabel(t, agentproto.LabelTaskArn, arn)
	return d.waitTask(t, arn, agentproto.StatusRunning)
}

// containerRunning says whether Docker runs the container.
func containerRunning(t *testing.T, id string) bool {
	t.Helper()
	cli, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	j, err := cli.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatalf("inspect %s: %v", id, err)
	}
	return j.State.Running
}

// wantCleanExit checks that `gantry dev` exited 0 after SIGINT without
// etcd's raw JSON log lines, saying in one line what became of its tasks.
func wantCleanExit(t *testing.T, d *devProc, err error, say string) {
	t.Helper()
	if err != nil {
		t.Errorf("gantry dev after SIGINT: %v, want exit 0\nstderr:\n%s", err, d.stderr)
	}
	if strings.Contains(d.stderr.String(), `{"level"`) {
		t.Errorf("gantry dev printed etcd's raw JSON logs on Ctrl-C:\n%s", d.stderr)
	}
	if !strings.Contains(d.stdout.String()+d.stderr.String(), say) {
		t.Errorf("gantry dev did not say %q on exit:\nstdout:\n%s\nstderr:\n%s", say, d.stdout, d.stderr)
	}
}

// Ctrl-C of `gantry dev` exits 0, quietly, and leaves its task's container
// running; the next `gantry dev` on the data dir re-adopts it.
func TestDevCtrlCKeepsTasksForTheNextStart(t *testing.T) {
	if err := imagesOnce(); err != nil {
		t.Fatal(err)
	}
	dataDir, addr := t.TempDir(), freeAddr(t)
	d := startDev(t, addr, dataDir)
	task := d.runSleeper(t)
	id := aws.ToString(task.Containers[0].RuntimeId)
	err := d.interrupt(t)
	wantCleanExit(t, d, err, "keep running")
	if !containerRunning(t, id) {
		t.Fatalf("the task's container %s stopped with gantry dev", id)
	}
	d2 := startDev(t, addr, dataDir)
	again := d2.waitTask(t, aws.ToString(task.TaskArn), agentproto.StatusRunning)
	if got := aws.ToString(again.Containers[0].RuntimeId); got != id {
		t.Fatalf("after the restart the task runs container %s, want the re-adopted %s", got, id)
	}
	wantCleanExit(t, d2, d2.interrupt(t), "keep running")
}

// With --stop-tasks-on-exit, Ctrl-C stops the tasks first: the container
// is gone and the task is STOPPED when dev starts again.
func TestDevCtrlCStopsTasksOnExit(t *testing.T) {
	if err := imagesOnce(); err != nil {
		t.Fatal(err)
	}
	dataDir, addr := t.TempDir(), freeAddr(t)
	d := startDev(t, addr, dataDir, "--stop-tasks-on-exit")
	task := d.runSleeper(t)
	id := aws.ToString(task.Containers[0].RuntimeId)
	wantCleanExit(t, d, d.interrupt(t), "tasks were stopped first")
	if containerRunning(t, id) {
		t.Fatalf("the task's container %s still runs after gantry dev --stop-tasks-on-exit exited", id)
	}
	d2 := startDev(t, addr, dataDir)
	stopped := d2.waitTask(t, aws.ToString(task.TaskArn), agentproto.StatusStopped)
	if c := stopped.Containers[0]; c.ExitCode == nil {
		t.Errorf("the stopped container has no exit code: %+v", c)
	}
}
