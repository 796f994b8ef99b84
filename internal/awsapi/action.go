package awsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/gantry-dev/gantry/internal/wire"
)

// Model is what an action needs of its service model to validate a request:
// the enums, the code to answer a violated constraint with, and how that
// service words the message (nil: "N validation errors detected: …").
type Model struct {
	Enums            map[string][]string
	InvalidParameter Code
	Message          func([]wire.Violation) string
}

// Action adapts a typed operation to a Handler: it decodes the JSON body into
// In (an empty body is an empty request), checks it against the model's
// constraints, and calls fn.
func Action[In, Out any](m Model, fn func(context.Context, *In) (*Out, error)) Handler {
	return func(ctx context.Context, body []byte) (any, error) {
		in := new(In)
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, in); err != nil {
				return nil, serializationError(err)
			}
		}
		if v := wire.Validate(in, m.Enums); len(v) > 0 {
			msg := violationMessage
			if m.Message != nil {
				msg = m.Message
			}
			return nil, m.InvalidParameter.Errorf("%s", msg(v))
		}
		return fn(ctx, in)
	}
}

func violationMessage(v []wire.Violation) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = x.String()
	}
	s := "s"
	if len(v) == 1 {
		s = ""
	}
	return fmt.Sprintf("%d validation error%s detected: %s.", len(v), s, strings.Join(parts, "; "))
}

func serializationError(err error) *Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return Serialization.Errorf("Expected a %s for member '%s', got a JSON %s.", jsonKind(te.Type), te.Field, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return Serialization.Errorf("The request body is not valid JSON (at byte %d): %v.", se.Offset, se)
	}
	return Serialization.Errorf("The request body could not be read: %v.", err)
}

// jsonKind names the JSON kind a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "base64 string"
		}
		return "list"
	case reflect.Map, reflect.Struct:
		return "structure"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.String()
}
