// Package ec2wire holds the request and response types of the EC2 actions
// Gantry serves (VPCs, subnets, security groups, availability zones, tags),
// generated from the EC2 service model with the EC2 Query protocol's names:
// form keys in `query` tags, response elements in `xml` tags. Only the
// shapes these actions reach are generated: the whole model is huge.
package ec2wire

//go:generate go run ../shapegen -model ../../../../shared/ref/ec2-2016-11-15/service-2.json -pkg ec2wire -out shapes_gen.go -ops AuthorizeSecurityGroupEgress,AuthorizeSecurityGroupIngress,CreateSecurityGroup,CreateSubnet,CreateTags,CreateVpc,DeleteSecurityGroup,DeleteSubnet,DeleteTags,DeleteVpc,DescribeAvailabilityZones,DescribeSecurityGroups,DescribeSubnets,DescribeTags,DescribeVpcs,RevokeSecurityGroupEgress,RevokeSecurityGroupIngress
