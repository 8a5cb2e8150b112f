package dialer

import "time"

// Now exposes the Dialer's monotonic clock to tests.
func (d *Dialer) Now() int64 { return d.now() }

// Tracked returns the number of tracked connections.
func (d *Dialer) Tracked() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns)
}

// SweepOnce runs the evictor's inspection over every tracked connection
// without probing connections that are not yet due.
func (d *Dialer) SweepOnce() int {
	n, _ := d.inspectAll(d.snapshot(nil), false)
	return n
}

// SetExploreEvery makes the Dialer re-test learned idle deadlines every d.
func (d *Dialer) SetExploreEvery(every time.Duration) { d.exploreMin = every }
