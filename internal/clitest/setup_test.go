package clitest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/gantrytest"
)

// The state an example presumes is read from its own command line and from
// the output AWS printed: the clusters, task definitions, services,
// repositories, images, tags and policies it names are created first,
// through the SDK, in the example's region. An example that presumes
// container instances or tasks is not set up (they need an agent and
// Docker, which this test does not start).

// fixture is one example's setup.
type fixture struct {
	env    *gantrytest.Env
	region string
	ecs    *ecs.Client
	ecr    *ecr.Client
	want   any      // the example's output, decoded (nil if not JSON)
	args   []string // the example's command line after "aws <service> <command>"
}

func setup(ctx context.Context, env *gantrytest.Env, region string, ex Example) error {
	cfg := env.Config(region)
	f := &fixture{env: env, region: region, ecs: ecs.NewFromConfig(cfg), ecr: ecr.NewFromConfig(cfg), args: ex.Args[2:]}
	_ = json.Unmarshal([]byte(ex.Output), &f.want)
	if ex.Service == "ecr" {
		return f.setupECR(ctx, ex.Command)
	}
	return f.setupECS(ctx, ex.Command)
}

// flagValues returns the values after --name on the command line (up to
// the next option).
func (f *fixture) flagValues(name string) []string {
	for i, a := range f.args {
		if a != name {
			continue
		}
		var out []string
		for _, v := range f.args[i+1:] {
			if strings.HasPrefix(v, "--") {
				break
			}
			out = append(out, v)
		}
		return out
	}
	return nil
}

func (f *fixture) flag(name string) string {
	if v := f.flagValues(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// strings returns every string in the example's output under key (any
// depth).
func (f *fixture) strings(key string) []string {
	var out []string
	var walk func(k string, v any)
	walk = func(k string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for kk, vv := range x {
				walk(kk, vv)
			}
		case []any:
			for _, vv := range x {
				walk(k, vv)
			}
		case string:
			if k == key {
				out = append(out, x)
			}
		}
	}
	walk("", f.want)
	return out
}

// all is every string of the command line and of the output.
func (f *fixture) all() string {
	b, _ := json.Marshal(f.want)
	return strings.Join(f.args, " ") + " " + string(b)
}

func uniq(s []string) []string {
	sort.Strings(s)
	var out []string
	for i, v := range s {
		if v != "" && (i == 0 || v != s[i-1]) {
			out = append(out, v)
		}
	}
	return out
}

var errNeedsAgent = errors.New("the example presumes container instances or tasks, which need an agent and Docker; this test starts none")

// --- ECS ---

var (
	clusterARN = regexp.MustCompile(`arn:aws:ecs:[a-z0-9-]+:\d{12}:cluster/([A-Za-z0-9_-]+)`)
	serviceARN = regexp.MustCompile(`arn:aws:ecs:[a-z0-9-]+:\d{12}:service/(?:([A-Za-z0-9_-]+)/)?([A-Za-z0-9_-]+)`)
	taskDefARN = regexp.MustCompile(`task-definition/([A-Za-z0-9_-]+):(\d+)`)
	agentWords = regexp.MustCompile(`(container-instance|:task/|task-set/|service-deployment/|service-revision/)`)
)

var needsAgent = map[string]bool{
	"describe-tasks": true, "list-tasks": true, "stop-task": true, "run-task": true, "start-task": true,
	"describe-container-instances": true, "list-container-instances": true, "update-container-agent": true,
	"update-container-instances-state": true, "deregister-container-instance": true, "get-task-protection": true,
	"update-task-protection": true, "execute-command": true, "put-attributes": true, "delete-attributes": true,
	"list-attributes": true,
}

func (f *fixture) setupECS(ctx context.Context, command string) error {
	if needsAgent[command] || agentWords.MatchString(strings.Join(f.args, " ")) {
		return errNeedsAgent
	}
	all := f.all()
	var clusters []string
	for _, flag := range []string{"--cluster", "--clusters"} {
		for _, v := range f.flagValues(flag) {
			if m := clusterARN.FindStringSubmatch(v); m != nil {
				v = m[1]
			}
			clusters = append(clusters, v)
		}
	}
	for _, m := range clusterARN.FindAllStringSubmatch(all, -1) {
		clusters = append(clusters, m[1])
	}
	services := map[string][]string{} // cluster -> services
	for _, m := range serviceARN.FindAllStringSubmatch(all, -1) {
		c := m[1]
		if c == "" {
			c = "default"
		}
		clusters = append(clusters, c)
		if command != "create-service" || m[2] != f.flag("--service-name") {
			services[c] = append(services[c], m[2])
		}
	}
	if command != "create-service" {
		for _, s := range append(f.flagValues("--service"), f.flagValues("--services")...) {
			if serviceARN.MatchString(s) {
				continue
			}
			c := f.flag("--cluster")
			if c == "" {
				c = "default"
			}
			services[c] = append(services[c], s)
		}
	}
	created := command == "create-cluster"
	for _, c := range uniq(clusters) {
		if created && c == f.flag("--cluster-name") {
			continue
		}
		in := &ecs.CreateClusterInput{ClusterName: aws.String(c)}
		if command == "list-tags-for-resource" || command == "untag-resource" {
			in.Tags = f.ecsTags()
		}
		if _, err := f.ecs.CreateCluster(ctx, in); err != nil {
			return fmt.Errorf("create cluster %s: %w", c, err)
		}
	}
	// Task definitions: every family:revision named, registered up to
	// that revision; families listed by list-task-definition-families.
	revs := map[string]int{}
	if command != "register-task-definition" {
		for _, m := range taskDefARN.FindAllStringSubmatch(all, -1) {
			n, _ := strconv.Atoi(m[2])
			revs[m[1]] = max(revs[m[1]], n)
		}
		for _, td := range f.flagValues("--task-definition") {
			fam, rev, _ := strings.Cut(td, ":")
			n, _ := strconv.Atoi(rev)
			revs[fam] = max(revs[fam], n, 1)
		}
		for _, fam := range f.strings("families") {
			revs[fam] = max(revs[fam], 1)
		}
	}
	named := map[string]bool{}
	for _, m := range taskDefARN.FindAllStringSubmatch(all, -1) {
		named[m[1]+":"+m[2]] = true
	}
	for fam, n := range revs {
		for rev := 1; rev <= n; rev++ {
			if err := f.registerTD(ctx, fam); err != nil {
				return err
			}
			// A listing shows only the revisions it names: the others
			// were deregistered.
			if command == "list-task-definitions" && !named[fam+":"+strconv.Itoa(rev)] {
				if _, err := f.ecs.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(fam + ":" + strconv.Itoa(rev))}); err != nil {
					return fmt.Errorf("deregister %s:%d: %w", fam, rev, err)
				}
			}
		}
	}
	for c, names := range services {
		for _, s := range uniq(names) {
			fam := "web"
			for k := range revs {
				fam = k
				break
			}
			if len(revs) == 0 {
				if err := f.registerTD(ctx, fam); err != nil {
					return err
				}
			}
			if _, err := f.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(c), ServiceName: aws.String(s),
				TaskDefinition: aws.String(fam), DesiredCount: aws.Int32(0)}); err != nil {
				return fmt.Errorf("create service %s/%s: %w", c, s, err)
			}
		}
	}
	return nil
}

