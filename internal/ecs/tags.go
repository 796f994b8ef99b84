package ecs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

func (s *Service) tagActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"TagResource":         awsapi.Action(m, s.TagResource),
		"UntagResource":       awsapi.Action(m, s.UntagResource),
		"ListTagsForResource": awsapi.Action(m, s.ListTagsForResource),
	}
}

// taggables is every resource type the tagging actions reach, keyed by the
// resource type of its ARN (arn:aws:ecs:<region>:<account>:<type>/<id>).
// Making another resource taggable is adding its entry here.
var taggables = map[string]taggable{
	"cluster": {
		locate: locateCluster,
		tagAccess: recordTags(
			func(c *model.Cluster) bool { return c.Status != model.ClusterInactive },
			func(c *model.Cluster) *[]w.Tag { return &c.Tags }),
	},
	"task-definition": {
		locate: locateTaskDefinition,
		tagAccess: recordTags(
			func(d *model.TaskDefinition) bool { return d.Def.Status != model.TaskDefinitionDeleteInProgress },
			func(d *model.TaskDefinition) *[]w.Tag { return &d.Tags }),
	},
	"container-instance": {
		locate: locateInstance,
		tagAccess: recordTags(
			func(ci *model.ContainerInstance) bool { return ci.Status != model.InstanceInactive },
			func(ci *model.ContainerInstance) *[]w.Tag { return &ci.Tags }),
	},
	"service": {
		locate: locateService,
		tagAccess: recordTags(
			func(svc *model.Service) bool { return svc.Status != model.ServiceInactive },
			func(svc *model.Service) *[]w.Tag { return &svc.Tags }),
	},
}

// notYetTaggable are the resource types ECS can tag that Gantry cannot yet,
// because it does not store them yet; they get their own message.
var notYetTaggable = []string{"task", "capacity-provider", "task-set"}

// taggable is how the tagging actions reach the tags of one resource type.
type taggable struct {
	// locate turns the resource id of an ARN (what follows "<type>/") into
	// where its record is; a malformed id is an InvalidParameter error.
	locate func(id string) (location, error)
	tagAccess
}

// location is where the record of a resource is: its key, and the error
// that answers a request about it when it does not exist.
type location struct {
	key      string
	notFound error
}

// tagAccess reads and rewrites the tags of the record at a location. Both
// answer its notFound error when there is no record, or when it is not a
// live resource.
type tagAccess struct {
	get    func(ctx context.Context, st *state.Store, at location) ([]w.Tag, error)
	update func(ctx context.Context, st *state.Store, at location, change func([]w.Tag) ([]w.Tag, error)) error
}

// recordTags is the tagAccess of records of type T: live reports whether a
// stored record is a resource that exists (not INACTIVE, not being deleted),
// tags points at its tags. Updates are read-modify-write with a revision
// check, retried on conflict, so concurrent writers lose nothing.
func recordTags[T any](live func(*T) bool, tags func(*T) *[]w.Tag) tagAccess {
	return tagAccess{
		get: func(ctx context.Context, st *state.Store, at location) ([]w.Tag, error) {
			rec := new(T)
			_, err := st.Get(ctx, at.key, rec)
			if errors.Is(err, state.ErrNotFound) || err == nil && !live(rec) {
				return nil, at.notFound
			}
			if err != nil {
				return nil, err
			}
			return *tags(rec), nil
		},
		update: func(ctx context.Context, st *state.Store, at location, change func([]w.Tag) ([]w.Tag, error)) error {
			_, err := state.Update(ctx, st, at.key, func(rec *T, found bool) (*T, error) {
				if !found || !live(rec) {
					return nil, at.notFound
				}
				next, err := change(*tags(rec))
				if err != nil {
					return nil, err
				}
				*tags(rec) = next
				return rec, nil
			})
			return err
		},
	}
}

func locateCluster(id string) (location, error) {
	if !validName(id) {
		return location{}, InvalidParameter.Errorf("Cluster name %q in the resource ARN is not valid: expected cluster/<name>, the name up to 255 letters, numbers, underscores and hyphens.", id)
	}
	return location{model.ClusterKey(id), errClusterNotFound(id)}, nil
}

