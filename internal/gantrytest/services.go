package gantrytest

import (
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// EventMessages returns the messages of a service's n latest events, for
// failure messages.
func EventMessages(svc *types.Service, n int) []string {
	var out []string
	for _, e := range svc.Events[:min(n, len(svc.Events))] {
		out = append(out, aws.ToString(e.Message))
	}
	return out
}

// HasEvent reports whether one of a service's events contains fragment.
func HasEvent(svc *types.Service, fragment string) bool {
	return slices.ContainsFunc(svc.Events, func(e types.ServiceEvent) bool {
		return strings.Contains(aws.ToString(e.Message), fragment)
	})
}
