package ecr

import (
	"context"
	"errors"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/registry"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

// The layer upload API: InitiateLayerUpload, UploadLayerPart,
// CompleteLayerUpload, over the registry's upload sessions. A session lives
// in the memory of the replica that started it (as a /v2/ upload does), so
// behind a load balancer the three calls of one upload must reach the same
// replica.

// layerPartSize is the part size InitiateLayerUpload advises. ECR accepts
// parts of up to 20 MiB; a part travels base64-encoded in a JSON body, so
// this keeps a part well under the server edge's 10 MiB body limit.
const layerPartSize = 5 << 20

func (s *Service) uploadActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"InitiateLayerUpload": action(m, s.InitiateLayerUpload),
		"UploadLayerPart":     action(m, s.UploadLayerPart),
		"CompleteLayerUpload": action(m, s.CompleteLayerUpload),
	}
}

// InitiateLayerUpload opens an upload session in a repository.
func (s *Service) InitiateLayerUpload(ctx context.Context, in *w.InitiateLayerUploadRequest) (*w.InitiateLayerUploadResponse, error) {
	sc := s.scope(ctx)
	if err := sc.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	id, err := s.reg.StartUpload(ctx, sc.ns, sc.AccessKeyID, in.RepositoryName)
	if err != nil {
		return nil, fromRegistry(err)
	}
	return &w.InitiateLayerUploadResponse{UploadId: id, PartSize: layerPartSize}, nil
}

// uploadError maps a session error to the ECR exception for it.
func uploadError(err error, id string) error {
	switch {
	case registry.BlobUploadUnknown.Is(err):
		return UploadNotFound.Errorf("The upload with id '%s' does not exist (or was started on another server replica).", id)
	case registry.BlobUploadInvalid.Is(err):
		e, _ := registry.AsError(err)
		return InvalidLayerPart.Errorf("%s", e.Message)
	case registry.DigestInvalid.Is(err):
		e, _ := registry.AsError(err)
		return InvalidLayer.Errorf("The layer digest calculation performed upon receipt of the image layer does not match the digest specified: %s", e.Message)
	case registry.Unsupported.Is(err):
		return InvalidLayer.Errorf("The layer digest algorithm is not supported; use sha256 or sha512.")
	case errors.Is(err, registry.ErrEmptyUpload):
		return EmptyUpload.Errorf("The upload with id '%s' received no layer parts.", id)
	}
	return fromRegistry(err)
}

// UploadLayerPart appends a part to an upload: it must start where the
// parts so far end, and partLastByte must be its last byte.
func (s *Service) UploadLayerPart(ctx context.Context, in *w.UploadLayerPartRequest) (*w.UploadLayerPartResponse, error) {
	sc, _, err := s.lookup(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if in.PartLastByte != in.PartFirstByte+int64(len(in.LayerPartBlob))-1 || len(in.LayerPartBlob) == 0 {
		return nil, InvalidLayerPart.Errorf("The part holds %d bytes, which do not span partFirstByte %d to partLastByte %d.",
			len(in.LayerPartBlob), in.PartFirstByte, in.PartLastByte)
	}
	size, err := s.reg.AppendUpload(sc.ns, in.RepositoryName, in.UploadId, in.PartFirstByte, in.LayerPartBlob)
	if err != nil {
		return nil, uploadError(err, in.UploadId)
	}
	return &w.UploadLayerPartResponse{LastByteReceived: size - 1, RegistryId: sc.Account, RepositoryName: in.RepositoryName, UploadId: in.UploadId}, nil
}

// CompleteLayerUpload checks the uploaded content against layerDigests and
// makes it a layer of the repository.
func (s *Service) CompleteLayerUpload(ctx context.Context, in *w.CompleteLayerUploadRequest) (*w.CompleteLayerUploadResponse, error) {
	sc, _, err := s.lookup(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	_, err = s.reg.CompleteUpload(ctx, sc.ns, in.RepositoryName, in.UploadId, in.LayerDigests)
	if errors.Is(err, registry.ErrLayerExists) {
		return nil, LayerAlreadyExists.Errorf("The image layer %s already exists in the repository with name '%s' in the registry with id '%s'", in.LayerDigests[0], in.RepositoryName, sc.Account)
	}
	if err != nil {
		return nil, uploadError(err, in.UploadId)
	}
	return &w.CompleteLayerUploadResponse{LayerDigest: in.LayerDigests[0], RegistryId: sc.Account, RepositoryName: in.RepositoryName, UploadId: in.UploadId}, nil
}
