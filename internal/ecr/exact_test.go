package ecr_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
)

// wantError fails unless err is the API error code with exactly msg.
func wantError(t testing.TB, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || ae.ErrorMessage() != msg {
		t.Fatalf("want %s %q,\n got %v", code, msg, err)
	}
}

// A request that breaks a constraint of the service model gets ECR's own
// words: InvalidParameterException naming the member and the constraint,
// not ECS's "N validation errors detected".
func TestModelValidationWordedAsECR(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newEnv(t).client()
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("web")}))(t)

	_, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("web"), MaxResults: aws.Int32(5000)})
	wantError(t, err, "InvalidParameterException",
		"Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value less than or equal to 1000'")
	_, err = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("a")})
	wantError(t, err, "InvalidParameterException",
		"Invalid parameter at 'repositoryName' failed to satisfy constraint: 'Member must have length greater than or equal to 2'")
	_, err = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("Bad_Name!")})
	wantError(t, err, "InvalidParameterException",
		`Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*''`)
	_, err = c.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: aws.String("web"), ImageTagMutability: "SOMETIMES"})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterException" ||
		!strings.HasPrefix(ae.ErrorMessage(), "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE") {
		t.Fatalf("bad enum: %v", err)
	}
	// Names the model's pattern allows (double underscores, runs of
	// dashes) are accepted.
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team__a/b--c")}))(t)
}

// ECR refuses a repository policy whose statements name no Principal or no
// Action, with its fixed text.
func TestRepositoryPolicyNeedsPrincipalAndAction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newEnv(t).client()
	repo := aws.String("pol")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}))(t)
	for _, bad := range []string{
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:BatchGetImage"]}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*"}]}`,
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":[]}}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Principal":"*","Action":"ecr:*"}]}`,
	} {
		_, err := c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: repo, PolicyText: aws.String(bad)})
		wantError(t, err, "InvalidParameterException", "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'")
	}
	_, err := c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: repo})
	wantCode(t, err, "RepositoryPolicyNotFoundException")
	ok := `{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:root"},"NotAction":"ecr:BatchGetImage"}}`
	must(c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: repo, PolicyText: aws.String(ok)}))(t)
}

// PutImage of a manifest that names its media type nowhere (neither in the
// request nor in the manifest) is refused as ECR refuses it; naming it in
// the request makes the same manifest acceptable.
func TestPutImageNeedsAMediaType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	repo := aws.String("web")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}))(t)
	tok, _, _ := login(t, c)
	cfg, layer := pushBlob(t, e.url, tok, "web", []byte("{}")), pushBlob(t, e.url, tok, "web", []byte("layer"))
	bare := strings.Replace(manifest(cfg, layer, 1), `"mediaType":"application/vnd.oci.image.manifest.v1+json",`, "", 1)
	_, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("v1"), ImageManifest: aws.String(bare)})
	wantError(t, err, "InvalidParameterException", "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'")
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("v1"), ImageManifest: aws.String("not json")})
	wantError(t, err, "InvalidParameterException", "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'")
	l := must(c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: repo}))(t)
	if len(l.ImageIds) != 0 {
		t.Fatalf("a refused manifest was stored: %+v", l.ImageIds)
	}
	p := must(c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("v1"), ImageManifest: aws.String(bare),
		ImageManifestMediaType: aws.String("application/vnd.oci.image.manifest.v1+json")}))(t)
	if aws.ToString(p.Image.ImageManifestMediaType) != "application/vnd.oci.image.manifest.v1+json" {
		t.Fatalf("put = %+v", p.Image)
	}
}

// A manifest list naming an image the repository lacks is refused with
// ReferencedImagesNotFoundException (LayersNotFound is for blobs).
func TestManifestListOfMissingImage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newEnv(t).client()
	repo := aws.String("multi")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}))(t)
	absent := sha([]byte("no such image"))
	index := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + absent + `","size":100,"platform":{"architecture":"amd64","os":"linux"}}]}`
	_, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageTag: aws.String("v1"), ImageManifest: aws.String(index)})
	wantCode(t, err, "ReferencedImagesNotFoundException")
	var ae smithy.APIError
	if errors.As(err, &ae); !strings.Contains(ae.ErrorMessage(), absent) {
		t.Fatalf("the message does not name the missing image: %q", ae.ErrorMessage())
	}
}

// An image id whose digest is not a digest fails with InvalidImageDigest in
// failures (not ImageNotFound), in BatchDeleteImage and BatchGetImage.
func TestMalformedDigestInBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newEnv(t).client()
	repo := aws.String("web")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}))(t)
	ids := []types.ImageIdentifier{{ImageDigest: aws.String("not-a-digest")}, {ImageDigest: aws.String(sha([]byte("absent")))}}
	want := func(op string, f []types.ImageFailure) {
		t.Helper()
		if len(f) != 2 || f[0].FailureCode != types.ImageFailureCodeInvalidImageDigest ||
			aws.ToString(f[0].FailureReason) != "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'" ||
			aws.ToString(f[0].ImageId.ImageDigest) != "not-a-digest" || f[1].FailureCode != types.ImageFailureCodeImageNotFound {
			t.Fatalf("%s failures = %+v", op, f)
		}
	}
	del := must(c.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: repo, ImageIds: ids}))(t)
	want("BatchDeleteImage", del.Failures)
	get := must(c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: repo, ImageIds: ids}))(t)
	want("BatchGetImage", get.Failures)
}