// registerTD registers a revision of family: the task definition the
// example's output shows, if it shows one of that family, else a minimal
// one.
func (f *fixture) registerTD(ctx context.Context, family string) error {
	in := &ecs.RegisterTaskDefinitionInput{Family: aws.String(family),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String(family), Image: aws.String("gantry-test/busybox"), Memory: aws.Int32(64)}}}
	if m, ok := f.want.(map[string]any); ok {
		if td, ok := m["taskDefinition"].(map[string]any); ok && td["family"] == family {
			// The SDK's input types decode from the output's JSON: Go
			// matches the member names case-insensitively.
			b, _ := json.Marshal(td)
			var shown ecs.RegisterTaskDefinitionInput
			if err := json.Unmarshal(b, &shown); err == nil && len(shown.ContainerDefinitions) > 0 {
				in = &shown
			}
		}
	}
	_, err := f.ecs.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return fmt.Errorf("register task definition %s: %w", family, err)
	}
	return nil
}

// ecsTags are the tags the example's output lists (or, for untag-resource,
// the keys it removes).
func (f *fixture) ecsTags() []ecstypes.Tag {
	keys, values := f.strings("key"), f.strings("value")
	var out []ecstypes.Tag
	for i, k := range keys {
		if i < len(values) {
			out = append(out, ecstypes.Tag{Key: aws.String(k), Value: aws.String(values[i])})
		}
	}
	for _, v := range f.flagValues("--tag-keys") {
		for _, k := range strings.Split(v, ",") {
			out = append(out, ecstypes.Tag{Key: aws.String(k), Value: aws.String("v")})
		}
	}
	return out
}

// --- ECR ---

var repoARN = regexp.MustCompile(`arn:aws:ecr:[a-z0-9-]+:\d{12}:repository/([a-z0-9._/-]+)`)

var namesBlobs = map[string]bool{
	"batch-check-layer-availability": true, "get-download-url-for-layer": true, "upload-layer-part": true,
	"complete-layer-upload": true, "put-image": true,
}

