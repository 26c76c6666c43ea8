//go:build unix

package router_test

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) the test process has used, so that
// benchmarks can report CPU per operation on a machine shared with other work, where
// wall time per operation overstates it.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
