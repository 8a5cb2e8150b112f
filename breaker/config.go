package breaker

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Config configures a [Registry]. The zero value is a good production
// default; every field's zero value means its default.
type Config struct {
	// MaxKeys bounds the number of breakers kept; past it, a key not
	// allowed for longest is evicted and forgotten (see the package doc).
	// Default (zero): 4096. Must not be negative.
	MaxKeys int

	// ConsecutiveFailures trips the breaker after this many failures in a
	// row within Window (Ignore outcomes do not break the run, a Success
	// does). Default (zero): 5. To trip on the ratio only, set it to
	// math.MaxUint32.
	ConsecutiveFailures uint32

	// FailureRatio trips the breaker when failures / (successes + failures)
	// reaches it over at least MinRequests counted results within Window.
	// Default (zero): 0.5. Must be in [0, 1].
	FailureRatio float64

	// MinRequests is the least number of counted results (successes plus
	// failures; Ignore outcomes and calls in flight do not count) within
	// Window before FailureRatio applies. Default (zero): 20. To disable
	// the ratio rule, set it to math.MaxUint32.
	MinRequests uint32

	// Window is the rolling window over which results are counted, kept in
	// ten buckets of Window/10 (rounded up to the nanosecond): a result
	// counts in the bucket of the instant it is reported (done is called)
	// and ages out with that bucket. It is also how long a recovered
	// breaker must stay closed for its trip count to reset (see OpenBase).
	// Default (zero): 10s. Must not be negative or above 2^62ns (146 years).
	Window time.Duration

	// OpenBase is the open interval after a first trip. The n-th trip in a
	// row (without a full recovery in between) holds the breaker open for
	// min(OpenBase × n, OpenMax), then jittered by Jitter. Default (zero):
	// 1s, so a peer that restarts is used again about a second after it is
	// back, while one that stays down is retried less and less often.
	// Must not be negative or above 2^62ns.
	OpenBase time.Duration

	// OpenMax caps the open interval before jitter, so a jittered interval
	// is at most OpenMax × (1 + Jitter). Default (zero): 30s. Must be at
	// least OpenBase and not above 2^62ns.
	OpenMax time.Duration

	// Jitter spreads each open interval uniformly over ± this fraction of
	// it, so breakers tripped together do not probe together. Default
	// (zero): 0.2. Negative disables jitter. Must be below 1.
	Jitter float64

	// HalfOpenProbes is how many calls a half-open breaker lets through;
	// the others are rejected with an *OpenError in StateHalfOpen. If all
	// of them succeed the breaker closes; if one fails it opens again. A
	// probe reported as Ignore frees its slot for another call. Default
	// (zero): 1.
	HalfOpenProbes uint32

	// Classify maps a call's result to its Outcome. Default (nil):
	// DefaultClassifier.
	Classify Classifier

	// Probe, if not nil, lets the Registry find out that a key is back as
	// soon as it is, instead of holding callers off for the open interval
	// after the peer recovered: while a key's breaker is open or half-open,
	// a goroutine owned by the Registry calls Probe(ctx, key) (for example
	// a connect to the key's address), ProbeInterval after the trip and
	// then after each failed probe with the wait doubled up to
	// ProbeMaxInterval (±Jitter). The first probe that returns nil closes
	// the breaker at once (OnStateChange sees open or half-open → closed),
	// as a full recovery: the next trip counts as a first one again only
	// after a Window closed, as for a recovery through half-open. ctx ends
	// after ProbeTimeout or when [Registry.Close] is called. Probes of
	// different keys may run concurrently; Probe is user code, called with
	// no lock held. The open interval and half-open calls work as without
	// Probe: a probe only ends them sooner. A Registry with a Probe must be
	// closed with [Registry.Close] to stop its probes. Default (nil): no
	// probe.
	Probe func(ctx context.Context, key string) error

	// ProbeInterval is the wait before the first probe after a trip, and
	// between probes until one fails. Default (zero): 50ms. Must not be
	// negative or above 2^62ns.
	ProbeInterval time.Duration

	// ProbeMaxInterval caps the wait between probes. Default (zero): 1s.
	// Must be at least ProbeInterval and not above 2^62ns.
	ProbeMaxInterval time.Duration

	// ProbeTimeout bounds each probe (its ctx's deadline). Default (zero):
	// 1s. Must not be negative or above 2^62ns.
	ProbeTimeout time.Duration

	// OnStateChange, if not nil, is called on every state change of a key's
	// breaker, after the Registry has released its locks, one call at a
	// time and in order for a key (calls for different keys may be
	// concurrent). It may call the Registry. It runs on the goroutine of a
	// Registry call that caused or observed a change, so it should be quick.
	// Default (nil): no callback.
	OnStateChange func(key string, from, to State)
}

