package awsapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	amzDateFmt   = "20060102T150405Z"
	// MaxClockSkew is how far a request's signing time may be from ours.
	MaxClockSkew = 15 * time.Minute
	// maxPresignExpires is the longest X-Amz-Expires AWS accepts: 7 days.
	maxPresignExpires = 604800
)

// signature is what a request claims about its signing: from the
// Authorization header, or from the query string of a presigned URL.
type signature struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
	amzDate                          time.Time
	presigned                        bool
	expires                          time.Duration
	sessionToken                     string
}

// authenticate checks what a request claims about its signing, before its
// body is read: a well-formed signature (from the Authorization header or a
// presigned query), a known access key, no session token Gantry did not
// issue, a valid region, a signing time within the skew (and a presigned
// request within its expiry), a signed body and a signed host. It returns
// the signature and the key to verify it with once the body is read.
func authenticate(r *http.Request, keys Keys, now time.Time) (*signature, Key, *Error) {
	sig, err := parseSignature(r)
	if err != nil {
		return nil, Key{}, err
	}
	key, ok := keys[sig.accessKey]
	if !ok {
		return sig, Key{}, UnrecognizedClient.Errorf("The security token included in the request is invalid.")
	}
	if err := checkSessionToken(key, sig.sessionToken); err != nil {
		return sig, key, err
	}
	if !validRegion(sig.region) {
		return sig, key, InvalidSignature.Errorf("Credential should be scoped to a valid region, not '%s'. ", sig.region)
	}
	// A presigned request may be used until it expires; any other must be
	// signed within the skew of now.
	if d := now.Sub(sig.amzDate); (d > MaxClockSkew && !sig.presigned) || d < -MaxClockSkew {
		rel := "earlier"
		bound := now.Add(-MaxClockSkew)
		sign := "-"
		if d < 0 {
			rel, bound, sign = "later", now.Add(MaxClockSkew), "+"
		}
		return sig, key, InvalidSignature.Errorf("Signature expired: %s is now %s than %s (%s %s 15 min.)",
			sig.amzDate.Format(amzDateFmt), rel, bound.Format(amzDateFmt), now.Format(amzDateFmt), sign)
	}
	if sig.presigned && now.After(sig.amzDate.Add(sig.expires)) {
		return sig, key, InvalidSignature.Errorf("Request has expired: it was signed at %s for %s.", sig.amzDate.Format(amzDateFmt), sig.expires)
	}
	if sig.amzDate.Format("20060102") != sig.date {
		return sig, key, InvalidSignature.Errorf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'", sig.date, sig.amzDate.Format("20060102"))
	}
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && !isSHA256Hex(h) {
		return sig, key, InvalidSignature.Errorf("X-Amz-Content-Sha256 is '%s': this service accepts only a signed body; sign the hex SHA-256 of the request body.", h)
	}
	if !slices.Contains(sig.signedHeaders, "host") {
		return sig, key, InvalidSignature.Errorf("The request must sign the host header: add 'host' to SignedHeaders.")
	}
	return sig, key, nil
}

// requireSignedTarget checks that a JSON request signs its X-Amz-Target,
// or one signature would serve every action: as a signed header, or
// (presigned) in the signed query. (A Query request's Action is in its
// signed body.)
func requireSignedTarget(r *http.Request, sig *signature) *Error {
	if slices.Contains(sig.signedHeaders, "x-amz-target") || sig.presigned && r.URL.Query().Get("X-Amz-Target") == targetOf(r) {
		return nil
	}
	return InvalidSignature.Errorf("The request must sign the x-amz-target header: add 'x-amz-target' to SignedHeaders.")
}

// callerOf is who a verified request comes from.
func callerOf(r *http.Request, sig *signature, key Key, reqID string) Caller {
	return Caller{AccessKeyID: key.ID, Account: key.Account, Principal: key.Principal, Region: sig.region, Service: sig.service,
		RequestID: reqID, Endpoint: endpointOf(r)}
}

// targetOf is the X-Amz-Target of r: its header, or for a presigned
// request (whose signer moves X-Amz-* headers into the query) its query
// parameter.
func targetOf(r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return t
	}
	return r.URL.Query().Get("X-Amz-Target")
}

// checkSessionToken is where a session token (X-Amz-Security-Token) is
// checked against key. Gantry issues no temporary credentials yet, so any
// token is one it did not issue, and AWS refuses those; an STS that issues
// them extends this check.
func checkSessionToken(key Key, token string) *Error {
	if token != "" {
		return UnrecognizedClient.Errorf("The security token included in the request is invalid.")
	}
	return nil
}

