package ecr_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// ListImageReferrers lists the artifacts pushed with an image as their
// subject (a signature, an SBOM), filtered by artifact type and status, in
// pages.
func TestListImageReferrers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	c := e.client()
	repo := aws.String("art")
	must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: repo}))(t)
	token, _, _ := login(t, c)
	config, layer := pushBlob(t, e.url, token, "art", []byte("{}")), pushBlob(t, e.url, token, "art", []byte("layer"))
	img := manifest(config, layer, 1)
	put := must(c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageManifest: aws.String(img), ImageTag: aws.String("v1")}))(t)
	subject := aws.ToString(put.Image.ImageId.ImageDigest)
	artifact := func(kind string) string {
		return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":%q,`+
			`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":2},`+
			`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":5}],`+
			`"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d}}`, kind, config, layer, subject, len(img))
	}
	for _, kind := range []string{"application/vnd.example.signature", "application/spdx+json"} {
		m := artifact(kind)
		must(c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: repo, ImageManifest: aws.String(m), ImageDigest: aws.String(sha([]byte(m)))}))(t)
	}

	all := must(c.ListImageReferrers(ctx, &ecr.ListImageReferrersInput{RepositoryName: repo, SubjectId: &types.SubjectIdentifier{ImageDigest: aws.String(subject)}}))(t)
	if len(all.Referrers) != 2 || all.NextToken != nil {
		t.Fatalf("referrers: %+v (next %v), want both artifacts", all.Referrers, all.NextToken)
	}
	for _, r := range all.Referrers {
		if r.ArtifactStatus != types.ArtifactStatusActive || aws.ToInt64(r.Size) != int64(len(artifact(aws.ToString(r.ArtifactType)))) ||
			aws.ToString(r.Digest) != sha([]byte(artifact(aws.ToString(r.ArtifactType)))) {
			t.Errorf("referrer %+v: want ACTIVE, its manifest's digest and size", r)
		}
	}
	sboms := must(c.ListImageReferrers(ctx, &ecr.ListImageReferrersInput{RepositoryName: repo, SubjectId: &types.SubjectIdentifier{ImageDigest: aws.String(subject)},
		Filter: &types.ListImageReferrersFilter{ArtifactTypes: []string{"application/spdx+json"}}}))(t)
	if len(sboms.Referrers) != 1 || aws.ToString(sboms.Referrers[0].ArtifactType) != "application/spdx+json" {
		t.Fatalf("artifactTypes filter: %+v", sboms.Referrers)
	}
	archived := must(c.ListImageReferrers(ctx, &ecr.ListImageReferrersInput{RepositoryName: repo, SubjectId: &types.SubjectIdentifier{ImageDigest: aws.String(subject)},
		Filter: &types.ListImageReferrersFilter{ArtifactStatus: types.ArtifactStatusFilterArchived}}))(t)
	if archived.Referrers == nil || len(archived.Referrers) != 0 {
		t.Fatalf("ARCHIVED: %+v, want an empty list", archived.Referrers)
	}

	var paged []string
	var next *string
	for range 3 {
		p := must(c.ListImageReferrers(ctx, &ecr.ListImageReferrersInput{RepositoryName: repo, MaxResults: aws.Int32(1), NextToken: next,
			SubjectId: &types.SubjectIdentifier{ImageDigest: aws.String(subject)}}))(t)
		for _, r := range p.Referrers {
			paged = append(paged, aws.ToString(r.Digest))
		}
		if next = p.NextToken; next == nil {
			break
		}
	}
	if len(paged) != 2 || paged[0] == paged[1] {
		t.Fatalf("pages of one: %v, want the two artifacts once each", paged)
	}

	_, err := c.ListImageReferrers(ctx, &ecr.ListImageReferrersInput{RepositoryName: aws.String("nope"), SubjectId: &types.SubjectIdentifier{ImageDigest: aws.String(subject)}})
	wantCode(t, err, "RepositoryNotFoundException")
	_, err = c.ListImageReferrers(ctx, &ecr.ListImageReferrersInput{RepositoryName: repo, SubjectId: &types.SubjectIdentifier{ImageDigest: aws.String("not-a-digest")}})
	wantCode(t, err, "InvalidParameterException")
}
