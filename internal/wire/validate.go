package wire

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Violation is one failed constraint of the service model, named by the path
// of the member within the request (`containerDefinitions[0].name`).
type Violation struct {
	Path    string
	Problem string
	// Rule is the constraint that failed: "required", "enum", "min" or "max".
	Rule string
	// Limit is the bound a min or max rule set.
	Limit float64
	// Length says the bound counts characters or items, not a number's value.
	Length bool
	// Allowed are an enum's values.
	Allowed []string
}

func (v Violation) String() string { return v.Path + ": " + v.Problem }

// Validate checks a decoded request against the constraints that the
// generated types carry in their `aws` tags: required members, enum values and
// min/max bounds (length for strings and lists, value for numbers). enums maps
// an enum shape name to its values. It returns every violation, in member order.
func Validate(v any, enums map[string][]string) []Violation {
	var out []Violation
	walk(reflect.ValueOf(v), "", enums, &out)
	return out
}

type rule struct {
	required bool
	enum     string
	min, max *float64
}

type fieldPlan struct {
	index int
	name  string
	rule  rule
}

var plans sync.Map // reflect.Type -> []fieldPlan

func planOf(t reflect.Type) []fieldPlan {
	if p, ok := plans.Load(t); ok {
		return p.([]fieldPlan)
	}
	var fp []fieldPlan
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		var r rule
		for _, part := range strings.Split(f.Tag.Get("aws"), ",") {
			k, val, _ := strings.Cut(part, "=")
			switch k {
			case "required":
				r.required = true
			case "enum":
				r.enum = val
			case "min", "max":
				n, err := strconv.ParseFloat(val, 64)
				if err == nil {
					if k == "min" {
						r.min = &n
					} else {
						r.max = &n
					}
				}
			}
		}
		fp = append(fp, fieldPlan{index: i, name: name, rule: r})
	}
	plans.Store(t, fp)
	return fp
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func walk(v reflect.Value, path string, enums map[string][]string, out *[]Violation) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(Time{}) {
			return
		}
		for _, f := range planOf(v.Type()) {
			fv := v.Field(f.index)
			p := join(path, f.name)
			check(fv, p, f.rule, enums, out)
			walk(fv, p, enums, out)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), enums, out)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			walk(iter.Value(), fmt.Sprintf("%s[%q]", path, iter.Key().String()), enums, out)
		}
	}
}

func check(fv reflect.Value, path string, r rule, enums map[string][]string, out *[]Violation) {
	absent := false
	switch fv.Kind() {
	case reflect.Pointer, reflect.Interface:
		absent = fv.IsNil()
	case reflect.Slice, reflect.Map:
		absent = fv.IsNil()
	case reflect.String:
		absent = fv.Len() == 0
	}
	if absent {
		if r.required {
			*out = append(*out, Violation{Path: path, Problem: "is required", Rule: "required"})
		}
		return
	}
	for fv.Kind() == reflect.Pointer {
		fv = fv.Elem()
	}
	var size float64
	var what string
	switch fv.Kind() {
	case reflect.String:
		s := fv.String()
		if r.enum != "" {
			if vals, ok := enums[r.enum]; ok && !slices.Contains(vals, s) {
				*out = append(*out, Violation{Path: path, Problem: fmt.Sprintf("%q is not one of [%s]", s, strings.Join(vals, ", ")), Rule: "enum", Allowed: vals})
				return
			}
		}
		size, what = float64(utf8.RuneCountInString(s)), "characters"
	case reflect.Slice, reflect.Map:
		size, what = float64(fv.Len()), "items"
	case reflect.Int32, reflect.Int64, reflect.Int:
		size = float64(fv.Int())
	case reflect.Float64:
		size = fv.Float()
	default:
		return
	}
	if r.min != nil && size < *r.min {
		*out = append(*out, Violation{Path: path, Problem: boundMsg("at least", *r.min, what), Rule: "min", Limit: *r.min, Length: what != ""})
	}
	if r.max != nil && size > *r.max {
		*out = append(*out, Violation{Path: path, Problem: boundMsg("at most", *r.max, what), Rule: "max", Limit: *r.max, Length: what != ""})
	}
}

func boundMsg(rel string, n float64, what string) string {
	if what == "" {
		return fmt.Sprintf("must be %s %g", rel, n)
	}
	return fmt.Sprintf("must have %s %g %s", rel, n, what)
}