func locateTaskDefinition(id string) (location, error) {
	family, rev, _ := strings.Cut(id, ":")
	n, err := strconv.ParseInt(rev, 10, 32)
	if !validName(family) || err != nil || n < 1 {
		return location{}, InvalidParameter.Errorf("%q is not a task definition: the resource ARN must end in task-definition/<family>:<revision>.", id)
	}
	return location{model.TaskDefinitionKey(family, int32(n)),
		ResourceNotFound.Errorf("The task definition %s does not exist. Register it with RegisterTaskDefinition, or name an existing revision.", id)}, nil
}

func locateInstance(id string) (location, error) {
	cluster, inst, _ := strings.Cut(id, "/")
	if !validName(cluster) || !model.IsID(inst) {
		return location{}, InvalidParameter.Errorf("%q is not a container instance: the resource ARN must end in container-instance/<cluster>/<id>, the id 32 hexadecimal characters.", id)
	}
	return location{model.InstanceKey(cluster, inst),
		ResourceNotFound.Errorf("The container instance %s is not registered in cluster %s.", inst, cluster)}, nil
}

// locateService: services are tagged by their long-format ARN,
// service/<cluster>/<name>; ACTIVE and DRAINING ones (a deleted service's
// tags go with it).
func locateService(id string) (location, error) {
	cluster, name, _ := strings.Cut(id, "/")
	if !validName(cluster) || !validName(name) {
		return location{}, InvalidParameter.Errorf("%q is not a service: the resource ARN must end in service/<cluster>/<name>.", id)
	}
	return location{model.ServiceKey(cluster, name),
		ResourceNotFound.Errorf("The service %s does not exist in cluster %s (or was deleted).", name, cluster)}, nil
}

// taggedResource is a resource ARN resolved through the taggables table.
type taggedResource struct {
	taggable
	location
}

// taggedResource resolves a resourceArn of the tagging actions. ARNs that are
// malformed, of another account or region, or of a type Gantry cannot tag
// are InvalidParameter errors; existence is checked when the record is read.
func (sc scope) taggedResource(arn string) (taggedResource, error) {
	a, err := model.ParseARN(arn)
	if err != nil || a.Partition != "aws" || a.Service != "ecs" || !strings.Contains(a.Resource, "/") {
		return taggedResource{}, InvalidParameter.Errorf("%q is not an ECS resource ARN: expected arn:aws:ecs:%s:%s:<resource-type>/<id>.", arn, sc.Region, sc.Account)
	}
	if a.Account != sc.Account || a.Region != sc.Region {
		return taggedResource{}, InvalidParameter.Errorf("The resource %s is in account %s, region %s; this request can only tag resources of account %s in region %s.", arn, a.Account, a.Region, sc.Account, sc.Region)
	}
	t, ok := taggables[a.ResourceType()]
	if !ok {
		if slices.Contains(notYetTaggable, a.ResourceType()) {
			return taggedResource{}, InvalidParameter.Errorf("Gantry cannot tag %s resources yet; the taggable resource types are %s.", a.ResourceType(), taggableTypes())
		}
		return taggedResource{}, InvalidParameter.Errorf("%q is not a taggable resource type; the taggable resource types are %s.", a.ResourceType(), taggableTypes())
	}
	loc, err := t.locate(a.ResourceID())
	if err != nil {
		return taggedResource{}, err
	}
	return taggedResource{t, loc}, nil
}

