package registry

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"strings"
)

// Digest algorithms the registry verifies: sha256, and sha512 as OCI 1.1
// allows. A digest is "<algorithm>:<lowercase hex>".
var digestHexLen = map[string]int{"sha256": 64, "sha512": 128}

// parseDigest checks that s is a well-formed digest of a supported algorithm
// and returns its algorithm and hex part.
func parseDigest(s string) (alg, hexPart string, err error) {
	alg, hexPart, ok := strings.Cut(s, ":")
	if !ok || alg == "" || hexPart == "" {
		return "", "", DigestInvalid.Errorf("digest " + quote(s) + " is not of the form <algorithm>:<hex>")
	}
	n, known := digestHexLen[alg]
	if !known {
		return "", "", Unsupported.WithStatus(400, "digest algorithm "+quote(alg)+" is not supported; use sha256 or sha512")
	}
	if len(hexPart) != n || strings.Trim(hexPart, "0123456789abcdef") != "" {
		return "", "", DigestInvalid.Errorf("digest " + quote(s) + " is not a valid " + alg + " digest")
	}
	return alg, hexPart, nil
}

// isDigest reports whether ref has the shape of a digest rather than a tag
// (tags cannot contain ':').
func isDigest(ref string) bool { return strings.Contains(ref, ":") }

// hashes computes every supported digest of a stream at once, so that the
// algorithm can be chosen when the upload completes without re-reading it.
type hashes struct {
	h256, h512 hash.Hash
}

func newHashes() *hashes { return &hashes{sha256.New(), sha512.New()} }

func (h *hashes) Write(p []byte) (int, error) {
	h.h256.Write(p)
	h.h512.Write(p)
	return len(p), nil
}

// digest returns the digest of what was written, in algorithm alg.
func (h *hashes) digest(alg string) string {
	switch alg {
	case "sha512":
		return "sha512:" + hex.EncodeToString(h.h512.Sum(nil))
	default:
		return "sha256:" + hex.EncodeToString(h.h256.Sum(nil))
	}
}

// digestOf returns the digest of b in algorithm alg.
func digestOf(alg string, b []byte) string {
	if alg == "sha512" {
		s := sha512.Sum512(b)
		return "sha512:" + hex.EncodeToString(s[:])
	}
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func quote(s string) string { return "'" + s + "'" }
