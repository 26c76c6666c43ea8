package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"
)

// barWidth is the number of cells of the progress bar; lineWidth bounds a redrawn line.
const (
	barWidth  = 30
	lineWidth = 100
)

// progressBar draws a request's progress on a terminal, redrawing one line; on anything
// else (a pipe, a file, CI logs) it prints one line per change instead.
type progressBar struct {
	w        io.Writer
	terminal bool

	mu    sync.Mutex
	last  string // the last line drawn
	drawn bool   // a redrawable line is on screen
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, terminal: isTerminal(w)}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// render returns the line for pct and message: [#####.....]  42.5%  message.
func render(status string, pct float64, message string) string {
	pct = min(max(pct, 0), 100)
	filled := int(pct / 100 * barWidth)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", barWidth-filled)
	line := fmt.Sprintf("%-10s [%s] %5.1f%%  %s", status, bar, pct, message)
	for utf8.RuneCountInString(line) > lineWidth {
		_, size := utf8.DecodeLastRuneInString(line)
		line = line[:len(line)-size]
	}
	return line
}

// Update shows a new state.
func (b *progressBar) Update(status string, pct float64, message string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	line := render(status, pct, message)
	if line == b.last {
		return
	}
	b.last = line
	if b.terminal {
		fmt.Fprintf(b.w, "\r\033[K%s", line)
		b.drawn = true
		return
	}
	fmt.Fprintln(b.w, line)
}

// Done ends the bar's line, so what follows starts on a fresh one.
func (b *progressBar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}
