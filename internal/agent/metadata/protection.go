package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// The task scale-in protection endpoint: the agent injects
// ECS_AGENT_URI (http://<endpoint>/api/<token>) into every container, and
// GET / PUT ${ECS_AGENT_URI}/task-protection/v1/state read and set the
// task's protection through the control plane's GetTaskProtection and
// UpdateTaskProtection, signed with the agent's credentials, as the ECS
// agent does. Answers have the ECS agent's shapes: {"protection": {...}}, or
// {"failure": {...}} (HTTP 200, as ECS: the call went through, the task did
// not qualify), or {"error": {...}} with a 4xx or 5xx status.

// Protector calls the control plane's task protection actions.
type Protector interface {
	GetTaskProtection(ctx context.Context, in *ecswire.GetTaskProtectionRequest) (*ecswire.GetTaskProtectionResponse, error)
	UpdateTaskProtection(ctx context.Context, in *ecswire.UpdateTaskProtectionRequest) (*ecswire.UpdateTaskProtectionResponse, error)
}

// APIError is what a Protector returns for an error answer: its code and
// HTTP status are passed on to the container.
type APIError interface {
	error
	APICode() string
	APIMessage() string
	HTTPStatus() int
}

// SetProtector sets who carries protection calls to the control plane.
func (s *Server) SetProtector(p Protector) {
	s.mu.Lock()
	s.protector = p
	s.mu.Unlock()
}

// AgentURI is the ECS_AGENT_URI of the container with runtime name token.
func (s *Server) AgentURI(token string) string {
	return "http://" + s.ln.Addr().String() + "/api/" + token
}

// protectionState is the ECS agent's shape of a task's protection.
type protectionState struct {
	ExpirationDate    *string `json:"ExpirationDate,omitempty"`
	ProtectionEnabled bool    `json:"ProtectionEnabled"`
	TaskArn           string  `json:"TaskArn"`
}

type protectionFailure struct {
	Arn    string  `json:"Arn"`
	Detail *string `json:"Detail"`
	Reason string  `json:"Reason"`
}

type protectionError struct {
	Arn     string `json:"Arn"`
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

// protectionRequest is the body of a PUT.
type protectionRequest struct {
	ProtectionEnabled *bool  `json:"ProtectionEnabled"`
	ExpiresInMinutes  *int32 `json:"ExpiresInMinutes"`
}

func (s *Server) protection(w http.ResponseWriter, r *http.Request) {
	t, _, ok := s.lookup(w, r)
	if !ok {
		return
	}
	s.mu.RLock()
	p := s.protector
	s.mu.RUnlock()
	arn, cluster := t.Assignment.TaskArn, t.Assignment.ClusterArn
	fail := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]protectionError{"error": {Arn: arn, Code: code, Message: msg}})
	}
	if p == nil {
		fail(http.StatusServiceUnavailable, "ServerException", "The agent cannot reach the control plane yet.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	var protected []ecswire.ProtectedTask
	var failures []ecswire.Failure
	var err error
	if r.Method == http.MethodPut {
		var in protectionRequest
		body, rerr := io.ReadAll(io.LimitReader(r.Body, 4<<10))
		if rerr != nil || json.Unmarshal(body, &in) != nil {
			fail(http.StatusBadRequest, "InvalidParameterException", "The request body must be JSON: {\"ProtectionEnabled\": true|false, \"ExpiresInMinutes\": 1-2880}.")
			return
		}
		if in.ProtectionEnabled == nil {
			fail(http.StatusBadRequest, "InvalidParameterException", "Invalid request: does not contain 'ProtectionEnabled' field")
			return
		}
		var out *ecswire.UpdateTaskProtectionResponse
		out, err = p.UpdateTaskProtection(ctx, &ecswire.UpdateTaskProtectionRequest{Cluster: cluster, Tasks: []string{arn},
			ProtectionEnabled: *in.ProtectionEnabled, ExpiresInMinutes: in.ExpiresInMinutes})
		if err == nil {
			protected, failures = out.ProtectedTasks, out.Failures
		}
	} else {
		var out *ecswire.GetTaskProtectionResponse
		out, err = p.GetTaskProtection(ctx, &ecswire.GetTaskProtectionRequest{Cluster: cluster, Tasks: []string{arn}})
		if err == nil {
			protected, failures = out.ProtectedTasks, out.Failures
		}
	}
	var apiErr APIError
	switch {
	case errors.As(err, &apiErr):
		fail(apiErr.HTTPStatus(), apiErr.APICode(), apiErr.APIMessage())
	case err != nil:
		s.log.Warn("task protection call", "task", arn, "err", err)
		fail(http.StatusInternalServerError, "ServerException", "The agent could not reach the control plane.")
	case len(failures) > 0:
		f := failures[0]
		var detail *string
		if f.Detail != "" {
			detail = &f.Detail
		}
		writeJSON(w, map[string]protectionFailure{"failure": {Arn: f.Arn, Detail: detail, Reason: f.Reason}})
	case len(protected) == 0:
		fail(http.StatusInternalServerError, "ServerException", "The control plane answered neither the task's protection nor a failure.")
	default:
		pt := protected[0]
		st := protectionState{ProtectionEnabled: pt.ProtectionEnabled, TaskArn: pt.TaskArn}
		if pt.ExpirationDate != nil {
			at := pt.ExpirationDate.Time.UTC().Format(time.RFC3339)
			st.ExpirationDate = &at
		}
		writeJSON(w, map[string]protectionState{"protection": st})
	}
}
