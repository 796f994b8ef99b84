// Package ecswire holds the request and response types of the Amazon ECS API,
// generated from its service model, with JSON tags in the wire's member names.
package ecswire

//go:generate go run ../shapegen -model ../../../../shared/ref/ecs-2014-11-13/service-2.json -pkg ecswire -out shapes_gen.go
