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
}

// Immutable reports whether tag may not be moved once set in the repository,
// taking the mutability exclusion filters into account.
func (r *Repository) Immutable(tag string) bool {
	excluded := false
	for _, f := range r.ImageTagMutabilityExclusionFilters {
		if wildcardMatch(f.Filter, tag) {
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

// wildcardMatch matches s against a pattern where '*' stands for any run of
// characters (ECR's tag filter grammar).
func wildcardMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	if pattern[0] == '*' {
		for i := 0; i <= len(s); i++ {
			if wildcardMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	}
	return s != "" && pattern[0] == s[0] && wildcardMatch(pattern[1:], s[1:])
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
