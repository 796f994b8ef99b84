package clitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/gantrytest"
)

var update = flag.Bool("update", false, "rewrite testdata/status.txt with this run's results")

const (
	awsCLI     = "/usr/bin/aws"
	statusFile = "testdata/status.txt"
)

func TestMain(m *testing.M) { gantrytest.Main(m) }

// refDir finds shared/ref/cli-examples by walking up from the test's
// directory (the repository's parent holds shared/).
func refDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "ref", "cli-examples")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("shared/ref/cli-examples not found in any parent of the test directory")
		}
		dir = parent
	}
}

// readStatus reads the recorded results: "<id>\t<status>" lines.
func readStatus(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	f, err := os.Open(statusFile)
	if errors.Is(err, os.ErrNotExist) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		id, st, _ := strings.Cut(l, "\t")
		out[id] = st
	}
	return out
}

func writeStatus(t *testing.T, results map[string]string) {
	t.Helper()
	ids := make([]string, 0, len(results))
	counts := map[string]int{}
	for id, st := range results {
		ids = append(ids, id)
		kind, _, _ := strings.Cut(st, ":")
		counts[kind]++
	}
	sort.Strings(ids)
	var b strings.Builder
	fmt.Fprintf(&b, "# The AWS CLI's examples (../shared/ref/cli-examples/{ecs,ecr}) run against Gantry by TestCLIExamples.\n")
	fmt.Fprintf(&b, "# Statuses: pass | fail: <first difference> | not-runnable: <why> | not-implemented: <action>.\n")
	fmt.Fprintf(&b, "# An example listed as pass must keep passing. Refresh: go test ./internal/clitest/ -run TestCLIExamples -update\n")
	fmt.Fprintf(&b, "# Totals: pass %d, fail %d, not-runnable %d, not-implemented %d.\n", counts["pass"], counts["fail"], counts["not-runnable"], counts["not-implemented"])
	for _, l := range strings.Split(Rules, "\n") {
		fmt.Fprintf(&b, "# %s\n", l)
	}
	for _, id := range ids {
		fmt.Fprintf(&b, "%s\t%s\n", id, results[id])
	}
	if err := os.WriteFile(statusFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCLIExamples(t *testing.T) {
	if _, err := os.Stat(awsCLI); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: `make setup` installs Debian's awscli", awsCLI)
		}
		t.Skipf("%s is missing (make setup installs it)", awsCLI)
	}
	examples, err := LoadExamples(refDir(t), "ecs", "ecr")
	if err != nil {
		t.Fatal(err)
	}
	if len(examples) < 100 {
		t.Fatalf("parsed only %d examples: has the page format changed?", len(examples))
	}
	env := gantrytest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := time.Now()
	// Set up every example (in parallel: each has a region of its own),
	// then run all their commands through the AWS CLI, then compare.
	results := make([]string, len(examples))
	runs := make([][]string, len(examples))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, ex := range examples {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], runs[i] = prepare(ctx, t, env, ex)
		}()
	}
	wg.Wait()
	t.Logf("set up %d examples in %v", len(examples), time.Since(start).Round(time.Millisecond))
	var pending []int
	for i, r := range runs {
		if r != nil {
			pending = append(pending, i)
		}
	}
	outs := runCLI(ctx, t, env, runs, pending)
	t.Logf("ran %d commands with the AWS CLI in %v", len(pending), time.Since(start).Round(time.Millisecond))
	for k, i := range pending {
		results[i] = judge(examples[i], results[i], outs[k])
	}

	recorded := readStatus(t)
	byID := map[string]string{}
	var newly []string
	passing := 0
	t.Run("example", func(t *testing.T) {
		for i, ex := range examples {
			st := results[i]
			byID[ex.ID] = st
			if st == "pass" {
				passing++
				if recorded[ex.ID] != "pass" {
					newly = append(newly, ex.ID)
				}
			}
			t.Run(strings.NewReplacer("/", "_", "#", "_").Replace(ex.ID), func(t *testing.T) {
				if recorded[ex.ID] == "pass" && st != "pass" {
					t.Errorf("%s passed before and now: %s\n  aws %s", ex.ID, st, strings.Join(ex.Args, " "))
					return
				}
				t.Logf("%s: %s", ex.ID, st)
			})
		}
	})
	t.Logf("%d of %d examples pass", passing, len(examples))
	if len(newly) > 0 {
		fmt.Printf("clitest: newly passing examples (record them with -update): %s\n", strings.Join(newly, " "))
	}
	if *update {
		writeStatus(t, byID)
	}
}

var (
	arnInArg    = regexp.MustCompile(`arn:aws:(ecs|ecr):[a-z0-9-]+:\d{12}:`)
	fileArg     = regexp.MustCompile(`^file://(?:.*/)?([^/]+)$`)
	notInCLI    = regexp.MustCompile(`Invalid choice|Unknown options|Unknown parameter|unrecognized arguments`)
	unknownOpRe = regexp.MustCompile(`\(UnknownOperationException\)`)
	// sdkNoise is the part of an SDK error that changes from run to run.
	sdkNoise = regexp.MustCompile(`operation error [^,]+, https response error StatusCode: \d+, RequestID: [0-9a-f-]+, `)
	// complaintRe finds the line of the AWS CLI's usage error that says
	// what it does not know.
	complaintRe = regexp.MustCompile(`[^\n]*(Invalid choice|Unknown options|Unknown parameter|unrecognized arguments|arguments are required)[^\n]*`)
)

