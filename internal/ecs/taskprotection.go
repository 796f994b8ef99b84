package ecs

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Task scale-in protection: a service task protected by
// UpdateTaskProtection is not stopped by the service scheduler to scale in
// or to roll a deployment out (internal/reconcile) until its protection
// expires (expiresInMinutes, 1 to 2,880, default 120). A user's StopTask
// and an unhealthy task's replacement still stop it, as in ECS. The expiry
// is kept in the task record (model.Task.ProtectedUntil).

const (
	defaultProtectionMinutes = 120
	maxProtectionMinutes     = 2880
	// maxProtectionUpdate and maxProtectionGet are the model's bounds on
	// tasks per call (10 to update, 100 to read).
	maxProtectionUpdate = 10
	maxProtectionGet    = 100
	// reasonTaskNotValid is ECS's failure reason for a task protection
	// call on a task that is not part of a service.
	reasonTaskNotValid = "TASK_NOT_VALID"
)

// errNoChange ends a state.Update that found nothing to write.
var errNoChange = errors.New("ecs: nothing to change")

func (s *Service) taskProtectionActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"UpdateTaskProtection": awsapi.Action(m, s.UpdateTaskProtection),
		"GetTaskProtection":    awsapi.Action(m, s.GetTaskProtection),
	}
}

// UpdateTaskProtection turns scale-in protection on (for expiresInMinutes)
// or off for up to 10 tasks of services. Each task is written in its own
// transaction; tasks that are unknown come back in failures as MISSING,
// tasks not started by a service as TASK_NOT_VALID.
func (s *Service) UpdateTaskProtection(ctx context.Context, in *w.UpdateTaskProtectionRequest) (*w.UpdateTaskProtectionResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.requireCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 || len(in.Tasks) > maxProtectionUpdate {
		return nil, InvalidParameter.Errorf("tasks must list 1 to %d task ids or ARNs; %d were given.", maxProtectionUpdate, len(in.Tasks))
	}
	minutes := int32(defaultProtectionMinutes)
	if in.ExpiresInMinutes != nil {
		minutes = *in.ExpiresInMinutes
		if minutes < 1 || minutes > maxProtectionMinutes {
			return nil, InvalidParameter.Errorf("expiresInMinutes must be between 1 and %d; %d was given.", maxProtectionMinutes, minutes)
		}
	}
	out := &w.UpdateTaskProtectionResponse{ProtectedTasks: []w.ProtectedTask{}, Failures: []w.Failure{}}
	now := s.now()
	until := now.Add(time.Duration(minutes) * time.Minute).Truncate(time.Millisecond)
	for _, ref := range in.Tasks {
		id, arn, ok, err := sc.taskRef(name, ref)
		if err != nil {
			return nil, err
		}
		if !ok {
			out.Failures = append(out.Failures, w.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		var failure string
		_, err = state.Update(ctx, sc.st, model.TaskKey(name, id), func(t *model.Task, found bool) (*model.Task, error) {
			switch {
			case !found:
				failure = "MISSING"
				return nil, errNoChange
			case !isServiceTask(t) || t.LastStatus == agentproto.StatusStopped:
				failure = reasonTaskNotValid
				return nil, errNoChange
			}
			failure = ""
			if in.ProtectionEnabled {
				t.ProtectedUntil = until.UnixMilli()
			} else {
				t.ProtectedUntil = 0
			}
			return t, nil
		})
		if err != nil && !errors.Is(err, errNoChange) {
			return nil, err
		}
		if failure != "" {
			out.Failures = append(out.Failures, protectionFailure(sc.taskARN(name, id), failure))
			continue
		}
		pt := w.ProtectedTask{TaskArn: sc.taskARN(name, id), ProtectionEnabled: in.ProtectionEnabled}
		if in.ProtectionEnabled {
			pt.ExpirationDate = wire.At(until)
		}
		out.ProtectedTasks = append(out.ProtectedTasks, pt)
	}
	return out, nil
}

// GetTaskProtection reads the scale-in protection of up to 100 tasks, or of
// every service task of the cluster that is not stopped when none is named.
func (s *Service) GetTaskProtection(ctx context.Context, in *w.GetTaskProtectionRequest) (*w.GetTaskProtectionResponse, error) {
	sc := s.scope(ctx)
	name, err := sc.requireCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Tasks) > maxProtectionGet {
		return nil, InvalidParameter.Errorf("tasks must list at most %d task ids or ARNs; %d were given.", maxProtectionGet, len(in.Tasks))
	}
	out := &w.GetTaskProtectionResponse{ProtectedTasks: []w.ProtectedTask{}, Failures: []w.Failure{}}
	now := s.now()
	show := func(t *model.Task) w.ProtectedTask {
		pt := w.ProtectedTask{TaskArn: t.TaskArn}
		if t.ProtectedUntil > 0 && now.Before(time.UnixMilli(t.ProtectedUntil)) {
			pt.ProtectionEnabled, pt.ExpirationDate = true, wire.At(time.UnixMilli(t.ProtectedUntil))
		}
		return pt
	}
	if len(in.Tasks) == 0 {
		page, err := sc.st.ListAll(ctx, model.TasksPrefix(name))
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			var t model.Task
			if err := it.Decode(&t); err != nil {
				return nil, err
			}
			if isServiceTask(&t) && t.LastStatus != agentproto.StatusStopped {
				out.ProtectedTasks = append(out.ProtectedTasks, show(&t))
			}
		}
		return out, nil
	}
	for _, ref := range in.Tasks {
		id, arn, ok, err := sc.taskRef(name, ref)
		if err != nil {
			return nil, err
		}
		if !ok {
			out.Failures = append(out.Failures, w.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		var t model.Task
		if _, err := sc.st.Get(ctx, model.TaskKey(name, id), &t); errors.Is(err, state.ErrNotFound) {
			out.Failures = append(out.Failures, w.Failure{Arn: arn, Reason: "MISSING"})
			continue
		} else if err != nil {
			return nil, err
		}
		if !isServiceTask(&t) {
			out.Failures = append(out.Failures, protectionFailure(t.TaskArn, reasonTaskNotValid))
			continue
		}
		out.ProtectedTasks = append(out.ProtectedTasks, show(&t))
	}
	return out, nil
}

// isServiceTask reports whether a service's scheduler started t.
func isServiceTask(t *model.Task) bool { return strings.HasPrefix(t.Group, "service:") }

// protectionFailure is a task protection failure with a detail that says
// what is wrong.
func protectionFailure(arn, reason string) w.Failure {
	f := w.Failure{Arn: arn, Reason: reason}
	if reason == reasonTaskNotValid {
		f.Detail = "The task is not part of an Amazon ECS service, or has stopped: task scale-in protection applies to the running tasks of services."
	}
	return f
}
