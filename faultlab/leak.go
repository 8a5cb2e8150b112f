package faultlab

import (
	"os"
	"runtime"
)

// OpenFDs returns how many file descriptors this process has open (the
// entries of /proc/self/fd, not counting the one used to read it), or -1
// where /proc is not available. Compare it before and after a soak run to
// find leaked sockets; expect noise from idle pools that are still open.
func OpenFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries) - 1
}

// Goroutines returns how many goroutines exist now, for metrics of soak
// runs; tests check for leaks with go.uber.org/goleak instead.
func Goroutines() int { return runtime.NumGoroutine() }
