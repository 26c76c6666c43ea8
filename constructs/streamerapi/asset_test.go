package streamerapi

import (
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// build runs BuildAsset and removes its directory when the test ends.
func build(t *testing.T, opts BuildOptions) *Asset {
	t.Helper()
	asset, err := BuildAsset(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, os.RemoveAll(asset.Dir)) })
	return asset
}

func TestBuildAssetIsReproducible(t *testing.T) {
	t.Parallel()
	first := build(t, BuildOptions{Entry: testEntry})
	second := build(t, BuildOptions{Entry: testEntry})
	require.NotEqual(t, first.Dir, second.Dir)
	require.Equal(t, first.Hash, second.Hash, "same source, same asset hash")
	require.Equal(t, "github.com/streamer-go/streamer/constructs/streamerapi/testdata/hello", first.Package)

	bin, err := elf.Open(filepath.Join(first.Dir, "bootstrap"))
	require.NoError(t, err)
	defer bin.Close()
	require.Equal(t, elf.EM_AARCH64, bin.Machine, "arm64 by default")
	require.Nil(t, bin.Section(".symtab"), "-s strips the symbol table")
	require.Nil(t, bin.Section(".debug_info"), "-w leaves out DWARF")
	entries, err := os.ReadDir(first.Dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "the asset holds only bootstrap")

	// The binary records how it was built.
	info, err := buildinfo.ReadFile(filepath.Join(first.Dir, "bootstrap"))
	require.NoError(t, err)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for key, want := range map[string]string{
		"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0",
		"-tags": "lambda.norpc", "-trimpath": "true", // -trimpath leaves -ldflags out of the record
	} {
		require.Equal(t, want, settings[key], key)
	}
	require.NotContains(t, settings, "vcs", "-buildvcs=false")
}

func TestBuildAssetArchitecture(t *testing.T) {
	t.Parallel()
	abs, err := filepath.Abs(testEntry)
	require.NoError(t, err)
	amd := build(t, BuildOptions{Entry: abs, GOARCH: "amd64"})
	bin, err := elf.Open(filepath.Join(amd.Dir, "bootstrap"))
	require.NoError(t, err)
	defer bin.Close()
	require.Equal(t, elf.EM_X86_64, bin.Machine)
	require.NotEqual(t, build(t, BuildOptions{Entry: testEntry}).Hash, amd.Hash)
}

func TestBuildAssetImportPath(t *testing.T) {
	t.Parallel()
	byPath := build(t, BuildOptions{Entry: "github.com/streamer-go/streamer/constructs/streamerapi/testdata/hello"})
	byDir := build(t, BuildOptions{Entry: testEntry})
	require.Equal(t, byDir.Hash, byPath.Hash)
}

func TestBuildAssetCompileError(t *testing.T) {
	t.Parallel()
	_, err := BuildAsset(t.Context(), BuildOptions{Entry: "./testdata/broken"})
	require.ErrorContains(t, err, `streamerapi: building entry "./testdata/broken"`)
	require.ErrorContains(t, err, "go build failed")
	require.ErrorContains(t, err, "undefinedCall", "the compiler's message is kept")
}

func TestBuildAssetNotMain(t *testing.T) {
	t.Parallel()
	_, err := BuildAsset(t.Context(), BuildOptions{Entry: "./testdata/notmain"})
	require.EqualError(t, err, `streamerapi: entry "./testdata/notmain" is package notmain, not a main package`)
}

func TestBuildAssetMissingEntry(t *testing.T) {
	t.Parallel()
	_, err := BuildAsset(t.Context(), BuildOptions{Entry: "./testdata/nothing-here"})
	require.ErrorContains(t, err, `streamerapi: resolving entry "./testdata/nothing-here"`)
}

// TestBuildAssetDefaultEntryOutsideRepo is the module-cache case: the demo bootstrap cannot
// be resolved from a directory outside the Streamer workspace, and the error says what to do.
func TestBuildAssetDefaultEntryOutsideRepo(t *testing.T) {
	t.Parallel()
	_, err := BuildAsset(t.Context(), BuildOptions{WorkDir: t.TempDir()})
	require.ErrorContains(t, err, `streamerapi: resolving entry "`+DefaultEntry+`"`)
	require.ErrorContains(t, err, "set Entry to your main package or Code to a prebuilt bundle")
}

func TestBuildAssetWithoutGo(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // not parallel: changes the environment
	_, err := BuildAsset(t.Context(), BuildOptions{Entry: testEntry})
	require.True(t, errors.Is(err, ErrGoNotFound), err)
	require.EqualError(t, err, `streamerapi: go toolchain not found on PATH: building entry "./testdata/hello": install Go or set Code to a prebuilt bundle`)
}
