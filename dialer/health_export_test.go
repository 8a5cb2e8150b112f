package dialer

// MaxPeers is the bound of the per-peer health table.
const MaxPeers = maxPeers

// Peers returns how many peers the health table holds.
func (d *Dialer) Peers() int { return d.health.c.Len() }
