package store

import (
	"errors"
	"time"

	"github.com/streamer-go/streamer/runtime/contract"
)

// PrepareConnection fills in what ConnectionStore.Save promises before a write, so both
// stores store the same record: ConnectedAt (now when zero), LastSeen (ConnectedAt when
// zero), TTL (now + ConnectionTTL when zero), times in UTC as they read back from
// DynamoDB, and nil for empty Metadata. It fails on an empty connection id.
func PrepareConnection(c *Connection, now time.Time) error {
	if c == nil || c.ConnectionID == "" {
		return errors.New("store: save connection: connection id is empty")
	}
	c.ConnectedAt = orNow(c.ConnectedAt, now).UTC()
	c.LastSeen = orNow(c.LastSeen, c.ConnectedAt).UTC()
	if c.TTL == 0 {
		c.TTL = now.Add(contract.ConnectionTTL).Unix()
	}
	if len(c.Metadata) == 0 {
		c.Metadata = nil
	}
	return nil
}
