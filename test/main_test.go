package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// streamerBin is the `streamer` binary TestMain builds for the local targets. It is set
// once, before any test runs, and only read afterwards.
var streamerBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain builds the CLI into a temporary directory, runs the tests and removes the
// directory (os.Exit in TestMain would skip a deferred cleanup).
func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "streamer-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := buildStreamer(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	streamerBin = bin
	return m.Run()
}

// buildStreamer builds cmd/streamer of this repository into dir.
func buildStreamer(dir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "streamer")
	cmd := exec.Command("go", "build", "-o", bin, "./streamer")
	cmd.Dir = filepath.Join(root, "cmd")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./streamer in %s: %w\n%s", cmd.Dir, err, out)
	}
	return bin, nil
}

// repoRoot finds the repository: the directory of the workspace file when the tests run
// in workspace mode, else the parent of this module (go test runs in the package
// directory, the module root).
func repoRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOWORK").Output(); err == nil {
		if work := strings.TrimSpace(string(out)); work != "" && work != "off" {
			return filepath.Dir(work), nil
		}
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "streamer")); err != nil {
		return "", fmt.Errorf("find the repository root: no cmd/streamer in %s: %w", root, err)
	}
	return root, nil
}
