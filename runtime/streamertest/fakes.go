package streamertest

import (
	"context"
	"fmt"
	"sync"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/progress"
)

var (
	_ connection.ConnectionManager = (*ConnectionManager)(nil)
	_ progress.Sender              = (*Sender)(nil)
)

// SendFunc is the signature of the Send hooks.
type SendFunc func(ctx context.Context, connectionID string, message any) error

// Sender is a fake of the one-method Send port the runtime's components take
// (progress.Sender, router.Sender, executor.Sender, lambdas.Sender): it records every
// message sent through it. Connections are active until SetActive says otherwise; Send
// to an inactive one fails with connection.ErrGone, as the real manager's does for a
// client that went away.
type Sender struct {
	// SendFunc, when set, runs first on every Send to an active connection: an error it
	// returns is Send's error and the message is not recorded; nil lets the message be
	// recorded.
	SendFunc SendFunc
	recorder

	mu       sync.Mutex
	inactive map[string]bool
}

// NewSender returns a Sender that records every message, with every connection active.
func NewSender() *Sender { return &Sender{} }

// Send records message for connectionID after SendFunc let it through, or fails with
// connection.ErrGone when connectionID is inactive. A message that cannot be marshalled
// to JSON is an error, as with the real manager.
func (m *Sender) Send(ctx context.Context, connectionID string, message any) error {
	if !m.IsActive(ctx, connectionID) {
		return fmt.Errorf("%w: %s", connection.ErrGone, connectionID)
	}
	if m.SendFunc != nil {
		if err := m.SendFunc(ctx, connectionID, message); err != nil {
			return err
		}
	}
	return m.record(connectionID, message)
}

// SetActive marks connectionID active or gone.
func (m *Sender) SetActive(connectionID string, active bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inactive == nil {
		m.inactive = make(map[string]bool)
	}
	m.inactive[connectionID] = !active
}

// IsActive reports what SetActive said of connectionID (true by default).
func (m *Sender) IsActive(_ context.Context, connectionID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.inactive[connectionID]
}

// ConnectionManager is a fake connection.ConnectionManager whose methods can be
// replaced and whose calls are counted. By default Send and Broadcast record the messages,
// IsActive answers true and GetMetrics returns the call counts.
type ConnectionManager struct {
	// SendFunc, when set, runs first on every Send: an error it returns is Send's error;
	// nil lets the message be recorded.
	SendFunc SendFunc
	// IsActiveFunc, when set, answers IsActive.
	IsActiveFunc func(ctx context.Context, connectionID string) bool
	// BroadcastFunc, when set, runs first on every Broadcast: an error it returns is
	// Broadcast's error; nil lets the message be recorded for every connection.
	BroadcastFunc func(ctx context.Context, connectionIDs []string, message any) error
	// GetMetricsFunc, when set, answers GetMetrics.
	GetMetricsFunc func() map[string]any

	recorder

	callsMu sync.Mutex
	calls   map[string]int
}

// NewConnectionManager returns a ConnectionManager with the default behaviour.
func NewConnectionManager() *ConnectionManager { return &ConnectionManager{} }

func (m *ConnectionManager) count(name string) {
	m.callsMu.Lock()
	defer m.callsMu.Unlock()
	if m.calls == nil {
		m.calls = make(map[string]int)
	}
	m.calls[name]++
}

// CallCount returns how many times the method name ("Send", "IsActive", "Broadcast",
// "GetMetrics") was called.
func (m *ConnectionManager) CallCount(name string) int {
	m.callsMu.Lock()
	defer m.callsMu.Unlock()
	return m.calls[name]
}

// Send counts the call, runs SendFunc and records message for connectionID.
func (m *ConnectionManager) Send(ctx context.Context, connectionID string, message any) error {
	m.count("Send")
	if m.SendFunc != nil {
		if err := m.SendFunc(ctx, connectionID, message); err != nil {
			return err
		}
	}
	return m.record(connectionID, message)
}

// IsActive counts the call and answers with IsActiveFunc, or true.
func (m *ConnectionManager) IsActive(ctx context.Context, connectionID string) bool {
	m.count("IsActive")
	if m.IsActiveFunc != nil {
		return m.IsActiveFunc(ctx, connectionID)
	}
	return true
}

// Broadcast counts the call, runs BroadcastFunc and records message for every
// connection.
func (m *ConnectionManager) Broadcast(ctx context.Context, connectionIDs []string, message any) error {
	m.count("Broadcast")
	if m.BroadcastFunc != nil {
		if err := m.BroadcastFunc(ctx, connectionIDs, message); err != nil {
			return err
		}
	}
	for _, id := range connectionIDs {
		if err := m.record(id, message); err != nil {
			return err
		}
	}
	return nil
}

// GetMetrics counts the call and answers with GetMetricsFunc, or the call counts so far.
func (m *ConnectionManager) GetMetrics() map[string]any {
	m.count("GetMetrics")
	if m.GetMetricsFunc != nil {
		return m.GetMetricsFunc()
	}
	m.callsMu.Lock()
	defer m.callsMu.Unlock()
	out := make(map[string]any, len(m.calls))
	for k, v := range m.calls {
		out[k] = v
	}
	return out
}
