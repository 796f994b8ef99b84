package ecr

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
)

// A nextToken is opaque to clients: it carries the action and the
// repository it belongs to and the key the next page starts after, so a
// token from another list is refused.
type pageToken struct {
	Action string `json:"a"`
	Repo   string `json:"r,omitempty"`
	After  string `json:"k"`
}

func encodeToken(action, repo, after string) string {
	b, _ := json.Marshal(pageToken{action, repo, after})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(action, repo, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	var t pageToken
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.Action != action || t.Repo != repo {
		return "", InvalidParameter.Errorf("Invalid nextToken: pass the nextToken of a previous %s response, with the same parameters, unchanged.", action)
	}
	return t.After, nil
}

// pageSize applies the default page size of an action to maxResults
// (bounds are checked by the model).
func pageSize(maxResults *int32, def int) int {
	if maxResults == nil {
		return def
	}
	return int(*maxResults)
}

// digestOf returns the digest of b in algorithm alg (sha256 or sha512).
func digestOf(alg string, b []byte) string {
	if alg == "sha512" {
		s := sha512.Sum512(b)
		return "sha512:" + hex.EncodeToString(s[:])
	}
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// algOf is the algorithm of a digest.
func algOf(digest string) string {
	if len(digest) > 7 && digest[:7] == "sha512:" {
		return "sha512"
	}
	return "sha256"
}
