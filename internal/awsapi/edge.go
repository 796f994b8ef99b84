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

// Service is one AWS JSON 1.1 API: its X-Amz-Target prefix, the name its
// requests are signed for, and its table of actions, by name.
type Service struct {
	TargetPrefix string
	// SigningName is the service of the SigV4 credential scope its
	// requests must carry, e.g. "ecs" (the model's signingName).
	SigningName string
	Actions     map[string]Handler
	// BodyLimits raises the body limit (EdgeConfig.MaxBody) of the actions
	// named, e.g. those that carry image manifests or layer parts.
	BodyLimits map[string]int64
}

// Edge serves AWS JSON 1.1 requests for a set of services.
type Edge struct {
	keys       Keys
	services   map[string]*Service
	log        *slog.Logger
	maxBody    int64
	buffered   *budget
	bufferWait time.Duration
	now        func() time.Time
}

// EdgeConfig configures an Edge.
type EdgeConfig struct {
	Keys     Keys
	Services []*Service
	Logger   *slog.Logger
	// MaxBody is the largest request body accepted, in bytes, by the
	// actions without a limit of their own (default 1 MiB).
	MaxBody int64
	// MaxBuffered bounds the bytes of request bodies held at once by the
	// requests in flight (default 64 MiB, and at least the largest body
	// limit). A request that finds no room within BufferWait (default 2 s)
	// is answered ThrottlingException.
	MaxBuffered int64
	BufferWait  time.Duration
	// Now is the clock used for signature skew checks (default time.Now).
	Now func() time.Time
}

// DefaultMaxBody is the body limit of an action without one of its own.
const DefaultMaxBody = 1 << 20

