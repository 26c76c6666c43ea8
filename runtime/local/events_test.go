package local

import (
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"
)

func TestAllowsFollowsThePolicy(t *testing.T) {
	t.Parallel()
	api := apiIdentity{apiID: "local", stage: "local", region: "us-east-1"}
	arn := api.methodARN(routeConnect)
	policy := func(effect string, resources ...string) events.APIGatewayCustomAuthorizerResponse {
		return events.APIGatewayCustomAuthorizerResponse{PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Statement: []events.IAMPolicyStatement{{Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: resources}},
		}}
	}
	require.True(t, allows(policy("Allow", arn), arn))
	require.True(t, allows(policy("Allow", "arn:aws:execute-api:us-east-1:*:local/*"), arn))
	require.False(t, allows(policy("Deny", arn), arn))
	require.False(t, allows(policy("Allow", "arn:aws:execute-api:us-east-1:000000000000:other/*"), arn))
	require.False(t, allows(events.APIGatewayCustomAuthorizerResponse{}, arn))

	both := policy("Allow", "*")
	both.PolicyDocument.Statement = append(both.PolicyDocument.Statement, policy("Deny", arn).PolicyDocument.Statement...)
	require.False(t, allows(both, arn), "an explicit Deny wins")
}

func TestPeekIDReadsTheIDFromATruncatedFrame(t *testing.T) {
	t.Parallel()
	require.Equal(t, "r-1", peekID([]byte(`{"action":"echo","payload":{"a":[1,2,{"b":"c"}]},"id":"r-1","payload2":"xxxxxxxx`)))
	require.Equal(t, "r-2", peekID([]byte(`{"id":"r-2","payload":"xxxx`)))
	require.Empty(t, peekID([]byte(`{"action":"echo","payload":"xxxxxxx`)), "the id comes after the cut")
	require.Empty(t, peekID([]byte(`{"id":"bad id with spaces"}`)), "an invalid id is not echoed")
	require.Empty(t, peekID([]byte(`[1,2,3]`)))
	require.Empty(t, peekID([]byte(`not json`)))
}

func TestSnapshotSubtracts(t *testing.T) {
	t.Parallel()
	m := newCounters(memorySizes(DefaultFunctionSettings()))
	m.dynamoCall(TableRequests, OpPutItem, nil)
	before := m.snapshot(0)
	m.dynamoCall(TableRequests, OpPutItem, nil)
	m.dynamoCall(TableRequests, OpUpdateItem, nil)
	m.message(true, 40*1024) // two 32 KB billing units
	m.invocation("worker", 1500*1e6, false, false)
	d := m.snapshot(0).Sub(before)
	require.Equal(t, int64(1), d.DynamoDB[TableRequests][OpPutItem])
	require.Equal(t, int64(1), d.DynamoDB[TableRequests][OpUpdateItem])
	require.Equal(t, int64(1), d.APIGateway.MessagesIn)
	require.Equal(t, int64(2), d.APIGateway.BilledMessages)
	require.Equal(t, int64(1), d.Lambda["worker"].Invocations)
	require.Equal(t, int64(1500), d.Lambda["worker"].BilledMS)
	require.InDelta(t, 1.5, d.Lambda["worker"].GBSeconds, 1e-9, "1.5 s at 1024 MB")
}
