package ecr

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// ECR does not keep a policy's text as sent: it re-serialises it. A
// lifecycle policy comes back compact (no whitespace); a repository policy
// comes back pretty-printed in one fixed style (two-space indents, " : "
// between a key and its value, lists on one line: `[ "a", "b" ]`, and an
// object in a list opening on the list's line: `[ {`), as the AWS CLI's
// examples show. Members keep their order.

// compactPolicy is a lifecycle policy's text as ECR stores it.
func compactPolicy(text string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(text)); err != nil {
		return text
	}
	return b.String()
}

// prettyPolicy is a repository policy's text as ECR stores it.
func prettyPolicy(text string) string {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var b strings.Builder
	if err := writePretty(&b, dec, 0); err != nil {
		return text
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return text
	}
	return b.String()
}

// writePretty writes the next JSON value of dec; depth counts the objects
// it is nested in (lists do not indent).
func writePretty(b *strings.Builder, dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			if !dec.More() {
				_, err := dec.Token()
				b.WriteString("{ }")
				return err
			}
			b.WriteString("{")
			for first := true; dec.More(); first = false {
				if !first {
					b.WriteString(",")
				}
				b.WriteString("\n" + strings.Repeat("  ", depth+1))
				key, err := dec.Token()
				if err != nil {
					return err
				}
				writeString(b, key.(string))
				b.WriteString(" : ")
				if err := writePretty(b, dec, depth+1); err != nil {
					return err
				}
			}
			b.WriteString("\n" + strings.Repeat("  ", depth) + "}")
		case '[':
			if !dec.More() {
				_, err := dec.Token()
				b.WriteString("[ ]")
				return err
			}
			b.WriteString("[ ")
			for first := true; dec.More(); first = false {
				if !first {
					b.WriteString(", ")
				}
				if err := writePretty(b, dec, depth); err != nil {
					return err
				}
			}
			b.WriteString(" ]")
		}
		_, err := dec.Token() // the closing delimiter
		return err
	case string:
		writeString(b, t)
	case json.Number:
		b.WriteString(t.String())
	case bool:
		if t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case nil:
		b.WriteString("null")
	}
	return nil
}

// writeString writes s as a JSON string, escaping only what JSON requires.
func writeString(b *strings.Builder, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.WriteString(strings.TrimSuffix(buf.String(), "\n"))
}
