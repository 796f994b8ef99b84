package ecr

import (
	"context"
	"regexp"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

func (s *Service) repositoryActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"CreateRepository":              action(m, s.CreateRepository),
		"DescribeRepositories":          action(m, s.DescribeRepositories),
		"DeleteRepository":              action(m, s.DeleteRepository),
		"PutImageTagMutability":         action(m, s.PutImageTagMutability),
		"PutImageScanningConfiguration": action(m, s.PutImageScanningConfiguration),
		"BatchCheckLayerAvailability":   action(m, s.BatchCheckLayerAvailability),
		"GetDownloadUrlForLayer":        action(m, s.GetDownloadUrlForLayer),
	}
}

// repoNamePattern is ECR's grammar for repository names, as the service
// model gives it; repoNameText is how ECR quotes it in its refusal.
var repoNamePattern = regexp.MustCompile(`^` + repoNameText + `$`)

const repoNameText = `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`

// validRepoName checks a repository name against ECR's pattern (the model's
// constraints have already bounded its length).
func validRepoName(name string) error {
	if !repoNamePattern.MatchString(name) {
		return InvalidParameter.Errorf("Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '%s''", repoNameText)
	}
	return nil
}

// CreateRepository creates a repository with its tag mutability, scanning
// and encryption configuration, and resource tags.
func (s *Service) CreateRepository(ctx context.Context, in *w.CreateRepositoryRequest) (*w.CreateRepositoryResponse, error) {
	sc := s.scope(ctx)
	if err := sc.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	mut := in.ImageTagMutability
	if mut == "" {
		mut = "MUTABLE"
	}
	enc := in.EncryptionConfiguration
	if enc == nil {
		enc = &w.EncryptionConfiguration{EncryptionType: "AES256"}
	} else if enc.EncryptionType == "AES256" && enc.KmsKey != "" {
		return nil, InvalidParameter.Errorf("kmsKey can only be given with encryptionType KMS.")
	} else if enc.KmsKey == "" && enc.EncryptionType != "AES256" {
		enc = &w.EncryptionConfiguration{EncryptionType: enc.EncryptionType, KmsKey: sc.managedKey()}
	}
	scan := in.ImageScanningConfiguration
	if scan == nil {
		scan = &w.ImageScanningConfiguration{}
	}
	repo := &registry.Repository{Repository: w.Repository{
		CreatedAt:                          wire.At(s.now().UTC()),
		EncryptionConfiguration:            enc,
		ImageScanningConfiguration:         scan,
		ImageTagMutability:                 mut,
		ImageTagMutabilityExclusionFilters: in.ImageTagMutabilityExclusionFilters,
		RegistryId:                         sc.Account,
		RepositoryArn:                      sc.arn(in.RepositoryName),
		RepositoryName:                     in.RepositoryName,
		RepositoryUri:                      sc.host() + "/" + in.RepositoryName,
	}, Tags: in.Tags}
	if err := s.reg.CreateRepository(ctx, sc.ns, repo); err != nil {
		if err == registry.ErrRepositoryExists {
			return nil, RepositoryAlreadyExists.Errorf("The repository with name '%s' already exists in the registry with id '%s'", in.RepositoryName, sc.Account)
		}
		return nil, fromRegistry(err)
	}
	return &w.CreateRepositoryResponse{Repository: s.present(sc, repo)}, nil
}

// present is a repository as the API shows it: its URI names the host the
// caller reached, so `docker push <uri>:<tag>` works as printed.
func (s *Service) present(sc scope, r *registry.Repository) *w.Repository {
	out := r.Repository
	out.RepositoryUri = sc.host() + "/" + r.RepositoryName
	return &out
}

