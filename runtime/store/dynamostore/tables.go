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

// CreateTables creates both tables as the StreamerApi construct does (on-demand, keyed by
// connection_id and request_id, no secondary index; a NEW_IMAGE stream on Requests; TTL on
// ttl) and waits until they are active. It is for tests and the local stack; production
// tables come from the construct.
func CreateTables(ctx context.Context, db *dynamo.DB, tables Tables) error {
	if err := db.CreateTable(tables.Connections, connectionKey{}).OnDemand(true).Wait(ctx); err != nil {
		return fmt.Errorf("dynamostore: create table %s: %w", tables.Connections, err)
	}
	err := db.CreateTable(tables.Requests, requestKey{}).
		OnDemand(true).
		Stream(dynamo.NewImageView).
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
