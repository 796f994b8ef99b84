package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gantry-dev/gantry/internal/agent/engine"
	"github.com/gantry-dev/gantry/internal/agent/rt"
)

func TestConfigValidate(t *testing.T) {
	c := Default()
	c.AccessKeyID, c.SecretAccessKey = "id", "secret"
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults with a key: %v", err)
	}
	bad := c
	bad.Endpoint = "127.0.0.1:4566"
	bad.HostIP = "localhost"
	bad.PullPolicy = "sometimes"
	bad.ReservedPorts = []int{0}
	bad.AccessKeyID = ""
	bad.RuntimeName = "sim"
	err := bad.Validate()
	for _, want := range []string{"--endpoint", "--host-ip", "--pull-policy", "--reserved-ports", "credentials", "--runtime"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want a complaint about %s", err, want)
		}
	}
}

func TestRegistration(t *testing.T) {
	c := Default()
	c.Attributes = []string{"team=web", "gpu"}
	info := rt.Info{CPUs: 2, MemoryMiB: 4096, Architecture: "x86_64", APIVersion: "1.41", Version: "20.10.24", LogDrivers: []string{"json-file", "syslog", "splunk"}}
	in := registration(&c, info, "")
	res := map[string]int32{}
	for _, r := range in.TotalResources {
		res[aws.ToString(r.Name)] = r.IntegerValue
		if aws.ToString(r.Name) == "PORTS" && !slices.Equal(r.StringSetValue, []string{"22", "2375", "2376", "51678", "51679", "51680"}) {
			t.Errorf("PORTS %v", r.StringSetValue)
		}
	}
	if res["CPU"] != 2048 || res["MEMORY"] != 4096-256 {
		t.Errorf("resources %v", res)
	}
	attrs := map[string]string{}
	for _, a := range in.Attributes {
		attrs[aws.ToString(a.Name)] = aws.ToString(a.Value)
	}
	for name, value := range map[string]string{
		"ecs.os-type": "linux", "ecs.os-family": "LINUX", "ecs.cpu-architecture": "x86_64",
		"ecs.availability-zone": "local-a", "ecs.instance-type": "gantry.local", "team": "web", "gpu": "",
		"com.amazonaws.ecs.capability.docker-remote-api.1.17": "", "com.amazonaws.ecs.capability.docker-remote-api.1.41": "",
		"com.amazonaws.ecs.capability.logging-driver.json-file": "", "com.amazonaws.ecs.capability.logging-driver.syslog": "",
		"com.amazonaws.ecs.capability.logging-driver.none": "", "ecs.capability.container-health-check": "",
	} {
		if got, ok := attrs[name]; !ok || got != value {
			t.Errorf("attribute %s = %q (present %v), want %q", name, got, ok, value)
		}
	}
	for _, absent := range []string{"com.amazonaws.ecs.capability.docker-remote-api.1.42", "com.amazonaws.ecs.capability.logging-driver.splunk", "com.amazonaws.ecs.capability.logging-driver.gelf"} {
		if _, ok := attrs[absent]; ok {
			t.Errorf("attribute %s should be absent", absent)
		}
	}
	if in.ContainerInstanceArn != nil {
		t.Error("a first registration carries no ARN")
	}
	if in := registration(&c, info, "arn:x"); aws.ToString(in.ContainerInstanceArn) != "arn:x" {
		t.Error("a re-registration carries the checkpointed ARN")
	}
}

func TestCheckpointIsAtomicAndReloads(t *testing.T) {
	dir := t.TempDir()
	s, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.update(func(c *checkpoint) { c.InstanceArn, c.AckSeq = "arn:i", 42 }); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(func() *engine.Checkpoint {
		return &engine.Checkpoint{Tasks: []engine.Record{{Task: &engine.Task{Desired: "RUNNING"}}}}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, checkpointFile+".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	s2, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	cp := s2.snapshot()
	if cp.InstanceArn != "arn:i" || cp.AckSeq != 42 || cp.Engine == nil || len(cp.Engine.Tasks) != 1 {
		t.Fatalf("reloaded %+v", cp)
	}
	os.WriteFile(filepath.Join(dir, checkpointFile), []byte("{"), 0o600)
	if _, err := openStore(dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt checkpoint: %v", err)
	}
}