// complaint is the line of the CLI's error output worth recording.
func complaint(stderr string) string {
	if m := complaintRe.FindString(stderr); m != "" {
		return clip(m)
	}
	return clip(stderr)
}

// prepare sets up what ex presumes in a region of its own and returns the
// AWS CLI arguments to run, or its final status if it cannot run. When the
// setup fails the command still runs, to tell an action Gantry lacks from
// one whose example could not be set up; the setup's failure is then
// returned as the status for judge to keep.
func prepare(ctx context.Context, t *testing.T, env *gantrytest.Env, ex Example) (string, []string) {
	if ex.Unrunnable != "" {
		return "not-runnable: " + ex.Unrunnable, nil
	}
	region := gantrytest.NewRegion()
	args, why := localArgs(t, ex, region)
	if why != "" {
		return "not-runnable: " + why, nil
	}
	status := ""
	if err := setup(ctx, env, region, ex); err != nil {
		status = "fail: setup: " + clip(sdkNoise.ReplaceAllString(err.Error(), ""))
	}
	return status, append(args, "--endpoint-url", env.URL, "--region", region, "--output", "json")
}

// cliResult is one command's outcome.
type cliResult struct {
	RC     int    `json:"rc"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
}

// runCLI runs the commands runs[pending...] with the AWS CLI: two driver
// processes (one per core), each running its half in order.
func runCLI(ctx context.Context, t *testing.T, env *gantrytest.Env, runs [][]string, pending []int) []cliResult {
	driver, err := filepath.Abs("testdata/awscli_driver.py")
	if err != nil {
		t.Fatal(err)
	}
	python := pythonOf(t, awsCLI)
	out := make([]cliResult, len(pending))
	halves := [][]int{pending[:len(pending)/2], pending[len(pending)/2:]}
	offsets := []int{0, len(pending) / 2}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for h, idx := range halves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmds := make([][]string, len(idx))
			for k, i := range idx {
				cmds[k] = runs[i]
			}
			in, _ := json.Marshal(cmds)
			cmd := exec.CommandContext(ctx, python, driver)
			cmd.Env = []string{
				"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=", "NO_PROXY=127.0.0.1",
				"AWS_ACCESS_KEY_ID=" + gantrytest.KeyID, "AWS_SECRET_ACCESS_KEY=" + gantrytest.KeySecret, "AWS_PAGER=",
				"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1",
			}
			cmd.Stdin = bytes.NewReader(in)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			b, err := cmd.Output()
			if err != nil {
				errs[h] = fmt.Errorf("AWS CLI driver: %v: %s", err, stderr.String())
				return
			}
			var res []cliResult
			if err := json.Unmarshal(b, &res); err != nil || len(res) != len(idx) {
				errs[h] = fmt.Errorf("AWS CLI driver answered %d results for %d commands (%v)", len(res), len(idx), err)
				return
			}
			copy(out[offsets[h]:], res)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

// pythonOf is the interpreter of the AWS CLI script (its #! line), so that
// the driver imports the same awscli package the script does.
func pythonOf(t *testing.T, script string) string {
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	p, ok := strings.CutPrefix(line, "#!")
	if !ok || strings.Contains(p, " ") {
		t.Fatalf("%s does not start with a #!interpreter line: %q", script, line)
	}
	return p
}

// judge turns a command's outcome into the example's status line; a setup
// that failed (setupStatus) makes it that failure unless Gantry does not
// know the action at all.
func judge(ex Example, setupStatus string, r cliResult) string {
	if setupStatus != "" {
		if r.RC != 0 && unknownOpRe.MatchString(r.Stderr) {
			return "not-implemented: " + clip(r.Stderr)
		}
		if r.RC != 0 && notInCLI.MatchString(r.Stderr) {
			return "not-runnable: aws 2.9.19 does not know this command or option: " + complaint(r.Stderr)
		}
		return setupStatus
	}
	if r.RC != 0 {
		msg := clip(r.Stderr)
		switch {
		case notInCLI.MatchString(r.Stderr):
			return "not-runnable: aws 2.9.19 does not know this command or option: " + complaint(r.Stderr)
		case strings.Contains(r.Stderr, "the following arguments are required"):
			return "not-runnable: the example's command is incomplete: " + complaint(r.Stderr)
		case unknownOpRe.MatchString(r.Stderr):
			return "not-implemented: " + msg
		}
		return "fail: the command failed: " + msg
	}
	if d := Compare(ex.Output, ex.Silent, r.Stdout); d != "" {
		return "fail: " + d
	}
	return "pass"
}

// localArgs rewrites an example's arguments for Gantry: ARNs name the
// test's region (and account), an explicit --region is dropped (the test
// passes its own), and file:// arguments point at the files the page shows,
// written to a temporary directory.
func localArgs(t *testing.T, ex Example, region string) ([]string, string) {
	var out []string
	dir := ""
	for i := 0; i < len(ex.Args); i++ {
		a := ex.Args[i]
		if a == "--region" {
			i++
			continue
		}
		if m := fileArg.FindStringSubmatch(a); m != nil {
			body, ok := ex.Files[m[1]]
			if !ok {
				return nil, "the example reads " + m[1] + ", which its page does not show"
			}
			if dir == "" {
				dir = t.TempDir()
			}
			p := filepath.Join(dir, m[1])
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Error(err)
			}
			a = "file://" + p
		}
		out = append(out, arnInArg.ReplaceAllString(a, "arn:aws:$1:"+region+":"+gantrytest.Account+":"))
	}
	return out, ""
}
