package awsapi

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is an AWS error code with the HTTP status it is sent with. Each service
// declares its codes once, as package-level values, and builds errors from them.
type Code struct {
	Name   string
	Status int
}

// ClientCode declares an error code answered with HTTP 400.
func ClientCode(name string) Code { return Code{Name: name, Status: http.StatusBadRequest} }

// Errorf builds an error of this code with a formatted message.
func (c Code) Errorf(format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Is reports whether err is an *Error of this code.
func (c Code) Is(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code.Name == c.Name
}

// Error is an error an operation answers with: a code and a message that says
// what to fix.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Code.Name + ": " + e.Message }

// Codes that the edge itself answers with, common to every AWS JSON service.
var (
	UnrecognizedClient         = Code{"UnrecognizedClientException", http.StatusBadRequest}
	InvalidSignature           = Code{"InvalidSignatureException", http.StatusBadRequest}
	MissingAuthenticationToken = Code{"MissingAuthenticationTokenException", http.StatusBadRequest}
	IncompleteSignature        = Code{"IncompleteSignatureException", http.StatusBadRequest}
	UnknownOperation           = Code{"UnknownOperationException", http.StatusBadRequest}
	Serialization              = Code{"SerializationException", http.StatusBadRequest}
	RequestTooLarge            = Code{"RequestEntityTooLargeException", http.StatusRequestEntityTooLarge}
	// Throttling answers a request that found no room for its body.
	Throttling      = Code{"ThrottlingException", http.StatusBadRequest}
	InternalFailure = Code{"InternalFailure", http.StatusInternalServerError}
)

// Overloaded is implemented by the errors of a dependency that pushed back
// (the store, when etcd has too many requests or is electing a leader):
// the request may succeed if tried again later.
type Overloaded interface{ Overloaded() bool }

// internalError answers an error that is not an *Error: ThrottlingException
// ("Rate exceeded", which clients retry after a back-off, as they do when
// AWS sheds load) when a dependency was overloaded, else a server fault
// that points at the server log.
func internalError(err error, reqID string) *Error {
	var ov Overloaded
	if errors.As(err, &ov) && ov.Overloaded() {
		return Throttling.Errorf("Rate exceeded")
	}
	return ServerFault.Errorf("An internal error occurred (request %s). The server log has the details.", reqID)
}
