package dynamostore

import (
	"context"
	"fmt"
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

func (it connItem) connection() (*store.Connection, error) {
	c := &store.Connection{
		ConnectionID: it.ConnectionID,
		UserID:       it.UserID,
		TenantID:     it.TenantID,
		Endpoint:     it.Endpoint,
		Metadata:     it.Metadata,
		TTL:          it.TTL,
	}
	var err error
	if c.ConnectedAt, err = parseTime(it.ConnectedAt); err != nil {
		return nil, fmt.Errorf("dynamostore: connection %s: %s: %w", it.ConnectionID, contract.AttrConnectedAt, err)
	}
	if c.LastSeen, err = parseTime(it.LastSeen); err != nil {
		return nil, fmt.Errorf("dynamostore: connection %s: %s: %w", it.ConnectionID, contract.AttrLastSeen, err)
	}
	if len(c.Metadata) == 0 {
		c.Metadata = nil
	}
	return c, nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}

// Save implements store.ConnectionStore with a PutItem.
func (c *Connections) Save(ctx context.Context, conn *store.Connection) error {
	if err := store.PrepareConnection(conn, c.now()); err != nil {
		return err
	}
	return mapErr(c.table.Put(newConnItem(conn)).Run(ctx), "save connection "+conn.ConnectionID)
}

// Get implements store.ConnectionStore with a strongly consistent GetItem.
func (c *Connections) Get(ctx context.Context, connectionID string) (*store.Connection, error) {
	var it connItem
	if err := c.table.Get(contract.AttrConnectionID, connectionID).Consistent(true).One(ctx, &it); err != nil {
		return nil, mapErr(err, "get connection "+connectionID)
	}
	conn, err := it.connection()
	if err != nil {
		return nil, err
	}
	if conn.Expired(c.now()) {
		return nil, fmt.Errorf("%w: connection %s expired", store.ErrNotFound, connectionID)
	}
	return conn, nil
}

// Delete implements store.ConnectionStore with a DeleteItem.
func (c *Connections) Delete(ctx context.Context, connectionID string) error {
	return mapErr(c.table.Delete(contract.AttrConnectionID, connectionID).Run(ctx), "delete connection "+connectionID)
}

// Touch implements store.ConnectionStore with an UpdateItem conditional on a live record.
func (c *Connections) Touch(ctx context.Context, connectionID string, at time.Time) error {
	err := c.table.Update(contract.AttrConnectionID, connectionID).
		Set(contract.AttrLastSeen, store.FormatTime(at)).
		If("attribute_exists($) AND (attribute_not_exists($) OR $ > ?)",
			contract.AttrConnectionID, contract.AttrTTL, contract.AttrTTL, c.now().Unix()).
		Run(ctx)
	if dynamo.IsCondCheckFailed(err) {
		return fmt.Errorf("%w: connection %s", store.ErrNotFound, connectionID)
	}
	return mapErr(err, "touch connection "+connectionID)
}
