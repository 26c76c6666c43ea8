package protocol_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
)

// awkwardText mixes everything that grows or breaks under JSON escaping: quotes,
// backslashes, control characters, HTML characters, multi-byte runes and the JavaScript
// line separators.
const awkwardText = "plain \"quoted\" back\\slash \n\t\r \x01\x1f <b>&amp;</b> héllo 日本語 🎉🚀 \u2028\u2029 end"

// bigResult returns a result message whose data encodes to about size bytes.
func bigResult(t testing.TB, size int, seed uint64) *protocol.ResultMessage {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	var rows []map[string]any
	n := 0
	for i := 0; n < size; i++ {
		start := rng.IntN(len(awkwardText) / 2)
		row := map[string]any{"i": i, "text": awkwardText[start:] + strings.Repeat("x", rng.IntN(40)), "f": rng.Float64()}
		b, err := json.Marshal(row)
		require.NoError(t, err)
		n += len(b)
		rows = append(rows, row)
	}
	data, err := json.Marshal(map[string]any{"rows": rows})
	require.NoError(t, err)
	return &protocol.ResultMessage{
		Type: protocol.TypeResult, RequestID: "r-42", Action: "process_data", Success: true,
		Data: data, Metadata: map[string]any{"rows": len(rows), "note": "déjà <vu>"}, DurationMS: 1834,
	}
}

func compact(t testing.TB, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, raw))
	return buf.Bytes()
}

// reassemble feeds parts to a fresh Reassembler in the given order and returns the result.
func reassemble(t testing.TB, parts [][]byte, order []int) *protocol.ResultMessage {
	t.Helper()
	var r protocol.Reassembler
	var got *protocol.ResultMessage
	for k, i := range order {
		var m protocol.ResultMessage
		require.NoError(t, json.Unmarshal(parts[i], &m))
		msg, done, err := r.Add(m)
		require.NoError(t, err)
		require.Equal(t, k == len(order)-1, done, "done only with the last part")
		got = msg
	}
	require.Zero(t, r.Pending())
	return got
}

func inOrder(n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	return order
}

func TestSplitResult300KBReassemblesByteExact(t *testing.T) {
	t.Parallel()
	msg := bigResult(t, 300*1024, 1)
	parts, err := protocol.SplitResult(msg, protocol.MaxMessageBytes)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(parts), 3)

	for i, p := range parts {
		require.LessOrEqual(t, len(p), protocol.MaxMessageBytes, "part %d", i)
		var m map[string]any
		require.NoError(t, json.Unmarshal(p, &m), "part %d is valid JSON", i)
		require.Equal(t, "result", m["type"])
		require.Equal(t, "r-42", m["request_id"])
		require.Equal(t, map[string]any{"index": float64(i), "count": float64(len(parts))}, m["part"])
		require.NotContains(t, m, "data")
		require.Equal(t, i == len(parts)-1, m["metadata"] != nil, "metadata only on the last part")
	}
	// Parts are filled: all but the last are close to the limit.
	require.Greater(t, len(parts[0]), protocol.MaxMessageBytes-64)

	got := reassemble(t, parts, inOrder(len(parts)))
	require.Equal(t, compact(t, msg.Data), []byte(got.Data), "byte-exact data")
	require.Equal(t, msg.RequestID, got.RequestID)
	require.Equal(t, msg.Action, got.Action)
	require.True(t, got.Success)
	require.Equal(t, msg.DurationMS, got.DurationMS)
	require.Equal(t, "déjà <vu>", got.Metadata["note"])
	require.Nil(t, got.Part)
	require.Empty(t, got.DataPart)

	// Order of arrival does not matter.
	rev := inOrder(len(parts))
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	require.Equal(t, []byte(got.Data), []byte(reassemble(t, parts, rev).Data))
}

func TestSplitResultSmallIsWhole(t *testing.T) {
	t.Parallel()
	msg := &protocol.ResultMessage{RequestID: "r-1", Success: true, Data: json.RawMessage(`{"a": 1}`)}
	parts, err := protocol.SplitResult(msg, protocol.MaxMessageBytes)
	require.NoError(t, err)
	require.Len(t, parts, 1)
	require.JSONEq(t, `{"type":"result","request_id":"r-1","success":true,"data":{"a":1},"duration_ms":0}`, string(parts[0]))
}

func TestSplitResultManyLimits(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{300, 301, 517, 1000, 4096} {
		for seed := range uint64(5) {
			msg := bigResult(t, 6000, seed)
			parts, err := protocol.SplitResult(msg, limit)
			require.NoError(t, err, "limit %d", limit)
			for i, p := range parts {
				require.LessOrEqual(t, len(p), limit, "limit %d part %d", limit, i)
			}
			got := reassemble(t, parts, inOrder(len(parts)))
			require.Equal(t, compact(t, msg.Data), []byte(got.Data), "limit %d seed %d", limit, seed)
		}
	}
}

func TestSplitResultRefusesWhatCannotFit(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("m", 2000)
	cases := map[string]*protocol.ResultMessage{
		"metadata too large": {RequestID: "r", Data: json.RawMessage(`"` + big + `"`), Metadata: map[string]any{"m": big}},
		"no data":            {RequestID: "r", Metadata: map[string]any{"m": big}},
		"too many parts":     {RequestID: "r", Data: json.RawMessage(`"` + strings.Repeat("y", protocol.MaxResultParts*200) + `"`)},
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := protocol.SplitResult(msg, 300)
			require.ErrorIs(t, err, protocol.ErrResultTooLarge)
		})
	}

	_, err := protocol.SplitResult(&protocol.ResultMessage{Data: json.RawMessage(`{"a":"` + big + `"`)}, 300)
	require.ErrorContains(t, err, "invalid result data")
	_, err = protocol.SplitResult(nil, 300)
	require.Error(t, err)
}

