package breaker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/sony/gobreaker/v2"
)

// gbTimeout is gobreaker's own open timeout. The Registry keeps the real
// (growing, jittered) open interval itself and never calls into a breaker
// while that interval lasts, so gobreaker must be ready to go half-open as
// soon as the Registry asks it again.
const gbTimeout = time.Nanosecond

// maxTrips saturates the trip count; OpenMax is reached long before.
const maxTrips = 1 << 30

// errFailure is what a done function reports to gobreaker for a Failure:
// the Classifier has already decided, gobreaker only needs the verdict.
var errFailure = errors.New("herz/breaker: failure")

// gbSuccess and gbFailure are the requests a done function runs through
// gobreaker's Execute to report a result. They are plain functions, so that
// reporting allocates nothing.
func gbSuccess() (struct{}, error) { return struct{}{}, nil }
func gbFailure() (struct{}, error) { return struct{}{}, errFailure }

// gbTrip is gobreaker's ReadyToTrip. The Registry counts the closed state's
// results itself (see window) and reports a failure to a closed gobreaker
// only when its own counts say the breaker trips.
func gbTrip(gobreaker.Counts) bool { return true }

// The mode of an entry packs the state the Registry last saw gobreaker in
// with a generation that every state change increments: gen<<modeBits |
// State. A done function carries the mode its call was allowed in and counts
// for nothing if the mode has changed since, as gobreaker ignores the results
// of requests made before its last state change.
const (
	modeBits  = 2
	stateMask = 1<<modeBits - 1
)

func modeState(mode uint64) State { return State(mode & stateMask) }

// Registry holds one circuit breaker per key, created on first use and
// bounded by Config.MaxKeys (a key not allowed for longest is evicted first,
// in CLOCK's approximation of least recently allowed).
// A Registry is safe for concurrent use.
type Registry struct {
	cfg    Config    // frozen copy, defaults filled in
	epoch  time.Time // origin of the monotonic nanosecond clock of now()
	period int64     // window bucket length, ns

	// tickets hands out the once-only flags of done functions.
	tickets atomic.Pointer[ticketSlab]

	// mu guards keys, a golang-lru list bounded by Config.MaxKeys, and
	// changes to index. It is never held while an entry's mu is taken.
	//
	// Allow finds a key's entry in index, a sync.Map of the same entries:
	// no lock and no write to shared memory, where a mutex and an LRU
	// move-to-front on every call would move their cache lines between
	// cores on every request of a busy client. The eviction order is
	// CLOCK (second chance) on top of the list's insertion order: Allow
	// sets an entry's ref bit, and a full Registry moves the oldest entries
	// that have it to the front (clearing it) before it evicts the oldest
	// one that has not been allowed since.
	mu    sync.Mutex
	keys  *simplelru.LRU[string, *entry]
	index sync.Map // key → *entry: the entries of keys

	// The probes (Config.Probe): stop ends their contexts and waits; probeMu
	// guards closed and the probers' Add to wg (taken under an entry's mu).
	stop    context.Context
	cancel  context.CancelFunc
	probeMu sync.Mutex
	closed  bool
	probers sync.WaitGroup
}

// entry is one key's breaker. gobreaker holds its state machine: the state,
// the transitions and their hook, the open timeout and the half-open success
// count. The entry counts the closed state's results, decides when to trip,
// keeps the open interval and admits the half-open probes.
type entry struct {
	r   *Registry
	key string
	gb  *gobreaker.CircuitBreaker[struct{}]

	// mode is gobreaker's state as of its last state change, with a
	// generation (see modeBits). Written only under mu (by onGBStateChange),
	// read without it by Allow's fast paths.
	mode atomic.Uint64
	// holdUntil is the end of the open interval in Registry.now() units
	// (0 when never opened). Written only under mu (by onGBStateChange,
	// before mode), read without it by the rejection fast path.
	holdUntil atomic.Int64
	// evicted is set under Registry.mu when the entry leaves the registry.
	evicted atomic.Bool
	// ref is set by Allow: the entry was used since the eviction clock last
	// passed it (see Registry.keys).
	ref atomic.Bool

	// mu guards the fields below and every call into gb, so that gb's
	// OnStateChange hook (which gobreaker calls under its own mutex) runs
	// with mu held and only records. Registry.mu is never taken under mu.
	mu         sync.Mutex
	win        window   // the closed state's results
	probes     uint32   // half-open probe slots taken in this generation
	trips      int64    // trips since the last full recovery
	closedAt   int64    // when it last closed from half-open, valid if recovered
	recovered  bool     // it closed from half-open since the last trip
	pending    []change // state changes not yet handed to OnStateChange
	spare      []change // recycled backing array for pending
	delivering bool     // a goroutine is delivering pending
	probing    bool     // a prober goroutine runs for e (Config.Probe)
	// changed, if not nil, is closed (and reset to nil) at e's next state
	// change or freed half-open probe slot: AllowWait's callers wait on it.
	changed chan struct{}
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
	r := &Registry{
		cfg:    cfg,
		epoch:  time.Now(),
		period: int64((cfg.Window + windowBuckets - 1) / windowBuckets), // ≥ 1: Window ≥ 1 once defaulted
	}
	r.stop, r.cancel = context.WithCancel(context.Background())
	// MaxKeys ≥ 1 once defaulted and validated: NewLRU cannot fail.
	keys, err := simplelru.NewLRU(cfg.MaxKeys, r.evict)
	if err != nil {
		return nil, fmt.Errorf("herz/breaker: Config.MaxKeys: %w", err)
	}
	r.keys = keys
	return r, nil
}

