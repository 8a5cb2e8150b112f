package breaker

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// gbTimeout is gobreaker's own open timeout. The Registry keeps the real
// (growing, jittered) open interval itself and never calls into a breaker
// while that interval lasts, so gobreaker must be ready to go half-open as
// soon as the Registry asks it again.
const gbTimeout = time.Nanosecond

// maxTrips saturates the trip count; OpenMax is reached long before.
const maxTrips = 1 << 30

// errFailure and errIgnored are what a done function reports to gobreaker:
// the Classifier has already decided, gobreaker only needs the verdict.
var (
	errFailure = errors.New("herz/breaker: failure")
	errIgnored = errors.New("herz/breaker: ignored")
)

// Registry holds one circuit breaker per key, created on first use and
// bounded by Config.MaxKeys (least recently allowed evicted first).
// A Registry is safe for concurrent use.
type Registry struct {
	cfg   Config    // frozen copy, defaults filled in
	epoch time.Time // origin of the monotonic nanosecond clock of now()

	// mu guards keys and the LRU list (head, tail and every entry's
	// prev/next). It is never held while an entry's mu is taken.
	mu         sync.Mutex
	keys       map[string]*entry
	head, tail *entry // most and least recently allowed
}

// entry is one key's breaker.
type entry struct {
	r   *Registry
	key string
	gb  *gobreaker.TwoStepCircuitBreaker[struct{}]

	// holdUntil is the end of the open interval in Registry.now() units
	// (0 when never opened). Written only under mu (by onGBStateChange),
	// read without it by the rejection fast path.
	holdUntil atomic.Int64
	// evicted is set under Registry.mu when the entry leaves the registry.
	evicted atomic.Bool

	// prev and next link the LRU list; guarded by Registry.mu.
	prev, next *entry

	// mu guards the fields below and every call into gb, so that gb's
	// OnStateChange hook (which gobreaker calls under its own mutex) runs
	// with mu held and only records. Registry.mu is never taken under mu.
	mu         sync.Mutex
	trips      int64    // trips since the last full recovery
	closedAt   int64    // when it last closed from half-open, valid if recovered
	recovered  bool     // it closed from half-open since the last trip
	pending    []change // state changes not yet handed to OnStateChange
	spare      []change // recycled backing array for pending
	delivering bool     // a goroutine is delivering pending
}

// change is a queued state change.
type change struct{ from, to State }

// New returns a Registry configured by cfg, or an error naming the first
// invalid field of cfg.
func New(cfg Config) (*Registry, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Registry{
		cfg:   cfg,
		epoch: time.Now(),
		keys:  make(map[string]*entry),
	}, nil
}

// now is the Registry's monotonic clock, in nanoseconds since New.
func (r *Registry) now() int64 { return int64(time.Since(r.epoch)) }

// Allow asks whether a call to key may proceed.
//
// If it may, Allow returns a done function and a nil error: the caller must
// call done exactly once with the call's result (nil for success), which the
// Classifier maps to an Outcome. Calling done again is a no-op, and so is
// calling it after key was evicted. done is safe to call from any goroutine.
//
// If it may not, done is nil and err is an [*OpenError] wrapping [ErrOpen]:
// the breaker is open, or half-open with all its probe slots taken.
//
// The rejection of an open breaker takes no lock but the Registry's and
// allocates only the error.
func (r *Registry) Allow(key string) (done func(err error), err error) {
	for {
		e := r.lookup(key)
		now := r.now()
		if hold := e.holdUntil.Load(); now < hold {
			return nil, &OpenError{Key: key, State: StateOpen, RetryIn: time.Duration(hold - now)}
		}
		e.mu.Lock()
		if e.evicted.Load() {
			// Evicted between lookup and Lock: ask again, which creates
			// a fresh entry for key.
			e.mu.Unlock()
			continue
		}
		// Re-check under mu: another goroutine may have tripped the
		// breaker since the fast path, and gb would already call it
		// half-open. The earlier now is good enough: a trip since then
		// set a hold beyond it.
		if hold := e.holdUntil.Load(); now < hold {
			e.mu.Unlock()
			return nil, &OpenError{Key: key, State: StateOpen, RetryIn: time.Duration(hold - now)}
		}
		gbDone, gbErr := e.gb.Allow()
		deliver := e.claimDeliveryLocked()
		e.mu.Unlock()
		if deliver {
			e.deliver()
		}
		if gbErr != nil {
			// ErrTooManyRequests: half-open with every probe slot taken.
			// ErrOpenState: only when the hold and gobreaker's 1ns
			// timeout end within the same nanosecond.
			st := StateHalfOpen
			if errors.Is(gbErr, gobreaker.ErrOpenState) {
				st = StateOpen
			}
			return nil, &OpenError{Key: key, State: st}
		}
		c := &call{e: e, gbDone: gbDone}
		return c.done, nil
	}
}

