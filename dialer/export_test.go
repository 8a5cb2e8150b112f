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

// PeerIndexOK reports whether the per-peer index holds exactly the tracked
// connections, each at its recorded position.
func (d *Dialer) PeerIndexOK() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for peer, list := range d.byPeer {
		if len(list) == 0 {
			return false // an empty peer must leave the map
		}
		for i, c := range list {
			if c.peer != peer || c.pidx != i || c.idx < 0 || c.idx >= len(d.conns) || d.conns[c.idx] != c {
				return false
			}
		}
		n += len(list)
	}
	return n == len(d.conns)
}