func taggableTypes() string {
	var ts []string
	for t := range taggables {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return strings.Join(ts, ", ")
}

// TagResource adds tags to a resource; a tag whose key the resource already
// has replaces the old value. The resource may carry at most 50 tags after
// the merge, else LimitExceededException and nothing changes.
func (s *Service) TagResource(ctx context.Context, in *w.TagResourceRequest) (*w.TagResourceResponse, error) {
	sc := s.scope(ctx)
	r, err := sc.taggedResource(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	err = r.update(ctx, sc.st, r.location, func(cur []w.Tag) ([]w.Tag, error) {
		merged := mergeTags(cur, in.Tags)
		if len(merged) > maxTags {
			return nil, LimitExceeded.Errorf("A resource can have at most %d tags: %s has %d, and adding these would make %d. Remove some with UntagResource first.", maxTags, in.ResourceArn, len(cur), len(merged))
		}
		return merged, nil
	})
	if err != nil {
		return nil, err
	}
	return &w.TagResourceResponse{}, nil
}

// UntagResource removes the tags of the given keys from a resource. Keys the
// resource does not have are ignored.
func (s *Service) UntagResource(ctx context.Context, in *w.UntagResourceRequest) (*w.UntagResourceResponse, error) {
	sc := s.scope(ctx)
	r, err := sc.taggedResource(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if len(in.TagKeys) > maxTags {
		return nil, InvalidParameter.Errorf("At most %d tag keys can be removed at once; %d were given.", maxTags, len(in.TagKeys))
	}
	for i, k := range in.TagKeys {
		if err := validateUntagKey(k, fmt.Sprintf("tagKeys.%d.member", i+1)); err != nil {
			return nil, err
		}
	}
	err = r.update(ctx, sc.st, r.location, func(cur []w.Tag) ([]w.Tag, error) {
		out := slices.DeleteFunc(slices.Clone(cur), func(t w.Tag) bool { return slices.Contains(in.TagKeys, t.Key) })
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return &w.UntagResourceResponse{}, nil
}

// ListTagsForResource returns the tags of a resource, in the order they were
// first added.
func (s *Service) ListTagsForResource(ctx context.Context, in *w.ListTagsForResourceRequest) (*w.ListTagsForResourceResponse, error) {
	sc := s.scope(ctx)
	r, err := sc.taggedResource(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	tags, err := r.get(ctx, sc.st, r.location)
	if err != nil {
		return nil, err
	}
	return &w.ListTagsForResourceResponse{Tags: nonNil(tags)}, nil
}

// mergeTags returns cur with each of changes applied: a known key takes the
// new value in place, a new key is appended.
func mergeTags(cur, changes []w.Tag) []w.Tag {
	out := slices.Clone(cur)
	for _, ch := range changes {
		if i := slices.IndexFunc(out, func(t w.Tag) bool { return t.Key == ch.Key }); i >= 0 {
			out[i].Value = ch.Value
		} else {
			out = append(out, ch)
		}
	}
	return out
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
	for i, t := range tags {
		if err := validateTagKey(t.Key, fmt.Sprintf("tags.%d.member.key", i+1)); err != nil {
			return err
		}
		if len([]rune(t.Value)) > 256 {
			return InvalidParameter.Errorf("The value of tag %q is longer than 256 characters.", t.Key)
		}
		if !tagPattern.MatchString(t.Value) {
			return errTagPattern(t.Value, fmt.Sprintf("tags.%d.member.value", i+1))
		}
		if seen[t.Key] {
			return InvalidParameter.Errorf("Tag key %q is given more than once; each tag key must be unique.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// validateTagKey checks a tag key, the member at path of the request.
func validateTagKey(k, path string) error {
	if k == "" || len([]rune(k)) > 128 {
		return InvalidParameter.Errorf("Tag key %q must be 1 to 128 characters long.", k)
	}
	if !tagPattern.MatchString(k) {
		return errTagPattern(k, path)
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		return errReservedTagPrefix(k)
	}
	return nil
}

// validateUntagKey checks a key to remove. It is looser than a key to add,
// as ECS is: a key no tag can have (one with a comma, say, as the AWS CLI
// sends `--tag-keys key1,key2`) removes nothing, but a key that is not
// text (control characters, bytes that are not UTF-8) is refused.
func validateUntagKey(k, path string) error {
	if k == "" || len([]rune(k)) > 128 {
		return InvalidParameter.Errorf("Tag key %q must be 1 to 128 characters long.", k)
	}
	if !utf8.ValidString(k) || strings.ContainsFunc(k, unicode.IsControl) {
		return errTagPattern(k, path)
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		return errReservedTagPrefix(k)
	}
	return nil
}

// errReservedTagPrefix refuses a tag key with the prefix AWS keeps for
// itself.
func errReservedTagPrefix(k string) error {
	return InvalidParameter.Errorf("Tag key %q uses the reserved prefix aws:, which is for AWS use only.", k)
}

// tagPatternText is the service model's pattern for tag keys and values:
// Unicode letters, separators (spaces) and numbers, and _ . : / = + - @.
// Control characters (NUL), other symbols and bytes that are not UTF-8 (read
// as U+FFFD) do not match.
const tagPatternText = `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`

var tagPattern = regexp.MustCompile(tagPatternText)

// errTagPattern is ECS's answer to a tag key or value outside the pattern,
// in the words of AWS's model validation.
func errTagPattern(value, path string) error {
	return withHint(InvalidParameter.Errorf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", value, path, tagPatternText),
		"tag keys and values may hold only letters, numbers, spaces and _ . : / = + - @ (no control characters, and valid UTF-8)")
}
