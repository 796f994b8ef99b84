package registry

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Code is an OCI distribution error code with the HTTP status it is answered
// with. The table below is the only place codes and statuses are paired.
type Code struct {
	Name   string
	Status int
}

// The 14 error codes of the OCI distribution specification, and TAG_INVALID,
// which Docker's registry API and ECR add for a tag that cannot be written.
var (
	BlobUnknown         = Code{"BLOB_UNKNOWN", http.StatusNotFound}
	BlobUploadInvalid   = Code{"BLOB_UPLOAD_INVALID", http.StatusBadRequest}
	BlobUploadUnknown   = Code{"BLOB_UPLOAD_UNKNOWN", http.StatusNotFound}
	DigestInvalid       = Code{"DIGEST_INVALID", http.StatusBadRequest}
	ManifestBlobUnknown = Code{"MANIFEST_BLOB_UNKNOWN", http.StatusNotFound}
	ManifestInvalid     = Code{"MANIFEST_INVALID", http.StatusBadRequest}
	ManifestUnknown     = Code{"MANIFEST_UNKNOWN", http.StatusNotFound}
	NameInvalid         = Code{"NAME_INVALID", http.StatusBadRequest}
	NameUnknown         = Code{"NAME_UNKNOWN", http.StatusNotFound}
	SizeInvalid         = Code{"SIZE_INVALID", http.StatusBadRequest}
	Unauthorized        = Code{"UNAUTHORIZED", http.StatusUnauthorized}
	Denied              = Code{"DENIED", http.StatusForbidden}
	Unsupported         = Code{"UNSUPPORTED", http.StatusMethodNotAllowed}
	TooManyRequests     = Code{"TOOMANYREQUESTS", http.StatusTooManyRequests}
	TagInvalid          = Code{"TAG_INVALID", http.StatusBadRequest}
)

// Error is a registry error: a code, a message that says what happened, and
// optional detail. Status, when set, overrides the code's status (413 for a
// manifest too large, 416 for a chunk out of order).
type Error struct {
	Code    Code
	Message string
	Detail  any
	Status  int
}

func (e *Error) Error() string { return e.Code.Name + ": " + e.Message }

// Errorf builds an error of this code.
func (c Code) Errorf(msg string) *Error { return &Error{Code: c, Message: msg} }

// WithStatus returns an error of this code answered with another status.
func (c Code) WithStatus(status int, msg string) *Error {
	return &Error{Code: c, Message: msg, Status: status}
}

// Is reports whether err is a registry *Error of this code.
func (c Code) Is(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code.Name == c.Name
}

// AsError returns err as a registry *Error, if it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Sentinel errors of the metadata layer that are not OCI conditions; the ECR
// operations map them to their exceptions.
var (
	// ErrRepositoryExists: CreateRepository of a name already taken.
	ErrRepositoryExists = errors.New("registry: repository already exists")
	// ErrRepositoryNotEmpty: DeleteRepository without force of a repository with images.
	ErrRepositoryNotEmpty = errors.New("registry: repository not empty")
)

// writeError answers err in the OCI error format. Errors that are not
// registry errors are logged and answered as 500 without detail.
func (r *Registry) writeError(w http.ResponseWriter, req *http.Request, err error) {
	e, ok := AsError(err)
	if !ok {
		r.log.Error("registry request failed", "method", req.Method, "path", req.URL.Path, "err", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"errors":[{"code":"UNKNOWN","message":"internal error; the server log has the details"}]}`))
		return
	}
	if e.Code == Denied || e.Code == TooManyRequests {
		// Limits the operator sets: say in the log who reached them.
		r.log.Warn("registry request refused", "method", req.Method, "path", req.URL.Path, "code", e.Code.Name, "reason", e.Message)
	}
	status := e.Code.Status
	if e.Status != 0 {
		status = e.Status
	}
	if e.Code == Unauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+r.realm(req)+`"`)
	}
	type item struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Detail  any    `json:"detail,omitempty"`
	}
	body, _ := json.Marshal(struct {
		Errors []item `json:"errors"`
	}{[]item{{e.Code.Name, e.Message, e.Detail}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", itoa(int64(len(body))))
	w.WriteHeader(status)
	if req.Method != http.MethodHead {
		w.Write(body)
	}
}
