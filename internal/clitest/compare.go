package clitest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// The normalisation rules: what may differ between AWS's printed example and
// Gantry's answer because it names the machine, the moment or the content
// rather than the behaviour. Both sides are normalised the same way before
// they are compared.
var (
	digestRe   = regexp.MustCompile(`sha256:[0-9a-fA-F]+`)
	registryRe = regexp.MustCompile(`(https?://)?(\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com|127\.0\.0\.1:\d+)`)
	arnRe      = regexp.MustCompile(`arn:aws:([a-z0-9-]+):[a-z0-9-]*:\d{12}:`)
	accountRe  = regexp.MustCompile(`\b\d{12}\b`)
	uuidRe     = regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	hexIDRe    = regexp.MustCompile(`\b[0-9a-f]{32}\b`)
	deployIDRe = regexp.MustCompile(`ecs-svc/\d+`)
	isoTimeRe  = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`)
	timeKeyRe  = regexp.MustCompile(`(At|Time|Date|Timestamp)$`)
)

// opaqueKeys are members whose value is per call or per content (a token,
// an upload id, a size of bytes the example's image had): only their
// presence is compared.
var opaqueKeys = map[string]bool{
	"authorizationToken": true, "uploadId": true, "downloadUrl": true, "nextToken": true,
	"imageManifest": true, "imageSizeInBytes": true, "partSize": true, "lastByteReceived": true,
}

// Rules documents the normalisation, for the status file's header.
const Rules = `Normalisation (both sides): sha256 digests -> <digest>; ECR registry hosts (<account>.dkr.ecr.<region>.amazonaws.com,
127.0.0.1:<port>, with any http(s)://) -> <registry>; ARNs' region and account -> <region>/<account>; other 12-digit
numbers and the placeholder <aws_account_id> -> <account>; UUIDs, 32-hex ids and deployment ids (ecs-svc/<digits>) -> <id>; members named *At/*Time/*Date/*Timestamp and ISO 8601 strings
-> <time>; ` + "authorizationToken, uploadId, downloadUrl, nextToken, imageManifest, imageSizeInBytes, partSize, lastByteReceived" + ` -> <any>
(presence only). Comparison: every member the example prints must be in Gantry's answer with an equal value (members
the example leaves out may be there: examples are often abbreviated); lists must have the same length and match
element by element in any order; an empty list must be an empty list, not a missing member.`

// normString normalises one string value.
func normString(s string) string {
	if isoTimeRe.MatchString(s) {
		return "<time>"
	}
	s = digestRe.ReplaceAllString(s, "sha256:<digest>")
	s = registryRe.ReplaceAllString(s, "<registry>")
	s = arnRe.ReplaceAllString(s, "arn:aws:$1:<region>:<account>:")
	s = accountRe.ReplaceAllString(s, "<account>")
	s = strings.ReplaceAll(s, "<aws_account_id>", "<account>")
	s = uuidRe.ReplaceAllString(s, "<id>")
	s = deployIDRe.ReplaceAllString(s, "ecs-svc/<id>")
	return hexIDRe.ReplaceAllString(s, "<id>")
}

// normalise rewrites a decoded JSON value by the rules above.
func normalise(key string, v any) any {
	if opaqueKeys[key] {
		return "<any>"
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalise(k, e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalise(key, e)
		}
		return out
	case string:
		if timeKeyRe.MatchString(key) {
			return "<time>"
		}
		return normString(x)
	case float64:
		if timeKeyRe.MatchString(key) {
			return "<time>"
		}
	}
	return v
}

// Compare reports the first difference between the output an example
// printed and what Gantry printed, after normalisation ("" when none). An
// example whose output is not JSON (a password, say) needs only some
// output; one whose page shows no output needs none only if silent.
func Compare(want string, silent bool, got string) string {
	want, got = strings.TrimSpace(want), strings.TrimSpace(got)
	if want == "" {
		if silent && got != "" {
			return "the example prints nothing; Gantry printed " + clip(got)
		}
		return ""
	}
	var w, g any
	if json.Unmarshal([]byte(want), &w) != nil {
		if got == "" {
			return "the example prints text; Gantry printed nothing"
		}
		return ""
	}
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		return "Gantry's output is not JSON: " + clip(got)
	}
	return diff("", normalise("", w), normalise("", g))
}

// diff is the first difference of want within got, at path.
func diff(path string, want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %s", at(path), show(got))
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s: missing (want %s)", join(path, k), show(w[k]))
			}
			if d := diff(join(path, k), w[k], gv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Sprintf("%s: want a list, got %s", at(path), show(got))
		}
		if len(w) != len(g) {
			return fmt.Sprintf("%s: want %d items, got %d: %s", at(path), len(w), len(g), show(got))
		}
		used := make([]bool, len(g))
		for i, we := range w {
			first := ""
			found := false
			for j, ge := range g {
				if used[j] {
					continue
				}
				d := diff(fmt.Sprintf("%s[%d]", path, i), we, ge)
				if d == "" {
					used[j], found = true, true
					break
				}
				if first == "" {
					first = d
				}
			}
			if !found {
				return first
			}
		}
		return ""
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) {
			return fmt.Sprintf("%s: want %s, got %s", at(path), show(want), show(got))
		}
		return ""
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func at(path string) string {
	if path == "" {
		return "(top)"
	}
	return path
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return clip(string(b))
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}
