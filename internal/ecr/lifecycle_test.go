package ecr_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
)

const lcPolicy = `{"rules":[
 {"rulePriority":1,"description":"keep one v image","selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
 {"rulePriority":2,"description":"keep one untagged image","selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`

func TestLifecyclePolicies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	repo := aws.String("lc")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}))(t)
	tok, _, _ := login(t, c)
	cfg, layer := pushBlob(t, e.url, tok, "lc", []byte("{}")), pushBlob(t, e.url, tok, "lc", []byte("layer"))
	// v1, v2, v3, then two untagged images, each pushed after the other.
	for i, tag := range []string{"v1", "v2", "v3", "", ""} {
		in := &ecr.PutImageInput{RepositoryName: repo, ImageManifest: aws.String(manifest(cfg, layer, i))}
		if tag != "" {
			in.ImageTag = aws.String(tag)
		}
		must(c.PutImage(ctx, in))(t)
		time.Sleep(3 * time.Millisecond)
	}

	_, err := c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: repo})
	wantCode(t, err, "LifecyclePolicyNotFoundException")
	_, err = c.DeleteLifecyclePolicy(ctx, &ecr.DeleteLifecyclePolicyInput{RepositoryName: repo})
	wantCode(t, err, "LifecyclePolicyNotFoundException")
	_, err = c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String("ghost"), LifecyclePolicyText: aws.String(lcPolicy)})
	wantCode(t, err, "RepositoryNotFoundException")
	bad := strings.Replace(lcPolicy, `"rulePriority":2`, `"rulePriority":1`, 1)
	_, err = c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: repo, LifecyclePolicyText: aws.String(bad)})
	wantCode(t, err, "InvalidParameterException")
	var ae smithy.APIError
	if errors.As(err, &ae); !strings.HasPrefix(ae.ErrorMessage(), "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: ") {
		t.Fatalf("message = %q", ae.ErrorMessage())
	}
	_, err = c.GetLifecyclePolicyPreview(ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: repo})
	wantCode(t, err, "LifecyclePolicyPreviewNotFoundException")
	_, err = c.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: repo})
	wantCode(t, err, "LifecyclePolicyNotFoundException")

	must(c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: repo, LifecyclePolicyText: aws.String(lcPolicy)}))(t)
	got := must(c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: repo}))(t)
	// ECR keeps the text compact.
	compact := strings.ReplaceAll(lcPolicy, "\n ", "")
	if aws.ToString(got.LifecyclePolicyText) != compact || got.LastEvaluatedAt == nil || got.LastEvaluatedAt.Unix() != 0 {
		t.Fatalf("get policy = %+v", got)
	}

	// The preview: IN_PROGRESS, then COMPLETE with v1, v2 and the older
	// untagged image.
	st := must(c.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: repo}))(t)
	if st.Status != types.LifecyclePolicyPreviewStatusInProgress {
		t.Fatalf("start status = %s", st.Status)
	}
	var results []types.LifecyclePolicyPreviewResult
	var token *string
	for {
		p := must(c.GetLifecyclePolicyPreview(ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: repo, MaxResults: aws.Int32(2), NextToken: token}))(t)
		if p.Status != types.LifecyclePolicyPreviewStatusComplete || p.Summary == nil || aws.ToInt32(p.Summary.ExpiringImageTotalCount) != 3 {
			t.Fatalf("preview page = %+v", p)
		}
		results = append(results, p.PreviewResults...)
		if token = p.NextToken; token == nil {
			break
		}
	}
	var desc []string
	for _, r := range results {
		if r.Action == nil || r.Action.Type != types.ImageActionTypeExpire || r.ImagePushedAt == nil || r.ImageDigest == nil {
			t.Fatalf("result = %+v", r)
		}
		desc = append(desc, strings.Join(r.ImageTags, "+")+"@"+string(rune('0'+aws.ToInt32(r.AppliedRulePriority))))
	}
	if strings.Join(desc, " ") != "v1@1 v2@1 @2" {
		t.Fatalf("preview results = %v", desc)
	}
	untagged := must(c.GetLifecyclePolicyPreview(ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: repo,
		Filter: &types.LifecyclePolicyPreviewFilter{TagStatus: types.TagStatusUntagged}}))(t)
	if len(untagged.PreviewResults) != 1 {
		t.Fatalf("untagged results = %+v", untagged.PreviewResults)
	}
	// A preview of another text leaves the repository's policy alone.
	anyText := `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
	must(c.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: repo, LifecyclePolicyText: aws.String(anyText)}))(t)
	p := must(c.GetLifecyclePolicyPreview(ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: repo}))(t)
	if len(p.PreviewResults) != 4 || aws.ToString(p.LifecyclePolicyText) != anyText {
		t.Fatalf("preview of another text = %d results", len(p.PreviewResults))
	}

	// Applying the policy expires what the preview showed.
	n, err := e.svc.ApplyLifecyclePolicies(ctx, time.Now())
	if err != nil || n != 3 {
		t.Fatalf("apply: %d, %v", n, err)
	}
	left := must(c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: repo}))(t)
	if len(left.ImageIds) != 2 {
		t.Fatalf("left = %+v", left.ImageIds)
	}
	if n, err := e.svc.ApplyLifecyclePolicies(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("second apply: %d, %v", n, err)
	}
	got = must(c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: repo}))(t)
	if got.LastEvaluatedAt == nil {
		t.Fatalf("no lastEvaluatedAt after apply")
	}
	del := must(c.DeleteLifecyclePolicy(ctx, &ecr.DeleteLifecyclePolicyInput{RepositoryName: repo}))(t)
	if aws.ToString(del.LifecyclePolicyText) != compact {
		t.Fatalf("deleted policy = %q", aws.ToString(del.LifecyclePolicyText))
	}
	_, err = c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: repo})
	wantCode(t, err, "LifecyclePolicyNotFoundException")
}

func TestRepositoryPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	repo := aws.String("pol")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}))(t)
	_, err := c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: repo})
	wantCode(t, err, "RepositoryPolicyNotFoundException")
	_, err = c.DeleteRepositoryPolicy(ctx, &ecr.DeleteRepositoryPolicyInput{RepositoryName: repo})
	wantCode(t, err, "RepositoryPolicyNotFoundException")
	for _, bad := range []string{`not json`, `{"Statement":[{"Effect":"Allow"}]}`, `{"Version":"2012-10-17"}`, `{"Version":"2012-10-17","Statement":[]}`} {
		_, err = c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: repo, PolicyText: aws.String(bad)})
		wantCode(t, err, "InvalidParameterException")
	}
	text := `{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage"]}]}`
	_, err = c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("ghost"), PolicyText: aws.String(text)})
	wantCode(t, err, "RepositoryNotFoundException")
	set := must(c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: repo, PolicyText: aws.String(text), Force: true}))(t)
	// ECR keeps the text in its own pretty-printed form.
	stored := "{\n  \"Version\" : \"2012-10-17\",\n  \"Statement\" : [ {\n    \"Sid\" : \"pull\",\n    \"Effect\" : \"Allow\",\n" +
		"    \"Principal\" : \"*\",\n    \"Action\" : [ \"ecr:BatchGetImage\" ]\n  } ]\n}"
	if aws.ToString(set.PolicyText) != stored || aws.ToString(set.RegistryId) != account {
		t.Fatalf("set = %+v", set)
	}
	get := must(c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: repo}))(t)
	if aws.ToString(get.PolicyText) != stored {
		t.Fatalf("get = %q", aws.ToString(get.PolicyText))
	}
	del := must(c.DeleteRepositoryPolicy(ctx, &ecr.DeleteRepositoryPolicyInput{RepositoryName: repo}))(t)
	if aws.ToString(del.PolicyText) != stored {
		t.Fatalf("delete = %q", aws.ToString(del.PolicyText))
	}
	_, err = c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: repo})
	wantCode(t, err, "RepositoryPolicyNotFoundException")
}

func TestLayerUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	repo := aws.String("up")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}))(t)
	_, err := c.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("ghost")})
	wantCode(t, err, "RepositoryNotFoundException")

	// upload sends content in parts of n bytes and completes it.
	upload := func(content []byte, n int) (string, error) {
		init := must(c.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: repo}))(t)
		if aws.ToInt64(init.PartSize) <= 0 {
			t.Fatalf("part size %d", aws.ToInt64(init.PartSize))
		}
		for first := 0; first < len(content); first += n {
			part := content[first:min(first+n, len(content))]
			out := must(c.UploadLayerPart(ctx, &ecr.UploadLayerPartInput{RepositoryName: repo, UploadId: init.UploadId, LayerPartBlob: part,
				PartFirstByte: aws.Int64(int64(first)), PartLastByte: aws.Int64(int64(first + len(part) - 1))}))(t)
			if aws.ToInt64(out.LastByteReceived) != int64(first+len(part)-1) {
				t.Fatalf("lastByteReceived = %d", aws.ToInt64(out.LastByteReceived))
			}
		}
		_, err := c.CompleteLayerUpload(ctx, &ecr.CompleteLayerUploadInput{RepositoryName: repo, UploadId: init.UploadId, LayerDigests: []string{sha(content)}})
		return aws.ToString(init.UploadId), err
	}

	init := must(c.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: repo}))(t)
	id := init.UploadId
	part := func(first, last int64, data string) error {
		_, err := c.UploadLayerPart(ctx, &ecr.UploadLayerPartInput{RepositoryName: repo, UploadId: id, LayerPartBlob: []byte(data),
			PartFirstByte: aws.Int64(first), PartLastByte: aws.Int64(last)})
		return err
	}
	must(struct{}{}, part(0, 2, "lay"))(t)
	wantCode(t, part(5, 7, "er!"), "InvalidLayerPartException") // gap
	wantCode(t, part(0, 2, "lay"), "InvalidLayerPartException") // overlap
	wantCode(t, part(3, 9, "er!"), "InvalidLayerPartException") // last byte does not match the part
	must(struct{}{}, part(3, 5, "er!"))(t)
	_, err = c.CompleteLayerUpload(ctx, &ecr.CompleteLayerUploadInput{RepositoryName: repo, UploadId: id, LayerDigests: []string{sha([]byte("other"))}})
	wantCode(t, err, "InvalidLayerException")
	done := must(c.CompleteLayerUpload(ctx, &ecr.CompleteLayerUploadInput{RepositoryName: repo, UploadId: id, LayerDigests: []string{sha([]byte("layer!"))}}))(t)
	if aws.ToString(done.LayerDigest) != sha([]byte("layer!")) {
		t.Fatalf("complete = %+v", done)
	}
	_, err = c.CompleteLayerUpload(ctx, &ecr.CompleteLayerUploadInput{RepositoryName: repo, UploadId: id, LayerDigests: []string{sha([]byte("layer!"))}})
	wantCode(t, err, "UploadNotFoundException")
	wantCode(t, part(6, 6, "x"), "UploadNotFoundException")

	avail := must(c.BatchCheckLayerAvailability(ctx, &ecr.BatchCheckLayerAvailabilityInput{RepositoryName: repo, LayerDigests: []string{sha([]byte("layer!"))}}))(t)
	if len(avail.Layers) != 1 || aws.ToInt64(avail.Layers[0].LayerSize) != 6 {
		t.Fatalf("availability = %+v", avail)
	}
	_, err = upload([]byte("layer!"), 4)
	wantCode(t, err, "LayerAlreadyExistsException")

	empty := must(c.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: repo}))(t)
	_, err = c.CompleteLayerUpload(ctx, &ecr.CompleteLayerUploadInput{RepositoryName: repo, UploadId: empty.UploadId, LayerDigests: []string{sha(nil)}})
	wantCode(t, err, "EmptyUploadException")

	// A config uploaded through the API, and the layer, make an image.
	if _, err := upload([]byte("{}"), 1); err != nil {
		t.Fatal(err)
	}
	// manifest declares a 5-byte layer; this one has 6 bytes, and the
	// registry checks declared sizes against the stored blobs.
	m := strings.Replace(manifest(sha([]byte("{}")), sha([]byte("layer!")), 1), `"size":5`, `"size":6`, 1)
	must(c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("v1"), ImageManifest: aws.String(m)}))(t)
}
