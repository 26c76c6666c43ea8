package streamertest

import "testing"

// Other names of the fakes, kept for code written against them. Each is the same type as
// the fake it names, and each New function returns that fake.
type (
	// SendOnlyMock is Sender.
	SendOnlyMock = Sender
	// ProgressReporterMock is Sender, whose SetActive and IsActive model clients that
	// went away.
	ProgressReporterMock = Sender
	// MockConnectionManager is ConnectionManager.
	MockConnectionManager = ConnectionManager
	// TestableAPIGatewayClient is APIGateway.
	TestableAPIGatewayClient = APIGateway
)

// NewSendOnlyMock returns NewSender().
func NewSendOnlyMock() *SendOnlyMock { return NewSender() }

// NewProgressReporterMock returns NewSender(): every connection is active until
// SetActive says otherwise.
func NewProgressReporterMock() *ProgressReporterMock { return NewSender() }

// NewMockConnectionManager returns NewConnectionManager().
func NewMockConnectionManager() *MockConnectionManager { return NewConnectionManager() }

// NewTestableAPIGatewayClient returns NewAPIGateway(tb).
func NewTestableAPIGatewayClient(tb testing.TB) *TestableAPIGatewayClient { return NewAPIGateway(tb) }
