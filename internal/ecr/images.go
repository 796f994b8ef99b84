package ecr

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

func (s *Service) imageActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"ListImages":       action(m, s.ListImages),
		"DescribeImages":   action(m, s.DescribeImages),
		"BatchGetImage":    action(m, s.BatchGetImage),
		"PutImage":         action(m, s.PutImage),
		"BatchDeleteImage": action(m, s.BatchDeleteImage),
	}
}

// eachImage pages through a repository's images in digest order, from the
// position token names, calling fn on each until fn has produced limit
// results; it returns the token of the next page ("" at the end).
func (s *Service) eachImage(ctx context.Context, sc scope, action, repo, token string, limit int, fn func(*registry.Image) int) (string, error) {
	after, err := decodeToken(action, repo, token)
	if err != nil {
		return "", err
	}
	if _, _, err := s.reg.Repository(ctx, sc.ns, repo); err != nil {
		return "", fromRegistry(err)
	}
	n := 0
	for {
		imgs, more, err := s.reg.Images(ctx, sc.ns, repo, after, limit-n)
		if err != nil {
			return "", err
		}
		for i := range imgs {
			n += fn(&imgs[i])
			after = imgs[i].Digest
		}
		if !more {
			return "", nil
		}
		if n >= limit {
			return encodeToken(action, repo, after), nil
		}
	}
}

// keepTagStatus reports whether an image passes a TAGGED/UNTAGGED/ANY filter.
func keepTagStatus(status string, img *registry.Image) bool {
	switch status {
	case "TAGGED":
		return len(img.Tags) > 0
	case "UNTAGGED":
		return len(img.Tags) == 0
	}
	return true
}

// ListImages lists a repository's image ids: one per tag, and a digest-only
// id for an untagged image; filter.tagStatus narrows them.
func (s *Service) ListImages(ctx context.Context, in *w.ListImagesRequest) (*w.ListImagesResponse, error) {
	sc := s.scope(ctx)
	if err := sc.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	status := ""
	if in.Filter != nil {
		status = in.Filter.TagStatus
	}
	out := &w.ListImagesResponse{ImageIds: []w.ImageIdentifier{}}
	next, err := s.eachImage(ctx, sc, "ListImages", in.RepositoryName, in.NextToken, pageSize(in.MaxResults, 100), func(img *registry.Image) int {
		if !keepTagStatus(status, img) {
			return 0
		}
		if len(img.Tags) == 0 {
			out.ImageIds = append(out.ImageIds, w.ImageIdentifier{ImageDigest: img.Digest})
		}
		for _, t := range img.Tags {
			out.ImageIds = append(out.ImageIds, w.ImageIdentifier{ImageDigest: img.Digest, ImageTag: t})
		}
		return 1
	})
	if err != nil {
		return nil, err
	}
	out.NextToken = next
	return out, nil
}

// detail is an image as DescribeImages shows it.
func detail(sc scope, repo string, img *registry.Image) w.ImageDetail {
	d := w.ImageDetail{
		ImageDigest:            img.Digest,
		ImageManifestMediaType: img.MediaType,
		ArtifactMediaType:      img.ArtifactType,
		ImagePushedAt:          wire.At(time.UnixMilli(img.PushedAt).UTC()),
		ImageSizeInBytes:       img.Size,
		ImageTags:              img.Tags,
		RegistryId:             sc.Account,
		RepositoryName:         repo,
		SubjectManifestDigest:  img.Subject,
		ImageStatus:            "ACTIVE",
	}
	if img.LastPull > 0 {
		d.LastRecordedPullTime = wire.At(time.UnixMilli(img.LastPull).UTC())
	}
	return d
}

// DescribeImages describes the given images (each must exist), or pages
// through the repository's images, filtered by tag status.
func (s *Service) DescribeImages(ctx context.Context, in *w.DescribeImagesRequest) (*w.DescribeImagesResponse, error) {
	sc := s.scope(ctx)
	if err := sc.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	out := &w.DescribeImagesResponse{ImageDetails: []w.ImageDetail{}}
	if len(in.ImageIds) > 0 {
		for _, id := range in.ImageIds {
			img, err := s.resolveID(ctx, sc, in.RepositoryName, id)
			if err != nil {
				return nil, err
			}
			out.ImageDetails = append(out.ImageDetails, detail(sc, in.RepositoryName, img))
		}
		return out, nil
	}
	status := ""
	if in.Filter != nil {
		status = in.Filter.TagStatus
	}
	next, err := s.eachImage(ctx, sc, "DescribeImages", in.RepositoryName, in.NextToken, pageSize(in.MaxResults, 100), func(img *registry.Image) int {
		if !keepTagStatus(status, img) {
			return 0
		}
		out.ImageDetails = append(out.ImageDetails, detail(sc, in.RepositoryName, img))
		return 1
	})
	if err != nil {
		return nil, err
	}
	out.NextToken = next
	return out, nil
}

