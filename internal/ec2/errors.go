package ec2

import (
	"net/http"

	"github.com/gantry-dev/gantry/internal/awsapi"
)

// The EC2 error codes Gantry answers with. Every error an operation returns
// is built from one of these; the Query edge writes them in EC2's shape.
var (
	InvalidParameterValue       = awsapi.ClientCode("InvalidParameterValue")
	InvalidParameterCombination = awsapi.ClientCode("InvalidParameterCombination")
	MissingParameter            = awsapi.ClientCode("MissingParameter")
	UnknownParameter            = awsapi.ClientCode("UnknownParameter")
	InvalidID                   = awsapi.ClientCode("InvalidID")
	VpcNotFound                 = awsapi.ClientCode("InvalidVpcID.NotFound")
	SubnetNotFound              = awsapi.ClientCode("InvalidSubnetID.NotFound")
	GroupNotFound               = awsapi.ClientCode("InvalidGroup.NotFound")
	GroupDuplicate              = awsapi.ClientCode("InvalidGroup.Duplicate")
	DependencyViolation         = awsapi.ClientCode("DependencyViolation")
	CannotDelete                = awsapi.ClientCode("CannotDelete")
	VpcRange                    = awsapi.ClientCode("InvalidVpc.Range")
	SubnetRange                 = awsapi.ClientCode("InvalidSubnet.Range")
	SubnetConflict              = awsapi.ClientCode("InvalidSubnet.Conflict")
	PermissionDuplicate         = awsapi.ClientCode("InvalidPermission.Duplicate")
	PermissionNotFound          = awsapi.ClientCode("InvalidPermission.NotFound")
	PermissionMalformed         = awsapi.ClientCode("InvalidPermission.Malformed")
	DryRunOperation             = awsapi.Code{Name: "DryRunOperation", Status: http.StatusPreconditionFailed}
)
