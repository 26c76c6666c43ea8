package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/conformance"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// What the template tests wait for: generous, for a loaded 2-core box.
const (
	// failureWait bounds the wait for a failure to show (a log line, a dead letter).
	failureWait = 60 * time.Second
	// startFailureWait bounds a start that must fail.
	startFailureWait = 4 * time.Minute
)

// templateVariant writes a copy of the demo template, changed by mutate, to a temporary
// directory and returns its path. Its asset paths are made absolute, so its functions
// are the demo's own (and their cached rebuild is reused).
func templateVariant(t *testing.T, name string, mutate func(resources map[string]map[string]any)) string {
	t.Helper()
	src := demoTemplate(t)
	raw, err := os.ReadFile(src)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	resources := map[string]map[string]any{}
	for id, r := range doc["Resources"].(map[string]any) {
		res := r.(map[string]any)
		resources[id] = res
		if md, ok := res["Metadata"].(map[string]any); ok {
			if p, ok := md["aws:asset:path"].(string); ok && !filepath.IsAbs(p) {
				md["aws:asset:path"] = filepath.Join(filepath.Dir(src), p)
			}
		}
	}
	mutate(resources)
	out, err := json.MarshalIndent(doc, "", " ")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), name+".template.json")
	require.NoError(t, os.WriteFile(path, out, 0o600))
	return path
}

