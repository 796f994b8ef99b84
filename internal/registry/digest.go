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

// hashes computes the digest of an upload while it streams. An upload whose
// algorithm is known before its content arrives (a monolithic upload, a
// manifest) is hashed with that algorithm only. A streamed or chunked
// upload names its algorithm only at its final PUT; until then it is hashed
// with SHA-256, the canonical algorithm that clients use for practically
// every blob, and not also with SHA-512 just in case: on this registry's
// CPUs SHA-512 costs about 2.5 times SHA-256 (it has no SHA-NI counterpart),
// so hashing both doubled the CPU spent per pushed byte and held streamed
// pushes below the reference registry's rate (docs/benchmarks.md). When the
// final PUT names SHA-512, blobWriter.hashWith catches up on the content
// received before it by reading it back once from the upload file.
type hashes struct {
	h256, h512 hash.Hash // nil: not computed
}

// newHashes starts the hash of algorithm alg, or of SHA-256 if alg is ""
// (not known yet).
func newHashes(alg string) *hashes {
	h := &hashes{}
	h.add(alg)
	return h
}

// has reports whether the content is being hashed with alg.
func (h *hashes) has(alg string) bool {
	if alg == "sha512" {
		return h.h512 != nil
	}
	return h.h256 != nil
}

// add starts a fresh hash of alg ("" and unknown ones meaning SHA-256) and
// returns it; the caller feeds it the content so far.
func (h *hashes) add(alg string) hash.Hash {
	if alg == "sha512" {
		h.h512 = sha512.New()
		return h.h512
	}
	h.h256 = sha256.New()
	return h.h256
}

// keep stops computing every algorithm but alg (a supported one).
func (h *hashes) keep(alg string) {
	if alg != "sha256" {
		h.h256 = nil
	}
	if alg != "sha512" {
		h.h512 = nil
	}
}

// drop stops computing alg.
func (h *hashes) drop(alg string) {
	if alg == "sha512" {
		h.h512 = nil
	} else {
		h.h256 = nil
	}
}

// Write hashes p with every algorithm being computed.
func (h *hashes) Write(p []byte) (int, error) {
	if h.h256 != nil {
		h.h256.Write(p)
	}
	if h.h512 != nil {
		h.h512.Write(p)
	}
	return len(p), nil
}

// digest returns the digest of what was written, in algorithm alg, or ""
// if alg is not being computed.
func (h *hashes) digest(alg string) string {
	switch {
	case alg == "sha512" && h.h512 != nil:
		return "sha512:" + hex.EncodeToString(h.h512.Sum(nil))
	case alg == "sha256" && h.h256 != nil:
		return "sha256:" + hex.EncodeToString(h.h256.Sum(nil))
	}
	return ""
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
