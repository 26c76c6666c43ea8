package awsapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/local/iam"
)

// secretsContentType is Secrets Manager's JSON protocol content type.
const secretsContentType = "application/x-amz-json-1.1"

// secret is one secret of the stand-in.
type secret struct {
	name, arn, value string
	created          time.Time
	policies         []iam.Policy
}

// secrets holds the stand-in's secrets.
type secrets struct {
	mu     sync.Mutex
	byName map[string]*secret
}

func newSecrets() *secrets { return &secrets{byName: make(map[string]*secret)} }

// AddSecret creates a secret holding value; policies are its resource policies.
func (e *Endpoint) AddSecret(name, arn, value string, policies []iam.Policy) {
	e.secrets.mu.Lock()
	defer e.secrets.mu.Unlock()
	e.secrets.byName[name] = &secret{name: name, arn: arn, value: value, created: time.Now(), policies: policies}
}

// SecretValue returns the value of the secret with ARN arn (the stack signs dev tokens
// with the authorizer's secret).
func (e *Endpoint) SecretValue(arn string) (string, bool) {
	s := e.findSecret(arn)
	if s == nil {
		return "", false
	}
	return s.value, true
}

// findSecret finds a secret by name, ARN or ARN without its random suffix, as
// GetSecretValue's SecretId may name it.
func (e *Endpoint) findSecret(id string) *secret {
	e.secrets.mu.Lock()
	defer e.secrets.mu.Unlock()
	for _, s := range e.secrets.byName {
		if s.name == id || s.arn == id || (strings.HasPrefix(s.arn, id+"-") && len(s.arn) == len(id)+7) {
			return s
		}
	}
	return nil
}

// secretsManager serves GetSecretValue and DescribeSecret.
func (e *Endpoint) secretsManager(w http.ResponseWriter, r *http.Request, caller *Principal) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	if !ok || (op != "GetSecretValue" && op != "DescribeSecret") {
		jsonError(w, http.StatusBadRequest, "UnsupportedOperation", "the local stack provides Secrets Manager GetSecretValue and DescribeSecret only")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req struct {
		SecretID string `json:"SecretId"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		jsonError(w, http.StatusBadRequest, "InvalidRequestException", err.Error())
		return
	}
	s := e.findSecret(req.SecretID)
	resource := req.SecretID
	if s != nil {
		resource = s.arn
	}
	var policies []iam.Policy
	if s != nil {
		policies = s.policies
	}
	// IAM decides before existence: a caller without access learns nothing.
	if err := e.Authorize(caller, "secretsmanager:"+op, resource, policies); err != nil {
		jsonError(w, http.StatusBadRequest, "AccessDeniedException", err.(*AccessDeniedError).Message)
		return
	}
	if s == nil {
		jsonError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	out := map[string]any{"ARN": s.arn, "Name": s.name, "CreatedDate": float64(s.created.Unix())}
	if op == "GetSecretValue" {
		out["SecretString"] = s.value
		out["VersionId"] = "00000000-0000-0000-0000-000000000001"
		out["VersionStages"] = []string{"AWSCURRENT"}
	}
	writeJSON(w, secretsContentType, out)
}
