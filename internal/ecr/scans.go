package ecr

import (
	"context"

	"github.com/gantry-dev/gantry/internal/awsapi"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

// Gantry has no vulnerability scanner. StartImageScan resolves the image as
// ECR does (its repository and image must exist) and then answers as ECR
// answers for an image it cannot scan; DescribeImageScanFindings, having
// no scan to report, answers as ECR does for an image never scanned.

func (s *Service) scanActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"StartImageScan":            action(m, s.StartImageScan),
		"DescribeImageScanFindings": action(m, s.DescribeImageScanFindings),
	}
}

// StartImageScan refuses to scan an existing image:
// UnsupportedImageTypeException.
func (s *Service) StartImageScan(ctx context.Context, in *w.StartImageScanRequest) (*w.StartImageScanResponse, error) {
	sc, _, err := s.lookup(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if _, err := s.resolveID(ctx, sc, in.RepositoryName, *in.ImageId); err != nil {
		return nil, err
	}
	return nil, UnsupportedImageType.Errorf("%s", "The image is of a type that cannot be scanned: this registry has no vulnerability scanner.")
}

// DescribeImageScanFindings reports that an existing image has no scan:
// ScanNotFoundException.
func (s *Service) DescribeImageScanFindings(ctx context.Context, in *w.DescribeImageScanFindingsRequest) (*w.DescribeImageScanFindingsResponse, error) {
	sc, _, err := s.lookup(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	id := *in.ImageId
	if _, err := s.resolveID(ctx, sc, in.RepositoryName, id); err != nil {
		return nil, err
	}
	return nil, ScanNotFound.Errorf("Image scan does not exist for the image with '%s' in the repository with name '%s' in the registry with id '%s'", idText(id), in.RepositoryName, sc.Account)
}
