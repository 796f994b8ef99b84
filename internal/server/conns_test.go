package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
	"github.com/gantry-dev/gantry/internal/server"
)

// These tests drive a real server over loopback with raw connections: the
// findings are about what a client that does not behave can do to it.

const describeClusters = "AmazonEC2ContainerServiceV20141113.DescribeClusters"

// start runs a server of its own, configured by opts.
func start(t *testing.T, opts ...gt.Option) *gt.Env {
	t.Helper()
	env, err := gt.Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	return env
}

func dial(t *testing.T, env *gt.Env) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", env.Server.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c: a read ends with
// EOF or a reset before the deadline (which only bounds the test).
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// signedHead signs a request of target for service with body, and returns
// its request line and headers as sent on the wire.
func signedHead(t *testing.T, host, service, target string, body []byte) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+host+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: gt.KeyID, SecretAccessKey: gt.KeySecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", host, len(body))
	req.Header.Write(&b)
	b.WriteString("\r\n")
	return b.Bytes()
}

// readResponse reads one response from c and returns its status and
// error code.
func readResponse(t *testing.T, c net.Conn) (int, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType")
}

// Finding: idle connections took every file descriptor. With the cap
// reached, each new connection closes the one idle longest, and signed
// calls keep being answered.
func TestIdleConnectionsAreShedAtTheCap(t *testing.T) {
	const max = 8
	env := start(t, func(c *server.Config) { c.MaxConnections = max })
	var idle []net.Conn
	for range 2 * max {
		idle = append(idle, dial(t, env))
	}
	c := env.ECSIn("us-east-1")
	for range 3 {
		gt.Must(c.DescribeClusters(context.Background(), &ecs.DescribeClustersInput{}))(t)
	}
	// The first connections opened were idle longest: the server closed
	// them to admit the later ones.
	done := make(chan bool, max)
	for _, conn := range idle[:max] {
		go func() { done <- closedByServer(conn) }()
	}
	for range max {
		if !<-done {
			t.Fatal("an idle connection past the cap is still open")
		}
	}
	if n := env.Server.OpenConnections(); n > max {
		t.Fatalf("server holds %d connections, cap %d", n, max)
	}
}

