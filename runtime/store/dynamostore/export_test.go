package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
)

// Load reads the connection record as stored, expired or not, with a strongly
// consistent GetItem; ErrNotFound when there is none. Only the tests read connection
// records back.
func (c *Connections) Load(ctx context.Context, connectionID string) (*store.Connection, error) {
	var it connItem
	if err := c.table.Get(contract.AttrConnectionID, connectionID).Consistent(true).One(ctx, &it); err != nil {
		return nil, mapErr(err, "load connection "+connectionID)
	}
	conn := &store.Connection{
		ConnectionID: it.ConnectionID,
		UserID:       it.UserID,
		TenantID:     it.TenantID,
		Endpoint:     it.Endpoint,
		Metadata:     it.Metadata,
		TTL:          it.TTL,
	}
	var err error
	if conn.ConnectedAt, err = parseTime(it.ConnectedAt); err != nil {
		return nil, fmt.Errorf("dynamostore: connection %s: %s: %w", connectionID, contract.AttrConnectedAt, err)
	}
	if conn.LastSeen, err = parseTime(it.LastSeen); err != nil {
		return nil, fmt.Errorf("dynamostore: connection %s: %s: %w", connectionID, contract.AttrLastSeen, err)
	}
	if len(conn.Metadata) == 0 {
		conn.Metadata = nil
	}
	return conn, nil
}

// parseTime parses a time stored as store.FormatTime writes it; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}
