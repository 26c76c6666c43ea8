package awsapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// maxBody bounds a request body the endpoint reads (Lambda's synchronous payload limit).
const maxBody = 6*1024*1024 + 1

// Authentication failures.
var (
	errUnsigned     = errors.New("the request is not signed with AWS Signature Version 4")
	errUnknownKey   = errors.New("the security token included in the request is invalid")
	errBadSignature = errors.New("the request signature we calculated does not match the signature you provided")
)

// scope is the credential scope of a signature.
type scope struct {
	keyID, date, region, service string
}

// authenticate identifies the caller of r by its SigV4 Authorization header and checks
// the signature with the caller's secret, so a process cannot act with another
// function's role without its secret. It leaves r.Body readable.
func (e *Endpoint) authenticate(r *http.Request) (*Principal, scope, error) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return nil, scope{}, errUnsigned
	}
	var cred, signedHeaders, signature string
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signedHeaders = v
		case "Signature":
			signature = v
		}
	}
	fields := strings.Split(cred, "/")
	if len(fields) != 5 || signature == "" {
		return nil, scope{}, errUnsigned
	}
	sc := scope{keyID: fields[0], date: fields[1], region: fields[2], service: fields[3]}
	caller, ok := e.principal(sc.keyID)
	if !ok {
		return nil, sc, errUnknownKey
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return nil, sc, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !signatureMatches(r, body, caller, sc, signedHeaders, signature) {
		return nil, sc, errBadSignature
	}
	return caller, sc, nil
}

// signatureMatches signs a copy of r made of its signed headers with the caller's
// secret, as the SDK did, and compares the signatures.
func signatureMatches(r *http.Request, body []byte, caller *Principal, sc scope, signedHeaders, signature string) bool {
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	u, err := url.Parse("https://" + r.Host + r.RequestURI)
	if err != nil {
		return false
	}
	clone := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: http.Header{}, ContentLength: int64(len(body))}
	for name := range strings.SplitSeq(signedHeaders, ";") {
		if name == "host" || name == "content-length" {
			continue
		}
		if v, ok := r.Header[http.CanonicalHeaderKey(name)]; ok {
			clone.Header[http.CanonicalHeaderKey(name)] = v
		}
	}
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if hash == "" {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	creds := aws.Credentials{AccessKeyID: caller.AccessKeyID, SecretAccessKey: caller.SecretAccessKey, SessionToken: caller.SessionToken}
	err = v4.NewSigner().SignHTTP(r.Context(), creds, clone, hash, sc.service, sc.region, signedAt)
	if err != nil {
		return false
	}
	got := clone.Header.Get("Authorization")
	return strings.HasSuffix(got, "Signature="+signature)
}

// authError answers a call whose caller could not be authenticated, in the error shape of
// the service the host names.
func authError(w http.ResponseWriter, r *http.Request, err error) {
	code := "InvalidSignatureException"
	switch {
	case errors.Is(err, errUnknownKey):
		code = "UnrecognizedClientException"
	case errors.Is(err, errUnsigned):
		code = "MissingAuthenticationTokenException"
	}
	status := http.StatusBadRequest
	if strings.HasPrefix(r.Host, "lambda.") || strings.Contains(r.Host, ".execute-api.") {
		status = http.StatusForbidden
	}
	jsonError(w, status, code, err.Error())
}

// jsonError writes an AWS JSON error: the X-Amzn-ErrorType header and a body with
// __type and the message, which every JSON and REST-JSON SDK client reads.
func jsonError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"__type": code, "message": message, "Message": message}) // strings always marshal
	_, _ = w.Write(b)
}

// writeJSON writes a successful JSON answer.
func writeJSON(w http.ResponseWriter, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(b)
}