// NewEdge builds an Edge from cfg. Every service must name what it is
// signed for.
func NewEdge(cfg EdgeConfig) *Edge {
	e := &Edge{keys: cfg.Keys, services: map[string]*Service{}, log: cfg.Logger, maxBody: cfg.MaxBody, bufferWait: cfg.BufferWait, now: cfg.Now}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.maxBody == 0 {
		e.maxBody = DefaultMaxBody
	}
	largest := e.maxBody
	for _, s := range cfg.Services {
		if s.SigningName == "" {
			panic("awsapi: service " + s.TargetPrefix + " has no SigningName")
		}
		e.services[s.TargetPrefix] = s
		for _, n := range s.BodyLimits {
			largest = max(largest, n)
		}
	}
	maxBuffered := cfg.MaxBuffered
	if maxBuffered == 0 {
		maxBuffered = 64 << 20
	}
	e.buffered = newBudget(max(maxBuffered, largest))
	if e.bufferWait == 0 {
		e.bufferWait = 2 * time.Second
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

// Handles reports whether r is a JSON 1.1 request for one of the edge's
// services (it carries an X-Amz-Target header).
func (e *Edge) Handles(r *http.Request) bool {
	return r.Method == http.MethodPost && targetOf(r) != ""
}

// The attribute keys of the edge's log lines, declared once.
const (
	logTarget    = "target"
	logStatus    = "status"
	logError     = "error"
	logReason    = "reason"
	logAccessKey = "access_key_id"
	logPrincipal = "principal"
	logRequestID = "request_id"
	logTook      = "took"
)

// outcome is what the log says of one call.
type outcome struct {
	status    int
	code      string
	reason    string // detail for the operator, beyond the answer's message
	accessKey string
	principal string
}

func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Date", start.UTC().Format(http.TimeFormat))
	target := targetOf(r)
	var o outcome
	e.serve(w, r, reqID, target, &o)
	level := slog.LevelDebug
	msg := "api request"
	if o.code != "" {
		// Every refused call is logged, so that an operator sees who is
		// refused and why without turning debug on.
		level, msg = slog.LevelInfo, "api request refused"
	}
	if !e.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{slog.String(logTarget, target), slog.Int(logStatus, o.status), slog.String(logError, o.code)}
	if o.reason != "" {
		attrs = append(attrs, slog.String(logReason, o.reason))
	}
	if o.accessKey != "" {
		attrs = append(attrs, slog.String(logAccessKey, o.accessKey))
	}
	if o.principal != "" {
		attrs = append(attrs, slog.String(logPrincipal, o.principal))
	}
	attrs = append(attrs, slog.String(logRequestID, reqID), slog.Duration(logTook, time.Since(start)))
	e.log.LogAttrs(r.Context(), level, msg, attrs...)
}

// serve answers one request. Everything that can be checked from the
// headers is checked before the body is read: who signed it, for which
// service and region, when, and how large the body says it is. Only then is
// room taken for the body (within the edge's MaxBuffered), the body read,
// and the signature verified over it.
func (e *Edge) serve(w http.ResponseWriter, r *http.Request, reqID, target string, o *outcome) {
	fail := func(err *Error) {
		o.status, o.code = writeError(w, err)
	}
	sig, key, aerr := authenticate(r, e.keys, e.now())
	if sig != nil {
		o.accessKey = sig.accessKey
	}
	if aerr == nil {
		aerr = requireSignedTarget(r, sig)
	}
	if aerr != nil {
		fail(aerr)
		return
	}
	prefix, action, _ := strings.Cut(target, ".")
	svc := e.services[prefix]
	if svc != nil && sig.service != svc.SigningName {
		fail(InvalidSignature.Errorf("Credential should be scoped to correct service: '%s'. ", svc.SigningName))
		return
	}
	limit := e.maxBody
	if n, ok := svc.bodyLimit(action); ok {
		limit = n
	}
	if r.ContentLength > limit {
		fail(RequestTooLarge.Errorf("The request body is larger than the limit of %d bytes.", limit))
		return
	}
	body, held, aerr := e.readBody(r, limit)
	defer e.buffered.release(held)
	if aerr != nil {
		if aerr.Code == Throttling {
			o.reason = "the request bodies in flight hold all the bytes the edge may buffer (MaxBuffered)"
		}
		fail(aerr)
		return
	}
	if int64(len(body)) > limit {
		fail(RequestTooLarge.Errorf("The request body is larger than the limit of %d bytes.", limit))
		return
	}
	if aerr := verifySignature(r, sig, key, body); aerr != nil {
		fail(aerr)
		return
	}
	o.principal = key.Principal
	caller := callerOf(r, sig, key, reqID)
	var h Handler
	if svc != nil {
		h = svc.Actions[action]
	}
	if h == nil {
		fail(UnknownOperation.Errorf("The action %s is not valid for this web service.", target))
		return
	}
	out, err := h(WithCaller(r.Context(), caller), body)
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			e.log.Error("action failed", logTarget, target, logRequestID, reqID, logError, err)
			ae = internalError(err, reqID)
		}
		fail(ae)
		return
	}
	buf, err := json.Marshal(out)
	if err != nil {
		e.log.Error("encode response", logTarget, target, logError, err)
		fail(InternalFailure.Errorf("could not encode the response"))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusOK)
	w.Write(buf)
	o.status = http.StatusOK
}

// readBody reads r's body, of at most limit bytes (one more tells it is
// larger), and returns it with the bytes of room it holds in the edge's
// budget, to give back when the request ends. Room is taken as the body
// arrives, by doubling the buffer: a body that trickles in holds what it
// sent, not what it announced.
func (e *Edge) readBody(r *http.Request, limit int64) ([]byte, int64, *Error) {
	const first = 16 << 10
	var buf []byte
	var held int64
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return buf, held, nil
			}
			size := int64(first)
			if r.ContentLength >= 0 && r.ContentLength < size {
				size = r.ContentLength + 1 // +1 sees the end without growing
			}
			size = min(max(size, 2*int64(cap(buf))), limit+1)
			if !e.buffered.acquire(r.Context(), size-held, e.bufferWait) {
				return nil, held, Throttling.Errorf("Rate exceeded")
			}
			grown := make([]byte, len(buf), size)
			copy(grown, buf)
			buf, held = grown, size
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, held, nil
		}
		if err != nil {
			return nil, held, Serialization.Errorf("could not read the request body: %v", err)
		}
	}
}

// bodyLimit is the body limit of action, if it has its own.
func (s *Service) bodyLimit(action string) (int64, bool) {
	if s == nil {
		return 0, false
	}
	n, ok := s.BodyLimits[action]
	return n, ok
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
