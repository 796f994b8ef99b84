package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/agent/engine"
)

// A control plane older than the agent answers SubmitStateChanges with
// UnknownOperationException: the reporter then sends each change as
// SubmitTaskStateChange, from then on, and loses none. (The control plane
// is played by a handler here: the fallback is the reporter's own logic;
// the batch itself is tested against the real server in internal/ecs.)
func TestReporterFallsBackToOneByOne(t *testing.T) {
	var mu sync.Mutex
	var batches int
	var single []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		switch r.Header.Get("X-Amz-Target") {
		case "GantryAgent_V1.SubmitStateChanges":
			batches++
			w.Header().Set("X-Amzn-ErrorType", "UnknownOperationException:")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"__type":"UnknownOperationException","message":"The action GantryAgent_V1.SubmitStateChanges is not valid for this web service."}`)
		case "AmazonEC2ContainerServiceV20141113.SubmitTaskStateChange":
			var sc engine.StateChange
			json.Unmarshal(body, &sc)
			single = append(single, sc.Task+" "+sc.Status)
			io.WriteString(w, `{"acknowledgment":"true"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	r := &reporter{cl: newClient(&Config{Endpoint: srv.URL, Region: "us-east-1", AccessKeyID: "id", SecretAccessKey: "secret"})}
	ctx := context.Background()
	for round, tasks := range [][]string{{"t1", "t2"}, {"t3"}} {
		var changes []*engine.StateChange
		for _, task := range tasks {
			changes = append(changes, &engine.StateChange{Cluster: "c", Task: task, Status: "RUNNING"})
		}
		for i, err := range r.ReportBatch(ctx, changes) {
			if err != nil {
				t.Fatalf("round %d, change %d: %v", round, i, err)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if batches != 1 || !slices.Equal(single, []string{"t1 RUNNING", "t2 RUNNING", "t3 RUNNING"}) {
		t.Fatalf("batches tried %d (want 1), changes sent one by one %v", batches, single)
	}
}
