package awsapi

import (
	"fmt"
	"net/url"
	"testing"
)

// BenchmarkDecodeLargeForm decodes a large EC2 form: 20 filters of 1,000
// values each and 5,000 tags (Tag.N.Key, Tag.N.Value). Decoding must stay
// linear in the form's size: a scan of the form for each structure element
// made it quadratic.
func BenchmarkDecodeLargeForm(b *testing.B) {
	type filter struct {
		Name   string   `query:"Name"`
		Values []string `query:"Value"`
	}
	type in struct {
		Filters []filter `query:"Filter"`
		Tags    []qTag   `query:"Tag"`
	}
	f := url.Values{}
	for i := 1; i <= 20; i++ {
		f.Set(fmt.Sprintf("Filter.%d.Name", i), "tag:k")
		for j := 1; j <= 1000; j++ {
			f.Set(fmt.Sprintf("Filter.%d.Value.%d", i, j), "v")
		}
	}
	for i := 1; i <= 5000; i++ {
		f.Set(fmt.Sprintf("Tag.%d.Key", i), fmt.Sprint("k", i))
		f.Set(fmt.Sprintf("Tag.%d.Value", i), "v")
	}
	b.ReportAllocs()
	for b.Loop() {
		v := new(in)
		if _, err := decodeForm(f, v); err != nil || len(v.Filters) != 20 || len(v.Filters[19].Values) != 1000 || len(v.Tags) != 5000 {
			b.Fatal(err)
		}
	}
}
