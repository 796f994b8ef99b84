// Package ecr implements the Amazon ECR API (JSON 1.1, target prefix
// AmazonEC2ContainerRegistry_V20150921) over the built-in registry: one file
// per resource (repositories, images, layer uploads, authorization,
// resource tags, lifecycle policies, repository policies, and the
// registry's own settings: registry policy, scanning and replication
// configuration, account settings), errors from one
// table named after the ECR model's exceptions. Repositories, images and
// tags are the registry's own records, so what the API shows and what
// docker pushes and pulls through /v2/ are the same thing.
//
// Repository policies are stored and returned but not enforced: Gantry has
// no IAM. Lifecycle policies are validated with ECR's grammar
// (lifecyclepolicy.go, a pure parser and evaluator) and applied by
// (*Service).ApplyLifecyclePolicies, which the server runs periodically on
// the leader, followed by (*registry.Registry).CollectGarbage:
//
//	// every 10 minutes, on the replica that holds the controllers' election:
//	expired, err := ecrSvc.ApplyLifecyclePolicies(ctx, time.Now())
//	removed, err := reg.CollectGarbage(ctx, time.Now())
package ecr