// A flood of fresh connections does not shed the keep-alive of a client
// that made requests: fresh ones go first.
func TestKeepAliveOutlivesAFlood(t *testing.T) {
	const max = 8
	env := start(t, func(c *server.Config) { c.MaxConnections = max })
	client := dial(t, env)
	healthz := fmt.Sprintf("GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", env.Server.Addr())
	io.WriteString(client, healthz)
	br := bufio.NewReader(client)
	get := func() int {
		client.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("the client's keep-alive was closed: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	get()
	for range 3 * max {
		dial(t, env)
	}
	// The last dial has been admitted once a request on it is answered.
	last := dial(t, env)
	io.WriteString(last, healthz)
	if status, _ := readResponse(t, last); status != 200 {
		t.Fatalf("healthz on a new connection: %d", status)
	}
	io.WriteString(client, healthz)
	if status := get(); status != 200 {
		t.Fatalf("healthz on the keep-alive: %d", status)
	}
}

// Finding: no idle timeout. A keep-alive connection that sends nothing
// more is closed.
func TestIdleKeepAliveIsClosed(t *testing.T) {
	env := start(t, func(c *server.Config) { c.IdleTimeout = 200 * time.Millisecond })
	conn := dial(t, env)
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", env.Server.Addr())
	if status, _ := readResponse(t, conn); status != 200 {
		t.Fatalf("healthz: %d", status)
	}
	if !closedByServer(conn) {
		t.Fatal("the idle keep-alive connection is still open")
	}
}

// Finding: a body could be sent as slowly as one liked. A body that stops
// arriving is dropped; one that keeps arriving is served.
func TestStalledBodyIsDropped(t *testing.T) {
	env := start(t, func(c *server.Config) { c.BodyStallTimeout = 300 * time.Millisecond })
	body := []byte(`{"clusters":["default"]}` + strings.Repeat(" ", 1000))

	conn := dial(t, env)
	conn.Write(signedHead(t, env.Server.Addr(), "ecs", describeClusters, body))
	conn.Write(body[:10])
	if !closedByServer(conn) {
		t.Fatal("the server still waits for a stalled body")
	}

	slow := dial(t, env)
	slow.Write(signedHead(t, env.Server.Addr(), "ecs", describeClusters, body))
	for i := 0; i < len(body); i += 128 {
		slow.Write(body[i:min(i+128, len(body))])
		time.Sleep(100 * time.Millisecond)
	}
	if status, code := readResponse(t, slow); status != 200 {
		t.Fatalf("a body that kept arriving: %d %s", status, code)
	}
}

// Finding: the body was read before the signature was looked at. An
// unsigned request is answered from its headers, before any body byte.
func TestUnsignedRequestAnsweredBeforeItsBody(t *testing.T) {
	env := start(t)
	conn := dial(t, env)
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: %s\r\nContent-Length: 10000000\r\n\r\n", env.Server.Addr(), describeClusters)
	if status, code := readResponse(t, conn); status != 400 || code != "MissingAuthenticationTokenException:" {
		t.Fatalf("got %d %s, want 400 MissingAuthenticationTokenException", status, code)
	}
}

// Finding: every action took 10 MiB. DescribeClusters takes 1 MiB, ECR's
// PutImage (manifests of up to 4 MiB, escaped) more.
func TestBodyLimitsPerAction(t *testing.T) {
	env := start(t)
	big := []byte(`{"clusters":["default"]}` + strings.Repeat(" ", 2<<20))
	conn := dial(t, env)
	conn.Write(signedHead(t, env.Server.Addr(), "ecs", describeClusters, big))
	if status, code := readResponse(t, conn); status != 413 || code != "RequestEntityTooLargeException:" {
		t.Fatalf("2 MiB DescribeClusters: %d %s, want 413", status, code)
	}
	put := []byte(`{"repositoryName":"nope","imageManifest":"{}"}` + strings.Repeat(" ", 5<<20))
	conn = dial(t, env)
	conn.Write(append(signedHead(t, env.Server.Addr(), "ecr", "AmazonEC2ContainerRegistry_V20150921.PutImage", put), put...))
	if status, code := readResponse(t, conn); status == 413 {
		t.Fatalf("5 MiB PutImage: %d %s, want it read", status, code)
	}
}

// Finding: bodies in flight were not bounded. The bytes the bodies being
// read hold are: past the bound, the request that needs more room is
// throttled, and small requests still fit in what is left.
func TestBufferedBodiesAreBounded(t *testing.T) {
	env := start(t, func(c *server.Config) { c.MaxBufferedBodies = 10 << 20 })
	const putImage = "AmazonEC2ContainerRegistry_V20150921.PutImage"
	put := bytes.Repeat([]byte(" "), 10<<20)
	hog := dial(t, env)
	hog.Write(signedHead(t, env.Server.Addr(), "ecr", putImage, put))
	hog.Write(put[:6<<20])             // holds 8 MiB of room once read
	time.Sleep(300 * time.Millisecond) // for the server to read what the socket holds

	second := dial(t, env)
	second.Write(signedHead(t, env.Server.Addr(), "ecr", putImage, put))
	go second.Write(put[:3<<20]) // needs 4 MiB at 2 MiB read: there are 2
	if status, code := readResponse(t, second); status != 400 || code != "ThrottlingException:" {
		t.Fatalf("past the bound: %d %s, want ThrottlingException", status, code)
	}
	gt.Must(env.ECSIn("us-east-1").DescribeClusters(context.Background(), &ecs.DescribeClustersInput{}))(t)
}

// Finding: a duplicate access key id kept the last secret silently.
func TestDuplicateAccessKeyRefused(t *testing.T) {
	cfg := server.Default()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.AccessKeys = []string{"AKIDONE:first", "AKIDONE:second"}
	if err := startFails(cfg); err == nil || !strings.Contains(err.Error(), `"AKIDONE" is configured twice`) {
		t.Fatalf("duplicate --access-key: %v", err)
	}
	file := t.TempDir() + "/keys"
	os.WriteFile(file, []byte("AKIDTWO:a\n# comment\nAKIDONE:b\n"), 0o600)
	cfg.AccessKeys, cfg.CredentialsFile = []string{"AKIDONE:first"}, file
	err := startFails(cfg)
	if err == nil || !strings.Contains(err.Error(), `"AKIDONE" is configured twice (--access-key and credentials file `+file+` line 3)`) {
		t.Fatalf("duplicate in the credentials file: %v", err)
	}
}

// startFails starts a server with cfg and returns the error it failed with
// (stopping it if it did not fail).
func startFails(cfg server.Config) error {
	s, err := server.Start(context.Background(), cfg)
	if err == nil {
		s.Close()
	}
	return err
}

// deadline bounds a test's wait for an answer.
func deadline() time.Time { return time.Now().Add(10 * time.Second) }

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
