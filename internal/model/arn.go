package model

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// ARN builds an ARN of service in partition aws: arn:aws:<service>:<region>:<account>:<resource>.
func ARN(service, region, account, resource string) string {
	return "arn:aws:" + service + ":" + region + ":" + account + ":" + resource
}

// ParsedARN is an ARN split into its parts.
type ParsedARN struct {
	Partition, Service, Region, Account string
	// Resource is everything after the account, e.g. "cluster/prod".
	Resource string
}

// ResourceType is the first segment of the resource: "cluster", "task-definition", ...
func (a ParsedARN) ResourceType() string {
	t, _, _ := strings.Cut(a.Resource, "/")
	return t
}

// ResourceID is the resource after its type: "prod", "web:3", "prod/0123...".
func (a ParsedARN) ResourceID() string {
	_, id, _ := strings.Cut(a.Resource, "/")
	return id
}

// ParseARN splits s; it fails unless s has the six parts of an ARN.
func ParseARN(s string) (ParsedARN, error) {
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[1] == "" || p[2] == "" || p[5] == "" {
		return ParsedARN{}, fmt.Errorf("%q is not an ARN", s)
	}
	return ParsedARN{Partition: p[1], Service: p[2], Region: p[3], Account: p[4], Resource: p[5]}, nil
}

// IsARN reports whether s looks like an ARN rather than a name.
func IsARN(s string) bool { return strings.HasPrefix(s, "arn:") }

// NewID returns a fresh id of 32 lowercase hex characters, the form of ECS
// task and container-instance ids.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// IsID reports whether s has the form of an id made by NewID.
func IsID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
