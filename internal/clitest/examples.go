package clitest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Example is one command of an AWS CLI example page and the output AWS
// printed for it.
type Example struct {
	// ID names the example: "<service>/<page>#<n>", n counting the page's
	// commands from 1.
	ID      string
	Service string // "ecs" or "ecr"
	Command string // "list-clusters"
	Title   string // the heading the command falls under
	// Args are the command line after "aws", split as a shell would.
	Args []string
	// Output is the printed output block ("" when the page shows none).
	Output string
	// Silent says the page states that the command prints nothing; a page
	// that shows no output and does not say so leaves the output unchecked.
	Silent bool
	// Files are the files the page shows ("Contents of ``x``::"), by name.
	Files map[string]string
	// Unrunnable says why the command cannot run as printed ("" if it can):
	// a pipe, or a shell syntax the splitter does not know.
	Unrunnable string
}

var (
	commandLine = regexp.MustCompile(`^\s+aws (ecs|ecr) ([a-z0-9-]+)`)
	fileBlock   = regexp.MustCompile("Contents of ``([^`]+)``")
	// placeholderDir is a file:// argument's directory written as a
	// placeholder (file://<path_to_json_file>/x.json): the file is x.json.
	placeholderDir = regexp.MustCompile(`file://<[^>]*>/`)
)

// LoadExamples parses every page of dir/<service>/*.rst.
func LoadExamples(dir string, services ...string) ([]Example, error) {
	var out []Example
	for _, svc := range services {
		pages, err := filepath.Glob(filepath.Join(dir, svc, "*.rst"))
		if err != nil {
			return nil, err
		}
		sort.Strings(pages)
		for _, p := range pages {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			out = append(out, ParsePage(svc, strings.TrimSuffix(filepath.Base(p), ".rst"), string(b))...)
		}
	}
	return out, nil
}

// ParsePage finds the commands of one example page. A command is an
// indented line starting "aws <service> " (with its backslash
// continuations); its output is the first literal block ("...::" then an
// indented block) after it and before the next command, other than a block
// showing a file's contents; with none, the example prints nothing.
func ParsePage(service, page, text string) []Example {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	files := map[string]string{}
	for i, l := range lines {
		if m := fileBlock.FindStringSubmatch(l); m != nil && strings.HasSuffix(strings.TrimSpace(l), "::") {
			files[m[1]] = block(lines, i+1)
		}
	}
	var out []Example
	title := ""
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "**") && strings.HasSuffix(t, "**") {
			title = strings.Trim(t, "*")
			continue
		}
		m := commandLine.FindStringSubmatch(l)
		if m == nil || m[1] != service {
			continue
		}
		cmd := strings.TrimSpace(l)
		for strings.HasSuffix(strings.TrimRight(cmd, " "), `\`) && i+1 < len(lines) {
			cmd = strings.TrimSuffix(strings.TrimRight(cmd, " "), `\`) + " " + strings.TrimSpace(lines[i+1])
			i++
		}
		ex := Example{ID: fmt.Sprintf("%s/%s#%d", service, page, len(out)+1), Service: service, Command: m[2], Title: title, Files: files}
		args, err := splitShell(placeholderDir.ReplaceAllString(cmd, "file://"))
		if err != nil {
			ex.Unrunnable = err.Error()
		} else {
			ex.Args = args[1:]
		}
		for j := i + 1; j < len(lines); j++ {
			if commandLine.MatchString(lines[j]) {
				break
			}
			t := strings.TrimSpace(lines[j])
			if strings.HasPrefix(t, "**") {
				break
			}
			if lt := strings.ToLower(t); strings.Contains(lt, "produces no output") || strings.Contains(lt, "no output is returned") {
				ex.Silent = true
			}
			if strings.Contains(t, "identical to the previous example") && len(out) > 0 {
				ex.Output = out[len(out)-1].Output
			}
			if strings.HasSuffix(t, "::") && !fileBlock.MatchString(t) && !strings.HasPrefix(lines[j], " ") {
				if b := block(lines, j+1); !strings.HasPrefix(b, "aws ") {
					ex.Output = b
				}
				break
			}
		}
		out = append(out, ex)
	}
	return out
}

// block returns the indented literal block starting at lines[i] (after
// blank lines), dedented.
func block(lines []string, i int) string {
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	var b []string
	indent := -1
	for ; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" {
			b = append(b, "")
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if n == 0 {
			break
		}
		if indent < 0 || n < indent {
			indent = n
		}
		b = append(b, l)
	}
	for k, l := range b {
		if len(l) >= indent && indent > 0 {
			b[k] = l[indent:]
		}
	}
	return strings.TrimSpace(strings.Join(b, "\n"))
}

// splitShell splits a command line as a POSIX shell would for the forms
// the examples use: blanks, single quotes, double quotes with backslash
// escapes. A pipe, redirection or substitution makes it unrunnable.
func splitShell(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if in {
				args = append(args, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unbalanced single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`+"`", s[i+1]) >= 0 {
					i++
				} else if s[i] == '$' || s[i] == '`' {
					return nil, fmt.Errorf("the command uses shell substitution")
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unbalanced double quote")
			}
			in = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		case c == '|' || c == '>' || c == '<' || c == ';' || c == '&' || c == '$' || c == '`':
			return nil, fmt.Errorf("the command uses shell syntax (%c)", c)
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		args = append(args, cur.String())
	}
	return args, nil
}
