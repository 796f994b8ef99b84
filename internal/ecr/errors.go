package ecr

import (
	"errors"
	"net/http"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/registry"
)

// The ECR exceptions, as the service model names them. Every error an
// operation returns is built from one of these.
var (
	ServerException              = awsapi.Code{Name: "ServerException", Status: http.StatusInternalServerError}
	InvalidParameter             = awsapi.ClientCode("InvalidParameterException")
	RepositoryNotFound           = awsapi.ClientCode("RepositoryNotFoundException")
	RepositoryAlreadyExists      = awsapi.ClientCode("RepositoryAlreadyExistsException")
	RepositoryNotEmpty           = awsapi.ClientCode("RepositoryNotEmptyException")
	ImageNotFound                = awsapi.ClientCode("ImageNotFoundException")
	ImageAlreadyExists           = awsapi.ClientCode("ImageAlreadyExistsException")
	ImageTagAlreadyExists        = awsapi.ClientCode("ImageTagAlreadyExistsException")
	ImageDigestDoesNotMatch      = awsapi.ClientCode("ImageDigestDoesNotMatchException")
	LayersNotFound               = awsapi.ClientCode("LayersNotFoundException")
	InvalidTagParameter          = awsapi.ClientCode("InvalidTagParameterException")
	TooManyTags                  = awsapi.ClientCode("TooManyTagsException")
	LimitExceeded                = awsapi.ClientCode("LimitExceededException")
	RepositoryPolicyNotFound     = awsapi.ClientCode("RepositoryPolicyNotFoundException")
	LifecyclePolicyNotFound      = awsapi.ClientCode("LifecyclePolicyNotFoundException")
	ValidationException          = awsapi.ClientCode("ValidationException")
	UnsupportedImageType         = awsapi.ClientCode("UnsupportedImageTypeException")
	ReferencedImagesNotFound     = awsapi.ClientCode("ReferencedImagesNotFoundException")
	UploadNotFound               = awsapi.ClientCode("UploadNotFoundException")
	InvalidLayer                 = awsapi.ClientCode("InvalidLayerException")
	LayerInaccessible            = awsapi.ClientCode("LayerInaccessibleException")
	EmptyUpload                  = awsapi.ClientCode("EmptyUploadException")
	InvalidLayerPart             = awsapi.ClientCode("InvalidLayerPartException")
	LayerAlreadyExists           = awsapi.ClientCode("LayerAlreadyExistsException")
	LifecyclePolicyPreviewNotFnd = awsapi.ClientCode("LifecyclePolicyPreviewNotFoundException")
	RegistryPolicyNotFound       = awsapi.ClientCode("RegistryPolicyNotFoundException")
	ScanNotFound                 = awsapi.ClientCode("ScanNotFoundException")
)

// registryCodes maps the registry's OCI codes to the ECR exception an API
// caller gets for the same condition.
var registryCodes = map[string]awsapi.Code{
	registry.NameUnknown.Name:         RepositoryNotFound,
	registry.NameInvalid.Name:         InvalidParameter,
	registry.TagInvalid.Name:          ImageTagAlreadyExists,
	registry.ManifestBlobUnknown.Name: LayersNotFound,
	registry.ManifestInvalid.Name:     InvalidParameter,
	registry.ManifestUnknown.Name:     ImageNotFound,
	registry.DigestInvalid.Name:       InvalidParameter,
	registry.BlobUnknown.Name:         LayersNotFound,
	registry.Unsupported.Name:         UnsupportedImageType,
	// The registry's limits on upload sessions and its disk reserve.
	registry.TooManyRequests.Name: LimitExceeded,
	registry.Denied.Name:          LimitExceeded,
}

// fromRegistry turns an error of the registry into the ECR error for it.
func fromRegistry(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, registry.ErrRepositoryExists):
		return RepositoryAlreadyExists.Errorf("%s", "The repository already exists in the registry.")
	case errors.Is(err, registry.ErrRepositoryNotEmpty):
		return RepositoryNotEmpty.Errorf("%s", "The repository cannot be deleted because it still contains images: delete them first, or pass force.")
	}
	if e, ok := registry.AsError(err); ok {
		if code, ok := registryCodes[e.Code.Name]; ok {
			return code.Errorf("%s", e.Message)
		}
	}
	return err
}
