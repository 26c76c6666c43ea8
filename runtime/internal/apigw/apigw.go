// Package apigw holds what the connection manager and the stand-ins for API Gateway's
// @connections API (the local stack's, and streamertest's fake) must agree on: the text
// a message is posted as, and the way the API answers with an error. It is internal so
// that neither is API of the connection package.
package apigw

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"
)

// Encode returns the text connection.Manager posts for message (before a result over
// the limit is split): a []byte or json.RawMessage as it is, anything else as JSON,
// with every byte sequence that is not UTF-8 replaced by U+FFFD (a WebSocket text
// message must be UTF-8: a browser closes the connection on anything else; JSON's
// structure is ASCII, so the replacement can only land inside strings). A nil message,
// or one that cannot be marshalled, is an error; its text starts with "connection:",
// because Manager.Send returns it as it is. Fakes of a connection manager use it to
// record exactly what the Manager would send.
func Encode(message any) ([]byte, error) {
	var b []byte
	switch v := message.(type) {
	case nil:
		return nil, errors.New("connection: nil message")
	case []byte:
		b = v
	case json.RawMessage:
		b = v
	default:
		var err error
		if b, err = json.Marshal(message); err != nil {
			return nil, fmt.Errorf("connection: encode message: %w", err)
		}
	}
	if !utf8.Valid(b) {
		b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
	}
	return b, nil
}

// WriteError answers an HTTP request the way the API Gateway Management API reports an
// error: the status, the exception type in the X-Amzn-ErrorType header and a JSON body
// {"__type": errorType, "message": message}. The AWS SDK client (connection.NewAPIClient)
// turns such an answer into its typed exception, for example 410 "GoneException" into
// *types.GoneException, which the Manager maps to connection.ErrGone. An empty errorType
// sends no header and no __type: an untyped error such as a plain 502.
func WriteError(w http.ResponseWriter, status int, errorType, message string) {
	body := map[string]string{"message": message}
	if errorType != "" {
		w.Header().Set("X-Amzn-ErrorType", errorType)
		body["__type"] = errorType
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // a map of strings always encodes
}
