package dialer

// Reason says why herz closed or refused a connection. It is the value of the
// herz.reason metric attribute and a key of [Stats.Evictions].
type Reason uint8

// Close reasons.
const (
	// ReasonNone: the connection is fine.
	ReasonNone Reason = iota
	// ReasonLifetime: older than its (jittered) MaxLifetime.
	ReasonLifetime
	// ReasonIdle: idle longer than the idle timeout.
	ReasonIdle
	// ReasonLearnedIdle: idle past the peer's learned idle deadline.
	ReasonLearnedIdle
	// ReasonProbeEOF: the probe found the peer's FIN.
	ReasonProbeEOF
	// ReasonProbeRST: the probe found a reset or a fatal socket error.
	ReasonProbeRST
	// ReasonProbeData: the probe found unsolicited data on an idle connection.
	ReasonProbeData
	// ReasonScore: the health score fell below the threshold.
	ReasonScore
	// ReasonEvicted: a write raced with an eviction already under way.
	ReasonEvicted
	numReasons
)

var reasonNames = [numReasons]string{"none", "lifetime", "idle", "learned_idle", "probe_eof", "probe_rst", "probe_data", "score", "evicted"}

// String returns the metric name of r: lifetime, idle, learned_idle, probe_eof, probe_rst, probe_data, score or evicted.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// probeReason maps a probe outcome to the reason to close for, or ReasonNone.
func probeReason(s ProbeState) Reason {
	switch s {
	case ProbePeerClosed:
		return ReasonProbeEOF
	case ProbeReset:
		return ReasonProbeRST
	case ProbeDataPending:
		return ReasonProbeData
	}
	return ReasonNone
}
