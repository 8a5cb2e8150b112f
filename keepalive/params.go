package keepalive

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// Linux limits for the keepalive socket options (include/net/tcp.h:
// MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT). setsockopt rejects
// larger values with EINVAL, so Validate rejects them first with a clear error.
const (
	maxIdle     = 32767 * time.Second
	maxInterval = 32767 * time.Second
	maxCount    = 127
)

// Params are TCP keepalive settings (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT).
//
// The zero Params is valid and means "use the adaptive default" (the dialer
// takes the values package adaptive derives from the kernel). A zero field in
// an otherwise set Params is filled from the defaults too: see
// [Params.WithDefaults]. The kernel counts keepalive time in whole seconds, so
// every duration is rounded up to a whole second when applied (see
// [Params.KeepAliveConfig]).
//
// Params is a plain value, safe to copy and to use from several goroutines.
type Params struct {
	// Idle is how long a connection must be idle before the first probe is
	// sent (TCP_KEEPIDLE). Zero means the default; valid up to 32767s.
	Idle time.Duration
	// Interval is the time between unanswered probes (TCP_KEEPINTVL). It is
	// also the longest silence after the first probe, so a NAT or conntrack
	// entry survives only when Idle and Interval are both below its timeout.
	// Zero means the default; valid up to 32767s.
	Interval time.Duration
	// Count is the number of unanswered probes after which the kernel drops
	// the connection (TCP_KEEPCNT). Zero means the default; valid up to 127.
	Count int
}

// Default returns the keepalive settings used where nothing better is known:
// 30 s idle, 10 s interval, 3 probes. They keep a connection alive through
// the smallest well-known middlebox idle limit (Azure Load Balancer, 4 min;
// AWS NLB 350 s; GCP 10 min) with a wide margin, and declare a silent peer dead
// after 60 s instead of Linux's 2 h 11 min. Package adaptive returns the same
// values when the kernel's conntrack timeout is unknown or large.
func Default() Params {
	return Params{Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}
}

// IsZero reports whether p is the zero Params ("use the adaptive default").
func (p Params) IsZero() bool { return p == Params{} }

// Validate reports whether p can be applied. Zero fields are valid (they mean
// "default"); negative fields and values above the kernel's limits are not.
// The error names the field, e.g.
// "herz/keepalive: Params.Interval must be in [0, 9h6m7s], got -1s".
func (p Params) Validate() error {
	if p.Idle < 0 || p.Idle > maxIdle {
		return fmt.Errorf("herz/keepalive: Params.Idle must be in [0, %v], got %v", maxIdle, p.Idle)
	}
	if p.Interval < 0 || p.Interval > maxInterval {
		return fmt.Errorf("herz/keepalive: Params.Interval must be in [0, %v], got %v", maxInterval, p.Interval)
	}
	if p.Count < 0 || p.Count > maxCount {
		return fmt.Errorf("herz/keepalive: Params.Count must be in [0, %d], got %d", maxCount, p.Count)
	}
	return nil
}

// WithDefaults returns p with every zero field taken from def. The dialer
// calls it as cfg.WithDefaults(profile.Keepalive) so a user who sets only
// Idle keeps the derived Interval and Count.
func (p Params) WithDefaults(def Params) Params {
	if p.Idle == 0 {
		p.Idle = def.Idle
	}
	if p.Interval == 0 {
		p.Interval = def.Interval
	}
	if p.Count == 0 {
		p.Count = def.Count
	}
	return p
}

// effective returns the values the kernel will use: zero fields from
// [Default], durations rounded up to whole seconds (at least 1s), Count at
// least 1, everything clamped to the kernel's limits.
func (p Params) effective() Params {
	p = p.WithDefaults(Default())
	p.Idle = ceilSecond(p.Idle, maxIdle)
	p.Interval = ceilSecond(p.Interval, maxInterval)
	p.Count = min(max(p.Count, 1), maxCount)
	return p
}

// ceilSecond rounds d up to a whole second, within [1s, limit].
func ceilSecond(d, limit time.Duration) time.Duration {
	if d >= limit {
		return limit
	}
	if d <= time.Second {
		return time.Second
	}
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}

// KeepAliveConfig returns p as a net.KeepAliveConfig for net.Dialer or
// net.TCPConn.SetKeepAliveConfig: Enable is true, zero fields are filled from
// [Default] (never from Go's own 15s/15s/9 defaults), durations are rounded up
// to whole seconds with a minimum of 1s (the kernel's granularity), and Count
// is at least 1. Call [Params.Validate] first to reject out-of-range values;
// KeepAliveConfig clamps them.
func (p Params) KeepAliveConfig() net.KeepAliveConfig {
	e := p.effective()
	return net.KeepAliveConfig{Enable: true, Idle: e.Idle, Interval: e.Interval, Count: e.Count}
}

// DeadAfter returns how long after the last packet from a silent peer the
// kernel declares the connection dead: Idle + Interval × Count, computed from
// the values [Params.KeepAliveConfig] applies. (When TCP_USER_TIMEOUT is also
// set and shorter, Linux drops the connection earlier: at the first keepalive
// timer tick after the user timeout with at least one probe unanswered.)
func (p Params) DeadAfter() time.Duration {
	e := p.effective()
	return e.Idle + e.Interval*time.Duration(e.Count)
}

// String returns p in a form suitable for logs, e.g.
// "idle=30s interval=10s count=3 (silent peer dead after 1m0s)". Zero fields
// print as "default"; the zero Params prints as "default".
func (p Params) String() string {
	if p.IsZero() {
		return "default"
	}
	idle, interval, count := "default", "default", "default"
	if p.Idle != 0 {
		idle = p.Idle.String()
	}
	if p.Interval != 0 {
		interval = p.Interval.String()
	}
	if p.Count != 0 {
		count = strconv.Itoa(p.Count)
	}
	return fmt.Sprintf("idle=%s interval=%s count=%s (silent peer dead after %v)",
		idle, interval, count, p.DeadAfter())
}
