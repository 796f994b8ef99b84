package reconcile

import (
	"testing"
	"time"
)

// Scale-in keeps the tasks under scale-in protection and stops the others;
// once every surplus task is protected, nothing stops until the protection
// expires, and the step asks to run again then.
func TestScaleInSparesProtectedTasks(t *testing.T) {
	now := t0.Add(time.Hour)
	d := dep("ecs-svc/1", "web:1", deploymentPrimary, rolloutCompleted)
	ts := tasks(now, "a ecs-svc/1 i1 RUNNING", "b ecs-svc/1 i1 RUNNING", "c ecs-svc/1 i1 RUNNING")
	ts[0].ProtectedUntil = now.Add(10 * time.Minute)
	ts[1].ProtectedUntil = now.Add(5 * time.Minute)

	p := Reconcile(Input{Now: now, Service: replica(1, 200, 100, d), Tasks: ts, Instances: instances("i1")})
	if got := shrunk(p); got != 1 {
		t.Fatalf("desired 3 -> 1 with 2 of 3 protected: shrink %d tasks, want 1 (plan %+v)", got, actionsOf(p))
	}
	if p.Requeue <= 0 || p.Requeue > 5*time.Minute {
		t.Errorf("requeue %v, want by the first expiry (5m)", p.Requeue)
	}

	// Every task protected: desired 0 stops none.
	ts[2].ProtectedUntil = now.Add(time.Minute)
	p = Reconcile(Input{Now: now, Service: replica(0, 200, 100, d), Tasks: ts, Instances: instances("i1")})
	if got := shrunk(p); got != 0 || len(p.Stop) != 0 {
		t.Fatalf("all protected: plan %+v, want no stop", actionsOf(p))
	}
	if p.Requeue <= 0 || p.Requeue > time.Minute {
		t.Errorf("requeue %v, want by the first expiry (1m)", p.Requeue)
	}

	// Expired protection protects nothing.
	later := now.Add(11 * time.Minute)
	p = Reconcile(Input{Now: later, Service: replica(0, 200, 100, d), Tasks: ts, Instances: instances("i1")})
	if got := shrunk(p); got != 3 {
		t.Fatalf("protection expired: shrink %d, want 3 (plan %+v)", got, actionsOf(p))
	}
}

// A rolling deployment does not stop the old revision's protected tasks:
// it waits for their protection to expire.
func TestDeploymentWaitsForProtectedTasks(t *testing.T) {
	now := t0.Add(time.Hour)
	old := dep("ecs-svc/1", "web:1", deploymentActive, rolloutCompleted)
	primary := inProgress("ecs-svc/2", "web:2")
	ts := tasks(now, "a ecs-svc/1 i1 RUNNING", "b ecs-svc/1 i1 RUNNING", "n1 ecs-svc/2 i1 RUNNING", "n2 ecs-svc/2 i1 RUNNING")
	ts[0].ProtectedUntil = now.Add(time.Hour)
	p := Reconcile(Input{Now: now, Service: replica(2, 200, 100, primary, old), Tasks: ts, Instances: instances("i1")})
	for _, sh := range p.Shrink {
		if sh.Deployment == "ecs-svc/1" && sh.Count != 1 {
			t.Fatalf("old deployment: shrink %d, want 1 (task a is protected)", sh.Count)
		}
	}
	if shrunk(p) != 1 {
		t.Fatalf("plan %+v, want one old task stopped", actionsOf(p))
	}
	if p.Service.Deployments[0].RolloutState == rolloutCompleted {
		t.Errorf("the rollout completed while a protected task of the old revision runs")
	}
}

func shrunk(p Plan) int {
	n := 0
	for _, s := range p.Shrink {
		n += s.Count
	}
	return n
}
