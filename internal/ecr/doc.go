// Package ecr implements the Amazon ECR API (JSON 1.1, target prefix
// AmazonEC2ContainerRegistry_V20150921) over the built-in registry: one file
// per resource (repositories, images, authorization, resource tags), errors
// from one table named after the ECR model's exceptions. Repositories,
// images and tags are the registry's own records, so what the API shows and
// what docker pushes and pulls through /v2/ are the same thing.
package ecr
