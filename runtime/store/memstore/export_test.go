package memstore

import (
	"context"
	"fmt"

	"github.com/streamer-go/streamer/runtime/store"
)

// Load returns a copy of the connection record as stored, expired or not; ErrNotFound
// when there is none. Only the tests read connection records back.
func (c *Connections) Load(ctx context.Context, connectionID string) (*store.Connection, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, ok := s.connections[connectionID]
	if !ok {
		return nil, fmt.Errorf("%w: connection %s", store.ErrNotFound, connectionID)
	}
	return cloneConnection(conn), nil
}
