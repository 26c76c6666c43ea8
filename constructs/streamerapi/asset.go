package streamerapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrGoNotFound is returned when the go toolchain is not on PATH.
var ErrGoNotFound = errors.New("streamerapi: go toolchain not found on PATH")

// BuildOptions select what BuildAsset builds.
type BuildOptions struct {
	// Entry is a directory (absolute or relative to WorkDir) or an import path of a main
	// package. Default: DefaultEntry.
	Entry string
	// GOARCH of the binary: "arm64" or "amd64". Default: "arm64".
	GOARCH string
	// WorkDir resolves a relative Entry and an import path. Default: the process's
	// working directory.
	WorkDir string
}

// Asset is a built Lambda bundle: a directory holding one `bootstrap` executable.
type Asset struct {
	// Dir holds the bootstrap binary.
	Dir string
	// Hash is the hex SHA-256 of the binary: the same source and toolchain give the same
	// hash, so an unchanged function is not redeployed.
	Hash string
	// Package is the import path that was built.
	Package string
	// ModuleDir is the directory of the module it was built in (go build's working
	// directory).
	ModuleDir string
}

// BuildAsset runs `go build` for Lambda's provided.al2023 runtime (GOOS=linux, CGO off,
// -tags lambda.norpc, -trimpath, -buildvcs=false, -ldflags "-s -w") into a new temporary
// directory, from the entry's module directory. The caller removes Asset.Dir.
func BuildAsset(ctx context.Context, opts BuildOptions) (*Asset, error) {
	entry := opts.Entry
	if entry == "" {
		entry = DefaultEntry
	}
	goarch := opts.GOARCH
	if goarch == "" {
		goarch = "arm64"
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("%w: building entry %q: install Go or set Code to a prebuilt bundle", ErrGoNotFound, entry)
	}
	env := append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	pkg, err := resolveEntry(ctx, goBin, env, entry, opts.WorkDir)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "streamer-asset-")
	if err != nil {
		return nil, fmt.Errorf("streamerapi: building entry %q: %w", entry, err)
	}
	out := filepath.Join(dir, "bootstrap")
	rel, err := filepath.Rel(pkg.moduleDir, pkg.dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("streamerapi: building entry %q: %w", entry, err)
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w", "-o", out, "./"+filepath.ToSlash(rel))
	cmd.Dir = pkg.moduleDir
	cmd.Env = env
	if msg, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("streamerapi: building entry %q (%s): go build failed: %w\n%s", entry, pkg.importPath, err, bytes.TrimSpace(msg))
	}
	hash, err := fileHash(out)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("streamerapi: building entry %q: %w", entry, err)
	}
	return &Asset{Dir: dir, Hash: hash, Package: pkg.importPath, ModuleDir: pkg.moduleDir}, nil
}

// goPackage is what `go list` says about the entry.
type goPackage struct {
	importPath, dir, moduleDir string
}

// resolveEntry finds the entry's package and module directory with `go list`. A directory
// is listed from inside itself, so it resolves against its own module (or workspace).
func resolveEntry(ctx context.Context, goBin string, env []string, entry, workDir string) (*goPackage, error) {
	if workDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("streamerapi: resolving entry %q: %w", entry, err)
		}
		workDir = wd
	}
	pattern, runDir := entry, workDir
	candidate := entry
	if !filepath.IsAbs(candidate) {
		candidate = filepath.Join(workDir, entry)
	}
	if fi, err := os.Stat(candidate); err == nil && fi.IsDir() {
		pattern, runDir = ".", candidate
	}
	cmd := exec.CommandContext(ctx, goBin, "list", "-f", "{{.Name}}\t{{.ImportPath}}\t{{.Dir}}\t{{with .Module}}{{.Dir}}{{end}}", pattern)
	cmd.Dir = runDir
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		hint := ""
		if entry == DefaultEntry {
			hint = "; the default entry exists only inside the Streamer repository: set Entry to your main package or Code to a prebuilt bundle"
		}
		return nil, fmt.Errorf("streamerapi: resolving entry %q from %s: %w: %s%s", entry, runDir, err, strings.TrimSpace(stderr.String()), hint)
	}
	fields := strings.Split(strings.TrimSpace(string(out)), "\t")
	if len(fields) != 4 || fields[3] == "" {
		return nil, fmt.Errorf("streamerapi: resolving entry %q: not a package inside a Go module: %q", entry, out)
	}
	if fields[0] != "main" {
		return nil, fmt.Errorf("streamerapi: entry %q is package %s, not a main package", entry, fields[0])
	}
	return &goPackage{importPath: fields[1], dir: fields[2], moduleDir: fields[3]}, nil
}

// fileHash returns the hex SHA-256 of a file's content.
func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