// call is one allowed call waiting for its result.
type call struct {
	e        *entry
	gbDone   func(error)
	finished atomic.Bool
}

// done reports the call's result once; later calls are no-ops.
func (c *call) done(err error) {
	if !c.finished.CompareAndSwap(false, true) {
		return
	}
	e := c.e
	var verdict error
	switch e.r.cfg.Classify(err) { // user code: called with no lock held
	case Success:
		verdict = nil
	case Ignore:
		verdict = errIgnored
	default:
		verdict = errFailure
	}
	e.mu.Lock()
	// While the breaker is held open, every call still out was allowed
	// before the trip that opened it, and gobreaker would discard its
	// result as belonging to an older generation, but only after moving
	// itself to half-open (its own timeout is 1ns). Drop it here instead.
	// An evicted entry's results count for nothing either.
	if e.evicted.Load() || e.r.now() < e.holdUntil.Load() {
		e.mu.Unlock()
		return
	}
	c.gbDone(verdict)
	deliver := e.claimDeliveryLocked()
	e.mu.Unlock()
	if deliver {
		e.deliver()
	}
}

// State returns key's current state, StateClosed for a key the Registry does
// not hold. It does not count as a use of key for the LRU order. When the
// open interval has passed it reports StateHalfOpen (and OnStateChange sees
// the change then, as gobreaker does).
func (r *Registry) State(key string) State {
	r.mu.Lock()
	e := r.keys[key]
	r.mu.Unlock()
	if e == nil {
		return StateClosed
	}
	return e.state()
}

// States returns a snapshot of the state of every key the Registry holds.
func (r *Registry) States() map[string]State {
	r.mu.Lock()
	entries := make([]*entry, 0, len(r.keys))
	for _, e := range r.keys {
		entries = append(entries, e)
	}
	r.mu.Unlock()
	states := make(map[string]State, len(entries))
	for _, e := range entries {
		states[e.key] = e.state()
	}
	return states
}

// Len returns the number of keys the Registry holds, at most Config.MaxKeys.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.keys)
}

// state returns e's current state.
func (e *entry) state() State {
	if e.r.now() < e.holdUntil.Load() {
		return StateOpen
	}
	e.mu.Lock()
	if e.r.now() < e.holdUntil.Load() {
		e.mu.Unlock()
		return StateOpen
	}
	s := fromGB(e.gb.State())
	deliver := e.claimDeliveryLocked()
	e.mu.Unlock()
	if deliver {
		e.deliver()
	}
	return s
}

// fromGB converts a gobreaker state.
func fromGB(s gobreaker.State) State {
	switch s {
	case gobreaker.StateOpen:
		return StateOpen
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	default:
		return StateClosed
	}
}

// lookup returns key's entry, creating it (and evicting the least recently
// allowed entry if the Registry is full) if needed, and marks it most
// recently allowed.
func (r *Registry) lookup(key string) *entry {
	r.mu.Lock()
	e := r.keys[key]
	if e != nil {
		if r.head != e {
			r.unlinkLocked(e)
			r.pushFrontLocked(e)
		}
		r.mu.Unlock()
		return e
	}
	e = r.newEntry(key)
	r.keys[key] = e
	r.pushFrontLocked(e)
	for len(r.keys) > r.cfg.MaxKeys {
		victim := r.tail // never e: e is at the front and MaxKeys ≥ 1
		r.unlinkLocked(victim)
		delete(r.keys, victim.key)
		victim.evicted.Store(true)
	}
	r.mu.Unlock()
	return e
}

func (r *Registry) pushFrontLocked(e *entry) {
	e.prev = nil
	e.next = r.head
	if r.head != nil {
		r.head.prev = e
	}
	r.head = e
	if r.tail == nil {
		r.tail = e
	}
}

