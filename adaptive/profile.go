package adaptive

import (
	"fmt"
	"strings"
	"time"

	"github.com/herz-go/herz/keepalive"
)

// Profile is what herz derives from the kernel's settings with [Derive]. Every
// duration in it is positive.
type Profile struct {
	// Keepalive is the TCP keepalive idle/interval/count for every connection.
	// Idle + Interval stays below NATLimit with margin (see Derive).
	Keepalive keepalive.Params
	// UserTimeout is the dead-path bound: how long written data may stay
	// unacknowledged, with nothing acknowledged meanwhile, before the
	// connection is dead (dead-peer detection while a request is in
	// flight). The dialer judges it from TCP_INFO and sets it as
	// TCP_USER_TIMEOUT while connecting only.
	UserTimeout time.Duration
	// ProbeInterval is the heartbeat / liveness-probe interval for idle
	// connections (evictor tick, pool health check, application pings).
	ProbeInterval time.Duration
	// IdleTimeout is the longest a pooled connection may stay idle before
	// herz closes it, when no shorter per-peer deadline was learned.
	IdleTimeout time.Duration
	// ConnectTimeout bounds one TCP connect (SYN to established).
	ConnectTimeout time.Duration
	// NATLimit is the silence after which a middlebox on the path may forget
	// the connection: the conntrack established timeout when known and
	// smaller, else the smallest well-known load-balancer idle timeout
	// (240 s). Keepalive, ProbeInterval and IdleTimeout are derived from it.
	NATLimit time.Duration
	// Kernel is the input Derive was given.
	Kernel Kernel
}

// Known idle limits of load balancers and NAT gateways herz keeps every idle
// interval below when the local conntrack timeout says nothing smaller:
// Azure Load Balancer 4 min (default), AWS NLB 350 s (fixed), GCP Cloud NAT
// and load balancers 10 min.
const (
	azureLBIdleLimit = 4 * time.Minute
	awsNLBIdleLimit  = 350 * time.Second
	gcpIdleLimit     = 10 * time.Minute

	// defaultNATLimit is used when the conntrack timeout is unknown or larger.
	defaultNATLimit = min(azureLBIdleLimit, awsNLBIdleLimit, gcpIdleLimit) // 240 s
)

// Constants of the formulas in Derive.
const (
	// Keepalive. The kernel counts keepalive time in whole seconds (≥ 1 s).
	// Idle = NATLimit/4 (whole seconds, 1 s ≤ Idle ≤ keepaliveIdleCap);
	// Interval = Idle/3 (whole seconds, 1 s ≤ Interval ≤ keepaliveIntervalCap);
	// Count = keepaliveCount. Idle + Interval ≤ NATLimit/3 whenever
	// Idle/3 ≥ 1 s, and ≤ NATLimit/2 for every NATLimit ≥ 4 s; below that
	// the 1 s floors win (1 s + 1 s is the least the kernel can do).
	keepaliveIdleCap     = 30 * time.Second // with 10 s × 3: a silent idle peer is dead after 60 s
	keepaliveIntervalCap = 10 * time.Second
	keepaliveCount       = 3

	// UserTimeout = min(userTimeoutTarget, the kernel's own give-up time for
	// tcp_retries2), at least minUserTimeout. A dead connection must be
	// found within 10 s by default; 8 s leaves 2 s for the dialer's
	// watchdog tick and a re-dial bounded at 1 s. Linux's
	// tcp_retries2 = 15 alone waits about 924.6 s.
	userTimeoutTarget = 8 * time.Second
	minUserTimeout    = time.Second
	rtoMin            = 200 * time.Millisecond // TCP_RTO_MIN
	rtoMax            = 120 * time.Second      // TCP_RTO_MAX
	synRTOInit        = time.Second            // TCP_TIMEOUT_INIT

	// ProbeInterval = probeFinNum/probeFinDen × tcp_fin_timeout (the rule of
	// the articles herz started from: 0.6–0.85 × tcp_fin_timeout, here the
	// middle of that range rounded to 3/4), but at most NATLimit/2 so that a
	// ping also keeps a middlebox entry alive, within [1 s, probeIntervalCap].
	probeFinNum      = 3
	probeFinDen      = 4
	minProbeInterval = time.Second
	probeIntervalCap = 60 * time.Second

	// IdleTimeout = 3/4 × NATLimit, within [1 s, idleTimeoutCap]. The cap is
	// net/http DefaultTransport's IdleConnTimeout: herz never keeps a
	// connection idle longer than the standard library would.
	idleNum        = 3
	idleDen        = 4
	minIdleTimeout = time.Second
	idleTimeoutCap = 90 * time.Second

	// ConnectTimeout = min(connectTimeoutCap, the kernel's own SYN give-up
	// time for tcp_syn_retries), at least 1 s. The cap is net/http
	// DefaultTransport's dial timeout; Linux's 6 SYN retries take 127 s.
	connectTimeoutCap = 30 * time.Second
	minConnectTimeout = time.Second
)

