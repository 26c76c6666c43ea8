package memstore

import (
	"context"
	"maps"

	"github.com/streamer-go/streamer/runtime/store"
)

// Connections is the Store's connection store.
type Connections struct{ s *Store }

var _ store.ConnectionStore = (*Connections)(nil)

// Save implements store.ConnectionStore.
func (c *Connections) Save(ctx context.Context, conn *store.Connection) error {
	s := c.s
	now, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := store.PrepareConnection(conn, now); err != nil {
		return err
	}
	s.connections[conn.ConnectionID] = cloneConnection(conn)
	return nil
}

// Delete implements store.ConnectionStore.
func (c *Connections) Delete(ctx context.Context, connectionID string) error {
	s := c.s
	if _, err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.connections, connectionID)
	return nil
}

// cloneConnection returns a deep copy of c.
func cloneConnection(c *store.Connection) *store.Connection {
	out := *c
	out.Metadata = maps.Clone(c.Metadata)
	return &out
}
