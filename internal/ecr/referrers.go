package ecr

import (
	"context"
	"slices"

	"github.com/gantry-dev/gantry/internal/awsapi"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

func (s *Service) referrerActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{"ListImageReferrers": action(m, s.ListImageReferrers)}
}

// ListImageReferrers lists the artifacts (signatures, SBOMs, attestations:
// manifests whose subject is the image) that refer to an image of a
// repository, as the OCI referrers API under /v2/ does, in digest order,
// filtered by artifact type. Every artifact in Gantry is ACTIVE (nothing is
// archived), so the ARCHIVED and ACTIVATING filters list none.
func (s *Service) ListImageReferrers(ctx context.Context, in *w.ListImageReferrersRequest) (*w.ListImageReferrersResponse, error) {
	sc, _, err := s.lookup(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	subject := in.SubjectId.ImageDigest
	if !digestPattern.MatchString(subject) {
		return nil, InvalidParameter.Errorf("Invalid parameter at 'subjectId.imageDigest' failed to satisfy constraint: 'must satisfy regular expression '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+''")
	}
	after, err := decodeToken("ListImageReferrers", in.RepositoryName+"@"+subject, in.NextToken)
	if err != nil {
		return nil, err
	}
	var types []string
	status := "ACTIVE"
	if in.Filter != nil {
		types = in.Filter.ArtifactTypes
		if in.Filter.ArtifactStatus != "" {
			status = in.Filter.ArtifactStatus
		}
	}
	out := &w.ListImageReferrersResponse{Referrers: []w.ImageReferrer{}}
	if status != "ACTIVE" && status != "ANY" {
		return out, nil
	}
	refs, err := s.reg.Referrers(ctx, sc.ns, in.RepositoryName, subject)
	if err != nil {
		return nil, fromRegistry(err)
	}
	limit := pageSize(in.MaxResults, 50)
	for _, d := range refs {
		if d.Digest <= after || len(types) > 0 && !slices.Contains(types, d.ArtifactType) {
			continue
		}
		if len(out.Referrers) == limit {
			out.NextToken = encodeToken("ListImageReferrers", in.RepositoryName+"@"+subject, out.Referrers[limit-1].Digest)
			break
		}
		out.Referrers = append(out.Referrers, w.ImageReferrer{Digest: d.Digest, MediaType: d.MediaType, ArtifactType: d.ArtifactType,
			Size: d.Size, Annotations: d.Annotations, ArtifactStatus: "ACTIVE"})
	}
	return out, nil
}