// evict is the LRU's eviction callback, run under Registry.mu when an entry
// leaves the Registry: done functions and late results of the entry count for
// nothing from then on, and Allow asks again for a fresh entry.
func (r *Registry) evict(key string, e *entry) {
	e.evicted.Store(true)
	r.index.Delete(key)
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
// Allowing a call to a closed breaker takes no lock but the Registry's and
// allocates only done; reporting a result to it takes the key's lock and
// reads the clock once. The rejection of an open breaker takes no lock but
// the Registry's and allocates only the error.
func (r *Registry) Allow(key string) (done func(err error), err error) {
	t, err := r.AllowTicket(key)
	if err != nil {
		return nil, err
	}
	return t.Done, nil
}

// Ticket is a call admitted by [Registry.AllowTicket]: report its result
// with [Ticket.Done], exactly once. It is a small value: admitting a call
// this way allocates nothing.
type Ticket struct {
	e    *entry
	mode uint64
	word *atomic.Uint64
	bit  uint64
}

// Done reports the admitted call's result (nil for success), like the done
// function of [Registry.Allow]. Calling it again, or on the zero Ticket, is a
// no-op; it is safe to call from any goroutine.
func (t Ticket) Done(err error) {
	if t.e == nil || t.word.Or(t.bit)&t.bit != 0 {
		return // reported already
	}
	t.e.report(t.mode, err)
}

// AllowTicket is [Registry.Allow] without the done closure's allocation: on
// success it returns a [Ticket] whose Done must be called with the result.
func (r *Registry) AllowTicket(key string) (Ticket, error) {
	for {
		e := r.lookup(key)
		mode := e.mode.Load()
		switch modeState(mode) {
		case StateClosed:
			if !e.evicted.Load() {
				return e.admit(mode), nil // a Ticket
			}
			continue // evicted since lookup: ask again for a fresh entry
		case StateOpen:
			now := r.now()
			if hold := e.holdUntil.Load(); now < hold {
				return Ticket{}, &OpenError{Key: key, State: StateOpen, RetryIn: time.Duration(hold - now)}
			}
		}
		if t, err := e.allowLocked(); t.e != nil || err != nil {
			return t, err
		}
		// Evicted between lookup and Lock: ask again, which creates a
		// fresh entry for key.
	}
}

// allowLocked is Allow for a breaker that is not plainly closed: open with
// its hold over, or half-open. It returns a zero Ticket and nil if e was
// evicted.
func (e *entry) allowLocked() (t Ticket, err error) {
	e.mu.Lock()
	if e.evicted.Load() {
		e.mu.Unlock()
		return Ticket{}, nil
	}
	mode := e.mode.Load()
	if modeState(mode) == StateOpen {
		// Re-check under mu: another goroutine may have tripped the
		// breaker again since the fast path.
		now := e.r.now()
		if hold := e.holdUntil.Load(); now < hold {
			e.mu.Unlock()
			return Ticket{}, &OpenError{Key: e.key, State: StateOpen, RetryIn: time.Duration(hold - now)}
		}
		// The hold is over, and so is gobreaker's 1ns timeout: asking
		// gobreaker its state moves it to half-open (onGBStateChange).
		e.gb.State()
		mode = e.mode.Load()
	}
	admitted := false
	switch modeState(mode) {
	case StateClosed: // closed by another goroutine's probe meanwhile
		admitted = true
	case StateHalfOpen:
		if e.probes < e.r.cfg.HalfOpenProbes {
			e.probes++
			admitted = true
		} else {
			err = &OpenError{Key: e.key, State: StateHalfOpen}
		}
	default:
		// Still open: the hold and gobreaker's timeout ended within the
		// same nanosecond.
		err = &OpenError{Key: e.key, State: StateOpen}
	}
	deliver := e.claimDeliveryLocked()
	e.mu.Unlock()
	if deliver {
		e.deliver()
	}
	if admitted {
		t = e.admit(mode)
	}
	return t, err
}

// admit returns the Ticket of a call allowed in mode. Its once-only flag is
// a bit of a shared ticketSlab, so admitting allocates nothing but, once per
// ticketsPerSlab calls, a slab.
func (e *entry) admit(mode uint64) Ticket {
	word, bit := e.r.ticket()
	return Ticket{e: e, mode: mode, word: word, bit: bit}
}

// report counts the result err of a call allowed in mode.
func (e *entry) report(mode uint64, err error) {
	outcome := e.r.cfg.Classify(err) // user code: called with no lock held
	st := modeState(mode)
	if outcome == Ignore && st == StateClosed {
		return // counts neither way
	}
	e.mu.Lock()
	// A result from before the last state change counts for nothing:
	// while the breaker is held open every call still out was allowed
	// before the trip, and a late result from a closed or half-open round
	// that ended says nothing about the current one. An evicted entry's
	// results count for nothing either.
	if e.evicted.Load() || e.mode.Load() != mode {
		e.mu.Unlock()
		return
	}
	if st == StateClosed {
		now := e.r.now()
		if outcome == Success {
			e.win.success(now)
		} else {
			e.win.failure(now)
			if e.r.cfg.tripsOn(&e.win) {
				e.gb.Execute(gbFailure) // trips gobreaker (gbTrip), calling onGBStateChange
			}
		}
	} else { // half-open: gobreaker closes after HalfOpenProbes successes, reopens on a failure
		switch outcome {
		case Success:
			e.gb.Execute(gbSuccess)
		case Ignore:
			e.probes-- // frees the probe slot
			e.notifyLocked()
		default:
			e.gb.Execute(gbFailure)
		}
	}
	deliver := e.claimDeliveryLocked()
	e.mu.Unlock()
	if deliver {
		e.deliver()
	}
}

// ticketSlab holds the once-only flags of done functions, one bit each: a
// done function sets its bit and reports only if it was clear. Bits are
// never reused; a slab is garbage once the done functions holding its bits
// are, so a call costs 1/ticketsPerSlab of an allocation for its flag.
type ticketSlab struct {
	next atomic.Uint32 // the next bit to hand out
	bits [ticketsPerSlab / 64]atomic.Uint64
}

const ticketsPerSlab = 4096

// ticket returns a fresh once-only flag: bit in *word.
func (r *Registry) ticket() (word *atomic.Uint64, bit uint64) {
	for {
		s := r.tickets.Load()
		if s != nil {
			if i := s.next.Add(1) - 1; i < ticketsPerSlab {
				return &s.bits[i/64], 1 << (i % 64)
			}
		}
		// Full (or none yet): install a fresh slab; if another goroutine
		// did first, take a ticket from its slab. A full slab's next only
		// grows by one per goroutine that loaded it before the swap, so
		// it never wraps around to bits already handed out.
		r.tickets.CompareAndSwap(s, new(ticketSlab))
	}
}

// State returns key's current state, StateClosed for a key the Registry does
// not hold. It does not count as a use of key for the LRU order. When the
// open interval has passed it reports StateHalfOpen (and OnStateChange sees
// the change then, as gobreaker does).
func (r *Registry) State(key string) State {
	r.mu.Lock()
	e, ok := r.keys.Peek(key)
	r.mu.Unlock()
	if !ok {
		return StateClosed
	}
	return e.state()
}

// States returns a snapshot of the state of every key the Registry holds.
func (r *Registry) States() map[string]State {
	r.mu.Lock()
	entries := r.keys.Values()
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
	return r.keys.Len()
}

// state returns e's current state.
func (e *entry) state() State {
	// gobreaker changes state on its own only from open to half-open,
	// when asked after its timeout: a closed or half-open mode is current.
	if s := modeState(e.mode.Load()); s != StateOpen || e.r.now() < e.holdUntil.Load() {
		return s
	}
	e.mu.Lock()
	if s := modeState(e.mode.Load()); s != StateOpen || e.r.now() < e.holdUntil.Load() {
		e.mu.Unlock()
		return s
	}
	e.gb.State() // moves gobreaker to half-open (onGBStateChange)
	s := modeState(e.mode.Load())
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

// lookup returns key's entry, marked as allowed since the eviction clock
// last passed it, creating it if needed (evicting, if the Registry is full,
// the oldest entry not allowed since; see Registry.keys).
func (r *Registry) lookup(key string) *entry {
	if v, ok := r.index.Load(key); ok {
		e := v.(*entry)
		if !e.ref.Load() {
			e.ref.Store(true) // a store only when it changes: no write per call
		}
		return e
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.keys.Peek(key); ok {
		e.ref.Store(true)
		return e // created by another goroutine meanwhile
	}
	// Full: entries allowed since they were last moved get a second
	// chance before Add evicts the oldest. Each pass clears a ref bit, so
	// the loop ends within Len steps.
	for n := r.keys.Len(); r.keys.Len() >= r.cfg.MaxKeys && n > 0; n-- {
		k, old, _ := r.keys.GetOldest()
		if !old.ref.Load() {
			break
		}
		old.ref.Store(false)
		r.keys.Get(k) // to the front
	}
	e := r.newEntry(key)
	r.keys.Add(key, e) // the victim, if any, is never e: Add puts e in front and MaxKeys ≥ 1
	r.index.Store(key, e)
	return e
}

// newEntry returns a new closed breaker for key.
func (r *Registry) newEntry(key string) *entry {
	e := &entry{r: r, key: key}
	e.win.reset(r.period, r.now())
	e.gb = e.newGB()
	return e
}

// newGB returns a new closed gobreaker breaker for e.
func (e *entry) newGB() *gobreaker.CircuitBreaker[struct{}] {
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        e.key,
		MaxRequests: e.r.cfg.HalfOpenProbes,
		// Interval 0: gobreaker never clears its counts while closed;
		// it sees only the failure that trips it (see gbTrip).
		Timeout:       gbTimeout,
		ReadyToTrip:   gbTrip,
		OnStateChange: e.onGBStateChange,
	})
}

// tripsOn reports whether a closed breaker whose results are w trips, which
// it is asked after each failure.
func (cfg *Config) tripsOn(w *window) bool {
	if w.consecutiveFailures() >= uint64(cfg.ConsecutiveFailures) {
		return true
	}
	counted := w.successes + w.failures
	return counted >= uint64(cfg.MinRequests) &&
		float64(w.failures) >= cfg.FailureRatio*float64(counted)
}

// onGBStateChange is gobreaker's OnStateChange. gobreaker calls it under its
// own mutex, from a call this package made with e.mu held: it updates e and
// queues the change, and must not call out.
func (e *entry) onGBStateChange(_ string, from, to gobreaker.State) {
	e.notifyLocked()
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
		if e.r.cfg.Probe != nil && !e.probing {
			e.probing = e.r.startProber(e)
		}
	case gobreaker.StateHalfOpen:
		e.probes = 0
	case gobreaker.StateClosed:
		e.recovered = true
		e.closedAt = now
		e.win.reset(e.r.period, now)
	}
	// After holdUntil: a goroutine that sees the new mode sees the hold.
	e.mode.Store((e.mode.Load()>>modeBits+1)<<modeBits | uint64(fromGB(to)))
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

// startProber starts the goroutine that probes e while it is not closed,
// unless the Registry is closed; it reports whether it did. It is called
// with e.mu held.
func (r *Registry) startProber(e *entry) bool {
	r.probeMu.Lock()
	defer r.probeMu.Unlock()
	if r.closed {
		return false
	}
	r.probers.Add(1)
	go r.probe(e)
	return true
}

// probe calls Config.Probe for e until a probe succeeds (which closes e),
// e closes or is evicted, or the Registry is closed.
func (r *Registry) probe(e *entry) {
	defer r.probers.Done()
	wait := r.cfg.ProbeInterval
	t := time.NewTimer(r.jitter(wait))
	defer t.Stop()
	for {
		select {
		case <-r.stop.Done():
			e.endProbing()
			return
		case <-t.C:
		}
		if !e.stillProbing() {
			return
		}
		ctx, cancel := context.WithTimeout(r.stop, r.cfg.ProbeTimeout)
		err := r.cfg.Probe(ctx, e.key) // user code: no lock held
		cancel()
		if err == nil && r.stop.Err() == nil {
			e.recover()
			return
		}
		wait = min(2*wait, r.cfg.ProbeMaxInterval)
		t.Reset(r.jitter(wait))
	}
}

// jitter spreads d over ± Config.Jitter.
func (r *Registry) jitter(d time.Duration) time.Duration {
	if j := r.cfg.Jitter; j > 0 {
		return time.Duration(float64(d) * (1 + j*(2*rand.Float64()-1)))
	}
	return d
}

// endProbing records that e's prober stopped.
func (e *entry) endProbing() {
	e.mu.Lock()
	e.probing = false
	e.mu.Unlock()
}

// stillProbing reports whether e still needs its prober: not closed, not
// evicted. If not, the prober is recorded as stopped, under the same lock
// as the trips that start one.
func (e *entry) stillProbing() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.evicted.Load() || modeState(e.mode.Load()) == StateClosed {
		e.probing = false
		return false
	}
	return true
}

