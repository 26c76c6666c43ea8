package dynamostore

import (
	"context"
	"fmt"

	"github.com/guregu/dynamo/v2"

	"github.com/streamer-go/streamer/runtime/contract"
)

// Key shapes of the two tables, for CreateTable.
type (
	connectionKey struct {
		ConnectionID string `dynamo:"connection_id,hash"`
	}
	requestKey struct {
		RequestID string `dynamo:"request_id,hash"`
	}
)

// CreateTables creates both tables as the StreamerApi construct does (on-demand; the
// GSIs user-connections, tenant-connections, connection-requests and status-time, all
// projecting every attribute; a NEW_IMAGE stream on Requests; TTL on ttl) and waits
// until they are active. It is for tests and the local stack; production tables come
// from the construct.
func CreateTables(ctx context.Context, db *dynamo.DB, tables Tables) error {
	gsi := func(name, hash, rangeKey string) dynamo.Index {
		idx := dynamo.Index{Name: name, HashKey: hash, HashKeyType: dynamo.StringType, ProjectionType: dynamo.AllProjection}
		if rangeKey != "" {
			idx.RangeKey, idx.RangeKeyType = rangeKey, dynamo.StringType
		}
		return idx
	}
	err := db.CreateTable(tables.Connections, connectionKey{}).
		OnDemand(true).
		Index(gsi(contract.IndexConnectionsByUser, contract.AttrUserID, "")).
		Index(gsi(contract.IndexConnectionsByTenant, contract.AttrTenantID, "")).
		Wait(ctx)
	if err != nil {
		return fmt.Errorf("dynamostore: create table %s: %w", tables.Connections, err)
	}
	err = db.CreateTable(tables.Requests, requestKey{}).
		OnDemand(true).
		Stream(dynamo.NewImageView).
		Index(gsi(contract.IndexRequestsByConnection, contract.AttrRequestConnectionID, "")).
		Index(gsi(contract.IndexRequestsByStatus, contract.AttrStatus, contract.AttrCreatedAt)).
		Wait(ctx)
	if err != nil {
		return fmt.Errorf("dynamostore: create table %s: %w", tables.Requests, err)
	}
	for _, name := range []string{tables.Connections, tables.Requests} {
		if err := db.Table(name).UpdateTTL(contract.AttrTTL, true).Run(ctx); err != nil {
			return fmt.Errorf("dynamostore: enable TTL on %s: %w", name, err)
		}
	}
	return nil
}

// DeleteTables deletes both tables and waits until they are gone.
func DeleteTables(ctx context.Context, db *dynamo.DB, tables Tables) error {
	for _, name := range []string{tables.Connections, tables.Requests} {
		if err := db.Table(name).DeleteTable().Wait(ctx); err != nil {
			return fmt.Errorf("dynamostore: delete table %s: %w", name, err)
		}
	}
	return nil
}