// The defaults of Config's fields.
const (
	defaultMaxKeys             = 4096
	defaultConsecutiveFailures = 5
	defaultFailureRatio        = 0.5
	defaultMinRequests         = 20
	defaultWindow              = 10 * time.Second
	defaultOpenBase            = time.Second
	defaultOpenMax             = 30 * time.Second
	defaultJitter              = 0.2
	defaultHalfOpenProbes      = 1
	defaultProbeInterval       = 50 * time.Millisecond
	defaultProbeMaxInterval    = time.Second
	defaultProbeTimeout        = time.Second

	// windowBuckets is the number of buckets in Window.
	windowBuckets = 10

	// maxDuration bounds Window, OpenBase and OpenMax (2^62ns, about 146
	// years) so that no sum of them overflows, in gobreaker either.
	maxDuration = time.Duration(1 << 62)
)

// withDefaults returns cfg with every zero field set to its default and a
// negative Jitter set to zero. It does not validate.
func (cfg Config) withDefaults() Config {
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = defaultMaxKeys
	}
	if cfg.ConsecutiveFailures == 0 {
		cfg.ConsecutiveFailures = defaultConsecutiveFailures
	}
	if cfg.FailureRatio == 0 {
		cfg.FailureRatio = defaultFailureRatio
	}
	if cfg.MinRequests == 0 {
		cfg.MinRequests = defaultMinRequests
	}
	if cfg.Window == 0 {
		cfg.Window = defaultWindow
	}
	if cfg.OpenBase == 0 {
		cfg.OpenBase = defaultOpenBase
	}
	if cfg.OpenMax == 0 {
		cfg.OpenMax = defaultOpenMax
	}
	switch {
	case cfg.Jitter == 0:
		cfg.Jitter = defaultJitter
	case cfg.Jitter < 0:
		cfg.Jitter = 0
	}
	if cfg.HalfOpenProbes == 0 {
		cfg.HalfOpenProbes = defaultHalfOpenProbes
	}
	if cfg.Classify == nil {
		cfg.Classify = DefaultClassifier
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = defaultProbeInterval
	}
	if cfg.ProbeMaxInterval == 0 {
		cfg.ProbeMaxInterval = max(defaultProbeMaxInterval, cfg.ProbeInterval)
	}
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = defaultProbeTimeout
	}
	return cfg
}

// validate reports the first invalid field of cfg, which must have had its
// defaults filled in.
func (cfg *Config) validate() error {
	switch {
	case cfg.MaxKeys < 0:
		return fmt.Errorf("herz/breaker: Config.MaxKeys must not be negative, got %d", cfg.MaxKeys)
	case math.IsNaN(cfg.FailureRatio) || cfg.FailureRatio < 0 || cfg.FailureRatio > 1:
		return fmt.Errorf("herz/breaker: Config.FailureRatio must be in [0,1] (0 means %v), got %v", defaultFailureRatio, cfg.FailureRatio)
	case cfg.Window < 0 || cfg.Window > maxDuration:
		return fmt.Errorf("herz/breaker: Config.Window must be in [0, %v], got %v", maxDuration, cfg.Window)
	case cfg.OpenBase < 0 || cfg.OpenBase > maxDuration:
		return fmt.Errorf("herz/breaker: Config.OpenBase must be in [0, %v], got %v", maxDuration, cfg.OpenBase)
	case cfg.OpenMax < 0 || cfg.OpenMax > maxDuration:
		return fmt.Errorf("herz/breaker: Config.OpenMax must be in [0, %v], got %v", maxDuration, cfg.OpenMax)
	case cfg.OpenMax < cfg.OpenBase:
		return fmt.Errorf("herz/breaker: Config.OpenMax (%v) must be at least Config.OpenBase (%v)", cfg.OpenMax, cfg.OpenBase)
	case cfg.ProbeInterval < 0 || cfg.ProbeInterval > maxDuration:
		return fmt.Errorf("herz/breaker: Config.ProbeInterval must be in [0, %v], got %v", maxDuration, cfg.ProbeInterval)
	case cfg.ProbeMaxInterval < 0 || cfg.ProbeMaxInterval > maxDuration:
		return fmt.Errorf("herz/breaker: Config.ProbeMaxInterval must be in [0, %v], got %v", maxDuration, cfg.ProbeMaxInterval)
	case cfg.ProbeMaxInterval < cfg.ProbeInterval:
		return fmt.Errorf("herz/breaker: Config.ProbeMaxInterval (%v) must be at least Config.ProbeInterval (%v)", cfg.ProbeMaxInterval, cfg.ProbeInterval)
	case cfg.ProbeTimeout < 0 || cfg.ProbeTimeout > maxDuration:
		return fmt.Errorf("herz/breaker: Config.ProbeTimeout must be in [0, %v], got %v", maxDuration, cfg.ProbeTimeout)
	case math.IsNaN(cfg.Jitter) || cfg.Jitter >= 1:
		return fmt.Errorf("herz/breaker: Config.Jitter must be below 1 (negative disables it), got %v", cfg.Jitter)
	}
	return nil
}