// recover closes e after a successful probe, and records that its prober
// stopped. A breaker closed meanwhile (by a half-open call) stays as it is.
func (e *entry) recover() {
	e.mu.Lock()
	e.probing = false
	if e.evicted.Load() || modeState(e.mode.Load()) == StateClosed {
		e.mu.Unlock()
		return
	}
	// gobreaker has no way to close a breaker but half-open successes,
	// which calls in flight may be using: a fresh (closed) gobreaker
	// replaces it, and the transition is recorded as gobreaker would. The
	// mode's generation changes, so results of calls allowed before count
	// for nothing.
	from := gobreaker.StateOpen
	if modeState(e.mode.Load()) == StateHalfOpen {
		from = gobreaker.StateHalfOpen
	}
	e.gb = e.newGB()
	e.onGBStateChange(e.key, from, gobreaker.StateClosed)
	deliver := e.claimDeliveryLocked()
	e.mu.Unlock()
	if deliver {
		e.deliver()
	}
}

// Close stops the probes (Config.Probe) and waits for them to return; no
// probe starts after it. The Registry keeps working otherwise: breakers
// still open, and recover through their open interval and half-open calls.
// Close is idempotent and always returns nil; a Registry without a Probe
// needs no Close.
func (r *Registry) Close() error {
	r.probeMu.Lock()
	r.closed = true
	r.probeMu.Unlock()
	r.cancel()
	r.probers.Wait()
	return nil
}

