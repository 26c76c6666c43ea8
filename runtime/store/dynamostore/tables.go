package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/guregu/dynamo/v2"

	"github.com/streamer-go/streamer/runtime/contract"
)

// Key shapes of the three tables, for CreateTable.
type (
	connectionKey struct {
		ConnectionID string `dynamo:"connection_id,hash"`
	}
	requestKey struct {
		RequestID string `dynamo:"request_id,hash"`
	}
	limitKey struct {
		LimitKey string `dynamo:"limit_key,hash"`
	}
)

// CreateTables creates the three tables as the StreamerApi construct does (on-demand,
// keyed by connection_id, request_id and limit_key; TTL on ttl; on Requests a NEW_IMAGE
// stream and the sparse unfinished index, keys only) and waits until they are active. It is for
// tests and the local stack; production tables come from the construct.
func CreateTables(ctx context.Context, db *dynamo.DB, tables Tables) error {
	for _, t := range tableSpecs(tables) {
		if err := t.create(ctx, db); err != nil {
			return err
		}
	}
	return nil
}

// EnsureTables creates those of the three tables that do not exist yet, as CreateTables
// does, and reports whether it created any. The local stack keeps its tables across
// restarts with it.
func EnsureTables(ctx context.Context, db *dynamo.DB, tables Tables) (created bool, err error) {
	existing, err := db.ListTables().All(ctx)
	if err != nil {
		return false, fmt.Errorf("dynamostore: list tables: %w", err)
	}
	for _, t := range tableSpecs(tables) {
		if slices.Contains(existing, t.name) {
			continue
		}
		if err := t.create(ctx, db); err != nil {
			return created, err
		}
		created = true
	}
	return created, nil
}

// DeleteTables deletes the three tables and waits until they are gone; a table that
// does not exist is skipped.
func DeleteTables(ctx context.Context, db *dynamo.DB, tables Tables) error {
	existing, err := db.ListTables().All(ctx)
	if err != nil {
		return fmt.Errorf("dynamostore: list tables: %w", err)
	}
	var errs []error
	for _, t := range tableSpecs(tables) {
		if !slices.Contains(existing, t.name) {
			continue
		}
		if err := db.Table(t.name).DeleteTable().Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("dynamostore: delete table %s: %w", t.name, err))
		}
	}
	return errors.Join(errs...)
}

// tableSpec is one table to create.
type tableSpec struct {
	name    string
	key     any
	stream  bool
	indexes []dynamo.Index
}

func tableSpecs(tables Tables) []tableSpec {
	gsi := func(name, hash, rangeKey string, projection dynamo.IndexProjection) dynamo.Index {
		idx := dynamo.Index{Name: name, HashKey: hash, HashKeyType: dynamo.StringType, ProjectionType: projection}
		if rangeKey != "" {
			idx.RangeKey, idx.RangeKeyType = rangeKey, dynamo.StringType
		}
		return idx
	}
	return []tableSpec{
		{name: tables.Connections, key: connectionKey{}},
		{name: tables.Requests, key: requestKey{}, stream: true, indexes: []dynamo.Index{
			gsi(contract.IndexUnfinished, contract.AttrUnfinishedShard, contract.AttrCreatedAt, dynamo.KeysOnlyProjection),
		}},
		{name: tables.Limits, key: limitKey{}},
	}
}

func (t tableSpec) create(ctx context.Context, db *dynamo.DB) error {
	ct := db.CreateTable(t.name, t.key).OnDemand(true)
	if t.stream {
		ct = ct.Stream(dynamo.NewImageView)
	}
	for _, idx := range t.indexes {
		ct = ct.Index(idx)
	}
	if err := ct.Wait(ctx); err != nil {
		return fmt.Errorf("dynamostore: create table %s: %w", t.name, err)
	}
	if err := db.Table(t.name).UpdateTTL(contract.AttrTTL, true).Run(ctx); err != nil {
		return fmt.Errorf("dynamostore: enable TTL on %s: %w", t.name, err)
	}
	return nil
}
