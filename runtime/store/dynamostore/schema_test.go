package dynamostore_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/guregu/dynamo/v2"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/dynamostore"
	"github.com/streamer-go/streamer/runtime/store/dynamostore/dynamotest"
)

// TestCreateTablesSchema checks the tables CreateTables makes against the contract the
// construct also deploys.
func TestCreateTablesSchema(t *testing.T) {
	t.Parallel()
	db := dynamotest.DB(t)
	tables := dynamotest.Tables(t, db, "schema")
	ctx := t.Context()

	conns, err := db.Table(tables.Connections).Describe().Run(ctx)
	require.NoError(t, err)
	require.Equal(t, contract.AttrConnectionID, conns.HashKey)
	require.Empty(t, conns.RangeKey)
	require.True(t, conns.OnDemand)
	require.False(t, conns.StreamEnabled, "only the Requests table has a stream")
	require.Empty(t, conns.GSI, "the runtime reads connections by key only")

	reqs, err := db.Table(tables.Requests).Describe().Run(ctx)
	require.NoError(t, err)
	require.Equal(t, contract.AttrRequestID, reqs.HashKey)
	require.True(t, reqs.OnDemand)
	require.True(t, reqs.StreamEnabled)
	require.Equal(t, dynamo.NewImageView, reqs.StreamView)
	require.Equal(t, map[string][2]string{
		contract.IndexUnfinished: {contract.AttrUnfinishedShard, contract.AttrCreatedAt},
	}, indexes(reqs.GSI))
	for _, g := range reqs.GSI {
		if g.Name == contract.IndexUnfinished {
			require.Equal(t, dynamo.KeysOnlyProjection, g.ProjectionType, "checkpoints must write nothing to the index")
		}
	}

	limits, err := db.Table(tables.Limits).Describe().Run(ctx)
	require.NoError(t, err)
	require.Equal(t, contract.AttrLimitKey, limits.HashKey)
	require.True(t, limits.OnDemand)
	require.False(t, limits.StreamEnabled)
	require.Empty(t, limits.GSI)

	for _, name := range []string{tables.Connections, tables.Requests, tables.Limits} {
		ttl, err := db.Table(name).DescribeTTL().Run(ctx)
		require.NoError(t, err)
		require.Equal(t, contract.AttrTTL, ttl.Attribute, name)
	}
}

// indexes maps each GSI's name to its hash and range key.
func indexes(gsis []dynamo.Index) map[string][2]string {
	out := make(map[string][2]string, len(gsis))
	for _, g := range gsis {
		out[g.Name] = [2]string{g.HashKey, g.RangeKey}
	}
	return out
}

// TestConnectionAttributes checks that a saved connection's item uses the contract's
// attribute names, by scanning the raw item.
func TestConnectionAttributes(t *testing.T) {
	t.Parallel()
	db := dynamotest.DB(t)
	tables := dynamotest.Tables(t, db, "connattr")
	s := dynamostore.New(db, tables)
	conn := &store.Connection{ConnectionID: "c1", UserID: "u1", TenantID: "t1", Endpoint: "https://example.com/prod",
		ConnectedAt: time.Now(), Metadata: map[string]string{"agent": "test"}}
	require.NoError(t, s.Connections().Save(t.Context(), conn))
	var item dynamo.Item
	require.NoError(t, db.Table(tables.Connections).Get(contract.AttrConnectionID, "c1").Consistent(true).One(t.Context(), &item))
	require.Equal(t, []string{
		contract.AttrConnectedAt, contract.AttrConnectionID, contract.AttrEndpoint, contract.AttrLastSeen,
		contract.AttrMetadata, contract.AttrTenantID, contract.AttrTTL, contract.AttrUserID,
	}, slices.Sorted(maps.Keys(item)))
}