// DescribeRepositories describes the named repositories (each must exist),
// or pages through all of them.
func (s *Service) DescribeRepositories(ctx context.Context, in *w.DescribeRepositoriesRequest) (*w.DescribeRepositoriesResponse, error) {
	sc := s.scope(ctx)
	if err := sc.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	out := &w.DescribeRepositoriesResponse{Repositories: []w.Repository{}}
	if len(in.RepositoryNames) > 0 {
		if in.MaxResults != nil || in.NextToken != "" {
			return nil, InvalidParameter.Errorf("maxResults and nextToken cannot be used together with repositoryNames.")
		}
		for _, name := range in.RepositoryNames {
			r, _, err := s.reg.Repository(ctx, sc.ns, name)
			if err != nil {
				return nil, fromRegistry(err)
			}
			out.Repositories = append(out.Repositories, *s.present(sc, r))
		}
		return out, nil
	}
	after, err := decodeToken("DescribeRepositories", "", in.NextToken)
	if err != nil {
		return nil, err
	}
	repos, more, err := s.reg.Repositories(ctx, sc.ns, after, pageSize(in.MaxResults, 100))
	if err != nil {
		return nil, err
	}
	for i := range repos {
		out.Repositories = append(out.Repositories, *s.present(sc, &repos[i]))
	}
	if more && len(repos) > 0 {
		out.NextToken = encodeToken("DescribeRepositories", "", repos[len(repos)-1].RepositoryName)
	}
	return out, nil
}

// DeleteRepository deletes a repository; with images in it only when force.
func (s *Service) DeleteRepository(ctx context.Context, in *w.DeleteRepositoryRequest) (*w.DeleteRepositoryResponse, error) {
	sc := s.scope(ctx)
	if err := sc.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	r, err := s.reg.DeleteRepository(ctx, sc.ns, in.RepositoryName, in.Force)
	if err == registry.ErrRepositoryNotEmpty {
		return nil, RepositoryNotEmpty.Errorf("The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains images", in.RepositoryName, sc.Account)
	}
	if err != nil {
		return nil, fromRegistry(err)
	}
	return &w.DeleteRepositoryResponse{Repository: s.present(sc, r)}, nil
}

// update changes a repository's record atomically.
func (s *Service) update(ctx context.Context, registryID, name string, fn func(*registry.Repository) error) (scope, *registry.Repository, error) {
	sc := s.scope(ctx)
	if err := sc.checkRegistry(registryID); err != nil {
		return sc, nil, err
	}
	r, err := s.reg.UpdateRepository(ctx, sc.ns, name, fn)
	return sc, r, fromRegistry(err)
}

// lookup resolves the scope of a request naming registryID and returns the
// repository name, or the ECR error a client expects.
func (s *Service) lookup(ctx context.Context, registryID, name string) (scope, *registry.Repository, error) {
	sc := s.scope(ctx)
	if err := sc.checkRegistry(registryID); err != nil {
		return sc, nil, err
	}
	r, _, err := s.reg.Repository(ctx, sc.ns, name)
	if err != nil {
		return sc, nil, fromRegistry(err)
	}
	return sc, r, nil
}

// PutImageTagMutability sets a repository's tag mutability.
func (s *Service) PutImageTagMutability(ctx context.Context, in *w.PutImageTagMutabilityRequest) (*w.PutImageTagMutabilityResponse, error) {
	sc, r, err := s.update(ctx, in.RegistryId, in.RepositoryName, func(r *registry.Repository) error {
		r.ImageTagMutability = in.ImageTagMutability
		r.ImageTagMutabilityExclusionFilters = in.ImageTagMutabilityExclusionFilters
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &w.PutImageTagMutabilityResponse{ImageTagMutability: r.ImageTagMutability,
		ImageTagMutabilityExclusionFilters: r.ImageTagMutabilityExclusionFilters, RegistryId: sc.Account, RepositoryName: r.RepositoryName}, nil
}

// PutImageScanningConfiguration sets whether images are scanned on push
// (stored; Gantry does not scan).
func (s *Service) PutImageScanningConfiguration(ctx context.Context, in *w.PutImageScanningConfigurationRequest) (*w.PutImageScanningConfigurationResponse, error) {
	sc, r, err := s.update(ctx, in.RegistryId, in.RepositoryName, func(r *registry.Repository) error {
		r.ImageScanningConfiguration = in.ImageScanningConfiguration
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &w.PutImageScanningConfigurationResponse{ImageScanningConfiguration: r.ImageScanningConfiguration,
		RegistryId: sc.Account, RepositoryName: r.RepositoryName}, nil
}
