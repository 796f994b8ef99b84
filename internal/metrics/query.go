package metrics

import (
	"io"
	"net/http"
	"net/url"
	"strings"
)

// bodyHeadSize is how much of a request body is kept to find a Query
// request's Action (SDKs and the CLI write it first).
const bodyHeadSize = 1024

// bodyHead keeps the first bytes read from a request body.
type bodyHead struct {
	io.ReadCloser
	buf []byte
}

func (b *bodyHead) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if room := bodyHeadSize - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(n, room)]...)
	}
	return n, err
}

// queryTarget names a Query request's action as "<service>.<Action>": the
// service from its SigV4 credential scope, the Action from its query string
// or the start of its form body. It returns "" when either is missing.
func queryTarget(r *http.Request, head []byte) string {
	action := r.URL.Query().Get("Action")
	if action == "" {
		form := string(head)
		if len(head) == bodyHeadSize {
			// The last pair may be cut: keep whole ones.
			if i := strings.LastIndexByte(form, '&'); i >= 0 {
				form = form[:i]
			}
		}
		if v, err := url.ParseQuery(form); err == nil {
			action = v.Get("Action")
		}
	}
	service := credentialService(r.Header.Get("Authorization"))
	if service == "" {
		service = credentialService("Credential=" + r.URL.Query().Get("X-Amz-Credential"))
	}
	if action == "" || service == "" {
		return ""
	}
	return service + "." + action
}

// credentialService is the service of a SigV4 credential scope
// ("Credential=AKID/20260101/us-east-1/ec2/aws4_request, ...").
func credentialService(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}
