package streamer

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Parsing client frames and encoding synchronous results are the router's hot path: every
// message goes through the first, every synchronous request through the second. Both
// take a fast path for the common shapes and fall back to encoding/json for anything
// else, with the same result (FuzzParseFrame and TestResultBody hold them to that).

// parseFrame decodes a client frame into msg as json.Unmarshal would. s and frame hold
// the same text: strings are cut from s without copying, the payload is a sub-slice of
// frame (which the caller owns).
func parseFrame(s string, frame []byte, msg *ClientMessage) error {
	if json.Valid(frame) && scanFrame(s, frame, msg) {
		return nil
	}
	*msg = ClientMessage{}
	return json.Unmarshal(frame, msg)
}

// scanFrame reads a valid JSON object whose keys and action and id values are plain
// ASCII strings without escapes. It reports false, leaving msg to be reset, for anything
// else: another top-level value, escapes, keys that encoding/json would match case-
// insensitively, non-string action or id.
func scanFrame(s string, frame []byte, msg *ClientMessage) bool {
	i := skipSpace(frame, 0)
	if frame[i] != '{' {
		return false
	}
	i = skipSpace(frame, i+1)
	for frame[i] != '}' {
		keyEnd, plain := plainString(frame, i)
		if !plain {
			return false
		}
		key := s[i+1 : keyEnd-1]
		i = skipSpace(frame, skipSpace(frame, keyEnd)+1) // past the colon
		switch key {
		case "action", "id":
			end, plain := plainString(frame, i)
			if !plain {
				return false
			}
			if key == "action" {
				msg.Action = s[i+1 : end-1]
			} else {
				msg.ID = s[i+1 : end-1]
			}
			i = end
		case "payload":
			end := skipValue(frame, i)
			msg.Payload = frame[i:end:end]
			i = end
		default:
			if strings.EqualFold(key, "action") || strings.EqualFold(key, "id") || strings.EqualFold(key, "payload") {
				return false
			}
			i = skipValue(frame, i)
		}
		i = skipSpace(frame, i)
		if frame[i] == ',' {
			i = skipSpace(frame, i+1)
		}
	}
	return true
}

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reports whether the value at i is a string of printable ASCII without
// escapes (decoded, it is its own text), and returns the index after its closing quote.
func plainString(b []byte, i int) (end int, plain bool) {
	if b[i] != '"' {
		return 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, true
		case c == '\\' || c >= 0x80:
			return 0, false
		}
	}
	return 0, false
}

// skipValue returns the index after the valid JSON value starting at i.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i) + 1
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i)
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++ // a number, true, false or null
	}
	return i
}

// skipString returns the index of the closing quote of the string starting at i.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return i
}

// resultBody encodes a result message as json.Marshal would, up to insignificant
// whitespace inside data. quotedAction is the JSON text of msg.Action. It handles the
// messages the router builds (valid request id, no parts) and falls back to json.Marshal
// for metadata.
func resultBody(msg *ResultMessage, quotedAction string) (string, error) {
	if !ValidID(msg.RequestID) || msg.Part != nil || (len(msg.Data) > 0 && !json.Valid(msg.Data)) {
		body, err := json.Marshal(msg)
		return string(body), err
	}
	var metadata []byte
	if len(msg.Metadata) > 0 {
		var err error
		if metadata, err = json.Marshal(msg.Metadata); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	b.Grow(96 + len(msg.RequestID) + len(quotedAction) + len(msg.Data) + len(metadata))
	b.WriteString(`{"type":"result","request_id":"`)
	b.WriteString(msg.RequestID)
	b.WriteByte('"')
	if msg.Action != "" {
		b.WriteString(`,"action":`)
		b.WriteString(quotedAction)
	}
	b.WriteString(`,"success":`)
	b.WriteString(strconv.FormatBool(msg.Success))
	if len(msg.Data) > 0 {
		b.WriteString(`,"data":`)
		b.Write(msg.Data)
	}
	if metadata != nil {
		b.WriteString(`,"metadata":`)
		b.Write(metadata)
	}
	b.WriteString(`,"duration_ms":`)
	var num [20]byte
	b.Write(strconv.AppendInt(num[:0], msg.DurationMS, 10))
	b.WriteByte('}')
	return b.String(), nil
}
