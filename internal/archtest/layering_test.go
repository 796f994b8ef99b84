package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/gantry-dev/gantry/"

// rule says what a package (matched by prefix) may import from this module
// and whether it may import third-party code at all.
type rule struct {
	pkg        string
	allowed    []string // module packages it may import (prefixes)
	thirdParty bool
}

var rules = []rule{
	{pkg: "internal/wire", allowed: []string{"internal/wire"}},
	{pkg: "internal/model", allowed: []string{"internal/model", "internal/wire"}},
	{pkg: "internal/awsapi", allowed: []string{"internal/wire"}},
	{pkg: "internal/state", thirdParty: true},
	// EC2 networking never reaches into ECS: task networking reads its
	// records (model) through the store.
	{pkg: "internal/ec2", allowed: []string{"internal/awsapi", "internal/state", "internal/model", "internal/wire"}},
	{pkg: "internal/ecs", allowed: []string{"internal/agentproto", "internal/awsapi", "internal/state", "internal/model", "internal/placement", "internal/reconcile", "internal/wire"}},
	// The scheduler and its query language are pure: no I/O, no state, no
	// wire, nothing third-party.
	{pkg: "internal/placement", allowed: []string{"internal/placement"}},
	// The service reconcile step is pure too: the standard library only.
	{pkg: "internal/reconcile"},
	// The agent never imports server code.
	{pkg: "internal/agent", allowed: []string{"internal/agent", "internal/agentproto", "internal/dirlock", "internal/model", "internal/wire"}, thirdParty: true},
	// The data directory lock (agent and server) knows only the standard
	// library.
	{pkg: "internal/dirlock"},
	// The agent protocol is shared by both sides and knows only the wire.
	{pkg: "internal/agentproto", allowed: []string{"internal/wire"}},
}

type pkg struct {
	ImportPath string
	Imports    []string
}

func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(p.ImportPath, mod)
		for _, r := range rules {
			if rel != r.pkg && !strings.HasPrefix(rel, r.pkg+"/") {
				continue
			}
			if rel == "internal/wire/shapegen" {
				continue // a generator command, not part of the layering
			}
			checked++
			for _, imp := range p.Imports {
				switch {
				case strings.HasPrefix(imp, mod):
					dep := strings.TrimPrefix(imp, mod)
					ok := false
					for _, a := range r.allowed {
						if dep == a || strings.HasPrefix(dep, a+"/") {
							ok = true
						}
					}
					if !ok {
						t.Errorf("%s imports %s: the architecture forbids it", rel, dep)
					}
				case strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") && !r.thirdParty:
					t.Errorf("%s imports third-party %s: it must stay on the standard library", rel, imp)
				}
			}
		}
		// Only cmd and the test harness build a server.
		for _, imp := range p.Imports {
			if imp == mod+"internal/server" && !strings.HasPrefix(rel, "cmd/") && rel != "internal/gantrytest" {
				t.Errorf("%s imports internal/server: only cmd/ composes the server", rel)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d packages: is go list seeing the module?", checked)
	}
}