// Derive computes herz's Profile from the kernel's settings. It is pure and
// monotone: no field of the result decreases when any input grows (a larger
// conntrack timeout never makes herz more aggressive). No duration in the
// result is zero or negative, whatever k holds: a zero or negative field of k
// (the zero Kernel included) is treated as unknown and replaced by its
// [DefaultKernel] value; a zero ConntrackEstablished means "no conntrack".
//
// The formulas, with the result for Linux defaults (no conntrack) and for a
// NAT box with nf_conntrack_tcp_timeout_established = 5 s:
//
//	NATLimit       = min(conntrack if known, 240 s)                        240s | 5s
//	Keepalive      = idle NATLimit/4 ≤ 30 s, interval idle/3 ≤ 10 s,
//	                 count 3, each also ≤ the kernel's own setting,
//	                 whole seconds ≥ 1 s                           30s/10s/3 | 1s/1s/3
//	UserTimeout    = min(8 s, tcp_retries2 give-up time) ≥ 1 s             8s | 8s
//	ProbeInterval  = min(3/4 × tcp_fin_timeout, NATLimit/2) in [1 s, 60 s] 45s | 2.5s
//	IdleTimeout    = 3/4 × NATLimit in [1 s, 90 s]                         90s | 3.75s
//	ConnectTimeout = min(30 s, tcp_syn_retries give-up time) ≥ 1 s         30s | 30s
//
// Why both keepalive idle and interval: after the first probe Linux waits a
// full interval before the next one, so the longest silence on an idle
// connection is max(Idle, Interval). Go's net.Dialer.KeepAlive sets only the
// idle time and leaves the interval at 15 s, which lets a 5 s conntrack entry
// expire; Derive keeps Idle + Interval (a bound on both) below the limit.
//
// The ephemeral port range does not enter the Profile; it is in Kernel for
// callers that size per-destination connection limits against it.
func Derive(k Kernel) Profile {
	n := k.normalized()

	limit := defaultNATLimit
	if n.ConntrackEstablished > 0 {
		limit = min(limit, n.ConntrackEstablished)
	}

	// Keepalive: sized from the NAT limit, never less eager than the host's
	// own system-wide keepalive settings (an operator who lowered them wants
	// dead peers found sooner).
	idle := min(clamp(floorSecond(limit/4), time.Second, keepaliveIdleCap), max(floorSecond(n.KeepaliveTime), time.Second))
	interval := min(clamp(floorSecond(idle/3), time.Second, keepaliveIntervalCap), max(floorSecond(n.KeepaliveIntvl), time.Second))
	count := min(keepaliveCount, n.KeepaliveProbes)

	return Profile{
		Keepalive:      keepalive.Params{Idle: idle, Interval: interval, Count: count},
		UserTimeout:    clamp(min(userTimeoutTarget, retransmitGiveUp(n.Retries2)), minUserTimeout, userTimeoutTarget),
		ProbeInterval:  clamp(min(min(n.FinTimeout, time.Hour)/probeFinDen*probeFinNum, limit/2), minProbeInterval, probeIntervalCap),
		IdleTimeout:    clamp(limit/idleDen*idleNum, minIdleTimeout, idleTimeoutCap),
		ConnectTimeout: clamp(synGiveUp(n.SynRetries, connectTimeoutCap), minConnectTimeout, connectTimeoutCap),
		NATLimit:       limit,
		Kernel:         k,
	}
}

