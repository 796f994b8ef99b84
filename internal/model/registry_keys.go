package model

import "strings"

// Keys of the registry's records (ECR repositories, images, tags, blob links,
// referrers), relative to the store of one account and region, like the ECS
// keys. Repository names may contain '/', so inside a key a repository is
// written with '/' replaced by ':' (which a repository name cannot hold):
// the prefix of one repository never also matches a nested one.

// RegistryRepositoriesPrefix holds one record per repository, by name.
const RegistryRepositoriesPrefix = "ecr/repos/"

// RepoSegment is a repository name as written inside a key.
func RepoSegment(repo string) string { return strings.ReplaceAll(repo, "/", ":") }

// RepoFromSegment is the repository name a key segment stands for.
func RepoFromSegment(seg string) string { return strings.ReplaceAll(seg, ":", "/") }

// RegistryRepositoryKey is the key of a repository record.
func RegistryRepositoryKey(repo string) string { return RegistryRepositoriesPrefix + RepoSegment(repo) }

// RegistryImagesPrefix holds a repository's image (manifest) records, by digest.
func RegistryImagesPrefix(repo string) string { return "ecr/images/" + RepoSegment(repo) + "/" }

// RegistryImageKey is the key of one image record.
func RegistryImageKey(repo, digest string) string { return RegistryImagesPrefix(repo) + digest }

// RegistryTagsPrefix holds a repository's tags, by tag: each names a digest.
func RegistryTagsPrefix(repo string) string { return "ecr/tags/" + RepoSegment(repo) + "/" }

// RegistryTagKey is the key of one tag.
func RegistryTagKey(repo, tag string) string { return RegistryTagsPrefix(repo) + tag }

// RegistryBlobsPrefix holds a repository's blob links: the blobs pushed to
// or mounted into it, by digest. The content lives on disk, shared.
func RegistryBlobsPrefix(repo string) string { return "ecr/blobs/" + RepoSegment(repo) + "/" }

// RegistryBlobKey is the key of one blob link.
func RegistryBlobKey(repo, digest string) string { return RegistryBlobsPrefix(repo) + digest }

// RegistryReferrersPrefix holds the manifests of a repository whose subject
// is digest (the referrers API), by their own digest.
func RegistryReferrersPrefix(repo, subject string) string {
	return "ecr/referrers/" + RepoSegment(repo) + "/" + subject + "/"
}

// RegistryReferrerKey is the key of one referrer of subject.
func RegistryReferrerKey(repo, subject, digest string) string {
	return RegistryReferrersPrefix(repo, subject) + digest
}

// RegistryGCMarkerKey is a repository's garbage-collection marker: the
// collector rewrites it in every transaction that deletes blob links of the
// repository, and a manifest push expects it unchanged since it read the
// links, so a push never commits against a link deleted meanwhile.
func RegistryGCMarkerKey(repo string) string { return "ecr/gc/" + RepoSegment(repo) + "/links" }

// RegistryLifecyclePreviewKey is the key of a repository's lifecycle policy
// preview (one per repository, as in ECR).
func RegistryLifecyclePreviewKey(repo string) string {
	return "ecr/lifecycle-preview/" + RepoSegment(repo) + "/preview"
}

// RegistryRepoPrefixes are the prefixes of everything a repository holds
// besides its own record, for deleting it whole.
func RegistryRepoPrefixes(repo string) []string {
	seg := RepoSegment(repo) + "/"
	return []string{"ecr/images/" + seg, "ecr/tags/" + seg, "ecr/blobs/" + seg, "ecr/referrers/" + seg,
		"ecr/gc/" + seg, "ecr/lifecycle-preview/" + seg}
}

// RegistrySettingsKey is the key of the registry-level settings of one
// account and region (registry policy, scanning and replication
// configuration, account settings): one record, changed in one transaction.
const RegistrySettingsKey = "ecr/registry/settings"
