// Package ec2 is the EC2 networking API Gantry serves: VPCs, subnets,
// security groups and their rules, availability zones and tags, over the
// EC2 Query protocol (package awsapi's Query edge). Operations only: they
// validate, apply EC2's rules and answer EC2's error codes and messages; the
// records live in etcd as internal/model's VPC, Subnet and SecurityGroup, so
// that task networking reads them through the store.
//
// Each account and region gets, on its first EC2 call, a default VPC
// (172.31.0.0/16) with one default /20 subnet per availability zone
// (<region>a, b, c) and a default security group, as AWS accounts have.
// Every write is one etcd transaction conditional on the scope's EC2
// revision (see world.go), so a scope's EC2 state is never half-written.
package ec2
