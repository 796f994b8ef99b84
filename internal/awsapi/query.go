package awsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"runtime/debug"
	"slices"
	"time"

	"github.com/gantry-dev/gantry/internal/wire"
)

// The Query edge serves the AWS Query protocols: plain Query (ELBv2, Auto
// Scaling, IAM, STS) and EC2's variant. A request is a form (POST
// application/x-www-form-urlencoded, or GET with the form in the URL) with
// Action and Version; it is SigV4-verified like a JSON request, then routed
// by the credential scope's service name and the form's Version to one
// table of actions, decoded into the generated wire struct, validated
// against the model's constraints, and answered in XML.

// QueryHandler runs one action on a request's form.
type QueryHandler func(ctx context.Context, form url.Values) (any, error)

// Query protocol names, as service models spell them.
const (
	ProtocolQuery = "query"
	ProtocolEC2   = "ec2"
)

// QueryService is one Query-protocol API: how clients reach it (the SigV4
// signing name and the form's Version), how it answers (protocol, XML
// namespace) and its table of actions, by name.
type QueryService struct {
	Protocol     string
	SigningName  string
	Version      string
	XMLNamespace string
	Actions      map[string]QueryHandler
}

// QueryModel is what a Query action needs of its service model: the enums,
// and the codes a malformed request is answered with.
type QueryModel struct {
	Enums map[string][]string
	// InvalidParameter answers a value that breaks a constraint (EC2:
	// InvalidParameterValue; plain Query services: ValidationError).
	InvalidParameter Code
	// MissingParameter answers a missing required member (EC2:
	// MissingParameter); zero uses InvalidParameter.
	MissingParameter Code
	// UnknownParameter answers a form key no member reads (EC2:
	// UnknownParameter); zero ignores such keys.
	UnknownParameter Code
}

// NoOutput is the result of an action whose model has no output shape.
// EC2 answers it with <return>true</return>, plain Query with no result.
type NoOutput struct{}

// QueryAction adapts a typed operation to a QueryHandler: it decodes the
// form into In, checks it against the model's constraints, and calls fn.
func QueryAction[In, Out any](m QueryModel, fn func(context.Context, *In) (*Out, error)) QueryHandler {
	return func(ctx context.Context, form url.Values) (any, error) {
		in := new(In)
		unknown, err := decodeForm(form, in)
		if err != nil {
			return nil, m.InvalidParameter.Errorf("%s", err.Error())
		}
		if len(unknown) > 0 && m.UnknownParameter.Name != "" {
			slices.Sort(unknown)
			return nil, m.UnknownParameter.Errorf("The parameter %s is not recognized", unknown[0])
		}
		if v := wire.Validate(in, m.Enums); len(v) > 0 {
			if m.MissingParameter.Name != "" && v[0].Problem == "is required" {
				return nil, m.MissingParameter.Errorf("The request must contain the parameter %s", v[0].Path)
			}
			return nil, m.InvalidParameter.Errorf("%s", violationMessage(v))
		}
		return fn(ctx, in)
	}
}

// QueryEdge serves the Query-protocol requests of a set of services.
type QueryEdge struct {
	keys     Keys
	services map[string]*QueryService // by signing name
	log      *slog.Logger
	maxBody  int64
	now      func() time.Time
}

// QueryEdgeConfig configures a QueryEdge.
type QueryEdgeConfig struct {
	Keys     Keys
	Services []*QueryService
	Logger   *slog.Logger
	// MaxBody is the largest request body accepted, in bytes (default 1 MiB).
	MaxBody int64
	// Now is the clock used for signature skew checks (default time.Now).
	Now func() time.Time
}

// NewQueryEdge builds a QueryEdge from cfg.
func NewQueryEdge(cfg QueryEdgeConfig) *QueryEdge {
	q := &QueryEdge{keys: cfg.Keys, services: map[string]*QueryService{}, log: cfg.Logger, maxBody: cfg.MaxBody, now: cfg.Now}
	for _, s := range cfg.Services {
		q.services[s.SigningName] = s
	}
	if q.log == nil {
		q.log = slog.Default()
	}
	if q.maxBody == 0 {
		q.maxBody = 1 << 20
	}
	if q.now == nil {
		q.now = time.Now
	}
	return q
}