// validRegion reports whether region can name a region: lower-case letters
// and digits in words joined by single hyphens (us-east-1), so that it is
// safe inside an ARN and a store key.
func validRegion(region string) bool {
	if region == "" || len(region) > 50 {
		return false
	}
	for _, word := range strings.Split(region, "-") {
		if word == "" || strings.Trim(word, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			return false
		}
	}
	return true
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// verifySignature checks sig against the request with its body: the body
// is always part of what is signed (never UNSIGNED-PAYLOAD).
func verifySignature(r *http.Request, sig *signature, key Key, body []byte) *Error {
	k := signingKey(key.Secret, sig.date, sig.region, sig.service)
	scope := strings.Join([]string{sig.date, sig.region, sig.service, "aws4_request"}, "/")
	canonical := canonicalRequest(r, sig, sha256Hex(body))
	toSign := sigAlgorithm + "\n" + sig.amzDate.Format(amzDateFmt) + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
	want := hex.EncodeToString(hmacSHA256(k, toSign))
	if !hmac.Equal([]byte(want), []byte(sig.signature)) {
		return InvalidSignature.Errorf("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}

func parseSignature(r *http.Request) (*signature, *Error) {
	q := r.URL.Query()
	auth := r.Header.Get("Authorization")
	var s signature
	var fields map[string]string
	switch {
	case auth != "":
		alg, rest, _ := strings.Cut(auth, " ")
		if alg != sigAlgorithm {
			return nil, IncompleteSignature.Errorf("Authorization header requires the %s algorithm, got '%s'.", sigAlgorithm, alg)
		}
		fields = map[string]string{}
		for _, part := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			fields[k] = v
		}
		for _, need := range []string{"Credential", "SignedHeaders", "Signature"} {
			if fields[need] == "" {
				return nil, IncompleteSignature.Errorf("Authorization header requires '%s' parameter. Authorization=%s", need, auth)
			}
		}
		ds := r.Header.Get("X-Amz-Date")
		var t time.Time
		var err error
		if ds != "" {
			t, err = time.Parse(amzDateFmt, ds)
		} else if ds = r.Header.Get("Date"); ds != "" {
			t, err = http.ParseTime(ds)
		} else {
			return nil, IncompleteSignature.Errorf("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=%s", auth)
		}
		if err != nil {
			return nil, IncompleteSignature.Errorf("The date %q is not in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z').", ds)
		}
		s.amzDate = t.UTC()
		s.sessionToken = r.Header.Get("X-Amz-Security-Token")
	case q.Get("X-Amz-Algorithm") != "":
		if q.Get("X-Amz-Algorithm") != sigAlgorithm {
			return nil, IncompleteSignature.Errorf("X-Amz-Algorithm must be %s.", sigAlgorithm)
		}
		fields = map[string]string{
			"Credential":    q.Get("X-Amz-Credential"),
			"SignedHeaders": q.Get("X-Amz-SignedHeaders"),
			"Signature":     q.Get("X-Amz-Signature"),
		}
		t, err := time.Parse(amzDateFmt, q.Get("X-Amz-Date"))
		if err != nil {
			return nil, IncompleteSignature.Errorf("X-Amz-Date %q is not in ISO 8601 basic format.", q.Get("X-Amz-Date"))
		}
		s.amzDate, s.presigned = t, true
		s.sessionToken = q.Get("X-Amz-Security-Token")
		// A presigned request must say when it expires, within AWS's bound
		// of 7 days: without it a signature would be valid for as long as
		// the skew allows, to anyone who holds the URL.
		e := q.Get("X-Amz-Expires")
		n, err := strconv.Atoi(e)
		if err != nil || n < 1 || n > maxPresignExpires {
			return nil, IncompleteSignature.Errorf("A presigned request requires X-Amz-Expires between 1 and %d seconds, got '%s'.", maxPresignExpires, e)
		}
		s.expires = time.Duration(n) * time.Second
	default:
		return nil, MissingAuthenticationToken.Errorf("Missing Authentication Token")
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[4] != "aws4_request" {
		return nil, IncompleteSignature.Errorf("Credential should be scoped to a valid region, not '%s'. Credential should be of the form <AccessKeyId>/<Date>/<Region>/<Service>/aws4_request.", fields["Credential"])
	}
	s.accessKey, s.date, s.region, s.service = cred[0], cred[1], cred[2], cred[3]
	s.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	s.signature = fields["Signature"]
	return &s, nil
}

func canonicalRequest(r *http.Request, s *signature, payload string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(uriEncode(path, false))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, s.presigned))
	b.WriteByte('\n')
	for _, h := range s.signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(s.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payload)
	return b.String()
}

func headerValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		vals = r.Header.Values("Content-Length")
		if len(vals) == 0 && r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vals = r.Header.Values(name)
	}
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var pairs []kv
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, kv{uriEncode(k, true), uriEncode(v, true)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

// uriEncode percent-encodes every byte but the unreserved characters (and
// '/' unless encodeSlash), as SigV4 specifies.
func uriEncode(s string, encodeSlash bool) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexd[c>>4])
			b.WriteByte(hexd[c&15])
		}
	}
	return b.String()
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signingKeys caches derived signing keys: they change once a day per
// secret, region and service, and deriving one costs four HMACs.
var signingKeys struct {
	sync.Mutex
	m map[string][]byte
}

func signingKey(secret, date, region, service string) []byte {
	id := secret + "\x00" + date + "\x00" + region + "\x00" + service
	signingKeys.Lock()
	defer signingKeys.Unlock()
	if k, ok := signingKeys.m[id]; ok {
		return k
	}
	if signingKeys.m == nil || len(signingKeys.m) > 1024 {
		signingKeys.m = map[string][]byte{}
	}
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")
	signingKeys.m[id] = k
	return k
}
