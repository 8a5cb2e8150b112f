package retry

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [BudgetConfig]; a zero field means its default.
const (
	DefaultBudgetRatio        = 0.2
	DefaultBudgetMinPerSecond = 10.0
	DefaultBudgetTTL          = 10 * time.Second
)

// NoFloor is the [BudgetConfig.MinPerSecond] value for "no floor": retries are
// allowed only in proportion to requests. Zero cannot say this: zero means
// [DefaultBudgetMinPerSecond].
const NoFloor = -1.0

// minBudgetTTL is the shortest window accepted: below a second the floor
// (MinPerSecond × TTL) rounds to almost nothing and the buckets get too thin.
const minBudgetTTL = time.Second

// budgetBuckets is the number of time buckets the window is cut into: the
// window slides in steps of TTL/budgetBuckets.
const budgetBuckets = 10

// BudgetConfig configures a [Budget]. The zero value is the production default
// (Finagle's): retries may add 20% to the requests of the last 10 seconds,
// plus 10 retries per second that are always allowed.
type BudgetConfig struct {
	// Ratio is the share of requests that may be retried within the window, in
	// [0,1]. Default 0.2; zero means the default (to allow no retries at all,
	// use [NoRetries] in the [Policy] instead). Outside [0,1] or NaN is
	// invalid.
	Ratio float64

	// MinPerSecond is the floor: retries per second allowed even with no
	// traffic, so a client that sends little can still retry. Over a window
	// it allows MinPerSecond × TTL-in-seconds retries. Default 10; zero means
	// the default; [NoFloor] (-1) means no floor; any other negative value,
	// NaN or infinite is invalid.
	MinPerSecond float64

	// TTL is the length of the sliding window over which requests and retries
	// are counted (in steps of TTL/10). Default 10s; zero means the default;
	// below 1s is invalid.
	TTL time.Duration
}

// withDefaults returns c with every zero field replaced by its default.
func (c BudgetConfig) withDefaults() BudgetConfig {
	if c.Ratio == 0 {
		c.Ratio = DefaultBudgetRatio
	}
	if c.MinPerSecond == 0 {
		c.MinPerSecond = DefaultBudgetMinPerSecond
	}
	if c.TTL == 0 {
		c.TTL = DefaultBudgetTTL
	}
	return c
}

// validate reports the first invalid field of c (defaults already applied).
func (c BudgetConfig) validate() error {
	switch {
	case math.IsNaN(c.Ratio) || c.Ratio < 0 || c.Ratio > 1:
		return &ConfigError{Struct: "BudgetConfig", Field: "Ratio", Rule: fmt.Sprintf("must be in [0,1], got %v", c.Ratio)}
	case c.MinPerSecond != NoFloor && (math.IsNaN(c.MinPerSecond) || math.IsInf(c.MinPerSecond, 0) || c.MinPerSecond < 0):
		return &ConfigError{Struct: "BudgetConfig", Field: "MinPerSecond", Rule: fmt.Sprintf("must be a finite number ≥ 0 or NoFloor (-1), got %v", c.MinPerSecond)}
	case c.TTL < minBudgetTTL:
		return &ConfigError{Struct: "BudgetConfig", Field: "TTL", Rule: fmt.Sprintf("must be at least %v, got %v", minBudgetTTL, c.TTL)}
	}
	return nil
}

// BudgetStats is a cumulative snapshot of a [Budget] since it was created.
type BudgetStats struct {
	Requests       uint64 // Deposit calls
	RetriesAllowed uint64 // Withdraw calls that returned true
	RetriesRefused uint64 // Withdraw calls that returned false
}