// Handles reports whether r speaks a Query protocol: a form POST, or a GET
// whose URL names an Action.
func (q *QueryEdge) Handles(r *http.Request) bool {
	if r.Method == http.MethodGet {
		return r.URL.Query().Get("Action") != ""
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return r.Method == http.MethodPost && mt == "application/x-www-form-urlencoded" && r.Header.Get("X-Amz-Target") == ""
}

// Dispatch sends Query-protocol requests to q and every other request to
// next (the JSON edge).
func Dispatch(next http.Handler, q *QueryEdge) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q.Handles(r) {
			q.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (q *QueryEdge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Date", start.UTC().Format(http.TimeFormat))
	action, status, code := q.serve(w, r, reqID)
	q.log.LogAttrs(r.Context(), slog.LevelDebug, "api request",
		slog.String("action", action), slog.Int("status", status), slog.String("error", code),
		slog.String("request_id", reqID), slog.Duration("took", time.Since(start)))
}

// presignKeys are the URL parameters of a presigned request, which are not
// part of the action's form.
var presignKeys = []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"}

func (q *QueryEdge) serve(w http.ResponseWriter, r *http.Request, reqID string) (action string, status int, code string) {
	// Until the signature names the service, errors take the shape of the
	// service the credential scope claims (plain Query if none).
	svc := (*QueryService)(nil)
	if sig, err := parseSignature(r); err == nil {
		svc = q.services[sig.service]
	}
	fail := func(e *Error) (string, int, string) {
		st, c := writeQueryError(w, svc, reqID, e)
		return action, st, c
	}
	// Authenticate what the headers claim before reading the body.
	sig, key, aerr := authenticate(r, q.keys, q.now())
	if aerr != nil {
		return fail(aerr)
	}
	if r.ContentLength > q.maxBody {
		return fail(RequestTooLarge.Errorf("The request body is larger than the limit of %d bytes.", q.maxBody))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, q.maxBody+1))
	if err != nil {
		return fail(queryMalformed.Errorf("Could not read the request body: %v.", err))
	}
	if int64(len(body)) > q.maxBody {
		return fail(RequestTooLarge.Errorf("The request body is larger than the limit of %d bytes.", q.maxBody))
	}
	if aerr := verifySignature(r, sig, key, body); aerr != nil {
		return fail(aerr)
	}
	caller := callerOf(r, sig, key, reqID)
	form := r.URL.Query()
	for _, k := range presignKeys {
		form.Del(k)
	}
	if r.Method == http.MethodPost {
		bf, err := url.ParseQuery(string(body))
		if err != nil {
			return fail(queryMalformed.Errorf("The request body is not a valid URL-encoded form: %v.", err))
		}
		for k, v := range bf {
			form[k] = append(form[k], v...)
		}
	}
	action = form.Get("Action")
	version := form.Get("Version")
	form.Del("Action")
	form.Del("Version")
	svc = q.services[caller.Service]
	switch {
	case svc == nil:
		return fail(queryInvalidAction.Errorf("The request was signed for service %q, whose API Gantry does not serve over the Query protocol.", caller.Service))
	case action == "":
		return fail(queryMissingAction.Errorf("Could not find operation to perform: the form has no Action parameter."))
	case version == "":
		return fail(queryMissingParameter.Errorf("The request must contain the parameter Version"))
	case version != svc.Version:
		return fail(queryNoSuchVersion.Errorf("The requested version (%s) of service %s does not exist; this endpoint serves %s.", version, svc.SigningName, svc.Version))
	}
	h := svc.Actions[action]
	if h == nil {
		return fail(queryInvalidAction.Errorf("The action %s is not valid for this web service.", action))
	}
	out, err := q.run(r.Context(), h, caller, form)
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			q.log.Error("action failed", "service", svc.SigningName, "action", action, "request_id", reqID, "err", err)
			ae = internalError(err, reqID)
		}
		return fail(ae)
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	w.Write(queryResponse(svc, action, reqID, out))
	return action, http.StatusOK, ""
}

