package ecr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/registry"
)

// The lifecycle policy grammar and its evaluation, as ECR documents them
// (AmazonECR/latest/userguide/LifecyclePolicies.html,
// lifecycle_policy_parameters.html, lifecycle_policy_examples.html). Both
// are pure: parsePolicy checks a text, evaluatePolicy decides which images
// a policy expires from (images, policy, now).

// lifecyclePolicy is a parsed, valid lifecycle policy; its rules are sorted
// by priority.
type lifecyclePolicy struct {
	Rules []lifecycleRule `json:"rules"`
}

type lifecycleRule struct {
	RulePriority *int                `json:"rulePriority"`
	Description  string              `json:"description"`
	Selection    *lifecycleSelection `json:"selection"`
	Action       *lifecycleAction    `json:"action"`
}

type lifecycleSelection struct {
	TagStatus      string   `json:"tagStatus"`
	TagPrefixList  []string `json:"tagPrefixList"`
	TagPatternList []string `json:"tagPatternList"`
	StorageClass   string   `json:"storageClass"`
	CountType      string   `json:"countType"`
	CountUnit      string   `json:"countUnit"`
	CountNumber    *int     `json:"countNumber"`
}

type lifecycleAction struct {
	Type string `json:"type"`
}

// maxWildcards is ECR's limit of '*' in one tagPatternList entry.
const maxWildcards = 4

// invalidPolicy is the InvalidParameterException ECR answers for a policy
// that does not validate, with the reason.
func invalidPolicy(format string, args ...any) error {
	return InvalidParameter.Errorf("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: %s'", fmt.Sprintf(format, args...))
}

// parsePolicy parses and validates a lifecycle policy text.
func parsePolicy(text string) (*lifecyclePolicy, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.DisallowUnknownFields()
	var p lifecyclePolicy
	if err := dec.Decode(&p); err != nil {
		return nil, invalidPolicy("the policy is not valid JSON of the lifecycle policy grammar: %s", err.Error())
	}
	if dec.More() {
		return nil, invalidPolicy("the policy has text after its JSON object")
	}
	if len(p.Rules) == 0 {
		return nil, invalidPolicy("object has missing required properties ([\"rules\"]) or no rule")
	}
	seenPriority := map[int]bool{}
	seenLists := map[string]int{}
	untagged, anyPriority := 0, 0
	for i := range p.Rules {
		rule := &p.Rules[i]
		if rule.RulePriority == nil {
			return nil, invalidPolicy("rule %d has no rulePriority", i+1)
		}
		prio := *rule.RulePriority
		if prio < 1 {
			return nil, invalidPolicy("rulePriority %d must be a positive integer", prio)
		}
		if seenPriority[prio] {
			return nil, invalidPolicy("rulePriority %d is used by more than one rule; priorities must be unique", prio)
		}
		seenPriority[prio] = true
		if err := rule.validate(); err != nil {
			return nil, err
		}
		sel := rule.Selection
		switch sel.TagStatus {
		case "untagged":
			untagged++
			if untagged > 1 {
				return nil, invalidPolicy("only one rule may select untagged images (rulePriority %d is the second)", prio)
			}
		case "any":
			if anyPriority != 0 {
				return nil, invalidPolicy("only one rule may have tagStatus 'any'")
			}
			anyPriority = prio
		case "tagged":
			key := listKey(sel.TagPrefixList, sel.TagPatternList)
			if other, dup := seenLists[key]; dup {
				return nil, invalidPolicy("rules %d and %d select the same tags; the set of rules must contain a unique set of tag prefixes", other, prio)
			}
			seenLists[key] = prio
		}
	}
	if anyPriority != 0 {
		for prio := range seenPriority {
			if prio > anyPriority {
				return nil, invalidPolicy("the rule with tagStatus 'any' (rulePriority %d) must have the highest rulePriority, but %d is higher", anyPriority, prio)
			}
		}
	}
	sort.Slice(p.Rules, func(i, j int) bool { return *p.Rules[i].RulePriority < *p.Rules[j].RulePriority })
	return &p, nil
}

// listKey identifies the tags a tagged rule selects, independent of order.
func listKey(prefixes, patterns []string) string {
	if len(prefixes) > 0 {
		l := slices.Clone(prefixes)
		slices.Sort(l)
		return "prefix\x00" + strings.Join(l, "\x00")
	}
	l := slices.Clone(patterns)
	slices.Sort(l)
	return "pattern\x00" + strings.Join(l, "\x00")
}

