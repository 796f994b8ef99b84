// Package ecrwire holds the request and response types of the Amazon ECR API,
// generated from its service model, with JSON tags in the wire's member names.
package ecrwire

//go:generate go run ../shapegen -model ../../../../shared/ref/ecr-2015-09-21/service-2.json -pkg ecrwire -box-bounded -out shapes_gen.go
