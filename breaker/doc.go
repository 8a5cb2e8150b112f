// Package breaker keeps one circuit breaker per key (a host:port, a DSN
// address, a gRPC target) so that calls to a dead peer fail in microseconds
// instead of waiting for a timeout.
//
// It is the only herz package that imports github.com/sony/gobreaker/v2.
// gobreaker runs each key's state machine (closed, open, half-open, the
// transitions and their hook, closing after the half-open probes
// succeeded); this package adds what gobreaker lacks:
//
//   - a bounded (LRU) [Registry] of breakers created lazily per key;
//   - an open interval that grows with repeated trips and carries jitter
//     (Envoy's "base ejection time × ejections", capped);
//   - a [Classifier] that says which results are failures, and an Ignore
//     outcome for results that count neither way (the caller's own
//     context.Canceled);
//   - state-change callbacks that are never called while a lock is held
//     (gobreaker calls its OnStateChange under its mutex, see gobreaker#37),
//     delivered in order per key, and free to call back into the Registry.
//
// # Use
//
// A caller asks [Registry.Allow] before each call and reports the result
// through the returned done function:
//
//	done, err := reg.Allow(addr)
//	if err != nil {
//		return err // a *OpenError wrapping ErrOpen; nothing was attempted
//	}
//	conn, err := dial(ctx, addr)
//	done(err)
//
// # States
//
// A breaker starts closed. It trips to open when, within the rolling
// [Config.Window], ConsecutiveFailures results in a row were failures, or at
// least MinRequests results were counted and the share of failures among
// them reached FailureRatio. While open, Allow rejects every call with an
// [*OpenError]. When the open interval has passed, the breaker is half-open:
// it lets HalfOpenProbes calls through and rejects the others; if all the
// probes succeed it closes, if one fails it opens again.
//
// # Open interval
//
// The n-th consecutive trip holds the breaker open for
//
//	min(OpenBase × n, OpenMax) × (1 + Jitter × u),  u uniform in [-1, 1)
//
// n counts the trips since the last full recovery. A full recovery is a
// breaker that closed from half-open and then stayed closed for at least one
// [Config.Window] before it tripped again: that next trip counts as the first
// again (n = 1). A breaker that trips again sooner after a recovery keeps
// counting (n+1): a peer that flaps is held out longer each time.
//
// Implementation: gobreaker's Timeout is fixed per breaker, so gobreaker is
// configured with a Timeout of 1ns and this package keeps its own "hold
// until" instant per key, set when gobreaker reports a transition to open.
// While the hold lasts, Allow rejects without consulting gobreaker; once it
// has passed, gobreaker's open timeout has long expired and the next call
// into gobreaker finds it half-open.
//
// # Recovery found by a probe
//
// A fixed open interval makes callers pay for it after the peer is back.
// With [Config.Probe] set, a goroutine owned by the Registry probes each
// open key (ProbeInterval after the trip, then with the wait doubled after
// each failed probe up to ProbeMaxInterval, jittered) and closes the breaker
// as soon as a probe succeeds. The open interval and the half-open calls
// still apply: a probe only ends them sooner. [Registry.Close] stops the
// probes. A caller that would rather wait than fail fast (as gRPC's
// WaitForReady) uses [Registry.AllowWait]: within its own deadline it
// queues behind the probe in flight and is admitted as soon as the breaker
// lets calls through. [TCPProbe] probes host:port keys. Rejections carry a stable message naming the key; how long the
// open interval still lasts is in [OpenError.RetryIn].
//
// # Cost
//
// Clients call Allow and done around every request, so the closed state's
// success path is kept to one allocation (the done function; its once-only
// flag is a bit of a slab shared by 4096 calls) and one clock read, and
// allowing a call to a closed breaker takes no lock but the Registry's. To
// get there, the closed state's results are counted by this package, in the
// same rolling window of ten buckets that gobreaker would keep, counting a
// result when it is reported; a failure is passed to gobreaker only when the
// counts say the breaker trips. Probe admission in half-open (at most
// HalfOpenProbes calls, an Ignore freeing its slot) is this package's too;
// the probes' results go to gobreaker, which closes or reopens the breaker.
// As in gobreaker, the result of a call allowed before the breaker's last
// state change counts for nothing.
//
// # Callbacks
//
// Every call into a gobreaker breaker is made under that key's mutex, so
// gobreaker's own OnStateChange (which runs under gobreaker's mutex) only
// appends the transition to a per-key queue. After releasing the mutex, the
// goroutine that queued it delivers the queue to [Config.OnStateChange],
// unless another goroutine is already delivering for that key, in which case
// that goroutine delivers it too, after the transitions queued before it.
// So the callbacks for one key are called one at a time, in order, with no
// lock held; callbacks for different keys may run concurrently. A callback
// may call any Registry method, including Allow for its own key.
//
// # Bound
//
// The Registry keeps at most [Config.MaxKeys] breakers. Allow for a new key
// beyond that evicts a key not allowed for longest: the least recently
// allowed one in CLOCK's (second chance) approximation, which lets Allow
// find a known key with no lock and no write to shared memory. An evicted
// breaker, open
// or not, is forgotten: the next Allow for its key starts a new, closed
// breaker with no trip history, and done functions handed out by the evicted
// breaker become no-ops. Eviction does not call OnStateChange.
package breaker
