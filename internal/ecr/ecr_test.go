package ecr_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
)

// wantCode fails unless err is an API error with code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

// must returns a function that fails the test if err is set and returns v
// otherwise: out := must(client.Call(ctx, in))(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// login returns the registry password of an ECR client's caller.
func login(t testing.TB, c *ecr.Client) (token, endpoint string, expires time.Time) {
	t.Helper()
	out := must(c.GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{}))(t)
	ad := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(ad.AuthorizationToken))
	if err != nil {
		t.Fatal(err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user != "AWS" || strings.Contains(pass, ":") {
		t.Fatalf("authorization token decodes to %q", raw)
	}
	return pass, aws.ToString(ad.ProxyEndpoint), aws.ToTime(ad.ExpiresAt)
}

func sha(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }

// pushBlob uploads a blob monolithically through /v2/.
func pushBlob(t testing.TB, base, token, repo string, data []byte) string {
	t.Helper()
	d := sha(data)
	req, _ := http.NewRequest(http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/?digest="+d, strings.NewReader(string(data)))
	req.SetBasicAuth("AWS", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("push blob: %s", resp.Status)
	}
	return d
}

// manifest builds an image manifest over a config and one layer.
func manifest(config, layer string, n int) string {
	return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":2},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":5}],"annotations":{"n":"%d"}}`, config, layer, n)
}

func TestRepositoryLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()

	out := must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String("team/web"),
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true},
		Tags:                       []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}},
	}))(t)
	r := out.Repository
	host := strings.TrimPrefix(e.url, "http://")
	if aws.ToString(r.RepositoryUri) != host+"/team/web" || r.ImageTagMutability != types.ImageTagMutabilityMutable ||
		!r.ImageScanningConfiguration.ScanOnPush || r.EncryptionConfiguration.EncryptionType != types.EncryptionTypeAes256 ||
		aws.ToString(r.RegistryId) != account || !strings.HasSuffix(aws.ToString(r.RepositoryArn), ":"+account+":repository/team/web") {
		t.Fatalf("created %+v", r)
	}
	_, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/web")})
	wantCode(t, err, "RepositoryAlreadyExistsException")
	_, err = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("Bad_Name")})
	wantCode(t, err, "InvalidParameterException")

	tags := must(c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: r.RepositoryArn}))(t)
	if len(tags.Tags) != 1 {
		t.Fatalf("tags = %+v", tags.Tags)
	}
	must(c.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: r.RepositoryArn, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}}))(t)
	must(c.UntagResource(ctx, &ecr.UntagResourceInput{ResourceArn: r.RepositoryArn, TagKeys: []string{"team"}}))(t)
	tags = must(c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: r.RepositoryArn}))(t)
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" {
		t.Fatalf("tags after tag/untag = %+v", tags.Tags)
	}

	for i := range 4 {
		must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(fmt.Sprintf("app%d", i))}))(t)
	}
	var names []string
	var token *string
	for {
		p := must(c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(2), NextToken: token}))(t)
		for _, r := range p.Repositories {
			names = append(names, aws.ToString(r.RepositoryName))
		}
		if token = p.NextToken; token == nil {
			break
		}
	}
	if strings.Join(names, ",") != "app0,app1,app2,app3,team/web" {
		t.Fatalf("paged names = %v", names)
	}
	_, err = c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"ghost"}})
	wantCode(t, err, "RepositoryNotFoundException")

	mut := must(c.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: aws.String("app0"), ImageTagMutability: types.ImageTagMutabilityImmutable}))(t)
	if mut.ImageTagMutability != types.ImageTagMutabilityImmutable {
		t.Fatalf("mutability = %s", mut.ImageTagMutability)
	}
	reg := must(c.DescribeRegistry(ctx, &ecr.DescribeRegistryInput{}))(t)
	if aws.ToString(reg.RegistryId) != account {
		t.Fatalf("registry id = %s", aws.ToString(reg.RegistryId))
	}

	// A repository with an image is deleted only with force.
	tok, _, _ := login(t, c)
	cfg, layer := pushBlob(t, e.url, tok, "app1", []byte("{}")), pushBlob(t, e.url, tok, "app1", []byte("layer"))
	must(c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("app1"), ImageTag: aws.String("v1"), ImageManifest: aws.String(manifest(cfg, layer, 1))}))(t)
	_, err = c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("app1")})
	wantCode(t, err, "RepositoryNotEmptyException")
	must(c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("app1"), Force: true}))(t)
	_, err = c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("app1")})
	wantCode(t, err, "RepositoryNotFoundException")
	_, err = c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("app1")})
	wantCode(t, err, "RepositoryNotFoundException")
}

func TestAuthorizationToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	tok, endpoint, exp := login(t, c)
	if endpoint != e.url {
		t.Fatalf("proxyEndpoint = %s, want %s", endpoint, e.url)
	}
	if d := time.Until(exp); d < 11*time.Hour || d > 12*time.Hour+time.Minute {
		t.Fatalf("expires in %v", d)
	}
	for _, tc := range []struct {
		user, pass string
		want       int
	}{{"", "", 401}, {"AWS", tok + "x", 401}, {"AWS", "garbage", 401}, {"AWS", tok, 200}} {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/v2/", nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp := must(http.DefaultClient.Do(req))(t)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("%s:%.10s -> %s, want %d", tc.user, tc.pass, resp.Status, tc.want)
		}
		if tc.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic realm=") {
			t.Fatalf("challenge = %q", resp.Header.Get("WWW-Authenticate"))
		}
	}
}

func TestImages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	repo := aws.String("web")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}))(t)
	tok, _, _ := login(t, c)
	cfg, layer := pushBlob(t, e.url, tok, "web", []byte("{}")), pushBlob(t, e.url, tok, "web", []byte("layer"))

	_, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("v1"),
		ImageManifest: aws.String(manifest(cfg, sha([]byte("absent")), 0))})
	wantCode(t, err, "LayersNotFoundException")
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("ghost"), ImageTag: aws.String("v1"), ImageManifest: aws.String(manifest(cfg, layer, 0))})
	wantCode(t, err, "RepositoryNotFoundException")

	m1, m2, m3 := manifest(cfg, layer, 1), manifest(cfg, layer, 2), manifest(cfg, layer, 3)
	p1 := must(c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("v1"), ImageManifest: aws.String(m1)}))(t)
	if aws.ToString(p1.Image.ImageId.ImageDigest) != sha([]byte(m1)) {
		t.Fatalf("digest = %s", aws.ToString(p1.Image.ImageId.ImageDigest))
	}
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("v1"), ImageManifest: aws.String(m1)})
	wantCode(t, err, "ImageAlreadyExistsException")
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageDigest: aws.String(sha([]byte(m1))), ImageManifest: aws.String(m2)})
	wantCode(t, err, "ImageDigestDoesNotMatchException")
	must(c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("latest"), ImageManifest: aws.String(m2)}))(t)
	must(c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("v2"), ImageManifest: aws.String(m2)}))(t)
	must(c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageManifest: aws.String(m3)}))(t)
	// Moving v1 (mutable repository) leaves m1 untagged.
	must(c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("v1"), ImageManifest: aws.String(m2)}))(t)

	count := func(status types.TagStatus) int {
		l := must(c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: repo, Filter: &types.ListImagesFilter{TagStatus: status}}))(t)
		return len(l.ImageIds)
	}
	if a, tg, u := count(""), count(types.TagStatusTagged), count(types.TagStatusUntagged); a != 5 || tg != 3 || u != 2 {
		t.Fatalf("list any/tagged/untagged = %d/%d/%d, want 5/3/2", a, tg, u)
	}
	d := must(c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: repo, ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("latest")}}}))(t)
	det := d.ImageDetails[0]
	if strings.Join(det.ImageTags, ",") != "latest,v1,v2" || aws.ToInt64(det.ImageSizeInBytes) != 7 || det.ImagePushedAt == nil ||
		aws.ToString(det.ImageManifestMediaType) != "application/vnd.oci.image.manifest.v1+json" || det.LastRecordedPullTime != nil {
		t.Fatalf("detail = %+v", det)
	}
	var pages int
	var token *string
	for {
		p := must(c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: repo, MaxResults: aws.Int32(1), NextToken: token}))(t)
		pages++
		if token = p.NextToken; token == nil {
			break
		}
	}
	if pages != 3 {
		t.Fatalf("pages = %d, want 3", pages)
	}
	_, err = c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: repo, ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("nope")}}})
	wantCode(t, err, "ImageNotFoundException")

	// A pull through /v2/ records lastRecordedPullTime.
	req, _ := http.NewRequest(http.MethodGet, e.url+"/v2/web/manifests/latest", nil)
	req.SetBasicAuth("AWS", tok)
	resp := must(http.DefaultClient.Do(req))(t)
	resp.Body.Close()
	d = must(c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: repo, ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("latest")}}}))(t)
	if d.ImageDetails[0].LastRecordedPullTime == nil {
		t.Fatalf("no lastRecordedPullTime after a pull")
	}

	g := must(c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: repo, ImageIds: []types.ImageIdentifier{
		{ImageTag: aws.String("v2")}, {ImageTag: aws.String("nope")}, {ImageTag: aws.String("v1"), ImageDigest: aws.String(sha([]byte(m1)))},
	}}))(t)
	if len(g.Images) != 1 || aws.ToString(g.Images[0].ImageManifest) != m2 || len(g.Failures) != 2 ||
		g.Failures[0].FailureCode != types.ImageFailureCodeImageNotFound || g.Failures[1].FailureCode != types.ImageFailureCodeImageTagDoesNotMatchDigest {
		t.Fatalf("batch get = %+v", g)
	}

	del := must(c.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: repo, ImageIds: []types.ImageIdentifier{
		{ImageTag: aws.String("v2")}, {ImageDigest: aws.String(sha([]byte(m1)))}, {ImageTag: aws.String("nope")},
	}}))(t)
	if len(del.ImageIds) != 2 || len(del.Failures) != 1 {
		t.Fatalf("batch delete = %+v", del)
	}
	if a := count(""); a != 3 {
		t.Fatalf("after delete: %d ids, want 3 (latest, v1, untagged m3)", a)
	}
}

func TestImmutableTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	repo := aws.String("locked")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo, ImageTagMutability: types.ImageTagMutabilityImmutable}))(t)
	tok, _, _ := login(t, c)
	cfg, layer := pushBlob(t, e.url, tok, "locked", []byte("{}")), pushBlob(t, e.url, tok, "locked", []byte("layer"))
	must(c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("v1"), ImageManifest: aws.String(manifest(cfg, layer, 1))}))(t)
	_, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("v1"), ImageManifest: aws.String(manifest(cfg, layer, 2))})
	wantCode(t, err, "ImageTagAlreadyExistsException")

	// Concurrent pushes of different images to one new tag: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, refused := 0, 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("race"), ImageManifest: aws.String(manifest(cfg, layer, 100+i))})
			mu.Lock()
			defer mu.Unlock()
			var ae smithy.APIError
			switch {
			case err == nil:
				wins++
			case errors.As(err, &ae) && ae.ErrorCode() == "ImageTagAlreadyExistsException":
				refused++
			default:
				t.Errorf("concurrent push: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || refused != 7 {
		t.Fatalf("wins=%d refused=%d, want 1 and 7", wins, refused)
	}
}
