package ecs_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

var update = flag.Bool("update", false, "rewrite the golden files with the responses the server gives now")

// A golden file, testdata/golden/<Action>/<case>.json, is a list of steps:
// raw JSON requests and the exact responses (status and body) the server must
// give, after volatile values are replaced (the region by REGION, ids by ID,
// timestamps by TIME, deployment ids by ecs-svc/ID; REGION in a request is
// replaced by the region the file runs in). Each file runs in a fresh region. `go test -run Golden
// -update` refreshes them; review the diff before committing.
type step struct {
	Action   string          `json:"action"`
	Request  json.RawMessage `json:"request"`
	Status   int             `json:"status"`
	Response json.RawMessage `json:"response"`
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*/*.json")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	env := gt.Shared(t)
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var steps []step
			if err := json.Unmarshal(raw, &steps); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			region := gt.NewRegion()
			for i := range steps {
				st := &steps[i]
				req := bytes.ReplaceAll(st.Request, []byte("REGION"), []byte(region))
				status, body := signedCall(t, env.URL, region, st.Action, req)
				got := normalize(body, region)
				if *update {
					st.Status, st.Response = status, got
					continue
				}
				if status != st.Status || !jsonEqual(got, st.Response) {
					t.Fatalf("step %d (%s): got %d %s\nwant %d %s", i, st.Action, status, got, st.Status, st.Response)
				}
			}
			if *update {
				out, _ := json.MarshalIndent(steps, "", "  ")
				if err := os.WriteFile(f, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func signedCall(t *testing.T, url, region, action string, body []byte) (int, []byte) {
	t.Helper()
	return signedTarget(t, url, region, "AmazonEC2ContainerServiceV20141113."+action, body)
}

var (
	hexID     = regexp.MustCompile(`\b[0-9a-f]{32}\b`)
	deployID  = regexp.MustCompile(`\becs-svc/[0-9]{19}\b`)
	uuid      = regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	timeField = regexp.MustCompile(`"(registeredAt|deregisteredAt|createdAt|updatedAt|startedAt|stoppedAt|stoppingAt|executionStoppedAt|connectivityAt|pushedAt)":\s*[0-9.]+`)
)

func normalize(body []byte, region string) json.RawMessage {
	s := bytes.ReplaceAll(body, []byte(region), []byte("REGION"))
	s = hexID.ReplaceAll(s, []byte("ID"))
	s = uuid.ReplaceAll(s, []byte("UUID"))
	s = deployID.ReplaceAll(s, []byte("ecs-svc/ID"))
	s = timeField.ReplaceAll(s, []byte(`"$1":"TIME"`))
	var v any
	if err := json.Unmarshal(s, &v); err != nil {
		return json.RawMessage(s)
	}
	out, _ := json.Marshal(v)
	return out
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