// normalized returns k with every zero or negative field (except the
// optional conntrack timeout, which becomes 0 = unknown) replaced by its
// DefaultKernel value.
func (k Kernel) normalized() Kernel {
	d := DefaultKernel()
	if k.FinTimeout <= 0 {
		k.FinTimeout = d.FinTimeout
	}
	if k.KeepaliveTime <= 0 {
		k.KeepaliveTime = d.KeepaliveTime
	}
	if k.KeepaliveIntvl <= 0 {
		k.KeepaliveIntvl = d.KeepaliveIntvl
	}
	if k.KeepaliveProbes <= 0 {
		k.KeepaliveProbes = d.KeepaliveProbes
	}
	if k.Retries2 <= 0 {
		k.Retries2 = d.Retries2
	}
	if k.SynRetries <= 0 {
		k.SynRetries = d.SynRetries
	}
	if k.ConntrackEstablished < 0 {
		k.ConntrackEstablished = 0
	}
	return k
}

// retransmitGiveUp models Linux's tcp_model_timeout(): how long the kernel
// retransmits unacknowledged data before giving up after n = tcp_retries2
// retransmissions, the RTO starting at TCP_RTO_MIN and doubling up to
// TCP_RTO_MAX. For n = 15 that is 924.6 s.
func retransmitGiveUp(n int) time.Duration {
	const linearBackoffThresh = 9 // ilog2(TCP_RTO_MAX / TCP_RTO_MIN)
	if n <= linearBackoffThresh {
		return time.Duration((2<<n)-1) * rtoMin
	}
	n = min(n, 1<<20) // beyond any real setting; keeps the product in range
	return time.Duration((2<<linearBackoffThresh)-1)*rtoMin + time.Duration(n-linearBackoffThresh)*rtoMax
}

// synGiveUp returns how long a connect takes to fail after n =
// tcp_syn_retries unanswered SYN retransmissions (1 s, doubling, each at most
// TCP_RTO_MAX: 127 s for n = 6), or limit if that is sooner.
func synGiveUp(n int, limit time.Duration) time.Duration {
	total, rto := time.Duration(0), synRTOInit
	for i := 0; i <= n && total < limit; i++ {
		total += rto
		rto = min(2*rto, rtoMax)
	}
	return min(total, limit)
}

// clamp returns d within [lo, hi].
func clamp(d, lo, hi time.Duration) time.Duration { return min(max(d, lo), hi) }

// floorSecond rounds d down to a whole second.
func floorSecond(d time.Duration) time.Duration { return d - d%time.Second }

// String returns one human-readable line per field (printed by `make demo`).
func (p Profile) String() string {
	var b strings.Builder
	nat := "conntrack established timeout"
	if p.Kernel.ConntrackEstablished <= 0 || p.NATLimit < p.Kernel.ConntrackEstablished {
		nat = "smallest known load-balancer idle limit (Azure LB)"
	}
	fmt.Fprintf(&b, "keepalive:       %v\n", p.Keepalive)
	fmt.Fprintf(&b, "user timeout:    %v\n", p.UserTimeout)
	fmt.Fprintf(&b, "probe interval:  %v\n", p.ProbeInterval)
	fmt.Fprintf(&b, "idle timeout:    %v\n", p.IdleTimeout)
	fmt.Fprintf(&b, "connect timeout: %v\n", p.ConnectTimeout)
	fmt.Fprintf(&b, "NAT limit:       %v (%s)\n", p.NATLimit, nat)
	fmt.Fprintf(&b, "kernel:          %v", p.Kernel)
	return b.String()
}
