package ecs

import (
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

func (s *Service) tagActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{}
}

// maxTags is the most tags a resource can carry.
const maxTags = 50

// validateTags checks tags as ECS does: at most 50, keys of 1 to 128 and
// values of up to 256 characters, no duplicate keys, and no key with the
// reserved aws: prefix.
func validateTags(tags []w.Tag) error {
	if len(tags) > maxTags {
		return InvalidParameter.Errorf("A resource can have at most %d tags; %d were given.", maxTags, len(tags))
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if err := validateTagKey(t.Key); err != nil {
			return err
		}
		if len([]rune(t.Value)) > 256 {
			return InvalidParameter.Errorf("The value of tag %q is longer than 256 characters.", t.Key)
		}
		if seen[t.Key] {
			return InvalidParameter.Errorf("Tag key %q is given more than once; each tag key must be unique.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

func validateTagKey(k string) error {
	if k == "" || len([]rune(k)) > 128 {
		return InvalidParameter.Errorf("Tag key %q must be 1 to 128 characters long.", k)
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		return InvalidParameter.Errorf("Tag key %q uses the reserved prefix aws:, which is for AWS use only.", k)
	}
	return nil
}
