package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// `gantry agent --runtime sim` runs the simulated instances it is asked
// for, with their zones and size, and stops them all on SIGTERM. No
// Docker.
func TestAgentSimFleet(t *testing.T) {
	addr := freeAddr(t)
	startServer(t, t.TempDir(), addr)
	cmd := exec.Command(binary, "agent", "--runtime", "sim", "--instances", "4", "--zones", "x,y",
		"--cpu", "1024", "--memory", "2048", "--sim-start-delay", "10ms",
		"--endpoint", "http://"+addr, "--access-key", "AKIDDUR:secret", "--data-dir", t.TempDir(), "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	ctx := context.Background()
	c := client(addr)
	var arns []string
	for deadline := time.Now().Add(30 * time.Second); len(arns) < 4; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d simulated instances registered after 30s, want 4", len(arns))
		}
		// The default cluster is created by the first registration.
		if out, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{}); err == nil {
			arns = out.ContainerInstanceArns
		}
	}
	d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: arns})
	if err != nil {
		t.Fatal(err)
	}
	zones := map[string]int{}
	for _, ci := range d.ContainerInstances {
		for _, a := range ci.Attributes {
			if aws.ToString(a.Name) == "ecs.availability-zone" {
				zones[aws.ToString(a.Value)]++
			}
		}
		for _, r := range ci.RegisteredResources {
			if n := aws.ToString(r.Name); (n == "CPU" && r.IntegerValue != 1024) || (n == "MEMORY" && r.IntegerValue != 2048) {
				t.Errorf("%s registered %s %d", aws.ToString(ci.Ec2InstanceId), n, r.IntegerValue)
			}
		}
		if !strings.HasPrefix(aws.ToString(ci.Ec2InstanceId), "i-") {
			t.Errorf("ec2InstanceId %q", aws.ToString(ci.Ec2InstanceId))
		}
	}
	if zones["x"] != 2 || zones["y"] != 2 {
		t.Errorf("zones %v, want 2 in x and 2 in y", zones)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("gantry agent --runtime sim on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gantry agent --runtime sim did not stop on SIGTERM")
	}
}

// The simulated runtime's flags are refused without --runtime sim, and an
// unknown runtime is named.
func TestAgentRefusesSimFlagsWithDocker(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--instances", "3", "--zones", "a,b"}, "--instances, --zones only apply to simulated instances"},
		{[]string{"--runtime", "docker", "--cpu", "512"}, "--cpu only apply to simulated instances"},
		{[]string{"--runtime", "sim", "--docker-host", "unix:///x.sock"}, "--docker-host"},
		{[]string{"--runtime", "podman"}, `--runtime "podman" must be docker or sim`},
		{[]string{"--runtime", "sim", "--instances", "0"}, "--instances 0"},
	} {
		args := append([]string{"agent", "--access-key", "a:b", "--data-dir", t.TempDir(), "--endpoint", "http://" + freeAddr(t)}, tc.args...)
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("gantry %s: %v\n%s\nwant an error saying %q", strings.Join(tc.args, " "), err, out, tc.want)
		}
	}
}
