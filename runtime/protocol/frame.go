package protocol

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Parsing client frames and encoding results are a server's hot path: every message goes
// through the first, every synchronous request through the second. Both take a fast path
// for the common shapes and fall back to encoding/json for anything else, with the same
// result (FuzzParseFrame and TestEncodeResult hold them to that).

// ParseFrame decodes the text of a client frame into msg exactly as json.Unmarshal
// would, without reflection for frames in the usual shape. msg's strings share memory
// with text and its payload is a slice of one copy of text.
func ParseFrame(text string, msg *ClientMessage) error {
	frame := []byte(text)
	if json.Valid(frame) && scanFrame(text, frame, msg) {
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

// EncodeResult encodes a result message as json.Marshal would, up to insignificant
// whitespace inside data, without reflection for the messages a server usually sends
// (a valid request id, an action of printable ASCII, no parts); metadata goes through
// json.Marshal.
func EncodeResult(msg *ResultMessage) (string, error) {
	if !ValidID(msg.RequestID) || !plainText(msg.Action) || msg.Part != nil || (len(msg.Data) > 0 && !json.Valid(msg.Data)) {
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
	b.Grow(98 + len(msg.RequestID) + len(msg.Action) + len(msg.Data) + len(metadata))
	b.WriteString(`{"type":"result","request_id":"`)
	b.WriteString(msg.RequestID)
	b.WriteByte('"')
	if msg.Action != "" {
		b.WriteString(`,"action":"`)
		b.WriteString(msg.Action)
		b.WriteByte('"')
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

// plainText reports whether s encodes to JSON as itself between quotes: printable ASCII
// without the characters encoding/json escapes.
func plainText(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
