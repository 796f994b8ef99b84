package ec2

import (
	"encoding/base64"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/model"
	w "github.com/gantry-dev/gantry/internal/wire/ec2wire"
)

// EC2's Describe filters: each filter names an attribute and lists values;
// a resource matches a filter when one of its values for the attribute
// matches one of the filter's values (`*` and `?` are wildcards), and it
// matches the request when it matches every filter. Tags are attributes
// too: `tag:<key>` (the value of that tag), `tag-key`, `tag-value`.

// attrs are the values of a resource's filterable attributes, by filter name.
type attrs map[string][]string

// filterNames are the filter names a Describe action accepts, besides the
// tag filters.
type filterNames []string

// check refuses a filter EC2 does not define for the action.
func (names filterNames) check(filters []w.Filter) error {
	for _, f := range filters {
		if strings.HasPrefix(f.Name, "tag:") || f.Name == "tag-key" || f.Name == "tag-value" || slices.Contains(names, f.Name) {
			continue
		}
		return InvalidParameterValue.Errorf("The filter '%s' is invalid", f.Name)
	}
	return nil
}

// matches reports whether a resource with attributes a and tags matches
// every filter.
func matches(filters []w.Filter, a attrs, tags []model.Tag) bool {
	for _, f := range filters {
		var have []string
		switch {
		case strings.HasPrefix(f.Name, "tag:"):
			for _, t := range tags {
				if t.Key == f.Name[4:] {
					have = append(have, t.Value)
				}
			}
		case f.Name == "tag-key":
			for _, t := range tags {
				have = append(have, t.Key)
			}
		case f.Name == "tag-value":
			for _, t := range tags {
				have = append(have, t.Value)
			}
		default:
			have = a[f.Name]
		}
		if !anyMatch(f.Values, have) {
			return false
		}
	}
	return true
}

func anyMatch(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if glob(p, v) {
				return true
			}
		}
	}
	return false
}

// glob matches s against an EC2 filter value: `*` is any run of
// characters, `?` any one character, and a backslash escapes either.
func glob(p, s string) bool {
	for len(p) > 0 {
		switch {
		case p[0] == '*':
			for i := len(s); i >= 0; i-- {
				if glob(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case p[0] == '?':
			if s == "" {
				return false
			}
			p, s = p[1:], s[1:]
		default:
			c := p[0]
			if c == '\\' && len(p) > 1 {
				p = p[1:]
				c = p[0]
			}
			if s == "" || s[0] != c {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}

func boolAttr(b bool) []string { return []string{strconv.FormatBool(b)} }

// page cuts a list sorted by id after the token, to max items (0: all),
// and returns the token of the next page ("" at the end). The token is the
// last id returned, encoded.
func page[T any](items []T, id func(T) string, token string, max *int32) ([]T, string, error) {
	sort.Slice(items, func(i, j int) bool { return id(items[i]) < id(items[j]) })
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", InvalidParameterValue.Errorf("The token '%s' is invalid: pass the NextToken of the previous answer.", token)
		}
		token = string(raw)
		i := sort.Search(len(items), func(i int) bool { return id(items[i]) > token })
		items = items[i:]
	}
	if max != nil && *max < 5 {
		return nil, "", InvalidParameterValue.Errorf("Value ( %d ) for parameter maxResults is invalid. Expecting a value greater than 5.", *max)
	}
	if max == nil || int(*max) >= len(items) {
		return items, "", nil
	}
	items = items[:*max]
	return items, base64.RawURLEncoding.EncodeToString([]byte(id(items[len(items)-1]))), nil
}
