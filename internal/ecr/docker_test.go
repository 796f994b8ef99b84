package ecr_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// baseImage is the local test image scripts/test-images.sh builds.
const baseImage = "gantry-test/busybox:latest"

// dockerCLI runs the docker CLI with a throwaway configuration directory.
type dockerCLI struct {
	t      *testing.T
	config string
}

func (d dockerCLI) run(stdin string, args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+d.config)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (d dockerCLI) must(args ...string) string {
	d.t.Helper()
	out, err := d.run("", args...)
	if err != nil {
		d.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// TestDockerEndToEnd drives the real docker CLI against the registry: login
// with a token from GetAuthorizationToken, push, rmi, pull, and the two
// refusals (missing repository, immutable tag), word for word.
func TestDockerEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("needs docker")
	}
	if err := exec.Command("docker", "image", "inspect", baseImage).Run(); err != nil {
		t.Skipf("docker or %s not available (run scripts/test-images.sh): %v", baseImage, err)
	}
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	host := strings.TrimPrefix(e.url, "http://")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("e2e/busybox")}))(t)
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("e2e/locked"), ImageTagMutability: types.ImageTagMutabilityImmutable}))(t)
	tok, _, _ := login(t, c)
	d := dockerCLI{t: t, config: t.TempDir()}
	var tagged []string
	t.Cleanup(func() {
		for _, ref := range tagged {
			d.run("", "rmi", "-f", ref)
		}
	})
	tag := func(src, dst string) {
		d.must("tag", src, dst)
		tagged = append(tagged, dst)
	}

	if out, err := d.run("", "pull", host+"/e2e/busybox:v1"); err == nil || !strings.Contains(out, "no basic auth credentials") && !strings.Contains(out, "unauthorized") {
		t.Fatalf("anonymous pull: %v\n%s", err, out)
	}
	if out, err := d.run(tok, "login", "--username", "AWS", "--password-stdin", host); err != nil || !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("docker login: %v\n%s", err, out)
	}

	// Push, remove, pull: the same image comes back.
	wantID := d.must("image", "inspect", "--format", "{{.Id}}", baseImage)
	ref := host + "/e2e/busybox:v1"
	tag(baseImage, ref)
	d.must("push", ref)
	d.must("rmi", ref)
	d.must("pull", ref)
	if got := d.must("image", "inspect", "--format", "{{.Id}}", ref); got != wantID {
		t.Fatalf("pulled image id %s, want %s", got, wantID)
	}
	// docker pull by tag (a HEAD of the manifest by tag, then a GET, or the
	// HEAD alone when the manifest is cached) records the pull.
	imgs := must(c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("e2e/busybox")}))(t)
	if len(imgs.ImageDetails) != 1 || imgs.ImageDetails[0].ImageTags[0] != "v1" || aws.ToInt64(imgs.ImageDetails[0].ImageSizeInBytes) == 0 ||
		imgs.ImageDetails[0].LastRecordedPullTime == nil {
		t.Fatalf("described after push and pull: %+v", imgs.ImageDetails)
	}

	// A repository that was never created.
	ghost := host + "/e2e/ghost:v1"
	tag(baseImage, ghost)
	out, err := d.run("", "push", ghost)
	if want := "name unknown: The repository with name 'e2e/ghost' does not exist in the registry with id '" + account + "'"; err == nil || !strings.Contains(out, want) {
		t.Fatalf("push to a missing repository: %v\n%s\nwant %q", err, out, want)
	}

	// An immutable repository refuses to move a tag.
	locked := host + "/e2e/locked:v1"
	tag(baseImage, locked)
	d.must("push", locked)
	other := importTiny(t, d)
	tagged = append(tagged, other)
	d.must("rmi", locked)
	tag(other, locked)
	out, err = d.run("", "push", locked)
	if want := "tag invalid: The image tag 'v1' already exists in the 'e2e/locked' repository and cannot be overwritten because the repository is immutable."; err == nil || !strings.Contains(out, want) {
		t.Fatalf("push over an immutable tag: %v\n%s\nwant %q", err, out, want)
	}
}

// importTiny imports a one-file image and returns its reference.
func importTiny(t *testing.T, d dockerCLI) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte(fmt.Sprintf("gantry test %s\n", t.Name()))
	tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(body))})
	tw.Write(body)
	tw.Close()
	ref := "gantry-test/tiny:" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	cmd := exec.Command("docker", "import", "-", ref)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+d.config)
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	return ref
}
