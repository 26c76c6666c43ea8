package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Limits of split results.
const (
	// MaxResultParts is the largest number of parts SplitResult produces and the default
	// bound of a Reassembler.
	MaxResultParts = 1024
	// DefaultMaxResultBytes is the default bound of the reassembled data of one result.
	DefaultMaxResultBytes = 16 << 20
	// DefaultMaxPendingResults is the default number of results a Reassembler holds
	// partly received at once.
	DefaultMaxPendingResults = 100
)

// splitMaxRuneLen is the most bytes one rune takes inside a JSON string (\u00XX, \u2028).
const splitMaxRuneLen = 6

var (
	// ErrResultTooLarge is returned by SplitResult for a result that cannot be split into
	// parts within the limit: its metadata alone is too large, or it needs more than
	// MaxResultParts parts.
	ErrResultTooLarge = errors.New("protocol: result too large to split")
	// ErrBadPart is returned by (*Reassembler).Add for a part that cannot belong to a
	// well-formed split result: bad index or count, a count that differs from earlier
	// parts, a duplicate, or a result over the reassembler's bounds.
	ErrBadPart = errors.New("protocol: bad result part")
)

// SplitResult encodes msg as one or more result messages of at most limit bytes each.
// A message that fits is returned whole, as one element. A larger one is cut into parts
// (PROTOCOL.md): every part carries type, request_id, action, success, duration_ms,
// part {index, count} and data_part; the concatenated data_part strings, in index order,
// are the compact JSON text of msg.Data. Metadata rides on the last part only, since it
// may be large. Cuts fall on UTF-8 boundaries, so every data_part is a valid string, and
// the JSON escaping of each part is accounted for. The error wraps ErrResultTooLarge when
// the result cannot be split within limit.
func SplitResult(msg *ResultMessage, limit int) ([][]byte, error) {
	if msg == nil {
		return nil, errors.New("protocol: split: nil result message")
	}
	data, err := splitCompactData(msg.Data)
	if err != nil {
		return nil, err
	}
	whole := *msg
	whole.Type = TypeResult
	if len(data) <= limit { // otherwise the whole message cannot fit: skip encoding it
		enc, err := splitEncode(&whole)
		if err != nil {
			return nil, err
		}
		if len(enc) <= limit {
			return [][]byte{enc}, nil
		}
		if len(data) == 0 {
			return nil, fmt.Errorf("%w: %d bytes without data", ErrResultTooLarge, len(enc))
		}
	}

	// The envelope of a part: everything but data, with the widest index and count so
	// that budgets hold for every part. DataPart "x" keeps the key in the encoding.
	head := whole
	head.Data, head.Metadata, head.DataPart = nil, nil, "x"
	head.Part = &Part{Index: MaxResultParts, Count: MaxResultParts}
	headLen, err := splitEncodedLen(&head)
	if err != nil {
		return nil, err
	}
	last := head
	last.Metadata = msg.Metadata
	lastLen, err := splitEncodedLen(&last)
	if err != nil {
		return nil, err
	}
	budget, lastBudget := limit-(headLen-1), limit-(lastLen-1)
	if lastBudget < splitMaxRuneLen {
		return nil, fmt.Errorf("%w: the part envelope (%d bytes with metadata) leaves no room within %d", ErrResultTooLarge, lastLen-1, limit)
	}

	chunks := splitCut(string(data), budget)
	if tail := chunks[len(chunks)-1]; splitEscapedLen(tail) > lastBudget {
		// The last part also carries metadata: move the end of the tail into a part of
		// its own that leaves room for it.
		i := splitCutFromEnd(tail, lastBudget)
		chunks = append(chunks[:len(chunks)-1], tail[:i], tail[i:])
	}
	if len(chunks) > MaxResultParts {
		return nil, fmt.Errorf("%w: needs %d parts (max %d)", ErrResultTooLarge, len(chunks), MaxResultParts)
	}

	parts := make([][]byte, len(chunks))
	for i, c := range chunks {
		p := head
		p.Part = &Part{Index: i, Count: len(chunks)}
		p.DataPart = c
		if i == len(chunks)-1 {
			p.Metadata = msg.Metadata
		}
		b, err := splitEncode(&p)
		if err != nil {
			return nil, err
		}
		if len(b) > limit {
			return nil, fmt.Errorf("%w: part %d is %d bytes (limit %d)", ErrResultTooLarge, i, len(b), limit)
		}
		parts[i] = b
	}
	return parts, nil
}

// splitEncode marshals v without HTML escaping (which would grow data_part for no
// benefit on a WebSocket) and without the encoder's trailing newline.
func splitEncode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("protocol: encode message: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func splitEncodedLen(v any) (int, error) {
	b, err := splitEncode(v)
	return len(b), err
}

// splitCompactData returns the compact JSON text of data; it must be valid UTF-8 so that the
// parts' strings carry it byte for byte.
func splitCompactData(data json.RawMessage) ([]byte, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return nil, fmt.Errorf("protocol: split: invalid result data: %w", err)
	}
	if !utf8.Valid(buf.Bytes()) {
		return nil, errors.New("protocol: split: result data is not valid UTF-8")
	}
	return buf.Bytes(), nil
}

