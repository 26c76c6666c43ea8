package memstore

import (
	"context"
	"fmt"
	"maps"
	"time"

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

// Get implements store.ConnectionStore.
func (c *Connections) Get(ctx context.Context, connectionID string) (*store.Connection, error) {
	s := c.s
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, ok := s.connections[connectionID]
	if !ok || conn.Expired(s.now()) {
		return nil, fmt.Errorf("%w: connection %s", store.ErrNotFound, connectionID)
	}
	return cloneConnection(conn), nil
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

// Touch implements store.ConnectionStore.
func (c *Connections) Touch(ctx context.Context, connectionID string, at time.Time) error {
	s := c.s
	now, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	conn, ok := s.connections[connectionID]
	if !ok || conn.Expired(now) {
		return fmt.Errorf("%w: connection %s", store.ErrNotFound, connectionID)
	}
	conn.LastSeen = at.UTC()
	return nil
}

// cloneConnection returns a deep copy of c.
func cloneConnection(c *store.Connection) *store.Connection {
	out := *c
	out.Metadata = maps.Clone(c.Metadata)
	return &out
}
