package ecr

import (
	"context"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/registry"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

func (s *Service) tagActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"TagResource":         action(m, s.TagResource),
		"UntagResource":       action(m, s.UntagResource),
		"ListTagsForResource": action(m, s.ListTagsForResource),
	}
}

// maxTags is ECR's limit of tags on one resource.
const maxTags = 50

// validateTags checks resource tags against ECR's rules.
func validateTags(tags []w.Tag) error {
	if len(tags) > maxTags {
		return TooManyTags.Errorf("A resource can have at most %d tags; %d were given.", maxTags, len(tags))
	}
	for _, t := range tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 || strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return InvalidTagParameter.Errorf("Tag key %q is not valid: 1 to 128 characters, not starting with aws:, and a value of at most 256 characters.", t.Key)
		}
	}
	return nil
}

// repoFromARN resolves a repository ARN of the caller's account and region.
func (sc scope) repoFromARN(arn string) (string, error) {
	a, err := model.ParseARN(arn)
	if err != nil || a.Service != "ecr" || a.ResourceType() != "repository" || a.ResourceID() == "" {
		return "", InvalidParameter.Errorf("%q is not a repository ARN: expected arn:aws:ecr:%s:%s:repository/<name>.", arn, sc.Region, sc.Account)
	}
	if a.Account != sc.Account || a.Region != sc.Region {
		return "", RepositoryNotFound.Errorf("The repository %s is not in account %s, region %s.", arn, sc.Account, sc.Region)
	}
	return a.ResourceID(), nil
}

// TagResource adds or replaces tags on a repository.
func (s *Service) TagResource(ctx context.Context, in *w.TagResourceRequest) (*w.TagResourceResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.repoFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	_, err = s.reg.UpdateRepository(ctx, sc.ns, name, func(r *registry.Repository) error {
		for _, t := range in.Tags {
			replaced := false
			for i := range r.Tags {
				if r.Tags[i].Key == t.Key {
					r.Tags[i].Value, replaced = t.Value, true
				}
			}
			if !replaced {
				r.Tags = append(r.Tags, t)
			}
		}
		return validateTags(r.Tags)
	})
	if err != nil {
		return nil, fromRegistry(err)
	}
	return &w.TagResourceResponse{}, nil
}

// UntagResource removes tags from a repository.
func (s *Service) UntagResource(ctx context.Context, in *w.UntagResourceRequest) (*w.UntagResourceResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.repoFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	_, err = s.reg.UpdateRepository(ctx, sc.ns, name, func(r *registry.Repository) error {
		kept := r.Tags[:0]
		for _, t := range r.Tags {
			drop := false
			for _, k := range in.TagKeys {
				drop = drop || k == t.Key
			}
			if !drop {
				kept = append(kept, t)
			}
		}
		r.Tags = kept
		return nil
	})
	if err != nil {
		return nil, fromRegistry(err)
	}
	return &w.UntagResourceResponse{}, nil
}

// ListTagsForResource lists a repository's tags.
func (s *Service) ListTagsForResource(ctx context.Context, in *w.ListTagsForResourceRequest) (*w.ListTagsForResourceResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.repoFromARN(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	r, _, err := s.reg.Repository(ctx, sc.ns, name)
	if err != nil {
		return nil, fromRegistry(err)
	}
	tags := r.Tags
	if tags == nil {
		tags = []w.Tag{}
	}
	return &w.ListTagsForResourceResponse{Tags: tags}, nil
}
