package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// Pieces both generators (JSON and Query) write the same way.

// sortedKeys returns the keys of a map in order.
func sortedKeys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// writeOperations writes the Operations list, under its doc comment.
func writeOperations(b *bytes.Buffer, m *model, doc string) {
	fmt.Fprintf(b, "// %s\nvar Operations = []string{\n", doc)
	for _, o := range sortedKeys(m.Operations) {
		fmt.Fprintf(b, "\t%q,\n", o)
	}
	fmt.Fprintf(b, "}\n\n")
}

// writeEnums writes the Enums map of the enum shapes among names.
func writeEnums(b *bytes.Buffer, m *model, names []string) {
	fmt.Fprintf(b, "// Enums maps each enum shape to its allowed values.\nvar Enums = map[string][]string{\n")
	for _, n := range names {
		s := m.Shapes[n]
		if s.Type == "string" && len(s.Enum) > 0 {
			q := make([]string, len(s.Enum))
			for i, e := range s.Enum {
				q[i] = fmt.Sprintf("%q", e)
			}
			fmt.Fprintf(b, "\t%q: {%s},\n", n, strings.Join(q, ", "))
		}
	}
	fmt.Fprintf(b, "}\n\n")
}

// requiredSet is the set of a structure's required members.
func requiredSet(s shape) map[string]bool {
	req := map[string]bool{}
	for _, r := range s.Required {
		req[r] = true
	}
	return req
}
