package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-dev/gantry/internal/dirlock"
)

// runToExit runs the binary and returns its combined output once it exits;
// the test fails if it is still running after wait (it is then killed).
func runToExit(t *testing.T, wait time.Duration, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(wait):
		cmd.Process.Kill()
		<-done
		t.Fatalf("gantry %s was still running after %s (it should refuse the data dir in use at once); output:\n%s",
			strings.Join(args, " "), wait, out.String())
		return "", nil
	}
}

// waitPrinted reads r until a line contains want (30 s at most), then keeps
// draining it in the background.
func waitPrinted(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before %q:\n%s", want, strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if strings.Contains(l, want) {
				go func() {
					for range lines {
					}
				}()
				return strings.Join(seen, "\n")
			}
		case <-timeout:
			t.Fatalf("no %q within 30s:\n%s", want, strings.Join(seen, "\n"))
		}
	}
}

// wantInUse checks that a second process failed naming the directory and
// the first process's pid.
func wantInUse(t *testing.T, out string, err error, dir string, pid int) {
	t.Helper()
	if err == nil {
		t.Fatalf("the second process exited 0; output:\n%s", out)
	}
	for _, want := range []string{dir, "in use", "pid " + strconv.Itoa(pid)} {
		if !strings.Contains(out, want) {
			t.Errorf("the second process's output does not say %q:\n%s", want, out)
		}
	}
}

// Two agents on one data dir would overwrite each other's checkpoint: the
// second fails at once, naming the directory and the first one's pid, and
// the first keeps running.
func TestSecondAgentOnDataDirFails(t *testing.T) {
	addr := freeAddr(t)
	startServer(t, t.TempDir(), addr)
	dataDir := t.TempDir()
	first := startAgentBinary(t, addr, dataDir)
	c := client(addr)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := c.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{})
		if err == nil && len(out.ContainerInstanceArns) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first agent did not register: %v", err)
		}
	}
	out, err := runToExit(t, 20*time.Second, "agent", "--endpoint", "http://"+addr, "--access-key", "AKIDDUR:secret",
		"--data-dir", dataDir, "--log-level", "warn")
	wantInUse(t, out, err, dataDir, first.Process.Pid)
	if err := first.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the first agent died: %v", err)
	}
	l, err := c.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{})
	if err != nil || len(l.ContainerInstanceArns) != 1 {
		t.Fatalf("instances after the second agent: %v %v, want the first one only", err, l)
	}
}

// A second server on a data dir in use fails at once (it used to wait
// forever on the embedded etcd's file lock).
func TestSecondServerOnDataDirFails(t *testing.T) {
	dataDir := t.TempDir()
	first := startServer(t, dataDir, freeAddr(t))
	out, err := runToExit(t, 20*time.Second, "server", "--listen", freeAddr(t), "--data-dir", dataDir, "--access-key", "AKIDDUR:secret")
	wantInUse(t, out, err, dataDir, first.Process.Pid)
}

// The same for `gantry dev`: a second one on the first one's data dir fails
// at once.
func TestSecondDevOnDataDirFails(t *testing.T) {
	dataDir := t.TempDir()
	first := exec.Command(binary, "dev", "--no-agent", "--listen", freeAddr(t), "--data-dir", dataDir, "--log-level", "warn")
	stdout, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	first.Stderr = os.Stderr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Process.Kill(); first.Wait() })
	waitPrinted(t, stdout, "Ctrl-C")
	out, err := runToExit(t, 20*time.Second, "dev", "--no-agent", "--listen", freeAddr(t), "--data-dir", dataDir)
	wantInUse(t, out, err, dataDir, first.Process.Pid)
}

// `gantry dev` keeps its agent's checkpoint in <data-dir>/agent, also
// `gantry agent`'s default: with an agent running there, dev fails at once
// instead of sharing (and overwriting) its checkpoint.
func TestDevRefusesAgentDataDirInUse(t *testing.T) {
	if err := imagesOnce(); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startServer(t, t.TempDir(), addr)
	dataDir := t.TempDir()
	agentDir := filepath.Join(dataDir, "agent")
	first := startAgentBinary(t, addr, agentDir)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(agentDir, dirlock.FileName)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not lock its data dir")
		}
	}
	out, err := runToExit(t, 20*time.Second, "dev", "--listen", freeAddr(t), "--data-dir", dataDir)
	wantInUse(t, out, err, agentDir, first.Process.Pid)
}
