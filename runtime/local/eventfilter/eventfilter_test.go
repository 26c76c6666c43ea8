package eventfilter

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"
)

// streamRecord is a DynamoDB stream record as Lambda delivers it, in JSON.
func streamRecord(t *testing.T, eventName, status string) []byte {
	t.Helper()
	rec := events.DynamoDBEventRecord{
		EventName:   eventName,
		EventSource: "aws:dynamodb",
		Change: events.DynamoDBStreamRecord{
			Keys: map[string]events.DynamoDBAttributeValue{"request_id": events.NewStringAttribute("t#u#1")},
			NewImage: map[string]events.DynamoDBAttributeValue{
				"request_id": events.NewStringAttribute("t#u#1"),
				"status":     events.NewStringAttribute(status),
				"attempt":    events.NewNumberAttribute("2"),
			},
		},
	}
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	return b
}

// StreamerApi's filter: new and released requests, both PENDING.
const pendingPattern = `{"dynamodb":{"NewImage":{"status":{"S":["PENDING"]}}},"eventName":["INSERT","MODIFY"]}`

func TestStreamerApiFilter(t *testing.T) {
	t.Parallel()
	p, err := Parse(pendingPattern)
	require.NoError(t, err)
	for _, tc := range []struct {
		event, status string
		want          bool
	}{
		{"INSERT", "PENDING", true},
		{"MODIFY", "PENDING", true},
		{"MODIFY", "PROCESSING", false},
		{"REMOVE", "PENDING", false},
		{"INSERT", "pending", false}, // matching is case-sensitive
	} {
		got, err := p.Match(streamRecord(t, tc.event, tc.status))
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "%s %s", tc.event, tc.status)
	}

	// The record's types matter: a pattern on the attribute's value without its type
	// (a common mistake) matches nothing.
	untyped, err := Parse(`{"dynamodb":{"NewImage":{"status":["PENDING"]}}}`)
	require.NoError(t, err)
	got, err := untyped.Match(streamRecord(t, "INSERT", "PENDING"))
	require.NoError(t, err)
	require.False(t, got)
}

func TestRules(t *testing.T) {
	t.Parallel()
	record := []byte(`{"name":"order-42","size":7,"price":12.5,"tags":["a","b"],"note":null,"empty":"","flag":true,"nested":{"k":"v"}}`)
	for _, tc := range []struct {
		pattern string
		want    bool
	}{
		{`{"name":["order-42"]}`, true},
		{`{"name":["order-41","order-42"]}`, true},
		{`{"name":[{"prefix":"order-"}]}`, true},
		{`{"name":[{"prefix":"Order-"}]}`, false},
		{`{"name":[{"suffix":"-42"}]}`, true},
		{`{"name":[{"equals-ignore-case":"ORDER-42"}]}`, true},
		{`{"name":[{"anything-but":["order-42"]}]}`, false},
		{`{"name":[{"anything-but":"other"}]}`, true},
		{`{"name":[{"anything-but":{"prefix":"ord"}}]}`, false},
		{`{"size":[7]}`, true},
		{`{"size":["7"]}`, false},
		{`{"size":[{"numeric":[">",5,"<=",7]}]}`, true},
		{`{"size":[{"numeric":["<",7]}]}`, false},
		{`{"price":[{"numeric":["=",12.5]}]}`, true},
		{`{"tags":["b"]}`, true},
		{`{"tags":["c"]}`, false},
		{`{"note":[null]}`, true},
		{`{"empty":[""]}`, true},
		{`{"flag":[true]}`, true},
		{`{"missing":[{"exists":false}]}`, true},
		{`{"name":[{"exists":false}]}`, false},
		{`{"name":[{"exists":true}]}`, true},
		{`{"missing":["x"]}`, false},
		{`{"nested":{"k":["v"]}}`, true},
		{`{"nested":{"k":["w"]}}`, false},
		{`{"name":["order-42"],"size":[8]}`, false},
		{`{"$or":[{"size":[8]},{"name":["order-42"]}]}`, true},
		{`{"$or":[{"size":[8]},{"name":["x"]}]}`, false},
	} {
		p, err := Parse(tc.pattern)
		require.NoError(t, err, tc.pattern)
		got, err := p.Match(record)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, tc.pattern)
	}
}

func TestMatchAnyOfSeveralFilters(t *testing.T) {
	t.Parallel()
	a, err := Parse(`{"eventName":["INSERT"]}`)
	require.NoError(t, err)
	b, err := Parse(`{"eventName":["REMOVE"]}`)
	require.NoError(t, err)
	for event, want := range map[string]bool{"INSERT": true, "REMOVE": true, "MODIFY": false} {
		got, err := MatchAny([]*Pattern{a, b}, streamRecord(t, event, "PENDING"))
		require.NoError(t, err)
		require.Equal(t, want, got, event)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, pattern := range []string{
		`not json`,
		`{"a":"x"}`,
		`{"a":[]}`,
		`{"a":[{"prefix":1}]}`,
		`{"a":[{"numeric":["~",1]}]}`,
		`{"a":[{"unknown":1}]}`,
		`{"$or":[{"a":["x"]}]}`,
	} {
		_, err := Parse(pattern)
		require.ErrorIs(t, err, ErrInvalidPattern, pattern)
	}
}