// Get/DeleteLifecyclePolicy always carry lastEvaluatedAt: the epoch while
// the policy never ran, as ECR answers.
func TestLifecyclePolicyLastEvaluatedAt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newEnv(t).client()
	repo := aws.String("web")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}))(t)
	text := `{"rules":[{"rulePriority":1,"description":"Expire untagged images","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`
	must(c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: repo, LifecyclePolicyText: aws.String(text)}))(t)
	get := must(c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: repo}))(t)
	if get.LastEvaluatedAt == nil || get.LastEvaluatedAt.Unix() != 0 {
		t.Fatalf("get lastEvaluatedAt = %v", get.LastEvaluatedAt)
	}
	del := must(c.DeleteLifecyclePolicy(ctx, &ecr.DeleteLifecyclePolicyInput{RepositoryName: repo}))(t)
	if del.LastEvaluatedAt == nil || del.LastEvaluatedAt.Unix() != 0 {
		t.Fatalf("delete lastEvaluatedAt = %v", del.LastEvaluatedAt)
	}
}

// KMS encryption without a key names the account's AWS managed key for ECR
// in the region, the same key for every repository there.
func TestKMSWithoutKeyNamesManagedKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newEnv(t).client()
	keyOf := func(name string) string {
		out := must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name),
			EncryptionConfiguration: &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms}}))(t)
		if out.Repository.EncryptionConfiguration.EncryptionType != types.EncryptionTypeKms {
			t.Fatalf("encryption = %+v", out.Repository.EncryptionConfiguration)
		}
		return aws.ToString(out.Repository.EncryptionConfiguration.KmsKey)
	}
	a, b := keyOf("one"), keyOf("two")
	re := regexp.MustCompile(`^arn:aws:kms:` + regexp.QuoteMeta(c.Options().Region) + `:` + account + `:key/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	if !re.MatchString(a) || a != b {
		t.Fatalf("kmsKey = %q and %q", a, b)
	}
	d := must(c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"one"}}))(t)
	if aws.ToString(d.Repositories[0].EncryptionConfiguration.KmsKey) != a {
		t.Fatalf("described kmsKey = %q", aws.ToString(d.Repositories[0].EncryptionConfiguration.KmsKey))
	}
	own := "arn:aws:kms:us-east-1:" + account + ":key/mine"
	out := must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("three"),
		EncryptionConfiguration: &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms, KmsKey: aws.String(own)}}))(t)
	if aws.ToString(out.Repository.EncryptionConfiguration.KmsKey) != own {
		t.Fatalf("own key replaced: %+v", out.Repository.EncryptionConfiguration)
	}
}

// ECR re-serialises policy texts: a repository policy comes back in its
// fixed pretty-printed style, a lifecycle policy compact, whatever the
// spacing sent (the texts are the AWS CLI examples' own).
func TestPolicyTextsAsECRStoresThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newEnv(t).client()
	repo := aws.String("web")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}))(t)
	sent := "{\n    \"Version\" : \"2008-10-17\",\n    \"Statement\" : [ \n        {\n            \"Sid\" : \"allow public pull\",\n" +
		"            \"Effect\" : \"Allow\",\n            \"Principal\" : \"*\",\n            \"Action\" : [\n" +
		"                \"ecr:BatchCheckLayerAvailability\",\n                \"ecr:BatchGetImage\",\n                \"ecr:GetDownloadUrlForLayer\" \n            ]\n        }\n    ]\n}\n"
	want := "{\n  \"Version\" : \"2008-10-17\",\n  \"Statement\" : [ {\n    \"Sid\" : \"allow public pull\",\n    \"Effect\" : \"Allow\",\n" +
		"    \"Principal\" : \"*\",\n    \"Action\" : [ \"ecr:BatchCheckLayerAvailability\", \"ecr:BatchGetImage\", \"ecr:GetDownloadUrlForLayer\" ]\n  } ]\n}"
	set := must(c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: repo, PolicyText: aws.String(sent)}))(t)
	get := must(c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: repo}))(t)
	if aws.ToString(set.PolicyText) != want || aws.ToString(get.PolicyText) != want {
		t.Fatalf("policy text:\n%s\nwant:\n%s", aws.ToString(set.PolicyText), want)
	}

	lc := "{\n   \"rules\": [\n       {\n           \"rulePriority\": 1,\n           \"description\": \"Expire images older than 14 days\",\n" +
		"           \"selection\": {\n               \"tagStatus\": \"untagged\",\n               \"countType\": \"sinceImagePushed\",\n" +
		"               \"countUnit\": \"days\",\n               \"countNumber\": 14\n           },\n           \"action\": {\n               \"type\": \"expire\"\n           }\n       }\n   ]\n}\n"
	lcWant := `{"rules":[{"rulePriority":1,"description":"Expire images older than 14 days","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`
	put := must(c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: repo, LifecyclePolicyText: aws.String(lc)}))(t)
	got := must(c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: repo}))(t)
	if aws.ToString(put.LifecyclePolicyText) != lcWant || aws.ToString(got.LifecyclePolicyText) != lcWant {
		t.Fatalf("lifecycle policy text: %q", aws.ToString(put.LifecyclePolicyText))
	}
}

// Every request naming a repository checks the name against the model's
// pattern first, as ECR does (a docker-style reference is not a name).
func TestRepositoryNamePatternEverywhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newEnv(t).client()
	msg := `Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*''`
	bad := "123456789012.dkr.ecr.us-east-2.amazonaws.com/simple_model:latest"
	_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{bad}})
	wantError(t, err, "InvalidParameterException", msg)
	_, err = c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("Web")})
	wantError(t, err, "InvalidParameterException", msg)
	_, err = c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String("web/")})
	wantError(t, err, "InvalidParameterException", msg)
	_, err = c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("web")})
	wantCode(t, err, "RepositoryNotFoundException")
}
