package iam

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbb", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*/$connect", "x/y/$connect", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"arn:aws:dynamodb:*:*:table/t/stream/*", "arn:aws:dynamodb:us-east-1:1:table/t/stream/2026", true},
		{"arn:aws:dynamodb:*:*:table/t", "arn:aws:dynamodb:us-east-1:1:table/t/index/i", false},
	} {
		require.Equal(t, tc.want, Match(tc.pattern, tc.s), "%q ~ %q", tc.pattern, tc.s)
	}
}

// policy parses a policy document written as JSON.
func policy(t *testing.T, name, doc string) Policy {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(doc), &v))
	p, err := ParsePolicy(name, v)
	require.NoError(t, err)
	return p
}

const (
	role  = "arn:aws:iam::000000000000:role/worker"
	table = "arn:aws:dynamodb:us-east-1:000000000000:table/requests"
)

func TestEvaluate(t *testing.T) {
	t.Parallel()
	grants := policy(t, "grants", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:UpdateItem"],"Resource":"`+table+`"},
		{"Effect":"Allow","Action":"sqs:Send*","Resource":"arn:aws:sqs:us-east-1:000000000000:*"},
		{"Effect":"Allow","NotAction":"iam:*","Resource":"arn:aws:s3:::bucket/*"}]}`)
	deny := policy(t, "guard", `{"Statement":{"Effect":"Deny","Action":"dynamodb:UpdateItem","Resource":"*"}}`)

	for _, tc := range []struct {
		name     string
		policies []Policy
		action   string
		resource string
		want     Decision
	}{
		{"allowed", []Policy{grants}, "dynamodb:GetItem", table, Allowed},
		{"action case-insensitive", []Policy{grants}, "DynamoDB:getitem", table, Allowed},
		{"not granted", []Policy{grants}, "dynamodb:PutItem", table, ImplicitDeny},
		{"other table", []Policy{grants}, "dynamodb:GetItem", table + "-2", ImplicitDeny},
		{"index of the table", []Policy{grants}, "dynamodb:GetItem", table + "/index/x", ImplicitDeny},
		{"action wildcard", []Policy{grants}, "sqs:SendMessage", "arn:aws:sqs:us-east-1:000000000000:dlq", Allowed},
		{"resource case-sensitive", []Policy{grants}, "sqs:SendMessage", "arn:aws:sqs:us-east-1:000000000000:DLQ", Allowed},
		{"NotAction", []Policy{grants}, "s3:GetObject", "arn:aws:s3:::bucket/k", Allowed},
		{"NotAction excludes", []Policy{grants}, "iam:PassRole", "arn:aws:s3:::bucket/k", ImplicitDeny},
		{"explicit deny wins", []Policy{grants, deny}, "dynamodb:UpdateItem", table, ExplicitDeny},
		{"deny elsewhere", []Policy{grants, deny}, "dynamodb:GetItem", table, Allowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Evaluate(tc.policies, nil, Request{Principal: role, Action: tc.action, Resource: tc.resource})
			require.Equal(t, tc.want, res.Decision)
		})
	}
}

func TestResourcePolicyAndConditions(t *testing.T) {
	t.Parallel()
	queue := "arn:aws:sqs:us-east-1:000000000000:dlq"
	send := policy(t, "role", `{"Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"`+queue+`"}]}`)
	tlsOnly := policy(t, "queue", `{"Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"sqs:*","Resource":"`+queue+`",
		"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`)
	req := func(secure string) Request {
		return Request{Principal: role, Action: "sqs:SendMessage", Resource: queue, Context: map[string][]string{"aws:SecureTransport": {secure}}}
	}
	require.Equal(t, Allowed, Evaluate([]Policy{send}, []Policy{tlsOnly}, req("true")).Decision)
	res := Evaluate([]Policy{send}, []Policy{tlsOnly}, req("false"))
	require.Equal(t, ExplicitDeny, res.Decision)
	require.True(t, res.ResourceBased)

	// A resource policy can grant on its own within the account.
	byQueue := policy(t, "queue", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sqs:SendMessage","Resource":"`+queue+`"}]}`)
	require.Equal(t, Allowed, Evaluate(nil, []Policy{byQueue}, req("true")).Decision)
	other := Request{Principal: "arn:aws:iam::111111111111:role/x", Action: "sqs:SendMessage", Resource: queue}
	require.Equal(t, ImplicitDeny, Evaluate(nil, []Policy{byQueue}, other).Decision)

	for _, tc := range []struct {
		op, key, want string
		ctx           map[string][]string
		holds         bool
	}{
		{"StringEquals", "aws:SourceArn", "a", map[string][]string{"aws:SourceArn": {"a"}}, true},
		{"StringEquals", "aws:SourceArn", "a", map[string][]string{}, false},
		{"StringEqualsIfExists", "aws:SourceArn", "a", map[string][]string{}, true},
		{"ArnLike", "aws:SourceArn", "arn:aws:*:x", map[string][]string{"aws:sourcearn": {"arn:aws:s3:x"}}, true},
		{"StringNotLike", "k", "a*", map[string][]string{"k": {"b"}}, true},
		{"Null", "k", "true", map[string][]string{}, true},
		{"NumericLessThan", "n", "10", map[string][]string{"n": {"9"}}, true},
		{"ForAllValues:StringEquals", "tags", "a", map[string][]string{"tags": {"a", "b"}}, false},
		{"ForAnyValue:StringEquals", "tags", "a", map[string][]string{"tags": {"a", "b"}}, true},
	} {
		st := Statement{Effect: Allow, Action: []string{"x:Y"}, Resource: []string{"*"},
			Condition: map[string]map[string][]string{tc.op: {tc.key: {tc.want}}}}
		res := Evaluate([]Policy{{Name: "p", Statements: []Statement{st}}}, nil, Request{Principal: role, Action: "x:Y", Resource: "r", Context: tc.ctx})
		require.Equal(t, tc.holds, res.Allowed(), "%s %s", tc.op, tc.key)
	}

	unknown := Statement{Effect: Allow, Action: []string{"x:Y"}, Resource: []string{"*"},
		Condition: map[string]map[string][]string{"DateGreaterThan": {"aws:CurrentTime": {"2020-01-01T00:00:00Z"}}}}
	res = Evaluate([]Policy{{Name: "p", Statements: []Statement{unknown}}}, nil, Request{Principal: role, Action: "x:Y", Resource: "r"})
	require.False(t, res.Allowed(), "a condition that cannot be checked does not grant")
	require.Equal(t, []string{"DateGreaterThan aws:CurrentTime"}, res.Unsupported)
}

func TestMessage(t *testing.T) {
	t.Parallel()
	session := "arn:aws:sts::000000000000:assumed-role/worker/fn"
	require.Equal(t, "User: "+session+" is not authorized to perform: dynamodb:UpdateItem on resource: "+table+
		" because no identity-based policy allows the dynamodb:UpdateItem action",
		Result{}.Message(session, "dynamodb:UpdateItem", table))
	require.Equal(t, "User: "+session+" is not authorized to perform: dynamodb:UpdateItem on resource: "+table+
		" with an explicit deny in an identity-based policy",
		Result{Decision: ExplicitDeny}.Message(session, "dynamodb:UpdateItem", table))
}

func TestParsePolicyRejects(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]any{
		"not an object": "x",
		"no statement":  map[string]any{},
		"bad effect":    map[string]any{"Statement": []any{map[string]any{"Effect": "Maybe", "Action": "a:b", "Resource": "*"}}},
		"no action":     map[string]any{"Statement": []any{map[string]any{"Effect": "Allow", "Resource": "*"}}},
	} {
		_, err := ParsePolicy("p", doc)
		require.ErrorIs(t, err, ErrInvalidPolicy, name)
	}
}
