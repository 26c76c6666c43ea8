package docs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/test/release"
)

// modulePrefix is the path of every module of this repository.
const modulePrefix = "github.com/streamer-go/streamer/"

// snippet is one ```go block of a document.
type snippet struct {
	doc  string // the document, relative to the repository root
	line int    // the line of its opening fence
	info string // what follows "```go" on that line
	code string
}

// documents returns the Markdown files whose Go snippets are checked.
func documents(t *testing.T, repo string) []string {
	t.Helper()
	docs := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(repo, "docs"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, _ := filepath.Rel(repo, path)
			docs = append(docs, rel)
		}
		return err
	})
	require.NoError(t, err)
	sort.Strings(docs)
	return docs
}

// snippets returns the ```go blocks of doc.
func snippets(t *testing.T, repo, doc string) []snippet {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, doc))
	require.NoError(t, err)
	var (
		out  []snippet
		cur  *snippet
		body strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```go"):
			cur = &snippet{doc: doc, line: n, info: strings.TrimSpace(strings.TrimPrefix(line, "```go"))}
			body.Reset()
		case cur != nil && strings.HasPrefix(line, "```"):
			cur.code = body.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	require.NoError(t, sc.Err())
	require.Nil(t, cur, "%s: unclosed ```go block", doc)
	return out
}

// TestSnippetsCompile writes the complete snippets of every document into a module that
// requires this tree's modules, then runs go vet and go test on it offline.
func TestSnippetsCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every documented program")
	}
	t.Parallel()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	dir := t.TempDir()
	files := map[string]string{} // path in the module -> where it is documented
	for _, doc := range documents(t, repo) {
		for _, s := range snippets(t, repo, doc) {
			where := fmt.Sprintf("%s:%d", s.doc, s.line)
			kind, path, _ := strings.Cut(s.info, " ")
			switch kind {
			case "fragment":
				continue
			case "complete":
			default:
				t.Errorf("%s: a ```go block must say `complete DIR/FILE.go` or `fragment` (got %q)", where, s.info)
				continue
			}
			path = strings.TrimSpace(path)
			if filepath.Dir(path) == "." || filepath.Ext(path) != ".go" || strings.Contains(path, "..") {
				t.Errorf("%s: `complete %s`: want a DIR/FILE.go path", where, path)
				continue
			}
			// Each document has its own directories, so two documents may use the same names.
			target := filepath.Join(strings.TrimSuffix(strings.ReplaceAll(s.doc, "/", "_"), ".md"), path)
			if prev, ok := files[target]; ok {
				t.Errorf("%s: %s is also written by %s", where, path, prev)
				continue
			}
			files[target] = where
			require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(target)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, target), []byte("// From "+where+".\n\n"+s.code), 0o644))
		}
	}
	if t.Failed() {
		return
	}
	require.NotEmpty(t, files)

	var gomod strings.Builder
	gomod.WriteString("module docsnippets\n\ngo 1.26\n\nrequire (\n")
	for _, m := range []string{"runtime", "constructs", "cmd"} {
		fmt.Fprintf(&gomod, "\t%s%s %s\n", modulePrefix, m, release.Version)
	}
	gomod.WriteString(")\n\nreplace (\n")
	for _, m := range []string{"runtime", "constructs", "cmd"} {
		fmt.Fprintf(&gomod, "\t%s%s => %s\n", modulePrefix, m, filepath.Join(repo, m))
	}
	gomod.WriteString(")\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod.String()), 0o644))

	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOTOOLCHAIN=local")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), "go", args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s (the snippets are in %s):\n%s", strings.Join(args, " "), dir, out)
	}
	run("mod", "tidy")
	run("vet", "./...")
	run("test", "-count=1", "./...")
}

// TestEveryGoBlockIsMarked runs without building anything, so that `go test -short`
// still catches a new ```go block that says neither complete nor fragment.
func TestEveryGoBlockIsMarked(t *testing.T) {
	t.Parallel()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	for _, doc := range documents(t, repo) {
		for _, s := range snippets(t, repo, doc) {
			kind, _, _ := strings.Cut(s.info, " ")
			if kind != "complete" && kind != "fragment" {
				t.Errorf("%s:%d: a ```go block must say `complete DIR/FILE.go` or `fragment` (got %q)", s.doc, s.line, s.info)
			}
		}
	}
}
