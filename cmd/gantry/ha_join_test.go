package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// A server joins a running cluster through a member's client endpoint
// (--etcd-join: it adds itself, then starts), serves the same state, is
// listed by `gantry etcd members`, and `gantry etcd remove-member` takes it
// out again.
func TestEtcdJoinAndRemoveMember(t *testing.T) {
	ctx := context.Background()
	pki := filepath.Join(t.TempDir(), "pki")
	if out, err := exec.Command(binary, "etcd", "init-pki", "--dir", pki).CombinedOutput(); err != nil {
		t.Fatalf("gantry etcd init-pki: %v\n%s", err, out)
	}
	// init-pki does not replace an authority the servers already share.
	if out, err := exec.Command(binary, "etcd", "init-pki", "--dir", pki).CombinedOutput(); err == nil || !strings.Contains(string(out), "already holds") {
		t.Fatalf("a second init-pki: %v\n%s", err, out)
	}
	first := startHACluster(t, 1, pki)[0]
	if _, err := client(first.addr).CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	joiner := &haServer{name: "s2", addr: freeAddrOn(t, "127.0.0.2"), etcdClient: freeAddrOn(t, "127.0.0.2")}
	joiner.args = []string{"server", "--listen", joiner.addr, "--data-dir", t.TempDir(), "--access-key", "AKIDDUR:secret", "--log-level", "warn",
		"--etcd-name", "s2", "--etcd-pki-dir", pki, "--etcd-peer-listen", freeAddrOn(t, "127.0.0.2"),
		"--etcd-client-listen", joiner.etcdClient, "--etcd-join", "https://" + first.etcdClient}
	joiner.start(t)
	joiner.waitUp(t)
	out, err := client(joiner.addr).DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"shared"}})
	if err != nil || len(out.Clusters) != 1 {
		t.Fatalf("the joined server does not see the cluster's state: %v %v", out, err)
	}
	members := func() string {
		out, err := exec.Command(binary, "etcd", "members", "--endpoints", "https://"+first.etcdClient, "--etcd-pki-dir", pki).CombinedOutput()
		if err != nil {
			t.Fatalf("gantry etcd members: %v\n%s", err, out)
		}
		return string(out)
	}
	if m := members(); !strings.Contains(m, "s1 ") || !strings.Contains(m, "s2 ") {
		t.Fatalf("gantry etcd members after the join:\n%s", m)
	}
	// etcd refuses a removal until the cluster has been healthy for 5s
	// since the join ("unhealthy cluster"): try again until it accepts.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
		out, err := exec.Command(binary, "etcd", "remove-member", "s2", "--endpoints", "https://"+first.etcdClient, "--etcd-pki-dir", pki).CombinedOutput()
		if err == nil {
			break
		}
		if !strings.Contains(string(out), "unhealthy cluster") || time.Now().After(deadline) {
			t.Fatalf("gantry etcd remove-member s2: %v\n%s", err, out)
		}
	}
	if m := members(); strings.Contains(m, "s2 ") {
		t.Fatalf("gantry etcd members after removing s2:\n%s", m)
	}
	// The remaining member still serves writes alone.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := retryingClient(first.addr).CreateCluster(wctx, &ecs.CreateClusterInput{ClusterName: aws.String("after")}); err != nil {
		t.Fatalf("after removing s2: %v", err)
	}
	// A name that is not a member is named in the error.
	if out, err := exec.Command(binary, "etcd", "remove-member", "nobody", "--endpoints", "https://"+first.etcdClient, "--etcd-pki-dir", pki).CombinedOutput(); err == nil || !strings.Contains(string(out), `no member named "nobody"`) {
		t.Fatalf("remove-member nobody: %v\n%s", err, out)
	}
}
