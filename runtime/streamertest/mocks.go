package streamertest

import (
	"context"
	"fmt"
	"sync"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/progress"
)

var (
	_ connection.ConnectionManager = (*MockConnectionManager)(nil)
	_ progress.Sender              = (*SendOnlyMock)(nil)
	_ progress.Sender              = (*ProgressReporterMock)(nil)
)

// SendFunc is the signature of the Send hooks.
type SendFunc func(ctx context.Context, connectionID string, message any) error

// SendOnlyMock records every message sent through it. Use it wherever only Send is
// needed, such as a progress.Sender.
type SendOnlyMock struct {
	// SendFunc, when set, runs first on every Send: an error it returns is Send's error
	// and the message is not recorded; nil lets the message be recorded.
	SendFunc SendFunc

	recorder
}

// NewSendOnlyMock returns a SendOnlyMock that records every message.
func NewSendOnlyMock() *SendOnlyMock { return &SendOnlyMock{} }

// Send runs SendFunc, then records message for connectionID. A message that cannot be
// marshalled to JSON is an error, as with the real manager.
func (m *SendOnlyMock) Send(ctx context.Context, connectionID string, message any) error {
	if m.SendFunc != nil {
		if err := m.SendFunc(ctx, connectionID, message); err != nil {
			return err
		}
	}
	return m.record(connectionID, message)
}

// ProgressReporterMock is a SendOnlyMock that also knows which connections are active:
// Send to an inactive connection fails with connection.ErrGone, like the real manager
// for a client that went away. Connections are active until SetActive says otherwise.
type ProgressReporterMock struct {
	SendOnlyMock

	mu       sync.Mutex
	inactive map[string]bool
}

// NewProgressReporterMock returns a ProgressReporterMock with every connection active.
func NewProgressReporterMock() *ProgressReporterMock { return &ProgressReporterMock{} }

// SetActive marks connectionID active or gone.
func (m *ProgressReporterMock) SetActive(connectionID string, active bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inactive == nil {
		m.inactive = make(map[string]bool)
	}
	m.inactive[connectionID] = !active
}

// IsActive reports what SetActive said of connectionID (true by default).
func (m *ProgressReporterMock) IsActive(_ context.Context, connectionID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.inactive[connectionID]
}

// Send records message, or fails with connection.ErrGone when connectionID is inactive.
func (m *ProgressReporterMock) Send(ctx context.Context, connectionID string, message any) error {
	if !m.IsActive(ctx, connectionID) {
		return fmt.Errorf("%w: %s", connection.ErrGone, connectionID)
	}
	return m.SendOnlyMock.Send(ctx, connectionID, message)
}

// MockConnectionManager is a connection.ConnectionManager whose methods can be replaced
// and whose calls are counted. By default Send and Broadcast record the messages,
// IsActive answers true and GetMetrics returns the call counts.
type MockConnectionManager struct {
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

// NewMockConnectionManager returns a MockConnectionManager with the default behaviour.
func NewMockConnectionManager() *MockConnectionManager { return &MockConnectionManager{} }

func (m *MockConnectionManager) count(name string) {
	m.callsMu.Lock()
	defer m.callsMu.Unlock()
	if m.calls == nil {
		m.calls = make(map[string]int)
	}
	m.calls[name]++
}

// CallCount returns how many times the method name ("Send", "IsActive", "Broadcast",
// "GetMetrics") was called.
func (m *MockConnectionManager) CallCount(name string) int {
	m.callsMu.Lock()
	defer m.callsMu.Unlock()
	return m.calls[name]
}

// Send counts the call, runs SendFunc and records message for connectionID.
func (m *MockConnectionManager) Send(ctx context.Context, connectionID string, message any) error {
	m.count("Send")
	if m.SendFunc != nil {
		if err := m.SendFunc(ctx, connectionID, message); err != nil {
			return err
		}
	}
	return m.record(connectionID, message)
}

// IsActive counts the call and answers with IsActiveFunc, or true.
func (m *MockConnectionManager) IsActive(ctx context.Context, connectionID string) bool {
	m.count("IsActive")
	if m.IsActiveFunc != nil {
		return m.IsActiveFunc(ctx, connectionID)
	}
	return true
}

// Broadcast counts the call, runs BroadcastFunc and records message for every
// connection.
func (m *MockConnectionManager) Broadcast(ctx context.Context, connectionIDs []string, message any) error {
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
func (m *MockConnectionManager) GetMetrics() map[string]any {
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