// splitRuneLen is an upper bound of the bytes the rune r (of size bytes in the source)
// takes inside a JSON string written without HTML escaping.
func splitRuneLen(r rune, size int) int {
	switch {
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20, r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
		return splitMaxRuneLen
	}
	return size
}

func splitEscapedLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		n += splitRuneLen(r, size)
		i += size
	}
	return n
}

// splitCut cuts s on rune boundaries into strings whose escaped length is at most
// budget each (budget >= splitMaxRuneLen).
func splitCut(s string, budget int) []string {
	var chunks []string
	start, n := 0, 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		e := splitRuneLen(r, size)
		if n+e > budget {
			chunks = append(chunks, s[start:i])
			start, n = i, 0
		}
		n += e
		i += size
	}
	return append(chunks, s[start:])
}

// splitCutFromEnd returns the index i of a rune boundary such that s[i:] is the longest
// suffix of s whose escaped length is at most budget.
func splitCutFromEnd(s string, budget int) int {
	i, n := len(s), 0
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		e := splitRuneLen(r, size)
		if n+e > budget {
			break
		}
		n += e
		i -= size
	}
	return i
}

// Reassembler puts split results back together on the receiving side. Feed it every
// result message of a connection; a whole message comes straight back, parts are held
// until the last one arrives. It is bounded: MaxParts per result, MaxBytes of data per
// result and MaxPending results partly received at once. The zero value is ready to use
// and it is safe for concurrent use.
type Reassembler struct {
	// MaxParts bounds the count of a split result. Default MaxResultParts.
	MaxParts int
	// MaxBytes bounds the reassembled data of one result. Default DefaultMaxResultBytes.
	MaxBytes int
	// MaxPending bounds the results held partly received. Default DefaultMaxPendingResults.
	MaxPending int

	mu      sync.Mutex
	pending map[string]*partialResult
}

type partialResult struct {
	parts []string
	have  []bool
	got   int
	size  int
	last  ResultMessage
}

// Add takes one result message. A message without Part is complete as it is. A part is
// held; when it completes its result, Add returns the reassembled message (Data set, Part
// and DataPart cleared, header and metadata from the last part) and done true. A bad
// part returns an error wrapping ErrBadPart: a count that disagrees with earlier parts,
// a bound exceeded or data that is not valid JSON drop the whole result; a duplicate
// part is refused and the parts held so far are kept.
func (r *Reassembler) Add(raw ResultMessage) (complete *ResultMessage, done bool, err error) {
	if raw.Part == nil {
		return &raw, true, nil
	}
	maxParts := partsBound(r.MaxParts, MaxResultParts)
	idx, count := raw.Part.Index, raw.Part.Count
	if count < 1 || count > maxParts || idx < 0 || idx >= count {
		r.Discard(raw.RequestID)
		return nil, false, fmt.Errorf("%w: request %q: part %d of %d (max %d parts)", ErrBadPart, raw.RequestID, idx, count, maxParts)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.pending[raw.RequestID]
	if st == nil {
		if len(r.pending) >= partsBound(r.MaxPending, DefaultMaxPendingResults) {
			return nil, false, fmt.Errorf("%w: request %q: too many results in progress", ErrBadPart, raw.RequestID)
		}
		if r.pending == nil {
			r.pending = make(map[string]*partialResult)
		}
		st = &partialResult{parts: make([]string, count), have: make([]bool, count)}
		r.pending[raw.RequestID] = st
	}
	switch {
	case len(st.parts) != count:
		delete(r.pending, raw.RequestID)
		return nil, false, fmt.Errorf("%w: request %q: part count %d, earlier parts said %d", ErrBadPart, raw.RequestID, count, len(st.parts))
	case st.have[idx]:
		return nil, false, fmt.Errorf("%w: request %q: duplicate part %d", ErrBadPart, raw.RequestID, idx)
	}
	st.size += len(raw.DataPart)
	if maxBytes := partsBound(r.MaxBytes, DefaultMaxResultBytes); st.size > maxBytes {
		delete(r.pending, raw.RequestID)
		return nil, false, fmt.Errorf("%w: request %q: result over %d bytes", ErrBadPart, raw.RequestID, maxBytes)
	}
	st.parts[idx], st.have[idx] = raw.DataPart, true
	st.got++
	if idx == count-1 {
		st.last = raw
	}
	if st.got < count {
		return nil, false, nil
	}

	delete(r.pending, raw.RequestID)
	data := strings.Join(st.parts, "")
	if !json.Valid([]byte(data)) {
		return nil, false, fmt.Errorf("%w: request %q: reassembled data is not valid JSON", ErrBadPart, raw.RequestID)
	}
	msg := st.last
	msg.Type, msg.Data, msg.Part, msg.DataPart = TypeResult, json.RawMessage(data), nil, ""
	return &msg, true, nil
}

// Discard drops the parts held for requestID, for a call that was abandoned or will be
// answered again (a resume after reconnect).
func (r *Reassembler) Discard(requestID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, requestID)
}

// Holds reports whether parts of requestID's result are held, waiting for the rest.
func (r *Reassembler) Holds(requestID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.pending[requestID]
	return ok
}

// Pending returns the number of results partly received.
func (r *Reassembler) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// partsBound returns v, or def when v is not positive.
func partsBound(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
