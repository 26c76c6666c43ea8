package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progressBar draws "scenario [#####.....] done/total" on w (stderr): on a terminal
// redrawn in place at most every redrawEvery, elsewhere (a pipe, CI logs) once, when the
// scenario ends. A nil *progressBar draws nothing.
type progressBar struct {
	w       io.Writer
	inPlace bool
	label   string
	total   int64
	done    atomic.Int64

	mu   sync.Mutex
	last time.Time
}

const (
	redrawEvery = 100 * time.Millisecond
	barCells    = 30
)

func newProgressBar(p Progress, label string, total int) *progressBar {
	if p.W == nil {
		return nil
	}
	b := &progressBar{w: p.W, inPlace: p.Terminal, label: label, total: int64(max(total, 1))}
	b.draw()
	return b
}

// Add counts n more units done and redraws when it is time.
func (b *progressBar) Add(n int) {
	if b == nil {
		return
	}
	b.done.Add(int64(n))
	if !b.inPlace {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Since(b.last) >= redrawEvery {
		b.drawLocked()
	}
}

func (b *progressBar) draw() {
	if !b.inPlace {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drawLocked()
}

func (b *progressBar) drawLocked() {
	b.last = time.Now()
	fmt.Fprintf(b.w, "\r\033[K%s", renderBar(b.label, b.done.Load(), b.total))
}

// renderBar returns the bar line for done of total.
func renderBar(label string, done, total int64) string {
	done = min(max(done, 0), total)
	filled := int(done * barCells / total)
	return fmt.Sprintf("%-12s [%s%s] %d/%d", label, strings.Repeat("#", filled), strings.Repeat(".", barCells-filled), done, total)
}

// Finish draws the final state and ends the line.
func (b *progressBar) Finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inPlace {
		b.drawLocked()
		fmt.Fprintln(b.w)
		return
	}
	fmt.Fprintln(b.w, renderBar(b.label, b.done.Load(), b.total))
}
