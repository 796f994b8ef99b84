package registry

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// TokenTTL is how long an authorization token is valid, as in ECR.
const TokenTTL = 12 * time.Hour

// tokenClaims is what a token carries. Tokens are self-contained: any
// replica holding the secret verifies them without a lookup.
type tokenClaims struct {
	Account   string `json:"a"`
	Principal string `json:"p"`
	Region    string `json:"r"`
	Expires   int64  `json:"e"` // unix seconds
}

// IssueToken returns a registry token for principal of account, bound to
// region (the registry serves that region's repositories to its bearer),
// and when it expires. The token is base64url(claims) "." base64url(HMAC):
// it holds no ':', so "AWS:<token>" splits unambiguously.
func (r *Registry) IssueToken(account, principal, region string) (string, time.Time) {
	exp := r.now().Add(TokenTTL).Truncate(time.Second)
	claims, _ := json.Marshal(tokenClaims{account, principal, region, exp.Unix()})
	payload := base64.RawURLEncoding.EncodeToString(claims)
	return payload + "." + r.sign(payload), exp
}

func (r *Registry) sign(payload string) string {
	m := hmac.New(sha256.New, r.secret)
	m.Write([]byte("gantry-registry-token\x00" + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// authenticate checks the request's Basic credentials (user AWS, password a
// token) and returns the namespace the token grants.
func (r *Registry) authenticate(req *http.Request) (Namespace, error) {
	user, token, ok := req.BasicAuth()
	if !ok {
		return Namespace{}, Unauthorized.Errorf("authentication required: log in with `aws ecr get-login-password | docker login --username AWS --password-stdin " + req.Host + "`")
	}
	if user != "AWS" {
		return Namespace{}, Unauthorized.Errorf("the user name must be AWS, with a token from ecr get-login-password as the password")
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(r.sign(payload))) {
		return Namespace{}, Unauthorized.Errorf("the authorization token is not valid: get a new one with ecr get-login-password")
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	var c tokenClaims
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil {
		return Namespace{}, Unauthorized.Errorf("the authorization token is not valid: get a new one with ecr get-login-password")
	}
	if r.now().Unix() >= c.Expires {
		return Namespace{}, Unauthorized.Errorf("the authorization token has expired: get a new one with ecr get-login-password")
	}
	if c.Account != r.account {
		return Namespace{}, Denied.Errorf("the authorization token belongs to account " + c.Account + ", not to this registry's account " + r.account)
	}
	return Namespace{Account: c.Account, Region: c.Region}, nil
}

// realm names the registry in the WWW-Authenticate challenge.
func (r *Registry) realm(req *http.Request) string {
	if r.realmV != "" {
		return r.realmV
	}
	return req.Host
}
