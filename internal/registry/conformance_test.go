package registry_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// conformanceModule is the OCI distribution-spec conformance suite, pinned
// in go.mod (a tool dependency) and built with go build.
const conformanceModule = "github.com/opencontainers/distribution-spec/conformance"

// TestOCIConformance runs the OCI distribution-spec conformance suite
// against the registry with every API and data toggle at its default
// (push, pull, content discovery, content management, referrers, sha512,
// non-distributable layers).
func TestOCIConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the conformance suite")
	}
	e := newEnv(t)
	e.createRepo(t, "conformance/repo1", "MUTABLE")
	e.createRepo(t, "conformance/repo2", "MUTABLE")
	dir := t.TempDir()
	bin := filepath.Join(dir, "conformance")
	build := exec.Command("go", "build", "-o", bin, conformanceModule)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the conformance suite: %v\n%s", err, out)
	}
	// Every setting comes from the environment; the file only sets defaults.
	if err := os.WriteFile(filepath.Join(dir, "oci-conformance.yaml"), []byte("version: \"1.1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"OCI_REGISTRY="+strings.TrimPrefix(e.srv.URL, "http://"),
		"OCI_TLS=disabled",
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/repo2",
		"OCI_USERNAME=AWS",
		"OCI_PASSWORD="+e.token,
		"OCI_RESULTS_DIR="+filepath.Join(dir, "results"),
		"OCI_CONFIGURATION="+filepath.Join(dir, "oci-conformance.yaml"),
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("conformance suite failed: %v\n%s", err, tail(out, 8000))
	}
	// The suite exits 0 when it could not even start: require its results.
	if _, err := os.Stat(filepath.Join(dir, "results", "results.yaml")); err != nil {
		t.Fatalf("the conformance suite wrote no results: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// tail returns the last n bytes of out (the suite's summary).
func tail(out []byte, n int) []byte {
	if len(out) > n {
		return out[len(out)-n:]
	}
	return out
}
