package awsapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
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
}

// verify checks the SigV4 signature of r, whose body is body, against keys.
// It returns the caller on success and an *Error the client expects otherwise.
func verify(r *http.Request, body []byte, keys Keys, now time.Time) (Caller, *Error) {
	sig, err := parseSignature(r)
	if err != nil {
		return Caller{}, err
	}
	key, ok := keys[sig.accessKey]
	if !ok {
		return Caller{}, UnrecognizedClient.Errorf("The security token included in the request is invalid.")
	}
	if d := now.Sub(sig.amzDate); d > MaxClockSkew || d < -MaxClockSkew {
		rel := "earlier"
		bound := now.Add(-MaxClockSkew)
		sign := "-"
		if d < 0 {
			rel, bound, sign = "later", now.Add(MaxClockSkew), "+"
		}
		return Caller{}, InvalidSignature.Errorf("Signature expired: %s is now %s than %s (%s %s 15 min.)",
			sig.amzDate.Format(amzDateFmt), rel, bound.Format(amzDateFmt), now.Format(amzDateFmt), sign)
	}
	if sig.presigned && sig.expires > 0 && now.After(sig.amzDate.Add(sig.expires)) {
		return Caller{}, InvalidSignature.Errorf("Request has expired: it was signed at %s for %s.", sig.amzDate.Format(amzDateFmt), sig.expires)
	}
	if sig.amzDate.Format("20060102") != sig.date {
		return Caller{}, InvalidSignature.Errorf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'", sig.date, sig.amzDate.Format("20060102"))
	}
	payloads := []string{sha256Hex(body)}
	if h := r.Header.Get("X-Amz-Content-Sha256"); h == "UNSIGNED-PAYLOAD" {
		payloads = []string{h}
	} else if sig.presigned {
		payloads = append(payloads, "UNSIGNED-PAYLOAD")
	}
	k := signingKey(key.Secret, sig.date, sig.region, sig.service)
	scope := strings.Join([]string{sig.date, sig.region, sig.service, "aws4_request"}, "/")
	matched := false
	for _, payload := range payloads {
		canonical := canonicalRequest(r, sig, payload)
		toSign := sigAlgorithm + "\n" + sig.amzDate.Format(amzDateFmt) + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
		want := hex.EncodeToString(hmacSHA256(k, toSign))
		if hmac.Equal([]byte(want), []byte(sig.signature)) {
			matched = true
			break
		}
	}
	if !matched {
		return Caller{}, InvalidSignature.Errorf("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return Caller{AccessKeyID: key.ID, Account: key.Account, Principal: key.Principal, Region: sig.region, Service: sig.service}, nil
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
		if e := q.Get("X-Amz-Expires"); e != "" {
			n, err := strconv.Atoi(e)
			if err != nil || n < 1 || n > 604800 {
				return nil, IncompleteSignature.Errorf("X-Amz-Expires must be between 1 and 604800 seconds, got %q.", e)
			}
			s.expires = time.Duration(n) * time.Second
		}
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
