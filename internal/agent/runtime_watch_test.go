package agent

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/gantrytest"
)

// socketRelay relays a unix socket to the local Docker daemon's, and can
// cut it (Docker unreachable for whoever uses the relay) and restore it.
type socketRelay struct {
	path  string
	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func newSocketRelay(t *testing.T) *socketRelay {
	r := &socketRelay{path: filepath.Join(t.TempDir(), "docker.sock"), conns: map[net.Conn]bool{}}
	r.restore(t)
	t.Cleanup(r.cut)
	return r
}

func (r *socketRelay) restore(t *testing.T) {
	ln, err := net.Listen("unix", r.path)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.ln = ln
	r.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d, err := net.Dial("unix", "/var/run/docker.sock")
			if err != nil {
				c.Close()
				continue
			}
			r.mu.Lock()
			r.conns[c], r.conns[d] = true, true
			r.mu.Unlock()
			go func() { io.Copy(d, c); d.Close() }()
			go func() { io.Copy(c, d); c.Close() }()
		}
	}()
}

// cut closes the socket and every relayed connection.
func (r *socketRelay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		c.Close()
	}
	clear(r.conns)
}

// An agent that cannot reach Docker says so and stops counting itself
// healthy: it stops polling, so the control plane shows its agent
// disconnected (and places nothing there); once Docker answers again, it
// polls again and is connected.
func TestAgentStopsPollingWhileDockerIsUnreachable(t *testing.T) {
	env, err := gantrytest.Start(gantrytest.WithAgentTimeout(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	region := gantrytest.NewRegion()
	c := env.ECSIn(region)
	relay := newSocketRelay(t)
	cfg := Default()
	cfg.Endpoint, cfg.Region, cfg.DataDir = env.URL, region, t.TempDir()
	cfg.AccessKeyID, cfg.SecretAccessKey = gantrytest.KeyID, gantrytest.KeySecret
	cfg.DockerHost = "unix://" + relay.path
	cfg.RuntimeCheckInterval = 200 * time.Millisecond
	cfg.Logger = agenttest.Logger()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-a.Ready()
	connected := func() bool {
		out, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{a.InstanceArn()}})
		if err != nil || len(out.ContainerInstances) != 1 {
			t.Fatalf("DescribeContainerInstances: %v %+v", err, out)
		}
		return out.ContainerInstances[0].AgentConnected
	}
	waitFor := func(what string, want bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); connected() != want; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: agentConnected is still %v after 30s", what, !want)
			}
		}
	}
	waitFor("registered", true)
	relay.cut()
	waitFor("Docker unreachable", false)
	if !a.RuntimeUnreachable() {
		t.Error("the agent does not say Docker is unreachable")
	}
	relay.restore(t)
	waitFor("Docker back", true)
}
