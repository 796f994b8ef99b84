package ecs

import (
	"fmt"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// historyService is a service whose deployments are given newest first, as
// (id, status, rollout state) triples.
func historyService(status string, deps ...[3]string) *model.Service {
	svc := &model.Service{Service: w.Service{ServiceArn: "arn:aws:ecs:r:1:service/c/s", Status: status, DesiredCount: 2}}
	for _, d := range deps {
		svc.Deployments = append(svc.Deployments, w.Deployment{Id: d[0], Status: d[1], RolloutState: d[2], TaskDefinition: "td:" + d[0]})
	}
	return svc
}

// TestDeploymentHistoryAdvance checks the history's transitions that the
// simulated fleet's test does not reach: a deployment replaced before it
// ends is STOPPED, one in progress when the service is deleted is STOPPED,
// and the history keeps only the newest maxDeploymentHistory deployments.
func TestDeploymentHistoryAdvance(t *testing.T) {
	sc := scope{Caller: awsapi.Caller{Account: "1", Region: "r"}}
	now := time.Unix(1700000000, 0)
	var h deploymentHistory
	const P, A, IP, C = model.DeploymentPrimary, model.DeploymentActive, model.RolloutInProgress, model.RolloutCompleted
	s1 := historyService(model.ServiceActive, [3]string{"d1", P, IP})
	h.advance(sc, "c", "s", nil, s1, now, "")
	s2 := historyService(model.ServiceActive, [3]string{"d2", P, IP}, [3]string{"d1", A, IP})
	h.advance(sc, "c", "s", s1, s2, now, "")
	if len(h.Entries) != 2 || h.Entries[0].Deployment != "d2" || h.Entries[0].Status != sdInProgress {
		t.Fatalf("after a second deployment: %+v", h.Entries)
	}
	if e := h.Entries[1]; e.Status != sdStopped || e.StoppedAt == nil || e.FinishedAt != nil {
		t.Fatalf("the replaced deployment: %s stopped %v finished %v, want STOPPED", e.Status, e.StoppedAt, e.FinishedAt)
	}
	if src := h.Entries[0].Source; len(src) != 1 || src[0].Arn != h.Entries[1].Revision.ServiceRevisionArn {
		t.Fatalf("the second deployment's sources: %+v", src)
	}
	s3 := historyService(model.ServiceDraining, [3]string{"d2", P, IP})
	h.advance(sc, "c", "s", s2, s3, now, "")
	if e := h.Entries[0]; e.Status != sdStopped || e.StatusReason != "The service was deleted." {
		t.Fatalf("after DeleteService: %s %q", e.Status, e.StatusReason)
	}

	prev := s3
	for i := range maxDeploymentHistory + 5 {
		next := historyService(model.ServiceActive, [3]string{fmt.Sprint("n", i), P, C})
		h.advance(sc, "c", "s", prev, next, now, "")
		prev = next
	}
	if len(h.Entries) != maxDeploymentHistory || h.Entries[0].Deployment != fmt.Sprint("n", maxDeploymentHistory+4) {
		t.Fatalf("history of %d, newest %s; want %d, newest n%d", len(h.Entries), h.Entries[0].Deployment, maxDeploymentHistory, maxDeploymentHistory+4)
	}
	if e := h.Entries[0]; e.Status != sdSuccessful || e.FinishedAt == nil {
		t.Fatalf("a completed deployment: %s", e.Status)
	}
}
