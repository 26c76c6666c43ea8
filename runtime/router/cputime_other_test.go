//go:build !unix

package router_test

import "time"

// processCPU is not measured on this platform; benchmarks then report wall time only.
func processCPU() time.Duration { return 0 }