// validate checks one rule on its own.
func (rule *lifecycleRule) validate() error {
	prio := *rule.RulePriority
	sel := rule.Selection
	if sel == nil {
		return invalidPolicy("rule %d has no selection", prio)
	}
	if rule.Action == nil {
		return invalidPolicy("rule %d has no action", prio)
	}
	if rule.Action.Type != "expire" {
		return invalidPolicy("rule %d: action type %q is not supported; use \"expire\"", prio, rule.Action.Type)
	}
	if sel.StorageClass != "" && sel.StorageClass != "standard" {
		return invalidPolicy("rule %d: storageClass %q is not supported (Gantry has no archive storage); use \"standard\"", prio, sel.StorageClass)
	}
	switch sel.TagStatus {
	case "tagged":
		if len(sel.TagPrefixList) == 0 && len(sel.TagPatternList) == 0 {
			return invalidPolicy("rule %d: tagStatus 'tagged' requires a non-empty tagPrefixList or tagPatternList", prio)
		}
		if len(sel.TagPrefixList) > 0 && len(sel.TagPatternList) > 0 {
			return invalidPolicy("rule %d: tagPrefixList and tagPatternList cannot both be given", prio)
		}
		for _, p := range sel.TagPrefixList {
			if p == "" {
				return invalidPolicy("rule %d: tagPrefixList entries cannot be empty", prio)
			}
		}
		for _, p := range sel.TagPatternList {
			if p == "" || strings.Count(p, "*") > maxWildcards {
				return invalidPolicy("rule %d: tagPatternList entry %q must be non-empty with at most %d wildcards (*)", prio, p, maxWildcards)
			}
		}
	case "untagged", "any":
		if len(sel.TagPrefixList) > 0 || len(sel.TagPatternList) > 0 {
			return invalidPolicy("rule %d: tagPrefixList and tagPatternList can only be used with tagStatus 'tagged'", prio)
		}
	case "":
		return invalidPolicy("rule %d has no tagStatus; use tagged, untagged or any", prio)
	default:
		return invalidPolicy("rule %d: tagStatus %q is not one of tagged, untagged, any", prio, sel.TagStatus)
	}
	if sel.CountNumber == nil || *sel.CountNumber < 1 {
		return invalidPolicy("rule %d: countNumber must be an integer of at least 1", prio)
	}
	switch sel.CountType {
	case "imageCountMoreThan":
		if sel.CountUnit != "" {
			return invalidPolicy("rule %d: countUnit can only be used with countType 'sinceImagePushed'", prio)
		}
	case "sinceImagePushed":
		if sel.CountUnit != "days" {
			return invalidPolicy("rule %d: countType 'sinceImagePushed' requires countUnit 'days'", prio)
		}
	case "":
		return invalidPolicy("rule %d has no countType; use imageCountMoreThan or sinceImagePushed", prio)
	default:
		return invalidPolicy("rule %d: countType %q is not one of imageCountMoreThan, sinceImagePushed", prio, sel.CountType)
	}
	return nil
}

// matches reports whether an image meets a selection's tag requirements:
// untagged images for 'untagged', every image for 'any'; for 'tagged',
// every prefix (or pattern) of the list must match one of the image's tags.
func (sel *lifecycleSelection) matches(tags []string) bool {
	switch sel.TagStatus {
	case "untagged":
		return len(tags) == 0
	case "any":
		return true
	}
	if len(tags) == 0 {
		return false
	}
	for _, p := range sel.TagPrefixList {
		if !slices.ContainsFunc(tags, func(t string) bool { return strings.HasPrefix(t, p) }) {
			return false
		}
	}
	for _, p := range sel.TagPatternList {
		if !slices.ContainsFunc(tags, func(t string) bool { return registry.WildcardMatch(p, t) }) {
			return false
		}
	}
	return true
}

// expiry is one image a policy expires, and the priority of the rule that
// expires it.
type expiry struct {
	Image    registry.Image
	Priority int
}

// evaluatePolicy returns the images p expires at now, oldest first. Rules
// are applied by priority, lowest first. Each rule identifies the images
// its selection matches, all of them, including images that higher
// priority rules identified, and picks those to expire: beyond the
// countNumber newest (imageCountMoreThan), or pushed more than countNumber
// days before now (sinceImagePushed). It expires only the picked images
// that no higher priority rule identified: an image is expired by at most
// one rule, and an image that matches a rule's tag requirements cannot be
// expired by a rule of lower priority.
//
// The manifests an image index of the repository lists (the platforms of a
// multi-architecture image, usually untagged) belong to their index: they
// are neither counted nor expired on their own, so that a rule on untagged
// images never breaks a tagged index.
func evaluatePolicy(p *lifecyclePolicy, images []registry.Image, now time.Time) []expiry {
	children := map[string]bool{}
	for _, img := range images {
		for _, c := range img.Children {
			children[c] = true
		}
	}
	imgs := slices.DeleteFunc(slices.Clone(images), func(img registry.Image) bool { return children[img.Digest] })
	// Newest first; for equal push times, the later digest counts as newer
	// so that the outcome does not depend on listing order.
	slices.SortStableFunc(imgs, func(a, b registry.Image) int {
		if a.PushedAt != b.PushedAt {
			if a.PushedAt > b.PushedAt {
				return -1
			}
			return 1
		}
		return strings.Compare(b.Digest, a.Digest)
	})
	seen := map[string]bool{}
	var out []expiry
	for _, rule := range p.Rules {
		sel := rule.Selection
		var matched []registry.Image
		for _, img := range imgs {
			if sel.matches(img.Tags) {
				matched = append(matched, img)
			}
		}
		var picked []registry.Image
		switch sel.CountType {
		case "imageCountMoreThan":
			if len(matched) > *sel.CountNumber {
				picked = matched[*sel.CountNumber:]
			}
		case "sinceImagePushed":
			limit := now.Add(-time.Duration(*sel.CountNumber) * 24 * time.Hour).UnixMilli()
			for _, img := range matched {
				if img.PushedAt < limit {
					picked = append(picked, img)
				}
			}
		}
		for _, img := range picked {
			if !seen[img.Digest] {
				out = append(out, expiry{Image: img, Priority: *rule.RulePriority})
			}
		}
		for _, img := range matched {
			seen[img.Digest] = true
		}
	}
	slices.SortStableFunc(out, func(a, b expiry) int {
		if a.Image.PushedAt != b.Image.PushedAt {
			if a.Image.PushedAt < b.Image.PushedAt {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Image.Digest, b.Image.Digest)
	})
	return out
}
