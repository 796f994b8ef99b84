package awsapi

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/wire"
)

// Encoding of responses as the Query protocols' XML. Each field's `xml` tag
// is its element: "name" for a scalar or a structure, "wrapper>item" for a
// list (AWS's <tagSet><item>...</item></tagSet>), the bare element for a
// flattened list, "wrapper>entry" for a map (its key and value names in a
// `kv:"k,v"` tag). Nil pointers, nil lists and empty strings are left out;
// an empty but non-nil list is written as an empty wrapper (<vpcSet/>),
// which clients read as [].

// xmlEncoder writes elements into a buffer.
type xmlEncoder struct{ b bytes.Buffer }

func (e *xmlEncoder) open(name string) { e.b.WriteByte('<'); e.b.WriteString(name); e.b.WriteByte('>') }
func (e *xmlEncoder) close(name string) {
	e.b.WriteString("</")
	e.b.WriteString(name)
	e.b.WriteByte('>')
}

func (e *xmlEncoder) text(name, s string) {
	e.open(name)
	xml.EscapeText(&e.b, []byte(s))
	e.close(name)
}

// fields writes the members of the structure v.
func (e *xmlEncoder) fields(v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("xml")
		if tag == "" || tag == "-" || !t.Field(i).IsExported() {
			continue
		}
		e.member(v.Field(i), tag, t.Field(i).Tag.Get("kv"))
	}
}

// member writes one field under its tag; kv names a map entry's key and
// value elements.
func (e *xmlEncoder) member(v reflect.Value, tag, kv string) {
	path, _, _ := strings.Cut(tag, ",")
	wrapper, item, wrapped := strings.Cut(path, ">")
	switch v.Kind() {
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			e.scalar(path, v)
			return
		}
		if v.IsNil() {
			return
		}
		if !wrapped {
			for i := 0; i < v.Len(); i++ {
				e.element(wrapper, v.Index(i))
			}
			return
		}
		if v.Len() == 0 {
			e.b.WriteString("<" + wrapper + "/>")
			return
		}
		e.open(wrapper)
		for i := 0; i < v.Len(); i++ {
			e.element(item, v.Index(i))
		}
		e.close(wrapper)
	case reflect.Map:
		if v.IsNil() {
			return
		}
		kName, vName, ok := strings.Cut(kv, ",")
		if !ok {
			kName, vName = "key", "value"
		}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		entry := item
		if wrapped {
			e.open(wrapper)
		} else {
			entry = wrapper
		}
		for _, k := range keys {
			e.open(entry)
			e.text(kName, k)
			e.element(vName, v.MapIndex(reflect.ValueOf(k)))
			e.close(entry)
		}
		if wrapped {
			e.close(wrapper)
		}
	default:
		e.element(path, v)
	}
}

// element writes v (a structure, a pointer or a scalar) as <name>...</name>.
func (e *xmlEncoder) element(name string, v reflect.Value) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct && v.Type() != reflect.TypeOf(wire.Time{}) {
		e.open(name)
		e.fields(v)
		e.close(name)
		return
	}
	e.scalar(name, v)
}

func (e *xmlEncoder) scalar(name string, v reflect.Value) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		if v.Len() > 0 {
			e.text(name, v.String())
		}
	case reflect.Bool:
		e.text(name, strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int32, reflect.Int64:
		e.text(name, strconv.FormatInt(v.Int(), 10))
	case reflect.Float32, reflect.Float64:
		e.text(name, strconv.FormatFloat(v.Float(), 'f', -1, 64))
	case reflect.Slice:
		e.text(name, base64.StdEncoding.EncodeToString(v.Bytes()))
	case reflect.Struct:
		if t, ok := v.Interface().(wire.Time); ok {
			e.text(name, t.UTC().Format("2006-01-02T15:04:05.000Z"))
		}
	}
}
