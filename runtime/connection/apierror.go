package connection

import (
	"encoding/json"
	"net/http"
)

// WriteAPIError answers an HTTP request the way the API Gateway Management API reports
// an error: the status, the exception type in the X-Amzn-ErrorType header and a JSON
// body {"__type": errorType, "message": message}. The AWS SDK client (NewAPIClient) turns
// such an answer into its typed exception, for example 410 "GoneException" into
// *types.GoneException, which the Manager maps to ErrGone. An empty errorType sends no
// header and no __type: an untyped error such as a plain 502. It is for servers that
// stand in for @connections: the local stack and streamertest's fake.
func WriteAPIError(w http.ResponseWriter, status int, errorType, message string) {
	body := map[string]string{"message": message}
	if errorType != "" {
		w.Header().Set("X-Amzn-ErrorType", errorType)
		body["__type"] = errorType
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // a map of strings always encodes
}
