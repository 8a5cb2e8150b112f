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

// WatchOnce runs one watchdog tick's inspection now (without scheduling).
func (d *Dialer) WatchOnce() {
	bound := d.deadBound()
	now := d.now()
	d.mu.Lock()
	buf := make([]*Conn, 0, 16)
	for _, c := range d.conns {
		if c.stalled(now, bound) && len(buf) < maxJudgedPerTick {
			buf = append(buf, c)
		}
	}
	d.mu.Unlock()
	for _, c := range buf {
		d.judge(c, now, bound)
	}
}

// ForgetAcked makes the watchdog read every conn's TCP_INFO again, as if
// none had been found fully acknowledged (its worst case).
func (d *Dialer) ForgetAcked() {
	d.mu.Lock()
	for _, c := range d.conns {
		c.wdOK.Store(0)
	}
	d.mu.Unlock()
}
