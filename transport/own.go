package transport

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/herz-go/herz/dialer"
)

// Connection ownership (see package dialer): net/http's pool decides when a
// connection is handed out and when it goes back, and herz follows it
// explicitly rather than guessing from read and write times:
//
//   - a conn dialed for a request is lent from the start (dialContext);
//   - httptrace's GotConn tells which conn a request got: it is lent, and if
//     it came out of the idle pool and the request can be re-sent, its first
//     write checks it for staleness (dialer.Conn.LendRefusingStale);
//   - the response body's EOF or Close (after net/http put the conn back in
//     its idle pool), or the response itself when it has no body, returns it
//     idle, under the lease of that hand-out;
//   - a 101 Switching Protocols response gives the conn away for good;
//   - HTTP/2 conns are lent for life (TLSNextProto, the h2c dialer) and
//     drained at their lifetime through drainPool.
//
// httptrace was preferred over http.Transport.NewClientConn (Go 1.26),
// which would make herz re-implement net/http's pool (per-host idle lists,
// waiting, dial racing, proxies); the cost is the allocations of an
// exchange, measured in BenchmarkKeepAliveGET.

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
	conn   atomic.Pointer[dialer.Conn] // set by GotConn
	lease  atomic.Uint64
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
// timeouts past the window (P15). A first dial is bounded by the dialer's
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
		return
	}
	var lease dialer.Lease
	if e.arm && (info.WasIdle || info.Reused) {
		lease, _ = c.LendRefusingStale()
	} else {
		lease, _ = c.Lend()
	}
	e.lease.Store(uint64(lease))
	e.conn.Store(c)
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

// drainPool wraps x/net/http2's pool of HTTP/2 conns to give them a
// lifetime: a conn first handed out longer ago than its (jittered) lifetime
// takes the current request and is then marked not to be reused, so x/net
// closes it once its last stream ends. A graceful drain: nothing is cut.
type drainPool struct {
	http2.ClientConnPool
	lifetime time.Duration
	jitter   float64
	expires  sync.Map // *http2.ClientConn → time (UnixNano) it expires
}

// GetClientConn returns a conn for req, draining it if it expired.
func (p *drainPool) GetClientConn(req *http.Request, addr string) (*http2.ClientConn, error) {
	cc, err := p.ClientConnPool.GetClientConn(req, addr)
	if err != nil {
		return cc, err
	}
	now := time.Now().UnixNano()
	v, ok := p.expires.Load(cc)
	if !ok {
		exp := int64(math.MaxInt64)
		if p.lifetime > 0 {
			lt := p.lifetime - time.Duration(rand.Float64()*p.jitter*float64(p.lifetime))
			exp = now + int64(lt)
		}
		v, _ = p.expires.LoadOrStore(cc, exp)
	}
	if now >= v.(int64) {
		cc.SetDoNotReuse()
	}
	return cc, nil
}

// closeIdle closes the idle conns the pool handed out (x/net's own
// CloseIdleConnections cannot reach them through the wrapper): an idle one
// is marked not to be reused, so no new stream can slip in, then closed if
// it is still idle; one that got a stream meanwhile closes after it.
func (p *drainPool) closeIdle() {
	p.expires.Range(func(k, _ any) bool {
		cc := k.(*http2.ClientConn)
		if st := cc.State(); st.Closed {
			p.expires.Delete(cc)
		} else if idle(st) {
			cc.SetDoNotReuse()
			if idle(cc.State()) {
				cc.Close()
				p.expires.Delete(cc)
			}
		}
		return true
	})
}

func idle(st http2.ClientConnState) bool {
	return st.StreamsActive == 0 && st.StreamsReserved == 0 && st.StreamsPending == 0
}

// MarkDead forgets cc.
func (p *drainPool) MarkDead(cc *http2.ClientConn) {
	p.expires.Delete(cc)
	p.ClientConnPool.MarkDead(cc)
}