// resolveID finds the image an identifier names; with both a tag and a
// digest, the tag must name that digest.
func (s *Service) resolveID(ctx context.Context, sc scope, repo string, id w.ImageIdentifier) (*registry.Image, error) {
	ref := id.ImageDigest
	if ref == "" {
		ref = id.ImageTag
	}
	if ref == "" {
		return nil, InvalidParameter.Errorf("An image identifier needs an imageDigest or an imageTag.")
	}
	img, _, err := s.reg.Resolve(ctx, sc.ns, repo, ref)
	if err != nil {
		if registry.ManifestUnknown.Is(err) || registry.DigestInvalid.Is(err) || registry.Unsupported.Is(err) {
			return nil, ImageNotFound.Errorf("The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'", idText(id), repo, sc.Account)
		}
		return nil, fromRegistry(err)
	}
	if id.ImageTag != "" && id.ImageDigest != "" && !slices.Contains(img.Tags, id.ImageTag) {
		return nil, ImageNotFound.Errorf("The image tag '%s' does not name the image %s in the repository with name '%s'", id.ImageTag, id.ImageDigest, repo)
	}
	return img, nil
}

// idText is an image identifier as ECR quotes it in its messages, a
// member not given written null: {imageDigest:'null', imageTag:'v1'}.
func idText(id w.ImageIdentifier) string {
	digest, tag := id.ImageDigest, id.ImageTag
	if digest == "" {
		digest = "null"
	}
	if tag == "" {
		tag = "null"
	}
	return "{imageDigest:'" + digest + "', imageTag:'" + tag + "'}"
}

// imageFailure is the failure entry for an identifier that resolveID refused.
func imageFailure(id w.ImageIdentifier, err error) (w.ImageFailure, bool) {
	f := w.ImageFailure{ImageId: &id}
	switch {
	case ImageNotFound.Is(err):
		f.FailureCode, f.FailureReason = "ImageNotFound", "Requested image not found"
	case InvalidParameter.Is(err):
		f.FailureCode, f.FailureReason = "MissingDigestAndTag", "Invalid request parameters: image tag and digest cannot both be null"
	default:
		return f, false
	}
	if id.ImageTag != "" && id.ImageDigest != "" && ImageNotFound.Is(err) {
		f.FailureCode, f.FailureReason = "ImageTagDoesNotMatchDigest", "The image tag does not match the digest"
	}
	return f, true
}

