package main

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agentproto"
)

// startAgentBinary runs `gantry agent` against the server at addr.
func startAgentBinary(t *testing.T, addr, dataDir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, "agent", "--endpoint", "http://"+addr, "--access-key", "AKIDDUR:secret",
		"--data-dir", dataDir, "--pull-policy", "prefer-cached", "--stop-timeout", "2s", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// A `gantry agent` killed with SIGKILL while its task runs comes back with
// the same identity, re-adopts the running container (no second copy) and
// reports the container that exited while it was down, with its exit code.
func TestAgentSurvivesKill9(t *testing.T) {
	if err := imagesOnce(); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startServer(t, t.TempDir(), addr)
	c := client(addr)
	ctx := context.Background()
	dataDir := t.TempDir()
	agentProc := startAgentBinary(t, addr, dataDir)

	var inst string
	for deadline := time.Now().Add(30 * time.Second); inst == ""; time.Sleep(100 * time.Millisecond) {
		out, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
		if err == nil && len(out.ContainerInstanceArns) == 1 {
			inst = out.ContainerInstanceArns[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not register: %v", err)
		}
	}
	agenttest.CleanupLabel(t, agentproto.LabelInstanceArn, inst)

	main := busybox("main", "sleep", "120")
	main.StopTimeout = aws.Int32(1)
	side := busybox("side", "sh", "-c", "sleep 3; exit 7")
	side.Essential = aws.Bool(false)
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("kill9"), ContainerDefinitions: []types.ContainerDefinition{main, side}}); err != nil {
		t.Fatal(err)
	}
	run, err := c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("kill9")})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %v %+v", err, run)
	}
	arn := aws.ToString(run.Tasks[0].TaskArn)
	e := &e2e{t: t, ecs: c, cluster: "default"}
	task := e.waitStatus(arn, agentproto.StatusRunning)
	mainID := ""
	for _, x := range task.Containers {
		if aws.ToString(x.Name) == "main" {
			mainID = aws.ToString(x.RuntimeId)
		}
	}

	agentProc.Process.Signal(syscall.SIGKILL)
	agentProc.Wait()
	time.Sleep(4 * time.Second) // side exits while no agent watches
	startAgentBinary(t, addr, dataDir)

	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{arn}})
		if err != nil {
			t.Fatal(err)
		}
		var sideC, mainC types.Container
		for _, x := range out.Tasks[0].Containers {
			switch aws.ToString(x.Name) {
			case "side":
				sideC = x
			case "main":
				mainC = x
			}
		}
		if aws.ToString(sideC.LastStatus) == agentproto.StatusStopped {
			if sideC.ExitCode == nil || *sideC.ExitCode != 7 {
				t.Errorf("side: exit %v", sideC.ExitCode)
			}
			if aws.ToString(mainC.RuntimeId) != mainID || aws.ToString(mainC.LastStatus) != agentproto.StatusRunning {
				t.Errorf("main after restart: %s %s, want RUNNING %s", aws.ToString(mainC.LastStatus), aws.ToString(mainC.RuntimeId), mainID)
			}
			if s := aws.ToString(out.Tasks[0].LastStatus); s != agentproto.StatusRunning {
				t.Errorf("task after restart: %s", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("side never reported STOPPED after the restart: %+v", sideC)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ci, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{inst}})
	if err != nil || len(ci.ContainerInstances) != 1 || !ci.ContainerInstances[0].AgentConnected {
		t.Fatalf("instance after restart: %v %+v", err, ci)
	}
	if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(arn, agentproto.StatusStopped)
}
