package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// A synthetic model with each naming rule the Query protocols have.
const queryModel = `{
  "metadata": {"protocol": "%s", "apiVersion": "2020-01-01", "endpointPrefix": "svc", "xmlNamespace": "http://svc/doc/2020-01-01", "serviceId": "Svc"},
  "operations": {
    "Do": {"name": "Do", "input": {"shape": "DoIn"}, "output": {"shape": "DoOut", "resultWrapper": "DoResult"}},
    "Other": {"name": "Other", "input": {"shape": "Unreached"}}
  },
  "shapes": {
    "DoIn": {"type": "structure", "required": ["Plain"], "members": {
      "Plain": {"shape": "S"},
      "Located": {"shape": "S", "locationName": "located"},
      "Queried": {"shape": "S", "locationName": "located2", "queryName": "QueryName"},
      "Ids": {"shape": "IdList", "locationName": "IdSet"},
      "Flat": {"shape": "FlatList"},
      "Attrs": {"shape": "M"}
    }},
    "DoOut": {"type": "structure", "members": {"Items": {"shape": "IdList", "locationName": "itemSet"}, "N": {"shape": "I"}}},
    "Unreached": {"type": "structure", "members": {"X": {"shape": "S"}}},
    "IdList": {"type": "list", "member": {"shape": "S", "locationName": "item"}},
    "FlatList": {"type": "list", "member": {"shape": "S"}, "flattened": true},
    "M": {"type": "map", "key": {"shape": "S", "locationName": "Name"}, "value": {"shape": "S", "locationName": "Value"}},
    "S": {"type": "string"},
    "I": {"type": "integer"}
  }
}`

func generateFor(t *testing.T, protocol string) string {
	t.Helper()
	var m model
	if err := json.Unmarshal([]byte(strings.Replace(queryModel, "%s", protocol, 1)), &m); err != nil {
		t.Fatal(err)
	}
	if err := restrict(&m, []string{"Do"}); err != nil {
		t.Fatal(err)
	}
	src, err := generateQuery(&m, "svcwire")
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

func TestQueryTags(t *testing.T) {
	cases := map[string][]string{
		"ec2": {
			`json:"Plain,omitempty" query:"Plain" xml:"Plain" aws:"required"`,
			`query:"Located" xml:"located"`,                         // locationName, upper-cased for the form
			`query:"QueryName" xml:"located2"`,                      // queryName wins in requests
			`query:"IdSet" xml:"IdSet>item"`,                        // EC2 lists are flat in forms
			`query:"Attrs.entry" xml:"Attrs>entry" kv:"Name,Value"`, // maps keep their entry names
			`XMLNamespace = "http://svc/doc/2020-01-01/"`,
		},
		"query": {
			`query:"located" xml:"located"`, // plain Query keeps locationName as is
			`query:"located2"`,              // and ignores queryName
			`query:"IdSet.item,wrapped" xml:"IdSet>item"`,
			`query:"Flat" xml:"Flat"`, // a flattened list repeats its own name
		},
	}
	for protocol, wants := range cases {
		src := generateFor(t, protocol)
		// Every number is a pointer: a form sends only what was set.
		if !regexp.MustCompile(`\bN\s+\*int32\s`).MatchString(src) {
			t.Errorf("%s: an integer member is not a pointer:\n%s", protocol, src)
		}
		for _, want := range wants {
			if !strings.Contains(src, want) {
				t.Errorf("%s: generated code lacks %s:\n%s", protocol, want, src)
			}
		}
		if strings.Contains(src, "Unreached") || strings.Contains(src, `"Other"`) {
			t.Errorf("%s: -ops kept an operation or shape it does not reach", protocol)
		}
	}
}