// notifyLocked wakes AllowWait's callers waiting on e; e.mu is held.
func (e *entry) notifyLocked() {
	if e.changed != nil {
		close(e.changed)
		e.changed = nil
	}
}

// waitPoll bounds each wait of AllowWait between checks of the breaker, so
// that a waiter whose key was evicted meanwhile (its entry then changes no
// more) asks again soon.
const waitPoll = 100 * time.Millisecond

// AllowWait is [Registry.AllowTicket] for a caller that would rather wait
// than fail fast: while the breaker for key is open, or half-open with its
// probe slots taken, it waits within ctx and is admitted as soon as the
// breaker lets a call through (it closes, a Config.Probe finds the peer
// back, the open interval ends and a probe slot is free, or a probe slot
// frees up). Waiters queue behind the probe in flight instead of being
// refused. If ctx ends first, the error is the breaker's [*OpenError]
// wrapped with ctx's error (both errors.Is ErrOpen and the ctx error). A
// ctx that can never end (its Done is nil) gets AllowTicket's answer at
// once. A closed breaker admits as AllowTicket does, with no wait.
func (r *Registry) AllowWait(ctx context.Context, key string) (Ticket, error) {
	t, err := r.AllowTicket(key)
	if err == nil || ctx.Done() == nil {
		return t, err
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// Take the channel first, then ask again: a change after the
		// question closes the channel, so no wake-up is lost.
		e := r.lookup(key)
		e.mu.Lock()
		if e.changed == nil {
			e.changed = make(chan struct{})
		}
		ch := e.changed
		hold := e.holdUntil.Load()
		e.mu.Unlock()
		if t, err = r.AllowTicket(key); err == nil {
			return t, nil
		}
		wait := waitPoll
		if d := time.Duration(hold - r.now()); d > 0 && d < wait {
			wait = d // the open interval ends: the half-open probe is due
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ch:
		case <-timer.C:
		case <-ctx.Done():
			return Ticket{}, fmt.Errorf("%w (%w)", err, ctx.Err())
		}
	}
}
