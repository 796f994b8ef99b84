package ecr

import (
	"context"

	"github.com/gantry-dev/gantry/internal/registry"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

// BatchCheckLayerAvailability reports which layers are in a repository.
func (s *Service) BatchCheckLayerAvailability(ctx context.Context, in *w.BatchCheckLayerAvailabilityRequest) (*w.BatchCheckLayerAvailabilityResponse, error) {
	sc, _, err := s.lookup(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	out := &w.BatchCheckLayerAvailabilityResponse{Layers: []w.Layer{}, Failures: []w.LayerFailure{}}
	for _, d := range in.LayerDigests {
		size, err := s.reg.BlobSize(ctx, sc.ns, in.RepositoryName, d)
		switch {
		case registry.BlobUnknown.Is(err):
			out.Failures = append(out.Failures, w.LayerFailure{LayerDigest: d, FailureCode: "MissingLayerDigest", FailureReason: "Could not find the layer in the repository."})
		case registry.DigestInvalid.Is(err) || registry.Unsupported.Is(err):
			out.Failures = append(out.Failures, w.LayerFailure{LayerDigest: d, FailureCode: "InvalidLayerDigest", FailureReason: "Not a valid layer digest."})
		case err != nil:
			return nil, fromRegistry(err)
		default:
			out.Layers = append(out.Layers, w.Layer{LayerDigest: d, LayerAvailability: "AVAILABLE", LayerSize: size, MediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip"})
		}
	}
	return out, nil
}

// GetDownloadUrlForLayer returns the registry URL of a layer (it needs the
// same Basic credentials as any /v2/ request).
func (s *Service) GetDownloadUrlForLayer(ctx context.Context, in *w.GetDownloadUrlForLayerRequest) (*w.GetDownloadUrlForLayerResponse, error) {
	sc := s.scope(ctx)
	if err := sc.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	if _, err := s.reg.BlobSize(ctx, sc.ns, in.RepositoryName, in.LayerDigest); err != nil {
		if registry.BlobUnknown.Is(err) {
			return nil, LayersNotFound.Errorf("The layer %s does not exist in the repository %s.", in.LayerDigest, in.RepositoryName)
		}
		if registry.DigestInvalid.Is(err) || registry.Unsupported.Is(err) {
			return nil, InvalidParameter.Errorf("%q is not a valid layer digest.", in.LayerDigest)
		}
		return nil, fromRegistry(err)
	}
	base := sc.Endpoint
	if base == "" {
		base = "http://" + sc.host()
	}
	return &w.GetDownloadUrlForLayerResponse{DownloadUrl: base + "/v2/" + in.RepositoryName + "/blobs/" + in.LayerDigest, LayerDigest: in.LayerDigest}, nil
}
