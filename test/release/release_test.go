package release

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite go.mod and go.sum with go mod tidy instead of checking them")

// TestPublished uses this tree's modules the way a user outside the repository does,
// from the module proxy alone: installing the CLI, tidying the cmd module against the
// published runtime, and synthesising a CDK app with the construct from a read-only
// module cache. The steps share one proxy and module cache, so each module is
// extracted once.
func TestPublished(t *testing.T) {
	if testing.Short() {
		t.Skip("builds from a fresh module cache (minutes with a cold build cache)")
	}
	t.Parallel()
	p := newProxy(t)

	t.Run("InstallCLI", func(t *testing.T) {
		bin := t.TempDir()
		start := time.Now()
		goOutput(t, t.TempDir(), append(p.env, "GOBIN="+bin), "install", modulePrefix+"cmd/streamer@"+Version)
		t.Logf("go install took %s", time.Since(start).Round(time.Second))
		out, err := command(t, bin, nil, filepath.Join(bin, "streamer"), "help").CombinedOutput()
		require.NoError(t, err, "%s", out)
		for _, sub := range []string{"local", "call", "token", "bench"} {
			require.Contains(t, string(out), sub)
		}
	})

	t.Run("CmdIsTidy", func(t *testing.T) {
		requireTidy(t, filepath.Join(p.repo, "cmd"), p.env)
	})

	t.Run("ConstructOutsideRepo", func(t *testing.T) {
		constructOutsideRepo(t, p)
	})
}

// TestWorkspaceModulesAreTidy runs `go mod tidy -diff` in the modules that build outside
// the workspace on their own (runtime, and constructs, cdk and test through their
// replace lines to this tree), offline from the shared module cache: each go.mod lists
// exactly what its module imports, nothing direct marked indirect.
func TestWorkspaceModulesAreTidy(t *testing.T) {
	t.Parallel()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	env := []string{"GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local"}
	for _, m := range []string{"runtime", "constructs", "cdk", "test"} {
		requireTidy(t, filepath.Join(repo, m), env)
	}
}

// requireTidy checks that the module in dir is tidy; with -update it tidies it. The
// go.sum lines of this repository's own modules are the one accepted difference: their
// hashes exist only once a release is tagged (docs/RELEASING.md).
func requireTidy(t *testing.T, dir string, env []string) {
	t.Helper()
	if *update {
		goOutput(t, dir, env, "mod", "tidy")
		dropOwnSums(t, filepath.Join(dir, "go.sum"))
		return
	}
	out, err := command(t, dir, env, "go", "mod", "tidy", "-diff").CombinedOutput()
	if err == nil {
		return
	}
	var unexpected []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "+++") || strings.HasPrefix(line, "---") {
			continue
		}
		if (strings.HasPrefix(line, "+") || strings.HasPrefix(line, "-")) && !strings.HasPrefix(strings.TrimLeft(line, "+-"), modulePrefix) {
			unexpected = append(unexpected, line)
		}
	}
	if len(unexpected) == 0 && strings.Contains(string(out), "diff ") {
		return
	}
	require.Empty(t, unexpected, "%s is not tidy (go test ./release -run Tidy -update fixes it):\n%s", dir, out)
	require.NoError(t, err, "%s", out)
}

// dropOwnSums removes the go.sum lines of this repository's modules from path.
func dropOwnSums(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return
	}
	require.NoError(t, err)
	var keep []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if line != "" && !strings.HasPrefix(line, modulePrefix) {
			keep = append(keep, line)
		}
	}
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(keep, "\n")+"\n"), 0o644))
}

