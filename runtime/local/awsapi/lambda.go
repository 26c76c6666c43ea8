package awsapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// lambda serves the Lambda Invoke API (POST /2015-03-31/functions/{name}/invocations):
// authorized as lambda:InvokeFunction on the function's ARN, then run by the stack's
// Lambda service.
func (e *Endpoint) lambda(w http.ResponseWriter, r *http.Request, caller *Principal) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/2015-03-31/functions/")
	name, isInvoke := strings.CutSuffix(rest, "/invocations")
	if !ok || !isInvoke || r.Method != http.MethodPost || e.cfg.Lambda == nil {
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "the local stack provides Lambda Invoke only")
		return
	}
	name, err := url.PathUnescape(name)
	if err != nil {
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", err.Error())
		return
	}
	if q := r.URL.Query().Get("Qualifier"); q != "" && q != "$LATEST" {
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "the local stack runs $LATEST only")
		return
	}
	arn, found := e.cfg.Lambda.FunctionARN(name)
	resource := arn
	if !found {
		resource = "arn:aws:lambda:" + e.cfg.Region + ":" + e.cfg.AccountID + ":function:" + name
	}
	if err := e.Authorize(caller, "lambda:InvokeFunction", resource, nil); err != nil {
		lambdaError(w, http.StatusForbidden, "AccessDeniedException", err.(*AccessDeniedError).Message)
		return
	}
	if !found {
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+resource)
		return
	}
	invocationType := r.Header.Get("X-Amz-Invocation-Type")
	if invocationType == "" {
		invocationType = "RequestResponse"
	}
	payload, _ := io.ReadAll(r.Body)
	res, err := e.cfg.Lambda.Invoke(r.Context(), caller, arn, invocationType, payload)
	switch {
	case errors.Is(err, ErrTooManyRequests):
		lambdaError(w, http.StatusTooManyRequests, "TooManyRequestsException", "Rate Exceeded.")
		return
	case errors.Is(err, ErrPayloadTooLarge):
		lambdaError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", err.Error())
		return
	case err != nil:
		lambdaError(w, http.StatusInternalServerError, "ServiceException", err.Error())
		return
	}
	if res.FunctionError != "" {
		w.Header().Set("X-Amz-Function-Error", res.FunctionError)
	}
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(res.Status)
	_, _ = w.Write(res.Payload)
}

// lambdaError writes a Lambda REST-JSON error.
func lambdaError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"Type": "User", "Message": message}) // strings always marshal
	_, _ = w.Write(b)
}

// executeAPI serves @connections calls on https://{api}.execute-api.{region}.amazonaws.com:
// authorized as execute-api:ManageConnections on
// arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/@connections/{id}.
func (e *Endpoint) executeAPI(w http.ResponseWriter, r *http.Request, caller *Principal) {
	apiID, _, _ := strings.Cut(r.Host, ".")
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	if len(parts) != 3 || parts[1] != "@connections" || e.cfg.ExecuteAPI == nil {
		jsonError(w, http.StatusNotFound, "NotFoundException", "the local stack serves /{stage}/@connections/{id} only")
		return
	}
	stage, id := parts[0], parts[2]
	resource := "arn:aws:execute-api:" + e.cfg.Region + ":" + e.cfg.AccountID + ":" + apiID + "/" + stage + "/" + r.Method + "/@connections/" + id
	if err := e.Authorize(caller, "execute-api:ManageConnections", resource, nil); err != nil {
		jsonError(w, http.StatusForbidden, "AccessDeniedException", err.(*AccessDeniedError).Message)
		return
	}
	h := e.cfg.ExecuteAPI(apiID)
	if h == nil {
		jsonError(w, http.StatusNotFound, "NotFoundException", "no API "+apiID)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/@connections/" + id
	r2.URL.RawPath = ""
	h.ServeHTTP(w, r2)
}
