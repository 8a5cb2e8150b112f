package transport

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herz-go/herz/dialer"
)

// Connection ownership (see package dialer) for the requests that go
// through net/http's pool (HTTPS, proxies, h2c, callers' own traces,
// MaxConnsPerHost, AttemptTimeout; plain HTTP/1.1 requests use herz's own
// pool, pool1.go, which knows its conns without this): net/http's pool
// decides when a connection is handed out and when it goes back, and herz
// follows it explicitly rather than guessing from read and write times:
//
//   - a conn dialed for a request is lent from the start (dialContext);
//   - httptrace's GotConn tells which conn a request got: it is lent, and if
//     it came out of the idle pool and the request can be re-sent, its first
//     write checks it for staleness (dialer.Conn.LendRefusingStale);
//   - the response body's EOF or Close (after net/http put the conn back in
//     its idle pool), or the response itself when it has no body, returns it
//     idle, under the lease of that hand-out;
//   - a 101 Switching Protocols response gives the conn away for good;
//   - HTTP/2 conns are lent for life (TLSNextProto, the h2c dialer); each
//     stream is still lent and returned, so that a peer's close while no
//     stream is in flight is an idle-timeout sample; once past its lifetime
//     a conn takes one more request, marked Close, after which HTTP/2 sends
//     no new stream on it and closes it when its last stream ends: a drain.
//
// Following net/http's pool costs an exchange per request (an allocation,
// the httptrace hooks in net/http, a wrapped body): about 4 % of plain
// HTTP/1.1 throughput on loopback, which is why those requests have a pool
// of herz's own (BenchmarkConcurrentGET, BenchmarkKeepAliveGET).

// traceKey is the context key under which net/http/httptrace stores a
// *httptrace.ClientTrace. The key type is unexported; it is learned once by
// asking httptrace to look a trace up in a context that records the key.
var traceKey = func() any {
	p := &keyProbe{Context: context.Background()}
	httptrace.ContextClientTrace(p)
	return p.key
}()

type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Value(key any) any { p.key = key; return nil }

// exchange is one attempt of a request: it is the attempt's context (it
// answers httptrace's key with its own ClientTrace, so no context.WithValue
// is needed), it knows the conn the attempt got and under which lease, and
// it wraps the response body. It is safe for concurrent use: the body may be
// read and closed from different goroutines.
type exchange struct {
	context.Context
	trace  httptrace.ClientTrace
	arm    bool                        // the request can be re-sent: check a reused conn at its first write
	start  time.Time                   // when the attempt started, for the wait statistics
	window time.Time                   // end of the request's RetryWindow (zero: none)
	retry  bool                        // a retry, not the request's first attempt
	waits  *waitStats                  // the Transport's
	cancel context.CancelCauseFunc     // ends an AttemptTimeout context with the body, or nil
	proxy  proxyChoice                 // Config.Proxy's answer for the attempt (see Transport.proxyOf)
	conn   atomic.Pointer[dialer.Conn] // set by GotConn
	// gotOther: GotConn ran with a conn herz does not track (not dialed
	// by herz's dialer): the request may have been written on it.
	gotOther atomic.Bool
	lease    atomic.Uint64
	// dialed: the conn net/http dialed for this attempt, until the attempt
	// gets it (GotConn) or is known not to (then it is parked idle).
	dialed atomic.Pointer[dialer.Conn]
	ended  atomic.Bool  // the attempt failed: a conn dialed for it is parked
	body   ownedBody    // the response body, part of the same allocation
	req    http.Request // the attempt's shallow copy of the request, too
}

// newExchange prepares the attempt of r in ctx.
func newExchange(ctx context.Context, r *http.Request, cancel context.CancelCauseFunc, waits *waitStats, start, window time.Time, retry bool) *exchange {
	e := &exchange{Context: ctx, arm: replayable(r), cancel: cancel, waits: waits, start: start, window: window, retry: retry}
	if user := httptrace.ContextClientTrace(ctx); user != nil {
		// Keep the caller's hooks; ours runs first.
		e.trace = *user
		userGot := user.GotConn
		e.trace.GotConn = func(info httptrace.GotConnInfo) {
			e.gotConn(info)
			if userGot != nil {
				userGot(info)
			}
		}
	} else {
		e.trace.GotConn = e.gotConn
	}
	return e
}

// request returns the attempt's copy of r, with the exchange as its
// context. It is r.WithContext(e) without an allocation of its own: the
// copy is made into the exchange (WithContext is inlined, and its result
// does not escape).
//
// It is never inlined: the copy's temporary would otherwise sit in the
// caller's frame for the whole round trip (twice in attempt), deepening
// every request's stack by ~0.5 KiB — enough to make a goroutine started
// per request grow its stack, a copy net/http alone does not pay.
//
//go:noinline
func (e *exchange) request(r *http.Request) *http.Request {
	e.req = *r.WithContext(e)
	return &e.req
}

// Value returns the exchange's ClientTrace for httptrace's key, and the
// caller's values otherwise.
func (e *exchange) Value(key any) any {
	switch key {
	case traceKey:
		return &e.trace
	case exchangeKey{}:
		return e
	}
	return e.Context.Value(key)
}

// exchangeKey finds the exchange in a context derived from it (net/http
// dials with such a context, detached from the request's cancellation).
type exchangeKey struct{}

