package reconcile

import (
	"reflect"
	"testing"
	"time"
)

// A task without health checks counts towards minimumHealthyPercent only
// once it has been RUNNING for SettleTime (ECS waits 40 s). Found on real
// Docker: a revision whose container runs `exit 1` reports RUNNING for a
// moment, and counting it at once let the controller stop a healthy task
// of the old deployment for each task of the new one that was about to
// crash (a service of 2 at 100% went down to 1 task).
func TestFreshTasksDoNotPayForOldOnes(t *testing.T) {
	rolling := []Deployment{inProgress("new", "web:2"), dep("old", "web:1", deploymentActive, rolloutCompleted)}
	ts := tasks(t0, "a old i1 RUNNING", "b old i1 RUNNING", "c new i1 RUNNING", "d new i1 RUNNING")
	ts[2].StartedAt, ts[3].StartedAt = t0, t0.Add(-time.Second)
	in := Input{Now: t0, Service: replica(2, 200, 100, rolling...), Tasks: ts, Instances: instances("i1")}

	p := Reconcile(in)
	if got := actionsOf(p); !reflect.DeepEqual(got, actions{}) {
		t.Fatalf("new tasks RUNNING for 0 s and 1 s: plan %+v, want nothing yet", got)
	}
	if want := SettleTime - time.Second; p.Requeue != want {
		t.Fatalf("requeue %s, want %s (when the older new task has settled)", p.Requeue, want)
	}

	in.Now = t0.Add(SettleTime - time.Second)
	want := actions{Shrink: []Shrink{{Deployment: "old", Count: 1, Reason: scaling("new")}}}
	if got := actionsOf(Reconcile(in)); !reflect.DeepEqual(got, want) {
		t.Fatalf("one new task settled: plan %+v, want %+v", got, want)
	}
	in.Now = t0.Add(SettleTime)
	want = actions{Shrink: []Shrink{{Deployment: "old", Count: 2, Reason: scaling("new")}}}
	if got := actionsOf(Reconcile(in)); !reflect.DeepEqual(got, want) {
		t.Fatalf("both new tasks settled: plan %+v, want %+v", got, want)
	}

	// A task with health checks counts as soon as it reports HEALTHY.
	for i := range in.Tasks {
		in.Tasks[i].HealthChecked, in.Tasks[i].Health = true, healthHealthy
	}
	in.Now = t0
	if got := actionsOf(Reconcile(in)); !reflect.DeepEqual(got, want) {
		t.Fatalf("new tasks HEALTHY: plan %+v, want %+v", got, want)
	}
}
