package main

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// startSimAgent runs `gantry agent --runtime sim` with one instance.
func startSimAgent(t *testing.T, addr, dataDir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, "agent", "--runtime", "sim", "--instances", "1", "--sim-start-delay", "10ms",
		"--endpoint", "http://"+addr, "--access-key", "AKIDDUR:secret", "--data-dir", dataDir, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// --agent-lost-after sets how long a silent agent's service tasks wait
// before they are stopped and replaced: with 4s, a killed agent's task is
// replaced on the other instance long before ECS's fixed 3 minutes.
func TestServerAgentLostAfter(t *testing.T) {
	addr := freeAddr(t)
	startServer(t, t.TempDir(), addr, "--agent-timeout", "2s", "--agent-lost-after", "4s")
	c := client(addr)
	ctx := context.Background()
	instances := func() []string {
		out, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
		if err != nil {
			return nil
		}
		return out.ContainerInstanceArns
	}
	doomed := startSimAgent(t, addr, t.TempDir())
	for deadline := time.Now().Add(30 * time.Second); len(instances()) != 1; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first simulated instance did not register")
		}
	}
	first := instances()[0]
	if _, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("lost"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("sim/app"), Memory: aws.Int32(64)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("lost"), TaskDefinition: aws.String("lost"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	task := waitServiceTask(t, c, func(task types.Task) bool {
		return aws.ToString(task.LastStatus) == "RUNNING" && aws.ToString(task.ContainerInstanceArn) == first
	})
	doomed.Process.Signal(syscall.SIGKILL)
	doomed.Wait()
	startSimAgent(t, addr, t.TempDir())
	var second string
	for deadline := time.Now().Add(30 * time.Second); second == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second simulated instance did not register")
		}
		for _, arn := range instances() {
			if arn != first {
				second = arn
			}
		}
	}
	waitServiceTask(t, c, func(x types.Task) bool {
		return aws.ToString(x.LastStatus) == "RUNNING" && aws.ToString(x.ContainerInstanceArn) == second
	})
	out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: []string{aws.ToString(task.TaskArn)}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("DescribeTasks: %v %+v", err, out)
	}
	if old := out.Tasks[0]; aws.ToString(old.DesiredStatus) != "STOPPED" || !strings.Contains(aws.ToString(old.StoppedReason), "agent") {
		t.Errorf("the lost agent's task: desired %s, reason %q; want STOPPED because of its agent", aws.ToString(old.DesiredStatus), aws.ToString(old.StoppedReason))
	}
}

// waitServiceTask waits (60 s at most) until a task of service "lost"
// satisfies ok, and returns it.
func waitServiceTask(t *testing.T, c *ecs.Client, ok func(types.Task) bool) types.Task {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		l, err := c.ListTasks(ctx, &ecs.ListTasksInput{ServiceName: aws.String("lost")})
		if err != nil || len(l.TaskArns) == 0 {
			continue
		}
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: l.TaskArns})
		if err != nil {
			continue
		}
		if i := slices.IndexFunc(d.Tasks, ok); i >= 0 {
			return d.Tasks[i]
		}
	}
	t.Fatal("no service task as expected within 60s")
	return types.Task{}
}
