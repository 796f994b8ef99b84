package ecs

import (
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
)
