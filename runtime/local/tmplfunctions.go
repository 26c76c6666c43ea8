package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/local/awsapi"
	"github.com/streamer-go/streamer/runtime/local/iam"
	"github.com/streamer-go/streamer/runtime/local/runtimeapi"
	"github.com/streamer-go/streamer/runtime/local/template"
)

// FunctionError is a function invocation that failed: the error type and message Lambda
// reports (the handler's error, Sandbox.Timedout, Runtime.ExitError, ...).
type FunctionError struct {
	// Function names the function (its role, or its logical ID).
	Function string
	// Type is Lambda's error type, such as errorString or Sandbox.Timedout.
	Type string
	// Message is the error's message; "Unauthorized" from an authorizer means 401.
	Message string
}

func (e *FunctionError) Error() string {
	return "local: function " + e.Function + " failed: " + e.Type + ": " + e.Message
}

// lambdaReserved are the environment variables Lambda sets itself; a function may not
// define them.
var lambdaReserved = []string{
	"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
	"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
	"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}

// asyncConfig is a function's AWS::Lambda::EventInvokeConfig (Lambda's defaults without
// one).
type asyncConfig struct {
	retries   int
	maxAge    time.Duration
	onFailure string // destination ARN
	onSuccess string
}

// lambdaPermission is one AWS::Lambda::Permission: who may invoke the function.
type lambdaPermission struct {
	action, principal, sourceARN, sourceAccount string
}

// tmplFunction is one AWS::Lambda::Function of the template, run in environments.
type tmplFunction struct {
	logicalID string
	name, arn string
	// key names the function in counters and logs: its STREAMER_FUNCTION role when it has
	// one (so /metrics reads as in the in-process stack), else its logical ID.
	key         string
	timeout     time.Duration
	memoryMB    int
	env         map[string]string // the template's variables, resolved
	principal   *awsapi.Principal
	pool        *runtimeapi.Pool
	async       asyncConfig
	permissions []lambdaPermission
}

// allows reports whether a service may invoke the function for sourceARN: an
// AWS::Lambda::Permission for it, as Lambda's resource-based policy requires.
func (f *tmplFunction) allows(service, sourceARN string) bool {
	for _, p := range f.permissions {
		if (p.action == "lambda:InvokeFunction" || p.action == "lambda:*") && p.principal == service &&
			(p.sourceARN == "" || iam.Match(p.sourceARN, sourceARN)) {
			return true
		}
	}
	return false
}

// invokeJSON invokes the function synchronously with ev and decodes its response into a
// value of type R: a failed invocation is a *FunctionError.
func invokeJSON[E, R any](ctx context.Context, f *tmplFunction, ev E) (R, error) {
	var out R
	payload, err := json.Marshal(ev)
	if err != nil {
		return out, fmt.Errorf("local: %s: event: %w", f.key, err)
	}
	resp, err := f.pool.Invoke(ctx, newRequestID(), payload, false)
	if err != nil {
		return out, fmt.Errorf("local: %s: %w", f.key, err)
	}
	if resp.Failed() {
		return out, &FunctionError{Function: f.key, Type: resp.ErrorType, Message: resp.ErrorMessage}
	}
	if err := json.Unmarshal(resp.Payload, &out); err != nil {
		return out, fmt.Errorf("local: %s: response %.200q: %w", f.key, resp.Payload, err)
	}
	return out, nil
}

// newRequestID returns a random UUID, the shape of Lambda's request ids.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := fmt.Sprintf("%x", b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// randomString returns n random characters of alphabet.
func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

const (
	upperDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	mixedDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// newCredentials returns session credentials in the shape Lambda hands a function.
func newCredentials() (key, secret, token string) {
	return "ASIA" + randomString(16, upperDigits), randomString(40, mixedDigits), randomString(120, mixedDigits)
}

// assetBuilds builds each asset for this machine at most once.
type assetBuilds struct {
	mu   sync.Mutex
	done map[string]string // asset directory -> bootstrap to run
	log  *slog.Logger
}

// bootstrapFor returns the executable to run for a function: its asset's bootstrap when
// it is built for this machine, else a build of the Go package recorded in its
// streamer:go-entry metadata for this machine, cached beside the asset (in
// cdk.out/.streamer-local). The package's module directory is relative to the CDK app's
// directory: the parent of the asset's cdk.out.
func (b *assetBuilds) bootstrapFor(res *template.Resource, templateDir string) (string, error) {
	assetPath := res.MetadataString("aws:asset:path")
	if assetPath == "" {
		return "", fmt.Errorf("function %s: no aws:asset:path metadata: the mode runs functions whose code is a CDK asset in cdk.out (synthesize with asset metadata on, the CDK CLI's default)", res.LogicalID)
	}
	dir := assetPath
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(templateDir, assetPath)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if bin, ok := b.done[dir]; ok {
		return bin, nil
	}
	bin := filepath.Join(dir, "bootstrap")
	goos, goarch, err := executableTarget(bin)
	if err != nil {
		return "", fmt.Errorf("function %s: asset %s: %w", res.LogicalID, assetPath, err)
	}
	if goos == runtime.GOOS && goarch == runtime.GOARCH {
		b.done[dir] = bin
		return bin, nil
	}
	entry, _ := res.Metadata[contract.GoEntryMetadata].(map[string]any)
	pkg, _ := entry["package"].(string)
	moduleDir, _ := entry["moduleDir"].(string)
	if pkg == "" {
		return "", fmt.Errorf("function %s: its asset is built for %s/%s and this machine is %s/%s, and the template records no Go package to rebuild it from (%s metadata; StreamerApi adds it when it builds the asset)",
			res.LogicalID, goos, goarch, runtime.GOOS, runtime.GOARCH, contract.GoEntryMetadata)
	}
	cdkOut := filepath.Dir(dir)
	out := filepath.Join(cdkOut, ".streamer-local", filepath.Base(dir)+"-"+runtime.GOOS+"-"+runtime.GOARCH, "bootstrap")
	if _, err := os.Stat(out); err == nil {
		b.log.Info("function asset rebuilt for this machine earlier: using the cached build",
			"asset", assetPath, "built_for", goos+"/"+goarch, "machine", runtime.GOOS+"/"+runtime.GOARCH, "package", pkg, "binary", out)
		b.done[dir] = out
		return out, nil
	}
	workDir := filepath.Join(filepath.Dir(cdkOut), moduleDir)
	b.log.Info("function asset is built for another machine: rebuilding it for this one from the same Go package",
		"asset", assetPath, "built_for", goos+"/"+goarch, "machine", runtime.GOOS+"/"+runtime.GOARCH, "package", pkg, "module_dir", workDir)
	// Built beside its final name, then renamed: stacks starting at once never run a
	// half-written binary.
	tmp := out + ".tmp-" + newRequestID()
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", tmp, pkg)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("function %s: rebuild %s for %s/%s in %s: %w\n%s", res.LogicalID, pkg, runtime.GOOS, runtime.GOARCH, workDir, err, bytes.TrimSpace(msg))
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("function %s: %w", res.LogicalID, err)
	}
	b.done[dir] = out
	return out, nil
}

// executableTarget reads the OS and architecture an executable is built for from its ELF
// header (Lambda's bootstraps are Linux ELF binaries).
func executableTarget(path string) (goos, goarch string, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("bootstrap: %w", err)
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_X86_64:
		return "linux", "amd64", nil
	case elf.EM_AARCH64:
		return "linux", "arm64", nil
	}
	return "linux", f.Machine.String(), nil
}

