package ecr

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/registry"
)

// rule builds one rule of a policy text.
func rule(prio int, selection string) string {
	return `{"rulePriority":` + strconv.Itoa(prio) + `,"description":"r","selection":{` + selection + `},"action":{"type":"expire"}}`
}

func policy(rules ...string) string { return `{"rules":[` + strings.Join(rules, ",") + `]}` }

func TestParsePolicyRejects(t *testing.T) {
	tagged := `"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1`
	for _, tc := range []struct {
		name, text, why string
	}{
		{"not json", `{"rules":[`, "not valid JSON"},
		{"no rules", `{"rules":[]}`, "no rule"},
		{"unknown field", `{"rules":[],"extra":1}`, "unknown field"},
		{"duplicate priority", policy(rule(1, tagged), rule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1`)), "priorities must be unique"},
		{"zero priority", policy(rule(0, tagged)), "positive integer"},
		{"tagged without list", policy(rule(1, `"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1`)), "requires a non-empty tagPrefixList or tagPatternList"},
		{"both lists", policy(rule(1, `"tagStatus":"tagged","tagPrefixList":["a"],"tagPatternList":["b*"],"countType":"imageCountMoreThan","countNumber":1`)), "cannot both be given"},
		{"list on untagged", policy(rule(1, `"tagStatus":"untagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1`)), "only be used with tagStatus 'tagged'"},
		{"bad tag status", policy(rule(1, `"tagStatus":"some","countType":"imageCountMoreThan","countNumber":1`)), "is not one of tagged, untagged, any"},
		{"too many wildcards", policy(rule(1, `"tagStatus":"tagged","tagPatternList":["*a*b*c*d*"],"countType":"imageCountMoreThan","countNumber":1`)), "at most 4 wildcards"},
		{"count zero", policy(rule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":0`)), "countNumber must be an integer of at least 1"},
		{"unit with count", policy(rule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan","countUnit":"days","countNumber":1`)), "countUnit can only be used with countType 'sinceImagePushed'"},
		{"since without unit", policy(rule(1, `"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":1`)), "requires countUnit 'days'"},
		{"bad count type", policy(rule(1, `"tagStatus":"untagged","countType":"sinceImagePulled","countUnit":"days","countNumber":1`)), "is not one of imageCountMoreThan, sinceImagePushed"},
		{"bad action", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"transition"}}]}`, "action type \"transition\" is not supported"},
		{"two untagged", policy(rule(1, `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1`), rule(2, `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1`)), "only one rule may select untagged images"},
		{"any not last", policy(rule(1, `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`), rule(2, tagged)), "must have the highest rulePriority"},
		{"same prefixes", policy(rule(1, tagged), rule(2, `"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"sinceImagePushed","countUnit":"days","countNumber":3`)), "unique set of tag prefixes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parsePolicy(tc.text)
			if !InvalidParameter.Is(err) {
				t.Fatalf("want InvalidParameterException, got %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: ") || !strings.Contains(msg, tc.why) {
				t.Fatalf("message %q does not say %q", msg, tc.why)
			}
		})
	}
}

// img is an image pushed `age` before the test's now.
type img struct {
	name string
	tags []string
	age  time.Duration
}

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// TestEvaluatePolicy checks the evaluator against the outcomes the ECR
// documentation gives for its examples (lifecycle_policy_examples.html),
// and a few edge cases.
func TestEvaluatePolicy(t *testing.T) {
	prefix := func(p ...string) string { return `"tagPrefixList":["` + strings.Join(p, `","`) + `"]` }
	pattern := func(p ...string) string { return `"tagPatternList":["` + strings.Join(p, `","`) + `"]` }
	count := func(n int) string { return `"countType":"imageCountMoreThan","countNumber":` + strconv.Itoa(n) }
	since := func(n int) string {
		return `"countType":"sinceImagePushed","countUnit":"days","countNumber":` + strconv.Itoa(n)
	}
	abc := []img{{"A", []string{"beta-1", "prod-1"}, 10 * day}, {"B", []string{"beta-2", "prod-2"}, 9 * day}, {"C", []string{"beta-3"}, 8 * day}}
	for _, tc := range []struct {
		name   string
		policy string
		images []img
		want   string // expired images, oldest first, with the rule that expired each
	}{
		{"image age (docs)", policy(rule(1, `"tagStatus":"tagged",`+pattern("prod*")+`,`+since(14))),
			[]img{{"A", []string{"prod-1"}, 15 * day}, {"B", []string{"prod-2"}, 13 * day}, {"C", []string{"dev-1"}, 20 * day}}, "A@1"},
		{"image count (docs)", policy(rule(1, `"tagStatus":"untagged",`+count(1))),
			[]img{{"A", nil, 3 * day}, {"B", nil, 2 * day}, {"C", []string{"v1"}, 4 * day}, {"D", nil, day}}, "A@1 B@1"},
		{"multiple rules A (docs)", policy(rule(1, `"tagStatus":"tagged",`+prefix("prod")+`,`+count(1)), rule(2, `"tagStatus":"tagged",`+prefix("beta")+`,`+count(1))), abc, "A@1"},
		{"multiple rules A, patterns (docs)", policy(rule(1, `"tagStatus":"tagged",`+pattern("prod*")+`,`+count(1)), rule(2, `"tagStatus":"tagged",`+pattern("beta*")+`,`+count(1))), abc, "A@1"},
		{"multiple rules B (docs)", policy(rule(1, `"tagStatus":"tagged",`+pattern("beta*")+`,`+count(1)), rule(2, `"tagStatus":"tagged",`+pattern("prod*")+`,`+count(1))), abc, "A@1 B@1"},
		{"multiple tags A (docs)", policy(rule(1, `"tagStatus":"tagged",`+pattern("alpha*", "beta*")+`,`+since(5))),
			[]img{{"A", []string{"alpha-1"}, 12 * day}, {"B", []string{"beta-1"}, 11 * day}, {"C", []string{"alpha-2", "beta-2"}, 10 * day},
				{"D", []string{"alpha-3"}, 4 * day}, {"E", []string{"beta-3"}, 3 * day}, {"F", []string{"alpha-4", "beta-4"}, 2 * day}}, "C@1"},
		{"multiple tags B (docs)", policy(rule(1, `"tagStatus":"tagged",`+pattern("alpha*", "beta*")+`,`+count(1))),
			[]img{{"A", []string{"alpha-1", "beta-1", "gamma-1"}, 10 * day}, {"B", []string{"alpha-2", "beta-2"}, 9 * day}, {"C", []string{"alpha-3", "beta-3", "gamma-2"}, 8 * day}}, "A@1 B@1"},
		{"multiple prefixes need all (docs)", policy(rule(1, `"tagStatus":"tagged",`+prefix("alpha", "beta")+`,`+count(1))),
			[]img{{"A", []string{"alpha-1"}, 3 * day}, {"B", []string{"alpha-2", "beta-2"}, 2 * day}, {"C", []string{"alpha-3", "beta-3"}, day}}, "B@1"},
		{"all images A (docs)", policy(rule(1, `"tagStatus":"any",`+count(1))),
			[]img{{"A", []string{"alpha-1"}, 4 * day}, {"B", []string{"beta-1"}, 3 * day}, {"C", nil, 2 * day}, {"D", []string{"alpha-2"}, day}}, "A@1 B@1 C@1"},
		{"all images B (docs)", policy(rule(1, `"tagStatus":"tagged",`+pattern("alpha*")+`,`+count(1)), rule(2, `"tagStatus":"untagged",`+since(1)), rule(3, `"tagStatus":"any",`+count(1))),
			[]img{{"A", []string{"alpha-1", "beta-1"}, 4 * day}, {"B", nil, 3 * day}, {"C", []string{"alpha-2"}, 2 * day}, {"D", []string{"git hash"}, day + time.Minute}, {"E", nil, day}}, "A@1 B@2 D@3"},
		{"rules sorted by priority, not by position", policy(rule(20, `"tagStatus":"tagged",`+prefix("beta")+`,`+count(1)), rule(10, `"tagStatus":"tagged",`+prefix("prod")+`,`+count(1))), abc, "A@10"},
		{"high count keeps images from lower rules", policy(rule(1, `"tagStatus":"tagged",`+prefix("16.")+`,`+count(9999)), rule(2, `"tagStatus":"any",`+count(1))),
			[]img{{"A", []string{"16.1"}, 3 * day}, {"B", []string{"16_1"}, 2 * day}, {"C", []string{"16_2"}, day}}, "B@2"},
		{"an index's manifests go with it", policy(rule(1, `"tagStatus":"untagged",`+count(1))),
			[]img{{"I", []string{"v1"}, 3 * day}, {"a", nil, 3 * day}, {"b", nil, 3 * day}, {"C", nil, 2 * day}, {"D", nil, day}}, "C@1"},
		{"nothing to expire", policy(rule(1, `"tagStatus":"untagged",`+since(30))), []img{{"A", nil, 29 * day}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePolicy(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			var images []registry.Image
			names := map[string]string{}
			for _, im := range tc.images {
				d := "sha256:" + strings.Repeat(strings.ToLower(im.name), 64)
				names[d] = im.name
				images = append(images, registry.Image{Digest: d, Tags: im.tags, PushedAt: now.Add(-im.age).UnixMilli()})
				if im.name == "I" { // an index over a and b
					images[len(images)-1].Children = []string{"sha256:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("b", 64)}
				}
			}
			var got []string
			for _, e := range evaluatePolicy(p, images, now) {
				got = append(got, names[e.Image.Digest]+"@"+strconv.Itoa(e.Priority))
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Fatalf("expired %q, want %q", s, tc.want)
			}
		})
	}
}