// dialWindow returns the end of the request's RetryWindow when the dial
// ctx is for is a re-send — a retry of herz's, or net/http's own re-send on
// a new conn after its first conn failed (GotConn was already called) —
// so that in a whole-path blackhole its connect does not wait for SYN
// timeouts past the window. A first dial is bounded by the dialer's
// Timeout only.
func dialWindow(ctx context.Context) (time.Time, bool) {
	e, ok := ctx.Value(exchangeKey{}).(*exchange)
	if !ok || e.window.IsZero() || !(e.retry || e.conn.Load() != nil) {
		return time.Time{}, false
	}
	return e.window, true
}

// gotConn lends the conn net/http picked for this attempt. It may run more
// than once: net/http re-sends a request whose first write failed with
// nothing written on another conn.
func (e *exchange) gotConn(info httptrace.GotConnInfo) {
	if !info.Reused {
		// No idle conn (or HTTP/2 stream slot) was ready: the attempt
		// waited for a dial or for another request's conn.
		e.waits.add(time.Since(e.start))
	}
	c, ok := dialer.ConnOf(info.Conn)
	if !ok {
		e.gotOther.Store(true)
		return
	}
	var lease dialer.Lease
	if c.LentForLife() && c.Expired() {
		// HTTP/2 (bundled: GotConn runs before the stream is created, in
		// the same goroutine) marks a conn not to be reused after a request
		// with Close set: it closes it once its last stream ends.
		e.req.Close = true
	}
	if e.arm && (info.WasIdle || info.Reused) {
		lease, _ = c.LendRefusingStale()
	} else {
		lease, _ = c.Lend()
	}
	e.lease.Store(uint64(lease))
	e.conn.Store(c)
	if d := e.dialed.Load(); d != nil {
		if d == c {
			e.dialed.CompareAndSwap(d, nil)
		} else {
			e.parkDialed()
		}
	}
}

// dialedConn records dc, dialed by net/http for this attempt (before is
// the attempt's conn when the dial started). When the attempt took another
// conn meanwhile, or failed, net/http parks dc in its idle pool unused: it
// is parked idle (dialer.Conn.Park) so that herz counts and checks it.
// Whichever of dialedConn and gotConn runs second parks it.
func (e *exchange) dialedConn(dc *dialer.Conn, before *dialer.Conn) {
	e.dialed.Store(dc)
	if e.conn.Load() != before || e.ended.Load() {
		e.parkDialed()
	}
}

// parkDialed parks the conn dialed for the attempt that the attempt did
// not take. Park changes nothing when another request took it meanwhile.
func (e *exchange) parkDialed() {
	if d := e.dialed.Swap(nil); d != nil {
		d.Park()
	}
}

// failed returns the error of the attempt, marked as a connect failure
// (nothing of the request was written) when net/http never handed it a
// connection: its GotConn, which HTTP/1 calls before writing the request
// and HTTP/2 before opening the stream, did not run. That covers a TLS
// handshake or a proxy's CONNECT that failed on a conn herz dialed. An
// error of Config.Proxy itself is the caller's, not a connect failure.
func (e *exchange) failed(err error) error {
	e.ended.Store(true)
	e.parkDialed()
	if e.conn.Load() != nil || e.gotOther.Load() || e.proxy.err != nil || isConnectError(err) {
		return err
	}
	return &connectError{err}
}

// release returns the attempt's conn idle; net/http has put it back in its
// pool (or closed it, and then Return does nothing).
func (e *exchange) release() {
	if c := e.conn.Load(); c != nil {
		c.Return(dialer.Lease(e.lease.Load()))
	}
}

// done hands the response of the attempt to the caller: a conn upgraded by
// a 101 is given away; one whose response has no body is already back in the
// pool; otherwise the body is wrapped so that its end returns the conn.
func (e *exchange) done(resp *http.Response) {
	switch {
	case resp.StatusCode == http.StatusSwitchingProtocols:
		// resp.Body is the conn (an io.ReadWriteCloser): it is the caller's now.
		if c := e.conn.Load(); c != nil {
			c.GiveAway()
		}
		if e.cancel != nil {
			// The upgraded conn outlives the attempt; so must its context
			// not end it: net/http no longer watches it.
			e.cancel(nil)
		}
	case resp.Body == nil || resp.Body == http.NoBody:
		e.release()
		if e.cancel != nil {
			e.cancel(nil)
		}
	default:
		e.body.rc, e.body.e = resp.Body, e
		resp.Body = &e.body
	}
}

// ownedBody is a response body whose EOF or Close returns the conn idle and
// ends the attempt's context.
type ownedBody struct {
	rc   io.ReadCloser
	e    *exchange
	once sync.Once
}

func (b *ownedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish()
	}
	return n, err
}

func (b *ownedBody) Close() error {
	err := b.rc.Close()
	b.finish()
	return err
}

func (b *ownedBody) finish() {
	b.once.Do(func() {
		b.e.release()
		if b.e.cancel != nil {
			b.e.cancel(nil)
		}
	})
}

// waitStats counts the attempts that waited for a connection and for how long.
type waitStats struct {
	count atomic.Uint64
	nanos atomic.Int64
}

func (w *waitStats) add(d time.Duration) {
	w.count.Add(1)
	w.nanos.Add(int64(d))
}

// replayable reports whether net/http re-sends r on another conn when its
// first write fails with nothing written: it has no body, or GetBody can make
// a new one. Only then may herz refuse a stale conn at that write.
func replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}
