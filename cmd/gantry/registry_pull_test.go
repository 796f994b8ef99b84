package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agent/rt"
	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/gantrytest"
)

// newPullE2E is newE2E with an agent pulling by policy.
func newPullE2E(t *testing.T, policy rt.PullPolicy) *e2e {
	t.Helper()
	if err := imagesOnce(); err != nil {
		t.Fatal(err)
	}
	env, err := gantrytest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	region := gantrytest.NewRegion()
	e := &e2e{t: t, env: env, ecs: env.ECSIn(region), region: region, cluster: "pull", dataDir: t.TempDir()}
	if _, err := e.ecs.CreateCluster(context.Background(), &ecs.CreateClusterInput{ClusterName: aws.String(e.cluster)}); err != nil {
		t.Fatal(err)
	}
	cfg := agent.Default()
	cfg.Endpoint = env.URL
	cfg.Cluster = e.cluster
	cfg.Region = region
	cfg.DataDir = e.dataDir
	cfg.AccessKeyID, cfg.SecretAccessKey = gantrytest.KeyID, gantrytest.KeySecret
	cfg.PullPolicy = policy
	cfg.StopTimeout = 2 * time.Second
	cfg.Metadata = false
	cfg.Logger = agenttest.Logger()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := agent.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("agent: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("agent did not register")
	}
	e.agent = a
	e.stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(func() { e.stop() })
	agenttest.CleanupLabel(t, agentproto.LabelInstanceArn, a.InstanceArn())
	return e
}

// runID is a random hex string.
func runID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// docker runs the docker CLI with a throwaway configuration directory.
func docker(t *testing.T, config, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+config, "DOCKER_BUILDKIT=0")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// A task whose image lives in the built-in registry runs: the agent pulls it
// with a token it gets from ECR GetAuthorizationToken by itself, reports the
// pulled image's digest, and the registry records the pull. An image of a
// repository that does not exist stops its task with
// CannotPullContainerError.
func TestAgentPullsFromBuiltInRegistry(t *testing.T) {
	for _, policy := range []rt.PullPolicy{rt.PullDefault, rt.PullAlways} {
		t.Run(string(policy), func(t *testing.T) { testRegistryPull(t, policy) })
	}
}

func testRegistryPull(t *testing.T, policy rt.PullPolicy) {
	e := newPullE2E(t, policy)
	ctx := context.Background()
	host := strings.TrimPrefix(e.env.URL, "http://")
	repo := "pull-" + string(policy) + "/busybox"
	ref := host + "/" + repo + ":v1"
	ghost := host + "/pull-" + string(policy) + "/ghost:v1"
	reg := ecr.NewFromConfig(e.env.Config(e.region))

	if _, err := reg.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := reg.DeleteRepository(context.Background(), &ecr.DeleteRepositoryInput{RepositoryName: aws.String(repo), Force: true}); err != nil {
			t.Errorf("delete repository: %v", err)
		}
	})

	// Push the local test image with the docker CLI, then forget the tag. A
	// label unique to this run gives it a manifest the daemon has never
	// seen: docker resolves a tag with HEAD and takes a manifest it already
	// has from its content store, and only a GET records a pull.
	tok, err := reg.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(tok.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		t.Fatal(err)
	}
	_, password, _ := strings.Cut(string(raw), ":")
	config := t.TempDir()
	t.Cleanup(func() { docker(t, config, "", "rmi", "-f", ref) })
	if out, err := docker(t, config, password, "login", "--username", "AWS", "--password-stdin", host); err != nil {
		t.Fatalf("docker login: %v\n%s", err, out)
	}
	if out, err := docker(t, config, "FROM "+agenttest.Image+"\n", "build", "-q", "--label", "com.gantry.test-run="+runID(), "-t", ref, "-"); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"push", ref}, {"rmi", ref}} {
		if out, err := docker(t, config, "", args...); err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if _, err := docker(t, config, "", "image", "inspect", ref); err == nil {
		t.Fatalf("%s is still cached after docker rmi", ref)
	}
	imgs, err := reg.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo)})
	if err != nil || len(imgs.ImageDetails) != 1 {
		t.Fatalf("DescribeImages after push: %+v, %v", imgs, err)
	}
	digest := aws.ToString(imgs.ImageDetails[0].ImageDigest)

	web := types.ContainerDefinition{Name: aws.String("web"), Image: aws.String(ref), Memory: aws.Int32(64),
		Command: []string{"sleep", "120"}, StopTimeout: aws.Int32(1)}
	e.register("from-registry", web)
	arn := e.run("from-registry")
	task := e.waitStatus(arn, agentproto.StatusRunning)
	if got := aws.ToString(task.Containers[0].ImageDigest); got != digest {
		t.Errorf("container imageDigest %q, want the pushed %s", got, digest)
	}
	if out, err := docker(t, config, "", "image", "inspect", "--format", "{{json .RepoTags}}", ref); err != nil || !strings.Contains(out, ref) {
		t.Errorf("%s was not pulled: %v\n%s", ref, err, out)
	}
	imgs, err = reg.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo)})
	if err != nil || len(imgs.ImageDetails) != 1 || imgs.ImageDetails[0].LastRecordedPullTime == nil {
		t.Errorf("DescribeImages after the task's pull: %+v, %v; want lastRecordedPullTime", imgs.ImageDetails, err)
	}
	if _, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(e.cluster), Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(arn, agentproto.StatusStopped)

	// Credentials the registry refuses are replaced once, and the pull
	// succeeds with the new ones.
	if out, err := docker(t, config, "", "rmi", "-f", ref); err != nil {
		t.Fatalf("docker rmi: %v\n%s", err, out)
	}
	creds := &refusedFirst{host: host, password: password}
	res, err := agenttest.Docker(t).EnsureImage(ctx, ref, policy, creds)
	if err != nil || !res.Pulled || res.Digest != digest || len(creds.asked) != 2 || creds.asked[0] || !creds.asked[1] {
		t.Errorf("pull with refused credentials: %+v, %v; credentials asked with refresh %v", res, err, creds.asked)
	}

	// A repository that was never created.
	e.register("ghost", types.ContainerDefinition{Name: aws.String("main"), Image: aws.String(ghost), Memory: aws.Int32(64), Command: []string{"true"}})
	arn = e.run("ghost")
	task = e.waitStatus(arn, agentproto.StatusStopped)
	if r := aws.ToString(task.StoppedReason); !strings.HasPrefix(r, "CannotPullContainerError") {
		t.Errorf("task of a missing repository stopped with %q, want CannotPullContainerError", r)
	}
	if r := aws.ToString(task.Containers[0].Reason); !strings.HasPrefix(r, "CannotPullContainerError") {
		t.Errorf("container of a missing repository: reason %q", r)
	}
	t.Logf("missing repository: %s", aws.ToString(task.StoppedReason))
}

// refusedFirst gives a token the registry refuses, then, asked to refresh,
// a good one.
type refusedFirst struct {
	host, password string
	asked          []bool
}

func (c *refusedFirst) RegistryAuth(ctx context.Context, image string, refresh bool) (*rt.RegistryAuth, error) {
	c.asked = append(c.asked, refresh)
	p := "bm90IGEgdG9rZW4.c2lnbmF0dXJl"
	if refresh {
		p = c.password
	}
	return &rt.RegistryAuth{Username: "AWS", Password: p, ServerAddress: c.host}, nil
}
