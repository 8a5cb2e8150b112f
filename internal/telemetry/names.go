package telemetry

import (
	"runtime/debug"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the instrumentation scope (meter name) of every herz instrument.
const ScopeName = "github.com/herz-go/herz"

// Version is the module version the instrumentation scope carries: the
// version of github.com/herz-go/herz in the running binary's build info, or
// "(devel)" when herz is the main module or the build info is missing.
func Version() string { return scopeVersion }

// scopeVersion is read once from the build info (it never changes).
var scopeVersion = func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	if bi.Main.Path == ScopeName && bi.Main.Version != "" {
		return bi.Main.Version
	}
	for _, m := range bi.Deps {
		if m.Path == ScopeName {
			if m.Replace != nil && m.Replace.Version != "" {
				return m.Replace.Version
			}
			return m.Version
		}
	}
	return "(devel)"
}()

// meter is herz's meter on mp: scope ScopeName with the module's version.
func meter(mp metric.MeterProvider) metric.Meter {
	return mp.Meter(ScopeName, metric.WithInstrumentationVersion(scopeVersion))
}

// Instrument names. They are the only herz metric names; every package
// records through a [Recorder] and never creates instruments of its own.
const (
	MetricDials              = "herz.dials"                // counter {dial}: peer, result
	MetricDialDuration       = "herz.dial.duration"        // histogram s: peer, result
	MetricDialErrors         = "herz.dial.errors"          // counter {error}: peer, kind
	MetricVerifyFailures     = "herz.dial.verify_failures" // counter {failure}: peer, reason
	MetricProbes             = "herz.probes"               // counter {probe}: peer, result
	MetricEvictions          = "herz.evictions"            // counter {connection}: peer, reason
	MetricRetries            = "herz.retries"              // counter {retry}: component, peer, reason
	MetricRetriesRefused     = "herz.retries.refused"      // counter {retry}: component, peer
	MetricBreakerTransitions = "herz.breaker.transitions"  // counter {transition}: component, peer, from, to
	MetricConnsOpen          = "herz.conns.open"           // observable up-down counter {connection}: peer
	MetricConnsIdle          = "herz.conns.idle"           // observable up-down counter {connection}: peer
	MetricBreakerState       = "herz.breaker.state"        // observable gauge {state}: component, peer
)

// Attribute keys. Values are short, bounded vocabularies chosen by the
// recording package (e.g. a reason such as "probe_eof"), except [AttrPeer],
// which is always passed through [Peer].
const (
	// AttrPeer is the remote address as host:port (never userinfo, paths or
	// queries); for breaker instruments, the breaker key normalised by [Peer].
	AttrPeer attribute.Key = "herz.peer"
	// AttrComponent is the herz package that recorded: one of the Component*
	// constants.
	AttrComponent attribute.Key = "herz.component"
	// AttrResult is the outcome: [ResultOK] or [ResultError] for dials; the
	// probe verdict (e.g. "alive", "eof", "rst", "data") for probes.
	AttrResult attribute.Key = "herz.result"
	// AttrReason is why something happened: the eviction reason ("lifetime",
	// "idle", "probe_eof", …), the retry class ("prewrite_probe",
	// "nothing_written", "refused_stream", "idempotent", …), the failed
	// verification ("so_error", "self_connect", …).
	AttrReason attribute.Key = "herz.reason"
	// AttrKind is the class of a dial error ("refused", "timeout",
	// "unreachable", "breaker_open", …).
	AttrKind attribute.Key = "herz.kind"
	// AttrState is a state label, for instruments that carry a state as an
	// attribute rather than as a value.
	AttrState attribute.Key = "herz.state"
	// AttrFrom and AttrTo are the states of a breaker transition ("closed",
	// "half-open", "open").
	AttrFrom attribute.Key = "herz.from"
	AttrTo   attribute.Key = "herz.to" // see AttrFrom
)

// Values of [AttrComponent].
const (
	ComponentDialer    = "dialer"
	ComponentTransport = "transport"
	ComponentGRPC      = "grpc"
	ComponentSQL       = "sql"
	ComponentPool      = "pool"
)

// Values of [AttrResult] on the dial instruments.
const (
	ResultOK    = "ok"
	ResultError = "error"
)

// Values of the herz.breaker.state gauge, one per breaker state.
const (
	BreakerClosed   int64 = 0
	BreakerHalfOpen int64 = 1
	BreakerOpen     int64 = 2
)

// Units, in UCUM as OpenTelemetry's semantic conventions write them.
const (
	unitSeconds    = "s"
	unitDial       = "{dial}"
	unitError      = "{error}"
	unitFailure    = "{failure}"
	unitProbe      = "{probe}"
	unitConnection = "{connection}"
	unitRetry      = "{retry}"
	unitTransition = "{transition}"
	unitState      = "{state}"
)

// dialDurationBuckets are the explicit histogram bounds of herz.dial.duration,
// in seconds: from loopback (sub-millisecond) to a connect that waits for SYN
// retries (tens of seconds). The SDK's default bounds (0…10000) suit
// milliseconds, not seconds.
var dialDurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
