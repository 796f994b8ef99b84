package registry

import (
	"encoding/json"
	"fmt"
	"mime"
	"strings"
)

// Manifest media types the registry accepts.
const (
	MediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaOCIIndex       = "application/vnd.oci.image.index.v1+json"
)

// MaxManifestSize is the largest manifest accepted (4 MiB, as ECR and the
// OCI specification's recommended minimum); larger ones get 413.
const MaxManifestSize = 4 << 20

// MaxManifestReferences bounds the descriptors a manifest lists (config
// and layers, or the manifests of an index): each is checked against the
// store when the manifest is pushed, and recorded with its image.
const MaxManifestReferences = 1000

// isIndex reports whether a manifest media type lists other manifests.
func isIndex(mt string) bool { return mt == MediaDockerList || mt == MediaOCIIndex }

// nonDistributable reports whether a layer media type is one that
// registries are not expected to hold (its blob need not have been pushed).
func nonDistributable(mt string) bool {
	return strings.HasPrefix(mt, "application/vnd.oci.image.layer.nondistributable.") ||
		mt == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
}

// manifest is what the registry reads of a manifest or index.
type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *Descriptor       `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Manifests     []Descriptor      `json:"manifests"`
	Subject       *Descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// parseManifest decodes and checks a manifest sent with contentType, and
// returns it with its effective media type.
func parseManifest(contentType string, body []byte) (*manifest, string, error) {
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, "", ManifestInvalid.Errorf("the manifest is not valid JSON: " + err.Error())
	}
	ct := ""
	if contentType != "" {
		if t, _, err := mime.ParseMediaType(contentType); err == nil {
			ct = t
		}
	}
	mt := ct
	switch {
	case m.MediaType != "" && ct != "" && ct != "application/json" && ct != "application/octet-stream" && ct != m.MediaType:
		return nil, "", ManifestInvalid.Errorf("the manifest's mediaType " + quote(m.MediaType) + " does not match its Content-Type " + quote(ct))
	case m.MediaType != "":
		mt = m.MediaType
	case ct == "" || ct == "application/json" || ct == "application/octet-stream":
		mt = MediaOCIManifest
		if m.Manifests != nil && m.Config == nil {
			mt = MediaOCIIndex
		}
	}
	if m.SchemaVersion != 2 {
		return nil, "", ManifestInvalid.Errorf("schemaVersion must be 2 (schema 1 manifests are not supported)")
	}
	if n := len(m.Layers) + len(m.Manifests) + 1; n > MaxManifestReferences {
		return nil, "", ManifestInvalid.Errorf(fmt.Sprintf("the manifest lists %d descriptors; the limit is %d: split the image or index", n-1, MaxManifestReferences))
	}
	for _, d := range m.descriptors() {
		if d.Size < 0 {
			return nil, "", ManifestInvalid.Errorf(fmt.Sprintf("descriptor %s declares a negative size (%d)", quote(d.Digest), d.Size))
		}
	}
	switch mt {
	case MediaDockerManifest, MediaOCIManifest:
		if m.Config == nil || m.Config.Digest == "" {
			return nil, "", ManifestInvalid.Errorf("an image manifest needs a config descriptor")
		}
		for _, d := range append([]Descriptor{*m.Config}, m.Layers...) {
			if _, _, err := parseDigest(d.Digest); err != nil {
				return nil, "", ManifestInvalid.Errorf("descriptor digest " + quote(d.Digest) + " is invalid")
			}
		}
	case MediaDockerList, MediaOCIIndex:
		for _, d := range m.Manifests {
			if _, _, err := parseDigest(d.Digest); err != nil {
				return nil, "", ManifestInvalid.Errorf("descriptor digest " + quote(d.Digest) + " is invalid")
			}
		}
	default:
		return nil, "", ManifestInvalid.Errorf("manifest media type " + quote(mt) + " is not supported")
	}
	if m.Subject != nil {
		if _, _, err := parseDigest(m.Subject.Digest); err != nil {
			return nil, "", ManifestInvalid.Errorf("subject digest " + quote(m.Subject.Digest) + " is invalid")
		}
	}
	return &m, mt, nil
}

// descriptors returns every descriptor the manifest lists.
func (m *manifest) descriptors() []Descriptor {
	var out []Descriptor
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	out = append(out, m.Layers...)
	out = append(out, m.Manifests...)
	if m.Subject != nil {
		out = append(out, *m.Subject)
	}
	return out
}

// referrerArtifactType is the artifactType the referrers API lists for a
// manifest: its own, or else its config's media type.
func (m *manifest) referrerArtifactType(mt string) string {
	if m.ArtifactType != "" {
		return m.ArtifactType
	}
	if m.Config != nil && !isIndex(mt) {
		return m.Config.MediaType
	}
	return ""
}