func (f *fixture) setupECR(ctx context.Context, command string) error {
	if namesBlobs[command] {
		return errors.New("the example names image contents by digest (or an upload in progress), which cannot be reproduced")
	}
	repos := []string{}
	if r := f.flag("--repository-name"); r != "" && command != "create-repository" {
		repos = append(repos, r)
	}
	for _, m := range repoARN.FindAllStringSubmatch(strings.Join(f.args, " "), -1) {
		repos = append(repos, m[1])
	}
	if command == "describe-repositories" {
		repos = append(repos, f.strings("repositoryName")...)
	}
	for _, r := range uniq(repos) {
		in := &ecr.CreateRepositoryInput{RepositoryName: aws.String(r)}
		if command == "list-tags-for-resource" || command == "untag-resource" {
			keys, values := f.strings("Key"), f.strings("Value")
			for i, k := range keys {
				in.Tags = append(in.Tags, ecrtypes.Tag{Key: aws.String(k), Value: aws.String(values[i])})
			}
			for _, k := range f.flagValues("--tag-keys") {
				in.Tags = append(in.Tags, ecrtypes.Tag{Key: aws.String(k), Value: aws.String("v")})
			}
		}
		if _, err := f.ecr.CreateRepository(ctx, in); err != nil {
			return fmt.Errorf("create repository %s: %w", r, err)
		}
	}
	if len(repos) == 0 {
		return nil
	}
	repo := repos[0]
	switch command {
	case "list-images", "describe-images", "batch-get-image", "batch-delete-image", "delete-repository":
		if err := f.pushImages(ctx, repo); err != nil {
			return err
		}
	case "get-lifecycle-policy", "delete-lifecycle-policy", "get-lifecycle-policy-preview":
		text := `{"rules":[{"rulePriority":1,"description":"Expire untagged images","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`
		if t := f.strings("lifecyclePolicyText"); len(t) > 0 {
			text = t[0]
		}
		if _, err := f.ecr.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String(repo), LifecyclePolicyText: aws.String(text)}); err != nil {
			return fmt.Errorf("put lifecycle policy: %w", err)
		}
		if command == "get-lifecycle-policy-preview" {
			// The preview ran the text the output shows.
			if _, err := f.ecr.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: aws.String(repo),
				LifecyclePolicyText: aws.String(text)}); err != nil {
				return fmt.Errorf("start lifecycle policy preview: %w", err)
			}
		}
	case "get-repository-policy", "delete-repository-policy":
		if t := f.strings("policyText"); len(t) > 0 {
			if _, err := f.ecr.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(repo), PolicyText: aws.String(t[0])}); err != nil {
				return fmt.Errorf("set repository policy: %w", err)
			}
		}
	}
	return nil
}

// pushImages pushes one image per digest the example's output shows, with
// the tags it shows for it, plus one per tag the command names that the
// output does not.
func (f *fixture) pushImages(ctx context.Context, repo string) error {
	tagsByDigest := map[string][]string{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if d, ok := x["imageDigest"].(string); ok {
				if t, ok := x["imageTag"].(string); ok {
					tagsByDigest[d] = append(tagsByDigest[d], t)
				}
				if ts, ok := x["imageTags"].([]any); ok {
					for _, t := range ts {
						tagsByDigest[d] = append(tagsByDigest[d], fmt.Sprint(t))
					}
				}
				if _, ok := tagsByDigest[d]; !ok {
					tagsByDigest[d] = nil
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(f.want)
	seen := map[string]bool{}
	for _, ts := range tagsByDigest {
		for _, t := range ts {
			seen[t] = true
		}
	}
	for _, id := range f.flagValues("--image-ids") {
		if t, ok := strings.CutPrefix(id, "imageTag="); ok && !seen[t] {
			tagsByDigest["tag:"+t] = []string{t}
		}
	}
	if len(tagsByDigest) == 0 {
		return nil
	}
	tok, err := f.ecr.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return err
	}
	raw, _ := base64.StdEncoding.DecodeString(aws.ToString(tok.AuthorizationData[0].AuthorizationToken))
	_, password, _ := strings.Cut(string(raw), ":")
	keys := make([]string, 0, len(tagsByDigest))
	for d := range tagsByDigest {
		keys = append(keys, d)
	}
	sort.Strings(keys)
	for i, d := range keys {
		cfg, err := f.pushBlob(ctx, repo, password, []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","n":%d}`, i)))
		if err != nil {
			return err
		}
		layer, err := f.pushBlob(ctx, repo, password, []byte(fmt.Sprintf("layer %d of %s", i, repo)))
		if err != nil {
			return err
		}
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",`+
			`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%d,"digest":%q},`+
			`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%d,"digest":%q}]}`,
			len(fmt.Sprintf(`{"architecture":"amd64","os":"linux","n":%d}`, i)), cfg, len(fmt.Sprintf("layer %d of %s", i, repo)), layer)
		tags := tagsByDigest[d]
		if len(tags) == 0 {
			tags = []string{""}
		}
		for _, t := range tags {
			in := &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(m)}
			if t != "" {
				in.ImageTag = aws.String(t)
			}
			if _, err := f.ecr.PutImage(ctx, in); err != nil {
				return fmt.Errorf("put image %s:%s: %w", repo, t, err)
			}
		}
	}
	return nil
}

// pushBlob uploads a blob through the registry's /v2/ API, as docker does.
func (f *fixture) pushBlob(ctx context.Context, repo, password string, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	d := "sha256:" + hex.EncodeToString(sum[:])
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.env.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d, bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth("AWS", password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("push blob to %s: %s", repo, resp.Status)
	}
	return d, nil
}
