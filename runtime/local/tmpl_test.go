package local

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSelectRoute(t *testing.T) {
	t.Parallel()
	g := &gateway{ws: &webSocketAPI{selectionField: "action", routes: map[string]apiRoute{
		routeDefault: {}, "sendmessage": {},
	}}}
	for body, want := range map[string]string{
		`{"action":"sendmessage","data":1}`: "sendmessage",
		`{"action":"echo"}`:                 routeDefault, // no route: $default
		`{"action":7}`:                      routeDefault,
		`not json`:                          routeDefault,
	} {
		require.Equal(t, want, g.selectRoute(message{body: body}), body)
	}
	require.Equal(t, routeDefault, g.selectRoute(message{body: `{"action":"sendmessage"}`, binary: true}), "a binary frame has no body to select on")
}

func TestFunctionOfURI(t *testing.T) {
	t.Parallel()
	fn := "arn:aws:lambda:us-east-1:000000000000:function:StreamerDemo-Router-ABC"
	require.Equal(t, fn, functionOfURI("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"+fn+"/invocations"))
	require.Empty(t, functionOfURI("https://example.com/hook"))
}

func TestGenerateSecret(t *testing.T) {
	t.Parallel()
	v, err := generateSecret(map[string]any{"PasswordLength": 64.0, "ExcludePunctuation": true})
	require.NoError(t, err)
	require.Len(t, v, 64)
	require.Regexp(t, `^[A-Za-z0-9]+$`, v)

	v, err = generateSecret(map[string]any{"PasswordLength": 20.0, "ExcludeCharacters": "abcdefghijklmnopqrstuvwxyz", "ExcludeUppercase": true, "ExcludePunctuation": true})
	require.NoError(t, err)
	require.Regexp(t, `^[0-9]{20}$`, v)

	v, err = generateSecret(map[string]any{"SecretStringTemplate": `{"user":"app"}`, "GenerateStringKey": "password"})
	require.NoError(t, err)
	var doc map[string]string
	require.NoError(t, json.Unmarshal([]byte(v), &doc))
	require.Equal(t, "app", doc["user"])
	require.Len(t, doc["password"], 32, "PasswordLength defaults to 32")

	_, err = generateSecret(map[string]any{"ExcludeLowercase": true, "ExcludeUppercase": true, "ExcludeNumbers": true, "ExcludePunctuation": true})
	require.Error(t, err)
}

func TestClosestName(t *testing.T) {
	t.Parallel()
	names := []string{"STREAMER_REQUESTS_TABLE", "STREAMER_CONNECTIONS_TABLE", "STREAMER_LOG_LEVEL"}
	require.Equal(t, "STREAMER_REQUESTS_TABLE", closest("STREAMER_REQUEST_TABLE", names))
	require.Equal(t, "STREAMER_LOG_LEVEL", closest("STREAMER_LOGLEVEL", names))
	require.Empty(t, closest("STREAMER_SOMETHING_ELSE", names))
}

func TestFunctionLogNamesTheFunction(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	l := &functionLog{w: &out, key: "worker", mu: &sync.Mutex{}}
	_, _ = l.Write([]byte(`{"level":"INFO","msg":"done","function":"worker"}` + "\n"))
	_, _ = l.Write([]byte(`{"level":"INFO","msg":"emf"}` + "\n"))
	_, _ = l.Write([]byte("2026/01/01 00:00:00 {\"errorMessage\":\"boom\"}\n"))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3)
	require.Equal(t, `{"level":"INFO","msg":"done","function":"worker"}`, lines[0], "a line that names its function is kept as it is")
	for _, line := range lines[1:] {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		require.Equal(t, "worker", rec["function"], line)
	}
	require.Contains(t, lines[2], `boom`, "a text line is kept in msg")
}

func TestTokenBucket(t *testing.T) {
	t.Parallel()
	var none *tokenBucket
	require.True(t, none.allow(), "no throttle")
	b := newTokenBucket(1, 3)
	for range 3 {
		require.True(t, b.allow(), "the burst")
	}
	require.False(t, b.allow(), "over the burst")
	b.last = b.last.Add(-1100 * time.Millisecond) // a second later: one more token
	require.True(t, b.allow())
	require.False(t, b.allow())
}
