package registry

import (
	"encoding/json"

	"github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

// Namespace is where a registry's records live: one account and region, as
// for every other Gantry resource.
type Namespace struct {
	Account, Region string
}

// Repository is the stored record of a repository: its ECR shape, its
// resource tags and its policies.
type Repository struct {
	ecrwire.Repository
	Tags             []ecrwire.Tag `json:"gantryTags,omitempty"`
	LifecyclePolicy  string        `json:"gantryLifecyclePolicy,omitempty"`
	RepositoryPolicy string        `json:"gantryRepositoryPolicy,omitempty"`
	// LifecycleEvaluatedAt is when the lifecycle policy was last applied
	// (unix milliseconds; 0: never).
	LifecycleEvaluatedAt int64 `json:"gantryLifecycleEvaluatedAt,omitempty"`
}

// Immutable reports whether tag may not be moved once set in the repository,
// taking the mutability exclusion filters into account.
func (r *Repository) Immutable(tag string) bool {
	excluded := false
	for _, f := range r.ImageTagMutabilityExclusionFilters {
		if WildcardMatch(f.Filter, tag) {
			excluded = true
		}
	}
	switch r.ImageTagMutability {
	case "IMMUTABLE":
		return true
	case "IMMUTABLE_WITH_EXCLUSION":
		return !excluded
	case "MUTABLE_WITH_EXCLUSION":
		return excluded
	}
	return false
}

// WildcardMatch matches s against a pattern where '*' stands for any run of
// characters (ECR's tag filter grammar, also that of lifecycle policies'
// tagPatternList).
func WildcardMatch(pattern, s string) bool {
	// Greedy matching with backtracking to the last '*' only: linear in
	// practice, never exponential.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Image is the stored record of one manifest in a repository.
type Image struct {
	Digest       string `json:"digest"`
	MediaType    string `json:"mediaType"`
	ArtifactType string `json:"artifactType,omitempty"`
	// ManifestSize is the manifest's own length; Size is what ECR reports
	// as imageSizeInBytes: the config and layers of an image manifest.
	ManifestSize int64    `json:"manifestSize"`
	Size         int64    `json:"size"`
	Tags         []string `json:"tags,omitempty"`
	// PushedAt and LastPull are unix milliseconds (0: never pulled).
	PushedAt int64 `json:"pushedAt"`
	LastPull int64 `json:"lastPull,omitempty"`
	// Subject is the digest of the manifest this one refers to (referrers API).
	Subject string `json:"subject,omitempty"`
	// Blobs are the config and layer digests the manifest references, and
	// Children the manifests an index references (for garbage collection).
	Blobs    []string `json:"blobs,omitempty"`
	Children []string `json:"children,omitempty"`
}

// TagRef is the stored record of a tag: the digest it names.
type TagRef struct {
	Digest string `json:"digest"`
}

// BlobLink is the stored record that a blob belongs to a repository.
type BlobLink struct {
	Size int64 `json:"size"`
	// LinkedAt is when the blob was last pushed or mounted into the
	// repository (unix milliseconds): garbage collection leaves links
	// younger than its grace period alone, so a push's layers survive until
	// its manifest arrives.
	LinkedAt int64 `json:"linkedAt,omitempty"`
}

// LifecyclePreview is the stored record of a repository's lifecycle policy
// preview: the policy it evaluates and when it was started. Its results are
// computed when read, from the repository's images at StartedAt.
type LifecyclePreview struct {
	PolicyText string `json:"policyText"`
	// StartedAt is unix milliseconds.
	StartedAt int64 `json:"startedAt"`
	// Status is IN_PROGRESS until the preview is first read, then COMPLETE.
	Status string `json:"status"`
}

// Descriptor is an OCI content descriptor, as the referrers API lists them.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	URLs         []string          `json:"urls,omitempty"`
	Platform     json.RawMessage   `json:"platform,omitempty"`
}