// ofType returns the resources of one type, by logical ID.
func ofType(resources map[string]map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range resources {
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

// removeGrant removes action from every statement of the policies attached to the role
// whose logical ID starts with rolePrefix, and fails the test when no statement had it.
func removeGrant(t *testing.T, rolePrefix, action string) func(map[string]map[string]any) {
	return func(resources map[string]map[string]any) {
		removed := false
		for _, pol := range ofType(resources, "AWS::IAM::Policy") {
			props := pol["Properties"].(map[string]any)
			attached := false
			for _, r := range props["Roles"].([]any) {
				ref, _ := r.(map[string]any)["Ref"].(string)
				attached = attached || strings.HasPrefix(ref, rolePrefix)
			}
			if !attached {
				continue
			}
			doc := props["PolicyDocument"].(map[string]any)
			var kept []any
			for _, s := range doc["Statement"].([]any) {
				st := s.(map[string]any)
				switch a := st["Action"].(type) {
				case string:
					if a == action {
						removed = true
						continue
					}
				case []any:
					var rest []any
					for _, x := range a {
						if x == action {
							removed = true
						} else {
							rest = append(rest, x)
						}
					}
					st["Action"] = rest
				}
				kept = append(kept, st)
			}
			doc["Statement"] = kept
		}
		require.True(t, removed, "no statement of %s grants %s", rolePrefix, action)
	}
}

// grantCase is one grant of the async path, removed from the template.
type grantCase struct {
	name   string
	role   string // logical ID prefix of the role
	action string
	// function is the function whose log names the denial.
	function string
	// streamOnly turns the router's direct dispatch off, so that the request takes the
	// stream's path, which the grant is on.
	streamOnly bool
	// after checks what the client and the stack show once the request is sent.
	after func(t *testing.T, ls *localStack, s *conformance.Conn, id string)
}

// TestTemplateGrantsOfTheAsyncPath removes, one at a time, each IAM grant the async path
// needs from the demo template and runs it: the call that needs the grant is refused
// with AccessDenied, named in the calling function's log, and the request ends as the
// runtime's failure path says, with nothing left hanging (the stack stops cleanly). The
// router's direct dispatch is the one grant whose loss costs nothing but time: the
// stream delivers the request.
func TestTemplateGrantsOfTheAsyncPath(t *testing.T) {
	endpoint := dynamoDBEndpoint(t)
	demoTemplate(t)
	for _, tc := range []grantCase{
		{name: "RouterPutItem", role: "StreamerRouterRole", action: "dynamodb:PutItem", function: "router",
			after: func(t *testing.T, _ *localStack, s *conformance.Conn, id string) {
				// The router cannot queue the request: a retryable error, no ack.
				m := s.Next()
				require.Equal(t, protocol.TypeError, m.Type, m.Raw)
				require.Equal(t, streamer.ErrCodeServiceUnavail, m.Error.Code, m.Raw)
			}},
		{name: "RouterInvokeWorker", role: "StreamerRouterRole", action: "lambda:InvokeFunction", function: "router",
			after: func(t *testing.T, _ *localStack, s *conformance.Conn, id string) {
				// The direct dispatch is refused; the stream delivers the request and it
				// completes, its result reaching the client.
				run := conformance.CheckAsync(t, id, s.Collect(id))
				require.JSONEq(t, `{"items_processed":2}`, string(run.Data(t)))
				requireStatus(t, s, id, protocol.StatusCompleted)
			}},
		{name: "ProcessorGetRecords", role: "StreamerProcessorRole", action: "dynamodb:GetRecords", function: "processor", streamOnly: true,
			after: func(t *testing.T, _ *localStack, s *conformance.Conn, id string) {
				// The event source mapping cannot read the stream: the request stays PENDING.
				requireAck(t, s)
				requireStatus(t, s, id, protocol.StatusPending)
			}},
		{name: "ProcessorInvokeWorker", role: "StreamerProcessorRole", action: "lambda:InvokeFunction", function: "processor", streamOnly: true,
			after: func(t *testing.T, ls *localStack, s *conformance.Conn, id string) {
				// The processor reports the record failed; the mapping retries it, then
				// sends it to the on-failure destination; the request stays PENDING.
				requireAck(t, s)
				requireDeadLetters(t, ls)
				requireStatus(t, s, id, protocol.StatusPending)
			}},
		{name: "WorkerGetItem", role: "StreamerWorkerRole", action: "dynamodb:GetItem", function: "worker",
			after: func(t *testing.T, ls *localStack, s *conformance.Conn, id string) {
				requireAck(t, s)
				requireDeadLetters(t, ls)
				requireStatus(t, s, id, protocol.StatusPending)
			}},
		{name: "WorkerUpdateItem", role: "StreamerWorkerRole", action: "dynamodb:UpdateItem", function: "worker",
			after: func(t *testing.T, ls *localStack, s *conformance.Conn, id string) {
				// The worker cannot claim the request: its invocation fails, Lambda retries
				// it, then writes the event to the on-failure destination. Nothing ran, so
				// the request is still PENDING and no terminal message comes.
				requireAck(t, s)
				requireDeadLetters(t, ls)
				requireStatus(t, s, id, protocol.StatusPending)
			}},
		{name: "WorkerPostToConnection", role: "StreamerWorkerRole", action: "execute-api:ManageConnections", function: "worker",
			after: func(t *testing.T, _ *localStack, s *conformance.Conn, id string) {
				// The work is done and stored, but no progress or result reaches the
				// client; streamer.status (the router's reply) has it.
				requireAck(t, s)
				requireStatus(t, s, id, protocol.StatusCompleted)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := templateVariant(t, "StreamerDemo", func(resources map[string]map[string]any) {
				removeGrant(t, tc.role, tc.action)(resources)
				if tc.streamOnly {
					routerEnv(t, resources)[contract.EnvDirectDispatch] = "false"
				}
			})
			ls := startLocal(t, "--template", path, "--dynamodb-endpoint", endpoint, "--async-retry-delay", "100ms")
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			s := conformance.Dial(ctx, t, ls.wsURL, ls.token(t, "grant-user", conformance.DefaultTenant, time.Hour))
			id := "grant-" + strings.ToLower(tc.name)
			s.Call(actionProcessData, id, processData(2, 10))
			ls.requireLog(ctx, t, func(f map[string]string, line string) bool {
				return f["function"] == tc.function && strings.Contains(line, "AccessDenied") && strings.Contains(line, tc.action)
			}, "an AccessDenied for %s in the %s function's log", tc.action, tc.function)
			tc.after(t, ls, s, id)
		})
	}
}

// routerEnv returns the environment variables of the template's router function.
func routerEnv(t *testing.T, resources map[string]map[string]any) map[string]any {
	t.Helper()
	for id, fn := range ofType(resources, "AWS::Lambda::Function") {
		if strings.HasPrefix(id, "StreamerRouterFunction") {
			return fn["Properties"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
		}
	}
	t.Fatal("the template has no router function")
	return nil
}

// requireAck reads the request's ack.
func requireAck(t *testing.T, s *conformance.Conn) {
	t.Helper()
	m := s.Next()
	require.Equal(t, protocol.TypeAck, m.Type, m.Raw)
}

// requireStatus asks for the request's status until it is want (a while at most).
func requireStatus(t *testing.T, s *conformance.Conn, id, want string) {
	t.Helper()
	deadline := time.Now().Add(failureWait)
	for {
		s.Call(protocol.ActionStatus, "", map[string]string{"id": id})
		m := s.Next()
		for m.Type != protocol.TypeStatus {
			require.NotEqual(t, protocol.TypeResult, m.Type, "no result reaches the client: %s", m.Raw)
			m = s.Next()
		}
		if m.Status == want {
			return
		}
		require.True(t, time.Now().Before(deadline), "status %s, want %s: %s", m.Status, want, m.Raw)
		time.Sleep(500 * time.Millisecond)
	}
}

// requireDeadLetters waits until the stack's dead-letter queue holds a message: the
// on-failure destination of the stream mapping or of the worker's async invocations.
func requireDeadLetters(t *testing.T, ls *localStack) {
	t.Helper()
	require.Eventually(t, func() bool {
		m, err := ls.metrics(t.Context())
		if err != nil {
			return false
		}
		sent := int64(0)
		for _, q := range m.Queues {
			sent += q.Sent
		}
		return sent > 0
	}, failureWait, 100*time.Millisecond, "a message in the dead-letter queue")
}

// TestTemplateMistakesAreCaughtAtStart runs templates that would deploy but not work: a
// misspelt environment variable, and a stream filter that misses the records the
// runtime writes. `streamer local --template` refuses to start, naming the mistake.
func TestTemplateMistakesAreCaughtAtStart(t *testing.T) {
	endpoint := dynamoDBEndpoint(t)
	demoTemplate(t)
	for _, tc := range []struct {
		name   string
		mutate func(map[string]map[string]any)
		want   []string
	}{
		{"MisspeltVariable", func(resources map[string]map[string]any) {
			for id, fn := range ofType(resources, "AWS::Lambda::Function") {
				if strings.HasPrefix(id, "StreamerWorkerFunction") {
					vars := fn["Properties"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
					vars["STREAMER_REQUEST_TABLE"] = vars["STREAMER_REQUESTS_TABLE"]
					delete(vars, "STREAMER_REQUESTS_TABLE")
				}
			}
		}, []string{
			"environment variable STREAMER_REQUEST_TABLE is not one the runtime reads (did you mean STREAMER_REQUESTS_TABLE?)",
			"function worker", "cannot start", "required environment variables not set: STREAMER_REQUESTS_TABLE",
		}},
		{"FilterMissesPending", func(resources map[string]map[string]any) {
			for _, m := range ofType(resources, "AWS::Lambda::EventSourceMapping") {
				f := m["Properties"].(map[string]any)["FilterCriteria"].(map[string]any)["Filters"].([]any)[0].(map[string]any)
				f["Pattern"] = strings.Replace(f["Pattern"].(string), `"PENDING"`, `"pending"`, 1)
			}
		}, []string{"its filter rejects the INSERT record the runtime writes for a PENDING request", "requests would never reach processor"}},
		{"FilterMissesRetries", func(resources map[string]map[string]any) {
			for _, m := range ofType(resources, "AWS::Lambda::EventSourceMapping") {
				f := m["Properties"].(map[string]any)["FilterCriteria"].(map[string]any)["Filters"].([]any)[0].(map[string]any)
				f["Pattern"] = strings.Replace(f["Pattern"].(string), `["INSERT","MODIFY"]`, `["INSERT"]`, 1)
			}
		}, []string{"its filter rejects the MODIFY record the runtime writes for a PENDING request"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := templateVariant(t, "StreamerDemo", tc.mutate)
			out, err := runUntilExit(t, "local", "--addr", "127.0.0.1:0", "--template", path, "--dynamodb-endpoint", endpoint)
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "streamer local must refuse to start:\n%s", out)
			require.Equal(t, 1, exit.ExitCode(), out)
			for _, want := range tc.want {
				require.Contains(t, out, want)
			}
		})
	}
}

// runUntilExit runs the streamer CLI until it exits (startFailureWait at most) and
// returns its output.
func runUntilExit(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startFailureWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, streamerBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("streamer %s did not exit within %s:\n%s", strings.Join(args, " "), startFailureWait, out.String())
	}
	return out.String(), err
}

// requireLog waits until a line of the stack's output matches.
func (s *localStack) requireLog(ctx context.Context, t *testing.T, match func(fields map[string]string, line string) bool, what string, args ...any) {
	t.Helper()
	wait, cancel := context.WithTimeout(ctx, failureWait)
	defer cancel()
	for {
		text, changed := s.logs.snapshot()
		for line := range strings.SplitSeq(text, "\n") {
			if match(logFields(line), line) {
				return
			}
		}
		select {
		case <-changed:
		case <-wait.Done():
			t.Fatalf("no log line shows %s\n%s", fmt.Sprintf(what, args...), s.logs.tail(40))
		}
	}
}
