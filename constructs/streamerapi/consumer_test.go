package streamerapi

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// consumerApp is the CDK app of a project outside the repository: it uses the construct
// with its own Lambda main package as Entry.
const consumerApp = `package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/streamer-go/streamer/constructs/streamerapi"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String("cdk.out")})
	stack := awscdk.NewStack(app, jsii.String("Consumer"), nil)
	streamerapi.NewStreamerApi(stack, jsii.String("Streamer"), &streamerapi.StreamerApiProps{
		Entry:   jsii.String("./lambda"),
		JwksUrl: jsii.String("https://idp.example.com/jwks.json"),
	})
	app.Synth(nil)
}
`

// TestConsumerOutsideRepo synthesises a stack from a temporary module outside the
// repository that requires the construct the way a user's project does. Only that module's
// go.work points at this checkout (the stand-in for the module proxy); the construct
// resolves its Entry and runs go build from the consumer's module.
func TestConsumerOutsideRepo(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs a CDK app (a minute on a loaded machine)")
	}
	t.Parallel()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name, content string) {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	sum, err := os.ReadFile(filepath.Join(repo, "constructs", "go.sum"))
	require.NoError(t, err)
	write("go.mod", `module example.com/consumer

go 1.26

require (
	github.com/aws/aws-cdk-go/awscdk/v2 v2.276.0
	github.com/aws/jsii-runtime-go v1.142.0
	github.com/streamer-go/streamer/constructs v0.1.0
)
`)
	write("go.sum", string(sum))
	write("go.work", `go 1.26.0

use (
	.
	`+filepath.Join(repo, "constructs")+`
	`+filepath.Join(repo, "runtime")+`
)

replace (
	github.com/streamer-go/streamer/constructs v0.1.0 => `+filepath.Join(repo, "constructs")+`
	github.com/streamer-go/streamer/runtime v0.1.0 => `+filepath.Join(repo, "runtime")+`
)
`)
	write("main.go", consumerApp)
	write("lambda/main.go", "// Command lambda is the consumer's bootstrap.\npackage main\n\nfunc main() {}\n")

	cmd := exec.CommandContext(t.Context(), "go", "run", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

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
	require.Equal(t, 6, functions)

	assets, err := filepath.Glob(filepath.Join(dir, "cdk.out", "asset.*", "bootstrap"))
	require.NoError(t, err)
	require.Len(t, assets, 1, "one asset, built from the consumer's ./lambda")
	require.False(t, strings.HasPrefix(assets[0], repo))
}
