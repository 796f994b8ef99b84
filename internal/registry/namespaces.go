package registry

import (
	"context"
	"strings"

	"github.com/gantry-dev/gantry/internal/model"
)

// Namespaces lists every account and region that holds at least one
// repository, for the periodic jobs (garbage collection, lifecycle
// policies) that visit them all.
//
// Records live under <account>/<region>/ in the root store, so the list is
// found by skipping through the root store's keys: read the first key after
// the last namespace seen, take its first two segments as a candidate, check
// that it holds repositories, and skip past everything under it. That costs
// two reads per top-level pair of segments, whatever the number of records,
// and needs no index that could miss a namespace (which, for garbage
// collection, would mean removing content that is still referenced).
func (r *Registry) Namespaces(ctx context.Context) ([]Namespace, error) {
	var out []Namespace
	after := ""
	for {
		page, err := r.st.List(ctx, "", after, 1)
		if err != nil {
			return nil, err
		}
		if len(page.Items) == 0 {
			return out, nil
		}
		key := page.Items[0].Key
		parts := strings.SplitN(key, "/", 3)
		if len(parts) < 3 {
			after = key
			continue
		}
		ns := Namespace{Account: parts[0], Region: parts[1]}
		repos, err := r.store(ns).List(ctx, model.RegistryRepositoriesPrefix, "", 1)
		if err != nil {
			return nil, err
		}
		if len(repos.Items) > 0 {
			out = append(out, ns)
		}
		// Every key of the namespace sorts before <account>/<region>/\xff.
		after = parts[0] + "/" + parts[1] + "/\xff"
	}
}
