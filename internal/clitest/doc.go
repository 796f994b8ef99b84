// Package clitest runs the AWS CLI's own examples against Gantry: the
// pages of ../shared/ref/cli-examples/{ecs,ecr} (each a command AWS ran and
// the output it printed) are parsed at test time, the state each example
// presumes is created through the SDK, the example's command is run with
// the real AWS CLI (/usr/bin/aws, always with --endpoint-url), and its output
// is compared with AWS's member by member, after the normalisation that
// Rules documents. testdata/status.txt records each example's result; the
// test fails when one listed as passing stops passing, so the count of
// passing examples only grows. Refresh the file with
//
//	go test ./internal/clitest/ -run TestCLIExamples -update
//
// The package's non-test code is the page parser and the comparison, pure
// and standard library only.
package clitest