// consumerApp is the CDK app of a project outside the repository: it uses the construct
// with its own Lambda main package as Entry (or, given the argument "no-entry", without
// Entry), and prints the source file the construct's code was compiled from.
const consumerApp = `package main

import (
	"fmt"
	"os"
	"reflect"
	"runtime"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/streamer-go/streamer/constructs/streamerapi"
)

func main() {
	defer jsii.Close()
	file, _ := runtime.FuncForPC(reflect.ValueOf(streamerapi.NewStreamerApi).Pointer()).FileLine(0)
	fmt.Println("construct source:", file)
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String("cdk.out")})
	stack := awscdk.NewStack(app, jsii.String("Consumer"), nil)
	props := &streamerapi.StreamerApiProps{
		Entry:    jsii.String("./lambda"),
		JwksUrl:  jsii.String("https://idp.example.com/jwks.json"),
		Audience: jsii.String("consumer"),
	}
	if len(os.Args) > 1 && os.Args[1] == "no-entry" {
		props.Entry = nil
	}
	streamerapi.NewStreamerApi(stack, jsii.String("Streamer"), props)
	app.Synth(nil)
}
`

// constructOutsideRepo synthesises a stack from a temporary module outside the
// repository that gets the construct the way a user's project does: from the proxy into
// a read-only module cache.
func constructOutsideRepo(t *testing.T, p *goProxy) {
	dir := t.TempDir()
	write := func(name, content string) {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	write("go.mod", `module example.com/consumer

go 1.26

require (
	github.com/aws/aws-cdk-go/awscdk/v2 v2.276.0
	github.com/aws/jsii-runtime-go v1.142.0
	github.com/streamer-go/streamer/constructs `+Version+`
)
`)
	write("go.sum", p.goSum(t, "constructs", "runtime"))
	write("main.go", consumerApp)
	write("lambda/main.go", "// Command lambda is the consumer's bootstrap.\npackage main\n\nfunc main() {}\n")

	app := filepath.Join(t.TempDir(), "consumer")
	start := time.Now()
	goOutput(t, dir, p.env, "build", "-o", app, ".")
	t.Logf("consumer app built in %s", time.Since(start).Round(time.Second))

	// The app resolves its Entry with the go command, as a user's does: in readonly mode,
	// so a package of a module the app does not require is not fetched behind its back.
	runEnv := append(slices.Clone(p.env), "GOFLAGS=-mod=readonly -modcacherw=false -buildvcs=false -trimpath")
	out, err := command(t, dir, runEnv, app).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "construct source: "+modulePrefix+"constructs@"+Version+"/streamerapi/streamerapi.go")
	modcache := strings.TrimSpace(goOutput(t, dir, p.env, "env", "GOMODCACHE"))
	constructDir := strings.TrimSpace(goOutput(t, dir, p.env, "list", "-m", "-f", "{{.Dir}}", modulePrefix+"constructs"))
	require.Equal(t, filepath.Join(modcache, "github.com", "streamer-go", "streamer", "constructs@"+Version), constructDir)
	fi, err := os.Stat(filepath.Join(constructDir, "streamerapi", "asset.go"))
	require.NoError(t, err)
	require.Zero(t, fi.Mode().Perm()&0o222, "module cache files are read-only")

	raw, err := os.ReadFile(filepath.Join(dir, "cdk.out", "Consumer.template.json"))
	require.NoError(t, err)
	var template struct {
		Resources map[string]struct{ Type string } `json:"Resources"`
	}
	require.NoError(t, json.Unmarshal(raw, &template))
	functions := 0
	for _, r := range template.Resources {
		if r.Type == "AWS::Lambda::Function" {
			functions++
		}
	}
	require.Equal(t, 7, functions)
	assets, err := filepath.Glob(filepath.Join(dir, "cdk.out", "asset.*", "bootstrap"))
	require.NoError(t, err)
	require.Len(t, assets, 1, "one asset, built from the consumer's ./lambda")
	require.False(t, strings.HasPrefix(assets[0], p.repo))

	msg, err := command(t, dir, runEnv, app, "no-entry").CombinedOutput()
	require.Error(t, err, "%s", msg)
	require.Contains(t, string(msg), `resolving entry "`+modulePrefix+`cmd/lambda"`, "the default entry is the demo's, which the app does not require")
	require.Contains(t, string(msg), "set Entry to your main package or Code to a prebuilt bundle")
}