// run calls h, turning a panic into an error: the caller gets a server
// fault with the request id rather than a dropped connection it retries.
func (q *QueryEdge) run(ctx context.Context, h QueryHandler, caller Caller, form url.Values) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return h(WithCaller(ctx, caller), form)
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// queryResponse renders out as the action's response document.
func queryResponse(svc *QueryService, action, reqID string, out any) []byte {
	var e xmlEncoder
	e.b.WriteString(xmlHeader)
	root := action + "Response"
	e.b.WriteString(`<` + root + ` xmlns="` + svc.XMLNamespace + `">`)
	v := reflect.ValueOf(out)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	_, none := out.(*NoOutput)
	if svc.Protocol == ProtocolEC2 {
		e.text("requestId", reqID)
		if none {
			e.text("return", "true")
		} else if v.Kind() == reflect.Struct {
			e.fields(v)
		}
	} else {
		if !none && v.Kind() == reflect.Struct {
			e.open(action + "Result")
			e.fields(v)
			e.close(action + "Result")
		}
		e.open("ResponseMetadata")
		e.text("RequestId", reqID)
		e.close("ResponseMetadata")
	}
	e.close(root)
	return e.b.Bytes()
}

// The codes the Query edge itself answers with, and the names the JSON
// edge's codes (from signature verification) take in each Query protocol.
var (
	queryMalformed        = ClientCode("MalformedQueryString")
	queryInvalidAction    = ClientCode("InvalidAction")
	queryMissingAction    = ClientCode("MissingAction")
	queryMissingParameter = ClientCode("MissingParameter")
	queryNoSuchVersion    = ClientCode("NoSuchVersion")

	// queryCodes maps a JSON edge code to its EC2 and plain Query names.
	queryCodes = map[string]struct{ ec2, query Code }{
		UnrecognizedClient.Name:         {Code{"AuthFailure", http.StatusUnauthorized}, Code{"InvalidClientTokenId", http.StatusForbidden}},
		InvalidSignature.Name:           {Code{"SignatureDoesNotMatch", http.StatusForbidden}, Code{"SignatureDoesNotMatch", http.StatusForbidden}},
		MissingAuthenticationToken.Name: {Code{"MissingAuthenticationToken", http.StatusUnauthorized}, Code{"MissingAuthenticationToken", http.StatusForbidden}},
		IncompleteSignature.Name:        {ClientCode("IncompleteSignature"), ClientCode("IncompleteSignature")},
		RequestTooLarge.Name:            {Code{"RequestEntityTooLarge", http.StatusRequestEntityTooLarge}, Code{"RequestEntityTooLarge", http.StatusRequestEntityTooLarge}},
		ServerFault.Name:                {Code{"InternalError", http.StatusInternalServerError}, Code{"InternalFailure", http.StatusInternalServerError}},
	}
)

// ec2AuthFailure is EC2's own text for credentials it does not know.
const ec2AuthFailure = "AWS was not able to validate the provided access credentials"

// writeQueryError writes err in the error shape of svc's protocol (plain
// Query when svc is nil).
func writeQueryError(w http.ResponseWriter, svc *QueryService, reqID string, err *Error) (int, string) {
	ec2 := svc != nil && svc.Protocol == ProtocolEC2
	code, msg := err.Code, err.Message
	if m, ok := queryCodes[code.Name]; ok {
		code = m.query
		if ec2 {
			code = m.ec2
			if code.Name == "AuthFailure" {
				msg = ec2AuthFailure
			}
		}
	}
	var e xmlEncoder
	e.b.WriteString(xmlHeader)
	if ec2 {
		e.b.WriteString("<Response><Errors><Error>")
		e.text("Code", code.Name)
		e.text("Message", msg)
		e.b.WriteString("</Error></Errors>")
		e.text("RequestID", reqID)
		e.close("Response")
	} else {
		ns := ""
		if svc != nil {
			ns = ` xmlns="` + svc.XMLNamespace + `"`
		}
		kind := "Sender"
		if code.Status >= 500 {
			kind = "Receiver"
		}
		e.b.WriteString("<ErrorResponse" + ns + "><Error>")
		e.text("Type", kind)
		e.text("Code", code.Name)
		e.text("Message", msg)
		e.close("Error")
		e.text("RequestId", reqID)
		e.close("ErrorResponse")
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	// Clients read the code from the XML; the header, as the JSON edge
	// sets it, lets the server's metrics count the answer by its code.
	w.Header().Set("X-Amzn-ErrorType", code.Name)
	w.WriteHeader(code.Status)
	w.Write(e.b.Bytes())
	return code.Status, code.Name
}