// BatchGetImage returns the manifests of the given images.
func (s *Service) BatchGetImage(ctx context.Context, in *w.BatchGetImageRequest) (*w.BatchGetImageResponse, error) {
	sc, _, err := s.lookup(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	out := &w.BatchGetImageResponse{Images: []w.Image{}, Failures: []w.ImageFailure{}}
	for _, id := range in.ImageIds {
		if f, bad := malformedDigest(id); bad {
			out.Failures = append(out.Failures, f)
			continue
		}
		img, err := s.resolveID(ctx, sc, in.RepositoryName, id)
		if err != nil {
			f, ok := imageFailure(id, err)
			if !ok {
				return nil, err
			}
			out.Failures = append(out.Failures, f)
			continue
		}
		if len(in.AcceptedMediaTypes) > 0 && !slices.Contains(in.AcceptedMediaTypes, img.MediaType) {
			out.Failures = append(out.Failures, w.ImageFailure{ImageId: &id, FailureCode: "UnsupportedImageType",
				FailureReason: "The image's media type " + img.MediaType + " is not among the accepted media types"})
			continue
		}
		body, err := s.reg.ManifestBytes(img)
		if err != nil {
			return nil, err
		}
		got := w.ImageIdentifier{ImageDigest: img.Digest, ImageTag: id.ImageTag}
		out.Images = append(out.Images, w.Image{ImageId: &got, ImageManifest: string(body), ImageManifestMediaType: img.MediaType,
			RegistryId: sc.Account, RepositoryName: in.RepositoryName})
	}
	return out, nil
}

// PutImage stores a manifest (whose blobs must already be in the
// repository) under a tag and/or digest. An immutable repository refuses to
// move a tag; of concurrent pushes of one new tag, exactly one wins.
func (s *Service) PutImage(ctx context.Context, in *w.PutImageRequest) (*w.PutImageResponse, error) {
	sc := s.scope(ctx)
	if err := sc.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	body := []byte(in.ImageManifest)
	mt, index, ok := manifestKind(in.ImageManifestMediaType, body)
	if !ok {
		return nil, InvalidParameter.Errorf("%s", "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'")
	}
	if in.ImageDigest != "" {
		alg := "sha256"
		if len(in.ImageDigest) > 7 && in.ImageDigest[:7] == "sha512:" {
			alg = "sha512"
		}
		if got := digestOf(alg, body); got != in.ImageDigest {
			return nil, ImageDigestDoesNotMatch.Errorf("The digest of the manifest is %s, not the imageDigest %s.", got, in.ImageDigest)
		}
	}
	ref := in.ImageTag
	if ref == "" {
		ref = in.ImageDigest
	}
	if ref == "" {
		ref = digestOf("sha256", body)
	}
	if in.ImageTag != "" {
		if cur, _, err := s.reg.Resolve(ctx, sc.ns, in.RepositoryName, in.ImageTag); err == nil && cur.Digest == digestOf(algOf(cur.Digest), body) {
			return nil, ImageAlreadyExists.Errorf("Image with digest '%s' and tag '%s' already exists in the repository with name '%s' in registry with id '%s'", cur.Digest, in.ImageTag, in.RepositoryName, sc.Account)
		}
	}
	img, err := s.reg.PutManifest(ctx, sc.ns, in.RepositoryName, ref, in.ImageManifestMediaType, body)
	if e, ok := registry.AsError(err); ok && index && e.Code == registry.ManifestBlobUnknown {
		missing, _ := e.Detail.(map[string]string)
		return nil, ReferencedImagesNotFound.Errorf("The manifest list (%s) references the image %s, which does not exist in the repository with name '%s' in the registry with id '%s'",
			mt, missing["digest"], in.RepositoryName, sc.Account)
	}
	if err != nil {
		return nil, fromRegistry(err)
	}
	return &w.PutImageResponse{Image: &w.Image{
		ImageId:       &w.ImageIdentifier{ImageDigest: img.Digest, ImageTag: in.ImageTag},
		ImageManifest: in.ImageManifest, ImageManifestMediaType: img.MediaType, RegistryId: sc.Account, RepositoryName: in.RepositoryName,
	}}, nil
}

// manifestKind finds a manifest's media type (the request's, else the
// manifest's own mediaType) and whether it is a manifest list or image
// index. ok is false when the manifest is not a JSON object or names no
// media type anywhere, which ECR refuses.
func manifestKind(given string, body []byte) (mt string, index, ok bool) {
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return "", false, false
	}
	mt = given
	if mt == "" {
		mt = m.MediaType
	}
	return mt, mt == registry.MediaDockerList || mt == registry.MediaOCIIndex, mt != ""
}

// digestPattern is the form ECR requires of an image digest.
var digestPattern = regexp.MustCompile(`^[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+$`)

// malformedDigest is the failure entry for an identifier whose digest is
// not a digest at all, or false if the digest is well-formed (or absent).
func malformedDigest(id w.ImageIdentifier) (w.ImageFailure, bool) {
	if id.ImageDigest == "" || digestPattern.MatchString(id.ImageDigest) {
		return w.ImageFailure{}, false
	}
	return w.ImageFailure{ImageId: &id, FailureCode: "InvalidImageDigest",
		FailureReason: "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"}, true
}

// BatchDeleteImage deletes images by digest (with all their tags) or
// removes tags; an image whose last tag is removed is deleted.
func (s *Service) BatchDeleteImage(ctx context.Context, in *w.BatchDeleteImageRequest) (*w.BatchDeleteImageResponse, error) {
	sc, _, err := s.lookup(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	out := &w.BatchDeleteImageResponse{ImageIds: []w.ImageIdentifier{}, Failures: []w.ImageFailure{}}
	for _, id := range in.ImageIds {
		if f, bad := malformedDigest(id); bad {
			out.Failures = append(out.Failures, f)
			continue
		}
		img, err := s.resolveID(ctx, sc, in.RepositoryName, id)
		if err != nil {
			f, ok := imageFailure(id, err)
			if !ok {
				return nil, err
			}
			out.Failures = append(out.Failures, f)
			continue
		}
		if id.ImageDigest == "" && len(img.Tags) > 1 {
			if _, err := s.reg.DeleteTag(ctx, sc.ns, in.RepositoryName, id.ImageTag); err != nil {
				return nil, fromRegistry(err)
			}
			out.ImageIds = append(out.ImageIds, w.ImageIdentifier{ImageDigest: img.Digest, ImageTag: id.ImageTag})
			continue
		}
		deleted, err := s.reg.DeleteImage(ctx, sc.ns, in.RepositoryName, img.Digest)
		if err != nil {
			return nil, fromRegistry(err)
		}
		if len(deleted.Tags) == 0 {
			out.ImageIds = append(out.ImageIds, w.ImageIdentifier{ImageDigest: deleted.Digest})
		}
		for _, t := range deleted.Tags {
			out.ImageIds = append(out.ImageIds, w.ImageIdentifier{ImageDigest: deleted.Digest, ImageTag: t})
		}
	}
	return out, nil
}
