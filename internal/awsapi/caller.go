package awsapi

import "context"

// Caller is who signed a request and where: the account and principal its
// access key belongs to, and the region it signed for. Resources are
// namespaced by Account and Region.
type Caller struct {
	AccessKeyID string
	Account     string
	Principal   string // IAM ARN of the principal, e.g. arn:aws:iam::000000000000:root
	Region      string
	Service     string // signing name, e.g. "ecs"
	RequestID   string
	// Endpoint is the base URL the client sent the request to, e.g.
	// http://127.0.0.1:4566 (ECR answers it as the registry's proxyEndpoint).
	Endpoint string
}

type callerKey struct{}

// WithCaller returns a context carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller of the request ctx belongs to.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// Key is an access key the edge accepts.
type Key struct {
	ID, Secret string
	Account    string
	Principal  string
}

// Keys is the set of access keys the edge accepts, by access key id.
type Keys map[string]Key

// Add registers an access key of account as that account's root principal.
func (k Keys) Add(id, secret, account string) {
	k[id] = Key{ID: id, Secret: secret, Account: account, Principal: "arn:aws:iam::" + account + ":root"}
}