// Budget is a retry budget shared by all the requests of one client, in the
// style of Finagle's RetryBudget and Envoy's retry budgets: every original
// request calls [Budget.Deposit]; every retry calls [Budget.Withdraw] first
// and is made only if it returns true. A retry is allowed while, over the last
// TTL,
//
//	retries + 1 ≤ Ratio × requests + MinPerSecond × TTL/1s
//
// so during a total outage the retries added stay below Ratio × requests plus
// the floor, instead of multiplying the traffic by the number of attempts.
//
// A nil *Budget allows every retry and counts nothing. A Budget is safe for
// concurrent use; Deposit is lock-free while the current time bucket is
// current, and neither method allocates.
type Budget struct {
	ratio float64       // frozen from the config
	floor float64       // MinPerSecond × TTL in seconds; 0 with NoFloor
	width time.Duration // TTL / budgetBuckets
	start time.Time     // origin of bucket epochs (monotonic)

	// mu serialises Withdraw and the rotation of a bucket to a new epoch.
	// Deposit reads a bucket's epoch and adds to its requests without it.
	mu      sync.Mutex
	buckets [budgetBuckets]bucket

	requests, allowed, refused atomic.Uint64 // cumulative, for Stats
}

// bucket holds the counts of one slot of TTL/budgetBuckets.
type bucket struct {
	epoch    atomic.Int64 // slot number (time since start / width) it counts; -1 = never used
	requests atomic.Int64 // Deposits in that slot
	retries  atomic.Int64 // allowed Withdraws in that slot; written under Budget.mu
}

// NewBudget returns a Budget for cfg, or an error naming the invalid field.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Budget{
		ratio: cfg.Ratio,
		width: cfg.TTL / budgetBuckets,
		start: time.Now(),
	}
	if cfg.MinPerSecond != NoFloor {
		b.floor = cfg.MinPerSecond * cfg.TTL.Seconds()
	}
	for i := range b.buckets {
		b.buckets[i].epoch.Store(-1)
	}
	return b, nil
}

// current returns the bucket of the current epoch, rotated to that epoch.
func (b *Budget) current() *bucket {
	e := int64(time.Since(b.start) / b.width)
	bk := &b.buckets[e%budgetBuckets]
	if bk.epoch.Load() != e {
		b.mu.Lock()
		b.rotateLocked(bk, e)
		b.mu.Unlock()
	}
	return bk
}

// rotateLocked makes bk count epoch e, forgetting an older epoch. b.mu is held.
// The counts are reset before the epoch is published, so a Deposit that sees
// epoch e never adds to counts that are then cleared for e.
func (b *Budget) rotateLocked(bk *bucket, e int64) {
	if bk.epoch.Load() >= e {
		return // another goroutine rotated it already (or time stood still)
	}
	bk.requests.Store(0)
	bk.retries.Store(0)
	bk.epoch.Store(e)
}

// Deposit records one original request. Call it once per request, before or
// after the first attempt, never per retry. It does not allocate and takes no
// lock except once per bucket width (TTL/10) to start a new bucket.
func (b *Budget) Deposit() {
	if b == nil {
		return
	}
	bk := b.current()
	bk.requests.Add(1)
	b.requests.Add(1)
}

// Withdraw reports whether one more retry is allowed now and, if so, counts
// it. Call it right before each retry (not before the first attempt); a
// false answer means: give up and return the last error.
func (b *Budget) Withdraw() bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	e := int64(time.Since(b.start) / b.width)
	cur := &b.buckets[e%budgetBuckets]
	b.rotateLocked(cur, e)
	var requests, retries int64
	for i := range b.buckets {
		bk := &b.buckets[i]
		if ep := bk.epoch.Load(); ep > e-budgetBuckets && ep <= e {
			requests += bk.requests.Load()
			retries += bk.retries.Load()
		}
	}
	ok := float64(retries+1) <= b.ratio*float64(requests)+b.floor
	if ok {
		cur.retries.Add(1)
	}
	b.mu.Unlock()
	if ok {
		b.allowed.Add(1)
	} else {
		b.refused.Add(1)
	}
	return ok
}

// Stats returns the cumulative counts since the Budget was created. A nil
// *Budget returns zero stats.
func (b *Budget) Stats() BudgetStats {
	if b == nil {
		return BudgetStats{}
	}
	return BudgetStats{
		Requests:       b.requests.Load(),
		RetriesAllowed: b.allowed.Load(),
		RetriesRefused: b.refused.Load(),
	}
}
