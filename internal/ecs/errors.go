package ecs

import (
	"fmt"
	"net/http"

	"github.com/gantry-dev/gantry/internal/awsapi"
)

// The ECS exceptions, as the service model names them. Every error an
// operation returns is built from one of these.
var (
	ClientException                 = awsapi.ClientCode("ClientException")
	ServerException                 = awsapi.Code{Name: "ServerException", Status: http.StatusInternalServerError}
	InvalidParameter                = awsapi.ClientCode("InvalidParameterException")
	ClusterNotFound                 = awsapi.ClientCode("ClusterNotFoundException")
	ClusterContainsInstances        = awsapi.ClientCode("ClusterContainsContainerInstancesException")
	ClusterContainsServices         = awsapi.ClientCode("ClusterContainsServicesException")
	ClusterContainsTasks            = awsapi.ClientCode("ClusterContainsTasksException")
	ClusterContainsCapacityProvider = awsapi.ClientCode("ClusterContainsCapacityProviderException")
	AttributeLimitExceeded          = awsapi.ClientCode("AttributeLimitExceededException")
	TargetNotFound                  = awsapi.ClientCode("TargetNotFoundException")
	ResourceNotFound                = awsapi.ClientCode("ResourceNotFoundException")
	ResourceInUse                   = awsapi.ClientCode("ResourceInUseException")
	LimitExceeded                   = awsapi.ClientCode("LimitExceededException")
	AccessDenied                    = awsapi.ClientCode("AccessDeniedException")
	UpdateInProgress                = awsapi.ClientCode("UpdateInProgressException")
	Conflict                        = awsapi.ClientCode("ConflictException")
	ServiceNotFound                 = awsapi.ClientCode("ServiceNotFoundException")
	ServiceNotActive                = awsapi.ClientCode("ServiceNotActiveException")
	ServiceDeploymentNotFound       = awsapi.ClientCode("ServiceDeploymentNotFoundException")
)

// hintedError is a refusal whose message is AWS's fixed text, word for word
// (scripts match on it), with Gantry's advice on what to fix beside it. The
// client gets AWS's message; the advice goes to the server log with the
// rejected call (Service.answer).
type hintedError struct {
	err  *awsapi.Error
	hint string
}

func (e *hintedError) Error() string { return e.err.Error() + " (" + e.hint + ")" }
func (e *hintedError) Unwrap() error { return e.err }

// withHint returns err, AWS's fixed answer, with Gantry's advice for the
// server log.
func withHint(err *awsapi.Error, format string, args ...any) error {
	return &hintedError{err: err, hint: fmt.Sprintf(format, args...)}
}
