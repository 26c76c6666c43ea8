package dynamostore

import (
	"context"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
)

// Connections is the Store's connection store, on the Connections table.
type Connections struct {
	table dynamo.Table
	now   func() time.Time
}

var _ store.ConnectionStore = (*Connections)(nil)

// connItem is a Connections item. Times are strings in store.TimeLayout; empty strings
// are omitted. The names are the contract's (a test checks).
type connItem struct {
	ConnectionID string            `dynamo:"connection_id,hash"`
	UserID       string            `dynamo:"user_id,omitempty"`
	TenantID     string            `dynamo:"tenant_id,omitempty"`
	Endpoint     string            `dynamo:"endpoint,omitempty"`
	ConnectedAt  string            `dynamo:"connected_at,omitempty"`
	LastSeen     string            `dynamo:"last_seen,omitempty"`
	Metadata     map[string]string `dynamo:"metadata,omitempty"`
	TTL          int64             `dynamo:"ttl,omitempty"`
}

func newConnItem(c *store.Connection) connItem {
	return connItem{
		ConnectionID: c.ConnectionID,
		UserID:       c.UserID,
		TenantID:     c.TenantID,
		Endpoint:     c.Endpoint,
		ConnectedAt:  store.FormatTime(c.ConnectedAt),
		LastSeen:     store.FormatTime(c.LastSeen),
		Metadata:     c.Metadata,
		TTL:          c.TTL,
	}
}

// Save implements store.ConnectionStore with a PutItem.
func (c *Connections) Save(ctx context.Context, conn *store.Connection) error {
	if err := store.PrepareConnection(conn, c.now()); err != nil {
		return err
	}
	return mapErr(c.table.Put(newConnItem(conn)).Run(ctx), "save connection "+conn.ConnectionID)
}

// Delete implements store.ConnectionStore with a DeleteItem.
func (c *Connections) Delete(ctx context.Context, connectionID string) error {
	return mapErr(c.table.Delete(contract.AttrConnectionID, connectionID).Run(ctx), "delete connection "+connectionID)
}
