package awsapi

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/wire"
)

// Decoding of Query-protocol forms into the generated wire structs. Each
// field's `query` tag is its form key, computed by the generator from the
// model (see internal/wire/shapegen/query.go): a scalar sits at prefix.Key, a
// list's elements at prefix.Key.1, prefix.Key.2, ... (plain Query puts
// `member` in the key; EC2 does not), a structure's members under
// prefix.Key., and a map's entries at prefix.Key.N.<key> / .<value>.

// formError is a form value that does not fit its member's type.
type formError struct {
	Key, Value, Want string
}

func (e *formError) Error() string {
	return fmt.Sprintf("Value (%s) for parameter %s is invalid. Expected %s.", e.Value, e.Key, e.Want)
}

// formDecoder decodes one form and records the keys it consumed, so that
// the edge can refuse parameters no member reads.
type formDecoder struct {
	form url.Values
	used map[string]bool
	// parents holds every proper prefix of a key that ends before a dot
	// (Tag.1.Key gives Tag and Tag.1), so that finding whether a structure
	// or a list element was sent costs one lookup, not a scan of the form.
	parents map[string]bool
}

// decodeForm fills the struct v points to from form and returns the form
// keys no member consumed.
func decodeForm(form url.Values, v any) (unknown []string, err error) {
	d := &formDecoder{form: form, used: map[string]bool{}, parents: map[string]bool{}}
	for k := range form {
		for i := strings.IndexByte(k, '.'); i >= 0; {
			d.parents[k[:i]] = true
			j := strings.IndexByte(k[i+1:], '.')
			if j < 0 {
				break
			}
			i += 1 + j
		}
	}
	if err := d.structure(reflect.ValueOf(v).Elem(), ""); err != nil {
		return nil, err
	}
	for k := range form {
		if !d.used[k] {
			unknown = append(unknown, k)
		}
	}
	return unknown, nil
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// under reports whether some form key starts with prefix + ".".
func (d *formDecoder) under(prefix string) bool { return d.parents[prefix] }

func (d *formDecoder) structure(v reflect.Value, prefix string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("query")
		if tag == "" || tag == "-" {
			continue
		}
		key, opts, _ := strings.Cut(tag, ",")
		if err := d.value(v.Field(i), joinKey(prefix, key), opts, t.Field(i).Tag.Get("kv")); err != nil {
			return err
		}
	}
	return nil
}

// value decodes the member at key into v (a struct field).
func (d *formDecoder) value(v reflect.Value, key, opts, kv string) error {
	switch v.Kind() {
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return d.scalar(v, key)
		}
		empty := key
		if strings.Contains(","+opts+",", ",wrapped,") {
			if i := strings.LastIndexByte(key, '.'); i >= 0 {
				empty = key[:i]
			}
		}
		return d.list(v, key, empty)
	case reflect.Map:
		return d.mapping(v, key, kv)
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.Struct && v.Type().Elem() != reflect.TypeOf(wire.Time{}) {
			if !d.under(key) {
				return nil
			}
			p := reflect.New(v.Type().Elem())
			if err := d.structure(p.Elem(), key); err != nil {
				return err
			}
			v.Set(p)
			return nil
		}
	case reflect.Struct:
		return d.structure(v, key)
	}
	return d.scalar(v, key)
}

// list decodes the elements numbered from 1 under key, up to the first
// missing number. A plain Query client sends an empty list as `<empty>=`.
func (d *formDecoder) list(v reflect.Value, key, empty string) error {
	if vals, ok := d.form[empty]; ok && len(vals) == 1 && vals[0] == "" {
		d.used[empty] = true
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		return nil
	}
	et := v.Type().Elem()
	out := reflect.MakeSlice(v.Type(), 0, 0)
	for n := 1; ; n++ {
		ek := key + "." + strconv.Itoa(n)
		_, direct := d.form[ek]
		if !direct && !d.under(ek) {
			break
		}
		e := reflect.New(et).Elem()
		if err := d.value(e, ek, "", ""); err != nil {
			return err
		}
		out = reflect.Append(out, e)
	}
	if out.Len() > 0 {
		v.Set(out)
	}
	return nil
}

// mapping decodes entries key.N.<k> / key.N.<v>, numbered from 1; kv names
// k and v ("key,value" by default).
func (d *formDecoder) mapping(v reflect.Value, key, kv string) error {
	kName, vName, ok := strings.Cut(kv, ",")
	if !ok {
		kName, vName = "key", "value"
	}
	for n := 1; ; n++ {
		ek := key + "." + strconv.Itoa(n)
		kk := ek + "." + kName
		if _, ok := d.form[kk]; !ok {
			return nil
		}
		d.used[kk] = true
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		e := reflect.New(v.Type().Elem()).Elem()
		if err := d.value(e, ek+"."+vName, "", ""); err != nil {
			return err
		}
		v.SetMapIndex(reflect.ValueOf(d.form.Get(kk)), e)
	}
}

// scalar decodes one form value into a string, a pointer to a number or a
// boolean, a timestamp or a blob.
func (d *formDecoder) scalar(v reflect.Value, key string) error {
	vals, ok := d.form[key]
	if !ok {
		return nil
	}
	d.used[key] = true
	s := vals[0]
	target := v
	if v.Kind() == reflect.Pointer {
		target = reflect.New(v.Type().Elem()).Elem()
	}
	bad := func(want string) error { return &formError{Key: key, Value: s, Want: want} }
	switch target.Kind() {
	case reflect.String:
		target.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return bad("true or false")
		}
		target.SetBool(b)
	case reflect.Int32, reflect.Int64, reflect.Int:
		n, err := strconv.ParseInt(s, 10, target.Type().Bits())
		if err != nil {
			return bad("an integer")
		}
		target.SetInt(n)
	case reflect.Float64, reflect.Float32:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return bad("a number")
		}
		target.SetFloat(f)
	case reflect.Slice:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return bad("base64 data")
		}
		target.SetBytes(b)
	case reflect.Struct:
		if target.Type() != reflect.TypeOf(wire.Time{}) {
			return bad("a structure")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return bad("an ISO 8601 timestamp")
		}
		target.Set(reflect.ValueOf(wire.Time{Time: t}))
	default:
		return bad(target.Kind().String())
	}
	if v.Kind() == reflect.Pointer {
		v.Set(target.Addr())
	}
	return nil
}