func (r *Registry) unlinkLocked(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		r.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		r.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// newEntry returns a new closed breaker for key.
func (r *Registry) newEntry(key string) *entry {
	e := &entry{r: r, key: key}
	cfg := &r.cfg
	e.gb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:          key,
		MaxRequests:   cfg.HalfOpenProbes,
		Interval:      cfg.Window,
		BucketPeriod:  cfg.Window / windowBuckets, // 0 (one fixed window) for a Window under 10ns
		Timeout:       gbTimeout,
		ReadyToTrip:   cfg.readyToTrip,
		OnStateChange: e.onGBStateChange,
		IsExcluded:    func(err error) bool { return err == errIgnored },
	})
	return e
}

// readyToTrip is gobreaker's ReadyToTrip, called after a failure in the
// closed state.
func (cfg *Config) readyToTrip(c gobreaker.Counts) bool {
	if c.ConsecutiveFailures >= cfg.ConsecutiveFailures {
		return true
	}
	counted := uint64(c.TotalSuccesses) + uint64(c.TotalFailures)
	return counted >= uint64(cfg.MinRequests) &&
		float64(c.TotalFailures) >= cfg.FailureRatio*float64(counted)
}

// onGBStateChange is gobreaker's OnStateChange. gobreaker calls it under its
// own mutex, from a call this package made with e.mu held: it updates e and
// queues the change, and must not call out.
func (e *entry) onGBStateChange(_ string, from, to gobreaker.State) {
	now := e.r.now()
	switch to {
	case gobreaker.StateOpen:
		if from == gobreaker.StateClosed && e.recovered && now-e.closedAt >= int64(e.r.cfg.Window) {
			e.trips = 0 // a full recovery: this trip is a first one again
		}
		e.recovered = false
		if e.trips < maxTrips {
			e.trips++
		}
		e.holdUntil.Store(now + int64(e.r.openInterval(e.trips)))
	case gobreaker.StateClosed:
		e.recovered = true
		e.closedAt = now
	}
	if e.r.cfg.OnStateChange != nil && !e.evicted.Load() {
		e.pending = append(e.pending, change{fromGB(from), fromGB(to)})
	}
}

// openInterval returns the jittered open interval after the trips-th trip
// in a row: min(OpenBase × trips, OpenMax) × (1 + Jitter × u), u uniform in
// [-1, 1).
func (r *Registry) openInterval(trips int64) time.Duration {
	base, limit := r.cfg.OpenBase, r.cfg.OpenMax
	d := limit
	if base > 0 && trips <= int64(limit/base) {
		d = base * time.Duration(trips)
	}
	if j := r.cfg.Jitter; j > 0 {
		f := float64(d) * (1 + j*(2*rand.Float64()-1))
		if f >= float64(maxDuration) {
			return maxDuration // only for absurd configs; keeps holdUntil from overflowing
		}
		d = time.Duration(f)
	}
	return d
}

// claimDeliveryLocked reports whether the caller, holding e.mu, must deliver
// e's pending changes after unlocking; it does when changes are pending and
// nobody else is delivering them.
func (e *entry) claimDeliveryLocked() bool {
	if len(e.pending) == 0 || e.delivering {
		return false
	}
	e.delivering = true
	return true
}

// deliver calls OnStateChange for e's pending changes, in order, with no
// lock held, until none are left. Only the goroutine that claimed delivery
// runs it; changes queued meanwhile (by the callback itself too) are
// delivered by the same loop. If the callback panics, delivery is released
// so that a later call delivers the changes still pending.
func (e *entry) deliver() {
	fn := e.r.cfg.OnStateChange
	released := false
	defer func() {
		if !released {
			e.mu.Lock()
			e.delivering = false
			e.mu.Unlock()
		}
	}()
	for {
		e.mu.Lock()
		batch := e.pending
		if len(batch) == 0 {
			e.delivering = false
			released = true
			e.mu.Unlock()
			return
		}
		e.pending = e.spare[:0]
		e.spare = nil
		e.mu.Unlock()
		for _, c := range batch {
			fn(e.key, c.from, c.to)
		}
		clear(batch)
		e.mu.Lock()
		if e.spare == nil {
			e.spare = batch[:0]
		}
		e.mu.Unlock()
	}
}
