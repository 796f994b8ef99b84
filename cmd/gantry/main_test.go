package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// These tests run the real binary, as a user would.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gantry-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "gantry")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build gantry: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer runs `gantry server` and waits until it answers.
func startServer(t *testing.T, dataDir, addr string, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"server", "--listen", addr, "--data-dir", dataDir, "--access-key", "AKIDDUR:secret", "--log-level", "warn"}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			return cmd
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gantry server on %s did not come up", addr)
	return nil
}

func client(addr string) *ecs.Client {
	return ecs.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDDUR", "secret", ""),
		BaseEndpoint: aws.String("http://" + addr),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
}

// TestAcknowledgedWritesSurviveKill9 kills the server with SIGKILL right after
// each acknowledged write and checks that the write is there after a restart.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	for round := range 3 {
		addr := freeAddr(t)
		cmd := startServer(t, dataDir, addr)
		c := client(addr)
		// Everything written in earlier rounds is there.
		l, err := c.ListClusters(ctx, &ecs.ListClustersInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.ClusterArns) != round {
			t.Fatalf("round %d: %d clusters survived, want %d: %v", round, len(l.ClusterArns), round, l.ClusterArns)
		}
		_, err = c.CreateCluster(ctx, &ecs.CreateClusterInput{
			ClusterName: aws.String(fmt.Sprintf("durable-%d", round)),
			Tags:        []types.Tag{{Key: aws.String("round"), Value: aws.String(fmt.Sprint(round))}},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String("durable"),
			ContainerDefinitions: []types.ContainerDefinition{{
				Name: aws.String("app"), Image: aws.String(fmt.Sprintf("app:%d", round)), Memory: aws.Int32(64),
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	addr := freeAddr(t)
	startServer(t, dataDir, addr)
	d, err := client(addr).DescribeClusters(ctx, &ecs.DescribeClustersInput{
		Clusters: []string{"durable-0", "durable-1", "durable-2"}, Include: []types.ClusterField{types.ClusterFieldTags},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Clusters) != 3 || len(d.Failures) != 0 {
		t.Fatalf("after kill -9: %d clusters, failures %v", len(d.Clusters), d.Failures)
	}
	for i, cl := range d.Clusters {
		if len(cl.Tags) != 1 || aws.ToString(cl.Tags[0].Value) != fmt.Sprint(i) {
			t.Fatalf("cluster %s lost its tags: %v", aws.ToString(cl.ClusterName), cl.Tags)
		}
	}
	td, err := client(addr).DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("durable")})
	if err != nil {
		t.Fatal(err)
	}
	if td.TaskDefinition.Revision != 3 || aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image) != "app:2" {
		t.Fatalf("after kill -9 the latest revision is %d with image %s, want 3 with app:2",
			td.TaskDefinition.Revision, aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image))
	}
}

func TestDevPrintsExportsAndAcceptsTestKey(t *testing.T) {
	addr := freeAddr(t)
	cmd := exec.Command(binary, "dev", "--listen", addr, "--data-dir", t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	sc := bufio.NewScanner(out)
	var printed []string
	for sc.Scan() {
		printed = append(printed, sc.Text())
		if strings.Contains(sc.Text(), "Ctrl-C") {
			break
		}
	}
	text := strings.Join(printed, "\n")
	for _, want := range []string{"export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=\n", "--endpoint-url http://" + addr} {
		if !strings.Contains(text, want) {
			t.Fatalf("gantry dev output lacks %q:\n%s", want, text)
		}
	}
	c := ecs.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String("http://" + addr),
	})
	if _, err := c.CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String("demo")}); err != nil {
		t.Fatalf("dev refused the test/test key: %v", err)
	}
}

func TestServerRefusesToStartWithoutKeys(t *testing.T) {
	cmd := exec.Command(binary, "server", "--listen", freeAddr(t), "--data-dir", t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--access-key") {
		t.Fatalf("server without keys: err %v, output %s", err, out)
	}
}

// --pprof-addr serves Go's profiler beside the server; a taken address is
// refused at start.
func TestPprofAddr(t *testing.T) {
	pp := freeAddr(t)
	cmd := exec.Command(binary, "server", "--listen", freeAddr(t), "--data-dir", t.TempDir(), "--access-key", "AKIDDUR:secret",
		"--log-level", "warn", "--pprof-addr", pp)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var body []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + pp + "/debug/pprof/cmdline")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no profiler on %s: %v", pp, err)
		}
	}
	if !strings.Contains(string(body), "server") {
		t.Fatalf("cmdline = %q", body)
	}
	// The same address again: the second process refuses to start.
	out, err := exec.Command(binary, "version", "--pprof-addr", pp).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--pprof-addr") {
		t.Fatalf("a taken --pprof-addr: err %v, output %s", err, out)
	}
}

// `gantry --version` prints what `gantry version` prints.
func TestVersionFlag(t *testing.T) {
	flag, err := exec.Command(binary, "--version").Output()
	if err != nil {
		t.Fatalf("gantry --version: %v", err)
	}
	sub, err := exec.Command(binary, "version").Output()
	if err != nil {
		t.Fatalf("gantry version: %v", err)
	}
	if got, want := strings.TrimSpace(string(flag)), "gantry version "+strings.TrimPrefix(strings.TrimSpace(string(sub)), "gantry "); got != want {
		t.Fatalf("gantry --version printed %q, want %q", got, want)
	}
}

// A duplicate access key id is refused at start, naming it; --access-key
// (secrets visible in ps) draws a warning.
func TestServerRefusesDuplicateAccessKey(t *testing.T) {
	cmd := exec.Command(binary, "server", "--listen", freeAddr(t), "--data-dir", t.TempDir(),
		"--access-key", "AKIDDUP:one", "--access-key", "AKIDDUP:two")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `access key "AKIDDUP" is configured twice`) {
		t.Fatalf("duplicate --access-key: err %v, output %s", err, out)
	}
	if !strings.Contains(string(out), "level=WARN") || !strings.Contains(string(out), "--credentials-file") {
		t.Fatalf("no warning about secrets on the command line: %s", out)
	}
}
