package docs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/mod/semver"

	"github.com/stretchr/testify/require"
)

// TestOneNodeRequirement holds the README and the guides to one Node.js requirement: the
// highest minimum that the pinned npm packages (package-lock.json) declare in engines.
func TestOneNodeRequirement(t *testing.T) {
	t.Parallel()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(repo, "package-lock.json"))
	require.NoError(t, err)
	var lock struct {
		Packages map[string]struct {
			Engines map[string]string `json:"engines"`
		} `json:"packages"`
	}
	require.NoError(t, json.Unmarshal(raw, &lock))
	minimum := "v0.0.0"
	for name, p := range lock.Packages {
		r, ok := p.Engines["node"]
		if !ok {
			continue
		}
		v, ok := strings.CutPrefix(strings.ReplaceAll(r, " ", ""), ">=")
		require.True(t, ok && semver.IsValid("v"+v), "%s: engines.node %q is not of the form >=X.Y.Z", name, r)
		if semver.Compare("v"+v, minimum) > 0 {
			minimum = "v" + v
		}
	}
	want := "Node.js " + strings.TrimPrefix(minimum, "v") + "+"

	mention := regexp.MustCompile(`Node\.js \d[\d.]*\+?`)
	found := false
	for _, doc := range documents(t, repo) {
		text, err := os.ReadFile(filepath.Join(repo, doc))
		require.NoError(t, err)
		for _, m := range mention.FindAllString(string(text), -1) {
			if strings.HasSuffix(m, "+") {
				require.Equal(t, want, m, "%s states another Node.js requirement", doc)
				found = found || doc == "README.md"
			}
		}
	}
	require.True(t, found, "README.md must state %q (the pinned packages' engines)", want)
}
