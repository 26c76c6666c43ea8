// Package clocktest provides a manual clock for tests of code that takes a
// `func() time.Time`: time moves only when the test advances it.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a clock safe for concurrent use that stands still until Advance.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a Clock showing start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time; pass the method value where a `func() time.Time` is
// expected.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