func part(id string, idx, count int, data string) protocol.ResultMessage {
	return protocol.ResultMessage{Type: protocol.TypeResult, RequestID: id, Part: &protocol.Part{Index: idx, Count: count}, DataPart: data}
}

func TestReassemblerRejectsBadParts(t *testing.T) {
	t.Parallel()
	t.Run("whole message passes through", func(t *testing.T) {
		t.Parallel()
		var r protocol.Reassembler
		msg, done, err := r.Add(protocol.ResultMessage{RequestID: "r", Data: json.RawMessage(`1`)})
		require.NoError(t, err)
		require.True(t, done)
		require.JSONEq(t, `1`, string(msg.Data))
	})
	t.Run("bad index or count", func(t *testing.T) {
		t.Parallel()
		r := protocol.Reassembler{MaxParts: 4}
		for _, p := range []protocol.ResultMessage{part("r", 0, 0, "x"), part("r", 2, 2, "x"), part("r", -1, 2, "x"), part("r", 0, 5, "x")} {
			_, _, err := r.Add(p)
			require.ErrorIs(t, err, protocol.ErrBadPart)
		}
		require.Zero(t, r.Pending())
	})
	t.Run("mismatched count drops the result", func(t *testing.T) {
		t.Parallel()
		var r protocol.Reassembler
		_, done, err := r.Add(part("r", 0, 3, `{"a":`))
		require.NoError(t, err)
		require.False(t, done)
		_, _, err = r.Add(part("r", 1, 2, `1}`))
		require.ErrorIs(t, err, protocol.ErrBadPart)
		require.Zero(t, r.Pending())
	})
	t.Run("duplicate refused, result still completes", func(t *testing.T) {
		t.Parallel()
		var r protocol.Reassembler
		_, _, err := r.Add(part("r", 0, 2, `{"a":`))
		require.NoError(t, err)
		_, _, err = r.Add(part("r", 0, 2, `{"a":`))
		require.ErrorIs(t, err, protocol.ErrBadPart)
		msg, done, err := r.Add(part("r", 1, 2, `1}`))
		require.NoError(t, err)
		require.True(t, done)
		require.JSONEq(t, `{"a":1}`, string(msg.Data))
	})
	t.Run("bytes bound", func(t *testing.T) {
		t.Parallel()
		r := protocol.Reassembler{MaxBytes: 10}
		_, _, err := r.Add(part("r", 0, 2, `["123456`))
		require.NoError(t, err)
		_, _, err = r.Add(part("r", 1, 2, `789"]`))
		require.ErrorIs(t, err, protocol.ErrBadPart)
		require.Zero(t, r.Pending())
	})
	t.Run("pending bound and discard", func(t *testing.T) {
		t.Parallel()
		r := protocol.Reassembler{MaxPending: 2}
		for i := range 2 {
			_, _, err := r.Add(part(fmt.Sprint(i), 0, 2, `[`))
			require.NoError(t, err)
		}
		_, _, err := r.Add(part("x", 0, 2, `[`))
		require.ErrorIs(t, err, protocol.ErrBadPart)
		require.True(t, r.Holds("0"))
		r.Discard("0")
		require.False(t, r.Holds("0"))
		_, _, err = r.Add(part("x", 0, 2, `[`))
		require.NoError(t, err)
		require.Equal(t, 2, r.Pending())
	})
	t.Run("invalid JSON", func(t *testing.T) {
		t.Parallel()
		var r protocol.Reassembler
		_, _, err := r.Add(part("r", 0, 2, `{"a":`))
		require.NoError(t, err)
		_, _, err = r.Add(part("r", 1, 2, `}`))
		require.ErrorIs(t, err, protocol.ErrBadPart)
	})
}

func FuzzSplitResult(f *testing.F) {
	f.Add(awkwardText, 200)
	f.Add(strings.Repeat("é\"", 300), 97)
	f.Fuzz(func(t *testing.T, text string, limit int) {
		if limit < 0 || limit > 1<<16 {
			return
		}
		data, err := json.Marshal(map[string]string{"t": text, "u": text + text})
		require.NoError(t, err)
		msg := &protocol.ResultMessage{RequestID: "f", Success: true, Data: data}
		parts, err := protocol.SplitResult(msg, limit)
		if err != nil {
			require.ErrorIs(t, err, protocol.ErrResultTooLarge)
			return
		}
		for _, p := range parts {
			require.LessOrEqual(t, len(p), limit)
		}
		got := reassemble(t, parts, inOrder(len(parts)))
		require.Equal(t, compact(t, data), []byte(got.Data))
	})
}

func BenchmarkSplitResult300KB(b *testing.B) {
	msg := bigResult(b, 300*1024, 1)
	b.SetBytes(int64(len(msg.Data)))
	for b.Loop() {
		if _, err := protocol.SplitResult(msg, protocol.MaxMessageBytes); err != nil {
			b.Fatal(err)
		}
	}
}
