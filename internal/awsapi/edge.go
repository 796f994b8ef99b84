package awsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Handler runs one action on a request body and returns the response value.
type Handler func(ctx context.Context, body []byte) (any, error)

// Service is one AWS JSON 1.1 API: its X-Amz-Target prefix and its table of
// actions, by name.
type Service struct {
	TargetPrefix string
	Actions      map[string]Handler
}

// Edge serves AWS JSON 1.1 requests for a set of services.
type Edge struct {
	keys     Keys
	services map[string]*Service
	log      *slog.Logger
	maxBody  int64
	now      func() time.Time
}

// EdgeConfig configures an Edge.
type EdgeConfig struct {
	Keys     Keys
	Services []*Service
	Logger   *slog.Logger
	// MaxBody is the largest request body accepted, in bytes (default 1 MiB).
	MaxBody int64
	// Now is the clock used for signature skew checks (default time.Now).
	Now func() time.Time
}

// NewEdge builds an Edge from cfg.
func NewEdge(cfg EdgeConfig) *Edge {
	e := &Edge{keys: cfg.Keys, services: map[string]*Service{}, log: cfg.Logger, maxBody: cfg.MaxBody, now: cfg.Now}
	for _, s := range cfg.Services {
		e.services[s.TargetPrefix] = s
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.maxBody == 0 {
		e.maxBody = 1 << 20
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

// Handles reports whether r is a JSON 1.1 request for one of the edge's
// services (it carries an X-Amz-Target header).
func (e *Edge) Handles(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("X-Amz-Target") != ""
}

func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Date", start.UTC().Format(http.TimeFormat))
	target := r.Header.Get("X-Amz-Target")
	status, code := e.serve(w, r, reqID, target)
	e.log.LogAttrs(r.Context(), slog.LevelDebug, "api request",
		slog.String("target", target), slog.Int("status", status), slog.String("error", code),
		slog.String("request_id", reqID), slog.Duration("took", time.Since(start)))
}

func (e *Edge) serve(w http.ResponseWriter, r *http.Request, reqID, target string) (int, string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, e.maxBody+1))
	if err != nil {
		return writeError(w, Serialization.Errorf("could not read the request body: %v", err))
	}
	if int64(len(body)) > e.maxBody {
		return writeError(w, RequestTooLarge.Errorf("The request body is larger than the limit of %d bytes.", e.maxBody))
	}
	caller, aerr := verify(r, body, e.keys, e.now())
	if aerr != nil {
		return writeError(w, aerr)
	}
	caller.RequestID = reqID
	caller.Endpoint = endpointOf(r)
	prefix, action, _ := strings.Cut(target, ".")
	svc := e.services[prefix]
	var h Handler
	if svc != nil {
		h = svc.Actions[action]
	}
	if h == nil {
		return writeError(w, UnknownOperation.Errorf("The action %s is not valid for this web service.", target))
	}
	out, err := h(WithCaller(r.Context(), caller), body)
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			e.log.Error("action failed", "target", target, "request_id", reqID, "err", err)
			ae = ServerFault.Errorf("An internal error occurred (request %s). The server log has the details.", reqID)
		}
		return writeError(w, ae)
	}
	buf, err := json.Marshal(out)
	if err != nil {
		e.log.Error("encode response", "target", target, "err", err)
		return writeError(w, InternalFailure.Errorf("could not encode the response"))
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusOK)
	w.Write(buf)
	return http.StatusOK, ""
}

// ServerFault is the code for an unexpected failure inside an operation.
// Services that name it differently still get "ServerException", which every
// AWS JSON service models.
var ServerFault = Code{"ServerException", http.StatusInternalServerError}

// WriteError writes err as an AWS JSON error response.
func WriteError(w http.ResponseWriter, err *Error) { writeError(w, err) }

func writeError(w http.ResponseWriter, err *Error) (int, string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", err.Code.Name+":")
	w.WriteHeader(err.Code.Status)
	buf, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{err.Code.Name, err.Message})
	w.Write(buf)
	return err.Code.Status, err.Code.Name
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// endpointOf is the base URL a request was sent to.
func endpointOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
