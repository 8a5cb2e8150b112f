//go:build race

package breaker_test

// raceEnabled reports whether the race detector is on; it changes
// allocation counts.
const raceEnabled = true
