package awsapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// DynamoDB Local names its ARNs with region "ddblocal" and account 000000000000; the
// endpoint rewrites them to the stack's, both ways, so policies written for the real ARNs
// apply.
const localARNPrefix = "arn:aws:dynamodb:ddblocal:000000000000:"

// Target prefixes of the two JSON APIs DynamoDB serves.
const (
	targetDynamoDB = "DynamoDB_20120810."
	targetStreams  = "DynamoDBStreams_20120810."
)

// dynamoDB authorizes a DynamoDB or DynamoDB Streams call and forwards it to DynamoDB
// Local.
func (e *Endpoint) dynamoDB(w http.ResponseWriter, r *http.Request, caller *Principal) {
	target := r.Header.Get("X-Amz-Target")
	op, isTable := strings.CutPrefix(target, targetDynamoDB)
	if !isTable {
		var isStream bool
		if op, isStream = strings.CutPrefix(target, targetStreams); !isStream {
			jsonError(w, http.StatusBadRequest, "UnknownOperationException", "unknown target "+target)
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		jsonError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	stackPrefix := "arn:aws:dynamodb:" + e.cfg.Region + ":" + e.cfg.AccountID + ":"
	for _, check := range e.dynamoResources(op, req, stackPrefix) {
		if err := e.Authorize(caller, "dynamodb:"+check.action, check.resource, nil); err != nil {
			jsonError(w, http.StatusBadRequest, "com.amazon.coral.service#AccessDeniedException", err.(*AccessDeniedError).Message)
			return
		}
	}
	fwd, err := http.NewRequestWithContext(r.Context(), http.MethodPost, e.cfg.DynamoDB, bytes.NewReader(bytes.ReplaceAll(body, []byte(stackPrefix), []byte(localARNPrefix))))
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	fwd.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	fwd.Header.Set("X-Amz-Target", target)
	// DynamoDB Local reads the region and key of the signature (to pick its database
	// unless -sharedDb), not the signature itself: every call uses the stack's.
	fwd.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20200101/"+e.cfg.Region+"/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := e.client.Do(fwd)
	if err != nil {
		e.cfg.Logger.Error("aws: DynamoDB Local unreachable", "error", err)
		jsonError(w, http.StatusInternalServerError, "InternalServerError", "DynamoDB Local unreachable: "+err.Error())
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	out = bytes.ReplaceAll(out, []byte(localARNPrefix), []byte(stackPrefix))
	if isTable {
		e.countDynamoDB(op, req, resp.StatusCode, out)
	} else {
		// Stream records name DynamoDB Local's region too.
		out = bytes.ReplaceAll(out, []byte(`"awsRegion":"ddblocal"`), []byte(`"awsRegion":"`+e.cfg.Region+`"`))
	}
	for _, h := range []string{"Content-Type", "X-Amzn-Requestid", "X-Amz-Crc32", "X-Amzn-Errortype"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

// access is one authorization a call needs.
type access struct{ action, resource string }

// dynamoResources returns what a DynamoDB or Streams operation is authorized on: its
// table (or index), each table of a batch or transaction, its stream.
func (e *Endpoint) dynamoResources(op string, req map[string]any, stackPrefix string) []access {
	table := func(name string) string { return stackPrefix + "table/" + name }
	str := func(k string) string { s, _ := req[k].(string); return s }
	switch op {
	case "BatchGetItem", "BatchWriteItem":
		items, _ := req["RequestItems"].(map[string]any)
		var out []access
		for name := range items {
			out = append(out, access{op, table(name)})
		}
		return out
	case "TransactWriteItems", "TransactGetItems":
		items, _ := req["TransactItems"].([]any)
		actions := map[string]string{"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
		var out []access
		for _, it := range items {
			m, _ := it.(map[string]any)
			for kind, v := range m {
				spec, _ := v.(map[string]any)
				name, _ := spec["TableName"].(string)
				out = append(out, access{actions[kind], table(name)})
			}
		}
		return out
	case "ListTables", "DescribeLimits", "DescribeEndpoints":
		return []access{{op, "*"}}
	case "DescribeStream", "GetShardIterator":
		return []access{{op, str("StreamArn")}}
	case "GetRecords":
		return []access{{op, iteratorStream(str("ShardIterator"))}}
	case "ListStreams":
		if name := str("TableName"); name != "" {
			return []access{{op, table(name) + "/stream/*"}}
		}
		return []access{{op, "*"}}
	}
	if idx := str("IndexName"); idx != "" {
		return []access{{op, table(str("TableName")) + "/index/" + idx}}
	}
	return []access{{op, table(str("TableName"))}}
}

// countDynamoDB reports one table call to Config.OnDynamoDB.
func (e *Endpoint) countDynamoDB(op string, req map[string]any, status int, out []byte) {
	if e.cfg.OnDynamoDB == nil {
		return
	}
	name, _ := req["TableName"].(string)
	condFailed := status == http.StatusBadRequest && bytes.Contains(out, []byte("ConditionalCheckFailedException"))
	e.cfg.OnDynamoDB(name, op, condFailed)
}

// iteratorStream returns the stream a shard iterator reads: DynamoDB's iterators start
// with the stream's ARN ("arn:...:table/t/stream/label|001|..."). GetRecords is authorized
// on it; an iterator of another shape is authorized on "*".
func iteratorStream(iterator string) string {
	arn, _, found := strings.Cut(iterator, "|")
	if !found || !strings.HasPrefix(arn, "arn:") {
		return "*"
	}
	return arn
}
