package ec2_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/gantry-dev/gantry/internal/gantrytest"
)

// Concurrent writes of one scope never both pass a check that only one may
// pass: the first calls of a fresh region make one default VPC, and of
// overlapping subnets or same-named groups created at once, one wins.
func TestConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	c := gantrytest.Shared(t).EC2()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	vpcs := gantrytest.Must(c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}))(t).Vpcs
	if len(vpcs) != 1 {
		t.Fatalf("%d VPCs after %d concurrent first calls, want one default", len(vpcs), n)
	}
	vpc := vpcs[0].VpcId
	count := func(codes []string) map[string]int {
		m := map[string]int{}
		for _, c := range codes {
			m[c]++
		}
		return m
	}
	codes := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// 172.31.48.0/20 and its halves, quarters...: all overlap.
			cidr := fmt.Sprintf("172.31.48.0/%d", 20+i)
			_, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc, CidrBlock: aws.String(cidr)})
			codes[i] = gantrytest.Code(err)
			if err != nil && codes[i] == "" {
				codes[i] = err.Error()
			}
		}()
	}
	wg.Wait()
	if m := count(codes); m[""] != 1 || m["InvalidSubnet.Conflict"] != n-1 {
		t.Fatalf("concurrent overlapping subnets: %v", m)
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("race"), Description: aws.String("d")})
			codes[i] = gantrytest.Code(err)
			if err != nil && codes[i] == "" {
				codes[i] = err.Error()
			}
		}()
	}
	wg.Wait()
	if m := count(codes); m[""] != 1 || m["InvalidGroup.Duplicate"] != n-1 {
		t.Fatalf("concurrent same-named groups: %v", m)
	}
}
