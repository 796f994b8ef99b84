package ecs

import "github.com/gantry-dev/gantry/internal/awsapi"

func (s *Service) attributeActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{}
}
