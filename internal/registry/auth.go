package registry

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/state"
)

// TokenTTL is how long an authorization token is valid, as in ECR.
const TokenTTL = 12 * time.Hour

// tokenSecretKey is the store key of the secret that signs tokens.
const tokenSecretKey = "registry-token-secret"

// secretRereadGap bounds how often a token that does not verify makes the
// registry re-read a stored secret (a token signed after a rotation on
// another replica).
const secretRereadGap = time.Second

// tokenClaims is what a token carries. Tokens are self-contained: any
// replica holding the secret verifies them without a lookup.
type tokenClaims struct {
	Account   string `json:"a"`
	Principal string `json:"p"`
	Region    string `json:"r"`
	// Key is the access key id the token was issued for: the token works
	// only while that key is accepted (Config.KeyActive).
	Key     string `json:"k,omitempty"`
	Expires int64  `json:"e"` // unix seconds
}

// IssueToken returns a registry token for principal of account, signed in
// with access key keyID, bound to region (the registry serves that region's
// repositories to its bearer), and when it expires. The token is
// base64url(claims) "." base64url(HMAC): it holds no ':', so "AWS:<token>"
// splits unambiguously.
func (r *Registry) IssueToken(account, principal, keyID, region string) (string, time.Time) {
	exp := r.now().Add(TokenTTL).Truncate(time.Second)
	claims, _ := json.Marshal(tokenClaims{Account: account, Principal: principal, Region: region, Key: keyID, Expires: exp.Unix()})
	payload := base64.RawURLEncoding.EncodeToString(claims)
	return payload + "." + sign(r.tokenSecret(), payload), exp
}

func sign(secret []byte, payload string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("gantry-registry-token\x00" + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// tokenSecret is the secret tokens are signed with now.
func (r *Registry) tokenSecret() []byte {
	r.secretMu.Lock()
	defer r.secretMu.Unlock()
	return r.secret
}

// verify reports whether sig signs payload. A stored secret is re-read
// (at most every secretRereadGap) before a signature is refused, so that a
// token signed with a secret just rotated on another replica is accepted.
func (r *Registry) verify(ctx context.Context, payload, sig string) bool {
	if hmac.Equal([]byte(sig), []byte(sign(r.tokenSecret(), payload))) {
		return true
	}
	r.secretMu.Lock()
	stale := r.storedSecret && time.Since(r.secretReadAt) >= secretRereadGap
	r.secretMu.Unlock()
	if !stale || r.refreshSecret(ctx) != nil {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(sign(r.tokenSecret(), payload)))
}

// refreshSecret re-reads the stored token secret.
func (r *Registry) refreshSecret(ctx context.Context) error {
	var secret []byte
	if _, err := r.st.Get(ctx, tokenSecretKey, &secret); err != nil {
		return err
	}
	r.secretMu.Lock()
	defer r.secretMu.Unlock()
	if len(secret) >= 16 {
		r.secret = secret
	}
	r.secretReadAt = time.Now()
	return nil
}

// LoadTokenSecret returns the secret that signs registry tokens, kept in st
// so that every replica shares it and tokens survive restarts; it creates
// one on first use.
func LoadTokenSecret(ctx context.Context, st *state.Store) ([]byte, error) {
	return state.Retry(ctx, func() ([]byte, error) {
		var secret []byte
		_, err := st.Get(ctx, tokenSecretKey, &secret)
		if err == nil {
			return secret, nil
		}
		if !errors.Is(err, state.ErrNotFound) {
			return nil, err
		}
		secret, err = newSecret()
		if err != nil {
			return nil, err
		}
		if _, err := st.Txn().Expect(tokenSecretKey, 0).Put(tokenSecretKey, secret).Commit(ctx); err != nil {
			return nil, err
		}
		return secret, nil
	})
}

// RotateTokenSecret replaces the secret in st that signs registry tokens:
// every token signed with the old one stops working, on every replica
// within Config.MaintenanceInterval (at once on this one, if it is started
// after). Clients get new tokens with ecr get-login-password.
func RotateTokenSecret(ctx context.Context, st *state.Store) error {
	secret, err := newSecret()
	if err != nil {
		return err
	}
	_, err = st.Txn().Put(tokenSecretKey, secret).Commit(ctx)
	return err
}

func newSecret() ([]byte, error) {
	secret := make([]byte, 32)
	_, err := rand.Read(secret)
	return secret, err
}

// authenticate checks the request's Basic credentials (user AWS, password a
// token) and returns the namespace the token grants and its owner (the
// access key it was issued for, or else its principal).
func (r *Registry) authenticate(req *http.Request) (Namespace, string, error) {
	user, token, ok := req.BasicAuth()
	if !ok {
		return Namespace{}, "", Unauthorized.Errorf("authentication required: log in with `aws ecr get-login-password | docker login --username AWS --password-stdin " + req.Host + "`")
	}
	if user != "AWS" {
		return Namespace{}, "", Unauthorized.Errorf("the user name must be AWS, with a token from ecr get-login-password as the password")
	}
	invalid := Unauthorized.Errorf("the authorization token is not valid: get a new one with ecr get-login-password")
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || !r.verify(req.Context(), payload, sig) {
		return Namespace{}, "", invalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	var c tokenClaims
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil {
		return Namespace{}, "", invalid
	}
	if r.now().Unix() >= c.Expires {
		return Namespace{}, "", Unauthorized.Errorf("the authorization token has expired: get a new one with ecr get-login-password")
	}
	if r.keyActive != nil && !r.keyActive(c.Key) {
		return Namespace{}, "", Unauthorized.Errorf("the authorization token was issued for an access key (" + quote(c.Key) +
			") that the server no longer accepts: get a new one with ecr get-login-password, signed with a configured key")
	}
	if c.Account != r.account {
		return Namespace{}, "", Denied.Errorf("the authorization token belongs to account " + c.Account + ", not to this registry's account " + r.account)
	}
	owner := c.Key
	if owner == "" {
		owner = c.Principal
	}
	return Namespace{Account: c.Account, Region: c.Region}, owner, nil
}

// realm names the registry in the WWW-Authenticate challenge.
func (r *Registry) realm(req *http.Request) string {
	if r.realmV != "" {
		return r.realmV
	}
	return req.Host
}