// functionEnv is the environment of a function's processes: its variables, those Lambda
// sets, its credentials, and the proxy and CA bundle through which it reaches the local
// AWS endpoint.
func functionEnv(f *tmplFunction, region, logGroup, logFormat, taskRoot string, ep *awsapi.Endpoint) []string {
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"_HANDLER=bootstrap",
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
		"AWS_LAMBDA_FUNCTION_NAME=" + f.name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(f.memoryMB),
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME=" + logGroup,
		"AWS_LAMBDA_LOG_STREAM_NAME=" + time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + strings.ReplaceAll(newRequestID(), "-", ""),
		"AWS_ACCESS_KEY_ID=" + f.principal.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + f.principal.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + f.principal.SessionToken,
		"LAMBDA_TASK_ROOT=" + taskRoot,
		"LAMBDA_RUNTIME_DIR=" + taskRoot,
		"HTTPS_PROXY=" + ep.ProxyURL(),
		"SSL_CERT_FILE=" + ep.CAFile(),
	}
	if logFormat == "JSON" {
		env = append(env, "AWS_LAMBDA_LOG_FORMAT=JSON")
	}
	for k, v := range f.env {
		env = append(env, k+"="+v)
	}
	return env
}

// functionLog writes a function's output as its log: JSON lines as they are (with the
// function's key added when they do not name one), other lines wrapped in a JSON record
// the way Lambda's JSON log format wraps text, so every line says which function wrote
// it.
type functionLog struct {
	w   io.Writer
	key string
	mu  *sync.Mutex // shared by the functions writing to w
}

func (l *functionLog) Write(p []byte) (int, error) {
	line := bytes.TrimRight(p, "\n")
	var rec map[string]any
	var out []byte
	if json.Unmarshal(line, &rec) == nil && rec != nil {
		if _, ok := rec["function"]; ok {
			out = line
		} else {
			rec["function"] = l.key
			out, _ = json.Marshal(rec) // decoded JSON always marshals
		}
	} else {
		out, _ = json.Marshal(map[string]string{"time": time.Now().UTC().Format(time.RFC3339Nano), "level": "INFO", "function": l.key, "msg": string(line)}) // strings always marshal
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(append(out, '\n')); err != nil {
		return 0, err
	}
	return len(p), nil
}

// roleKey returns the key of a function in counters and logs.
func roleKey(logicalID string, env map[string]string) string {
	if role := env[contract.EnvFunction]; role != "" {
		return role
	}
	return logicalID
}
