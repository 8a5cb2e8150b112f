package transport

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herz-go/herz/dialer"
)

// Plain-HTTP/1.1 requests go through herz's own pool of connections, each
// an *http.ClientConn (http.Transport.NewClientConn, Go 1.26) over a herz
// dialer conn. net/http still speaks HTTP/1.1 on them (request writing,
// response parsing, bodies, 100-continue, upgrades); herz only decides
// which conn a request gets and when a conn goes back idle:
//
//   - a request takes the most recently returned idle conn of its host
//     (LIFO: the warmest, and the older ones age out), or waits for the
//     first of a conn another request returns and one dialed for it (the
//     dial goes on and pools its conn if it loses), as net/http's pool;
//     MaxConnsPerHost makes it wait for a returned conn or a free slot, the
//     wait ending with its context;
//   - the conn is lent to the request (armed for the stale check at its
//     first write when the conn was idle and the request can be re-sent,
//     dialer.Conn.LendRefusingStale; checked at the hand-out when it
//     cannot be re-sent, dialer.Conn.CheckIdle);
//   - the ClientConn's state hook, which net/http calls when the response
//     is done (body read to EOF or closed, or no body), returns it idle and
//     back to the pool, or to a waiting request; idle limits per host close
//     the returned conn, the global one the oldest idle conn, as net/http.
//
// A caller's httptrace hooks run in net/http's order: GetConn and GotConn
// from here, the dial's and the exchange's from net/http (PutIdleConn when
// the ClientConn is available again).
//
// Knowing the conn this way, rather than following net/http's own pool
// through httptrace's GotConn with a per-request exchange and a wrapped
// body, costs far less per request (BenchmarkConcurrentGET). Requests that
// need net/http's pool keep it (see pool1.eligible): HTTPS (HTTP/2 is
// negotiated per conn), proxies, h2c and AttemptTimeout.
type pool1 struct {
	t *Transport

	mu         sync.Mutex
	hosts      map[string][]*conn1 // idle conns per host:port, most recent last
	idle       int                 // idle conns in all hosts
	waiters    map[string][]*wantConn
	conns      map[string]int // conns per host:port, dialing, in use and idle (only with MaxConnsPerHost)
	dials      map[*wantConn]context.CancelFunc
	closed     bool
	sweepTimer *time.Timer // closes conns idle for IdleConnTimeout (see sweep)
	sweepArmed bool
}

// wantConn is a request waiting for a conn to its host: the first of a conn
// another request returns meanwhile or the one dialed for it (the dial goes
// on if the former wins, and its conn goes idle), as in net/http's pool.
type wantConn struct {
	addr   string
	ready  chan struct{} // closed when c or err is set
	c      *conn1
	reused bool
	err    error
	done   atomic.Bool // claimed: served, failed, or given up
}

// deliver gives w its conn or error, if w is still waiting.
func (w *wantConn) deliver(c *conn1, reused bool, err error) bool {
	if !w.done.CompareAndSwap(false, true) {
		return false
	}
	w.c, w.reused, w.err = c, reused, err
	close(w.ready)
	return true
}

// conn1 is one pooled HTTP/1.1 connection.
type conn1 struct {
	p       *pool1
	addr    string
	counted atomic.Bool // counted in pool1.conns (MaxConnsPerHost)
	cc      *http.ClientConn
	nc      net.Conn      // the conn dialed (for httptrace's GotConnInfo)
	dc      *dialer.Conn  // nc when it is a herz dialer's, else nil
	idleAt  time.Time     // when the conn handed out last went idle; zero: not from the idle list
	lease   atomic.Uint64 // of the current hand-out
	busy    atomic.Bool   // handed out to a request, not yet returned
	gone    atomic.Bool   // given away (101) or closed: never pooled again
	since   time.Time     // when it went idle; guarded by pool1.mu
}

// dialSlot is where dialContext leaves the conn it dialed for a
// NewClientConn call (found in the dial's context): c when it is a herz
// dialer's conn.
type dialSlot struct {
	nc net.Conn
	c  *dialer.Conn
}

type dialSlotKey struct{}

func newPool1(t *Transport) *pool1 {
	return &pool1{t: t, hosts: make(map[string][]*conn1), waiters: make(map[string][]*wantConn),
		conns: make(map[string]int), dials: make(map[*wantConn]context.CancelFunc)}
}

// eligible reports whether r, which needs no proxy (the caller asked
// Config.Proxy once for the request), goes through the pool rather than
// net/http's.
func (p *pool1) eligible(r *http.Request) bool {
	s := &p.t.s
	return r.URL.Scheme == "http" && p.t.h2c == nil && s.AttemptTimeout <= 0 && !s.h2cBase &&
		r.URL.Host != ""
}

// maxStaleRetries bounds the re-sends of one attempt on other conns after
// a reused conn turned out stale with nothing written (net/http's own pool
// retries these without a bound; a host whose every idle conn is stale
// runs out of idle conns, and a fresh conn ends the loop).
const maxStaleRetries = 16

// roundTrip sends r on a pooled conn to addr (peerOf(r)): one attempt, re-sent on another conn
// when a reused one failed before the request could have been processed —
// as net/http's pool does: nothing written (herz refused a stale conn, or
// the write failed at once), or, for a request net/http would replay, the
// server closed the idle conn as the request went out.
func (p *pool1) roundTrip(r *http.Request, addr string, start, window time.Time, retry bool) (*http.Response, error) {
	req := r
	for tries := 0; ; tries++ {
		trace := httptrace.ContextClientTrace(req.Context())
		if trace != nil && trace.GetConn != nil {
			trace.GetConn(addr)
		}
		c, reused, err := p.get(req.Context(), addr, start, window, retry || tries > 0, !replayable(req))
		if err != nil {
			closeBody(req) // as net/http does when it gets no conn
			return nil, err
		}
		if trace != nil && trace.GotConn != nil {
			// net/http's order: GetConn, the dial's hooks, GotConn, then
			// the ClientConn's own (writes, response) and, when the conn is
			// available again, PutIdleConn.
			info := httptrace.GotConnInfo{Conn: c.nc, Reused: reused}
			if !c.idleAt.IsZero() {
				info.WasIdle, info.IdleTime = true, time.Since(c.idleAt)
			}
			trace.GotConn(info)
		}
		resp, err := c.roundTrip(req, reused)
		if err == errClaimed {
			if tries < maxStaleRetries {
				continue // herz closed it as stale before it could be lent: nothing was sent
			}
			closeBody(req) // never handed to net/http
			return nil, err
		}
		if err == nil {
			return resp, nil
		}
		if !reused || tries >= maxStaleRetries || !p.resendable(req, err) {
			return nil, unwrapPoolError(err)
		}
		if req.Body != nil && req.Body != http.NoBody {
			body, gerr := req.GetBody() // resendable checked it is set
			if gerr != nil {
				return nil, unwrapPoolError(err)
			}
			next := *req
			next.Body = body
			req = &next
		}
	}
}

// resendable is net/http's rule (persistConn.shouldRetryRequest) for a
// failed request on a reused conn.
func (p *pool1) resendable(r *http.Request, err error) bool {
	hasBody := r.Body != nil && r.Body != http.NoBody
	if typeName(err) == "http.nothingWrittenError" {
		return !hasBody || r.GetBody != nil
	}
	replayable := (!hasBody || r.GetBody != nil) && (isSafeMethod(r.Method) || hasIdempotencyKey(r))
	if !replayable {
		return false
	}
	return typeName(err) == "http.transportReadFromServerError" ||
		strings.Contains(err.Error(), "http: server closed idle connection")
}

// isSafeMethod: the methods net/http re-sends on its own (Request.isReplayable).
func isSafeMethod(m string) bool {
	switch m {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// unwrapPoolError returns err as net/http's Transport would: it unwraps its
// internal nothingWrittenError and transportReadFromServerError (Go issue
// 16465) before giving the error to the caller.
func unwrapPoolError(err error) error {
	// In net/http's order: a nothingWrittenError may hold a
	// transportReadFromServerError (the write failed as the read loop saw
	// the conn close).
	for _, name := range []string{"http.nothingWrittenError", "http.transportReadFromServerError"} {
		if typeName(err) == name {
			if u := errors.Unwrap(err); u != nil {
				err = u
			}
		}
	}
	return err
}

func typeName(err error) string { return reflect.TypeOf(err).String() }

// get returns an idle conn to addr (reused) or waits for one: the first
// of a conn another request returns meanwhile and the one dialed for it
// (with MaxConnsPerHost reached, only the former, or a dial when a conn
// closes). A wait is counted in Stats.WaitCount. A re-send's dial is
// bounded by the request's RetryWindow (see dialWindow). With check (a
// request that cannot be re-sent, so no refusal at its first write will
// save it) an idle conn is handed out only if the dialer's idle check
// (lifetime, learned idle deadline, idle limit, probe) passes.
func (p *pool1) get(ctx context.Context, addr string, start, window time.Time, resend, check bool) (*conn1, bool, error) {
	for {
		p.mu.Lock()
		list := p.hosts[addr]
		n := len(list)
		if n == 0 {
			break // p.mu held
		}
		c := list[n-1]
		list[n-1] = nil
		p.hosts[addr] = list[:n-1]
		if n == 1 && len(p.hosts) > maxEmptyHosts {
			delete(p.hosts, addr) // no sweep may come by (IdleConnTimeout < 0): keep few empty keys
		}
		p.idle--
		c.idleAt = c.since
		idleFor := time.Since(c.since)
		p.mu.Unlock()
		if c.cc.Err() != nil || (p.t.s.IdleConnTimeout > 0 && idleFor >= p.t.s.IdleConnTimeout) {
			c.close()
			continue
		}
		if check && c.dc != nil {
			if r := c.dc.CheckIdle(); r != dialer.ReasonNone {
				c.dc.CloseFor(r)
				c.close()
				continue
			}
		}
		return c, true, nil
	}
	// p.mu is held: no idle conn.
	w := &wantConn{addr: addr, ready: make(chan struct{})}
	p.waiters[addr] = append(p.waiters[addr], w)
	dial := true
	if max := p.t.s.MaxConnsPerHost; max > 0 {
		if p.conns[addr] >= max {
			dial = false // a conn closing starts a dial for the first waiter (connDone)
		} else {
			p.conns[addr]++
		}
	}
	if dial {
		p.startDialLocked(ctx, w, resend, window)
	}
	p.mu.Unlock()
	select {
	case <-w.ready:
	case <-ctx.Done():
		if w.deliver(nil, false, nil) {
			p.removeWaiter(w)
			p.t.waits.add(time.Since(start))
			return nil, false, context.Cause(ctx) // as net/http; the dial goes on for the pool
		}
		<-w.ready // served meanwhile
	}
	p.t.waits.add(time.Since(start))
	return w.c, w.reused, w.err
}

// maxEmptyHosts bounds the host keys get leaves with no idle conn (the
// sweep removes them when IdleConnTimeout is set).
const maxEmptyHosts = 64

// startDialLocked dials a conn for w, counted in p.conns already when
// MaxConnsPerHost is set. The dial is not canceled with w's request (its
// conn then goes idle, as in net/http), only by the pool's close or the
// dialer's timeout; a re-send's dial ends by the RetryWindow. p.mu is held.
func (p *pool1) startDialLocked(ctx context.Context, w *wantConn, resend bool, window time.Time) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx)) // ctx's values: the exchange for dialWindow
	if resend && !window.IsZero() {
		dctx, cancel = context.WithDeadline(dctx, window)
	}
	p.dials[w] = cancel
	go p.dial(dctx, w)
}

// dial makes the conn for w and delivers it, or puts it idle when w was
// served meanwhile or gave up.
func (p *pool1) dial(ctx context.Context, w *wantConn) {
	slot := &dialSlot{}
	cc, err := p.t.direct.NewClientConn(context.WithValue(ctx, dialSlotKey{}, slot), "http", w.addr)
	p.mu.Lock()
	if cancel, ok := p.dials[w]; ok {
		delete(p.dials, w)
		cancel()
	}
	p.mu.Unlock()
	if err != nil {
		p.connDone(w.addr)
		if w.deliver(nil, false, err) {
			p.removeWaiter(w)
		}
		return
	}
	// slot.c is the tracked conn (a herz dialer's, or Config.Base's own
	// DialContext's adopted by it); nil only when no herz conn is under
	// the conn: it is pooled as net/http would, without herz's checks.
	c := &conn1{p: p, addr: w.addr, cc: cc, nc: slot.nc, dc: slot.c}
	c.counted.Store(p.t.s.MaxConnsPerHost > 0)
	cc.SetStateHook(c.changed)
	if w.deliver(c, false, nil) {
		p.removeWaiter(w)
		return
	}
	// Its request took a conn returned meanwhile (or gave up): as net/http,
	// the new conn goes idle unused (or to another waiting request).
	if c.dc != nil {
		if l, ok := c.dc.Lend(); !ok || !c.dc.Return(l) {
			c.close()
			return
		}
	}
	p.put(c)
}

// removeWaiter takes w out of its host's queue.
func (p *pool1) removeWaiter(w *wantConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.waiters[w.addr]
	for i, x := range q {
		if x == w {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	if len(q) == 0 {
		delete(p.waiters, w.addr)
	} else {
		p.waiters[w.addr] = q
	}
}

// connDone uncounts a conn to addr that closed or failed to dial
// (MaxConnsPerHost), and dials for the first request waiting for a slot.
func (p *pool1) connDone(addr string) {
	if p.t.s.MaxConnsPerHost <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[addr]--; p.conns[addr] <= 0 {
		delete(p.conns, addr)
	}
	if p.closed {
		return
	}
	for _, w := range p.waiters[addr] {
		if _, dialing := p.dials[w]; !dialing && !w.done.Load() {
			p.conns[addr]++
			p.startDialLocked(context.Background(), w, false, time.Time{})
			return
		}
	}
}

// errClaimed: herz's evictor closed an idle conn as stale between the pool
// handing it out and the request taking it; nothing was sent on it.
var errClaimed = &dialer.StaleError{Reason: dialer.ReasonEvicted}

// roundTrip sends r on c, lent to it for the exchange.
func (c *conn1) roundTrip(r *http.Request, reused bool) (*http.Response, error) {
	if c.dc != nil {
		var lease dialer.Lease
		var ok bool
		if reused && replayable(r) {
			lease, ok = c.dc.LendRefusingStale()
		} else {
			lease, ok = c.dc.Lend()
		}
		if !ok {
			c.close()
			return nil, errClaimed
		}
		c.lease.Store(uint64(lease))
	}
	c.busy.Store(true)
	resp, err := c.cc.RoundTrip(r)
	if err != nil {
		c.close()
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// resp.Body is the conn now: the caller's for good.
		c.gone.Store(true)
		if c.dc != nil {
			c.dc.GiveAway()
		}
		c.uncount() // the caller's now, as net/http's hijacked conns
		return resp, nil
	}
	if cc := c.cc; resp.Body == http.NoBody && cc.Available() > 0 {
		// A response without a body: net/http made the conn available
		// again before RoundTrip returned, and the state hook, which only
		// reports a change it saw across calls, saw none (available before
		// the exchange and after it).
		c.changed(cc)
	}
	return resp, nil
}

// changed is the ClientConn's state hook: when the exchange is done (the
// conn is available again) the conn goes back idle and into the pool.
func (c *conn1) changed(cc *http.ClientConn) {
	if c.gone.Load() {
		return
	}
	if cc.Err() != nil {
		// Closed while idle (by the server, or by herz's evictor): out of
		// the pool at once rather than when a request would pop it.
		c.p.remove(c)
		c.uncount()
		return
	}
	if cc.Available() == 0 || !c.busy.CompareAndSwap(true, false) {
		return
	}
	if c.dc != nil && (c.dc.Expired() || !c.dc.Return(dialer.Lease(c.lease.Load()))) {
		c.close() // past its lifetime, or herz took it meanwhile
		return
	}
	c.p.put(c)
}

// put adds the idle c to its host's list, or closes it past the idle limits.
func (p *pool1) put(c *conn1) {
	s := &p.t.s
	p.mu.Lock()
	if !p.closed {
		for len(p.waiters[c.addr]) > 0 {
			q := p.waiters[c.addr]
			w := q[0]
			q[0] = nil
			if q = q[1:]; len(q) == 0 {
				delete(p.waiters, c.addr)
			} else {
				p.waiters[c.addr] = q
			}
			c.idleAt = time.Time{} // handed over as it was returned: not idle (net/http's WasIdle)
			if w.deliver(c, true, nil) {
				p.mu.Unlock()
				return
			}
		}
	}
	list := p.hosts[c.addr]
	var oldest *conn1
	if !p.closed && len(list) < s.MaxIdleConnsPerHost && s.MaxIdleConns > 0 && p.idle >= s.MaxIdleConns {
		oldest = p.popOldestLocked() // net/http's global limit evicts the oldest idle conn
		list = p.hosts[c.addr]
	}
	if p.closed || len(list) >= s.MaxIdleConnsPerHost || (s.MaxIdleConns > 0 && p.idle >= s.MaxIdleConns) {
		p.mu.Unlock()
		c.close()
		return
	}
	if oldest != nil {
		defer oldest.close()
	}
	c.since = time.Now()
	p.hosts[c.addr] = append(list, c) // each list is oldest first
	p.idle++
	if lim := s.IdleConnTimeout; lim > 0 && !p.sweepArmed {
		p.sweepArmed = true
		if p.sweepTimer == nil {
			p.sweepTimer = time.AfterFunc(lim, p.sweep)
		} else {
			p.sweepTimer.Reset(lim)
		}
	}
	p.mu.Unlock()
}

// sweep closes the conns idle for IdleConnTimeout, as net/http's idle
// timers would, and re-arms itself for the oldest one left. One timer
// serves the whole pool: returning a conn costs no timer operation unless
// the pool was empty.
func (p *pool1) sweep() {
	lim := p.t.s.IdleConnTimeout
	now := time.Now()
	var old []*conn1
	next := time.Duration(-1)
	p.mu.Lock()
	for addr, list := range p.hosts {
		i := 0
		for i < len(list) && now.Sub(list[i].since) >= lim {
			i++
		}
		old = append(old, list[:i]...)
		n := copy(list, list[i:])
		clear(list[n:])
		if list = list[:n]; n == 0 {
			delete(p.hosts, addr)
			continue
		}
		p.hosts[addr] = list
		if wait := lim - now.Sub(list[0].since); next < 0 || wait < next {
			next = wait
		}
	}
	p.idle -= len(old)
	p.sweepArmed = next >= 0 && !p.closed
	if p.sweepArmed {
		p.sweepTimer.Reset(max(next, time.Millisecond))
	}
	p.mu.Unlock()
	for _, c := range old {
		c.close()
	}
}

// popOldestLocked takes the idle conn idle the longest out of the pool.
func (p *pool1) popOldestLocked() *conn1 {
	var oldest *conn1
	for _, list := range p.hosts {
		if len(list) > 0 && (oldest == nil || list[0].since.Before(oldest.since)) {
			oldest = list[0]
		}
	}
	if oldest != nil {
		list := p.hosts[oldest.addr]
		n := copy(list, list[1:])
		list[n] = nil
		if n == 0 {
			delete(p.hosts, oldest.addr)
		} else {
			p.hosts[oldest.addr] = list[:n]
		}
		p.idle--
	}
	return oldest
}

// remove takes the closed c out of its host's idle list, if it is there.
func (p *pool1) remove(c *conn1) {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.hosts[c.addr]
	for i, x := range list {
		if x == c {
			p.hosts[c.addr] = append(list[:i], list[i+1:]...)
			p.idle--
			if len(p.hosts[c.addr]) == 0 {
				delete(p.hosts, c.addr)
			}
			return
		}
	}
}

// close closes c for good (it is not in an idle list).
func (c *conn1) close() {
	c.gone.Store(true)
	c.cc.Close()
	c.uncount()
}

// uncount ends c's count in its host's connections (MaxConnsPerHost), once.
func (c *conn1) uncount() {
	if c.counted.CompareAndSwap(true, false) {
		c.p.connDone(c.addr)
	}
}

// closeIdle closes every idle conn; with final, later returns close too.
func (p *pool1) closeIdle(final bool) {
	p.mu.Lock()
	hosts := p.hosts
	p.hosts = make(map[string][]*conn1)
	p.idle = 0
	var dials []context.CancelFunc
	if final {
		p.closed = true
		if p.sweepTimer != nil {
			p.sweepTimer.Stop()
		}
		p.sweepArmed = false
		for _, cancel := range p.dials {
			dials = append(dials, cancel)
		}
	}
	p.mu.Unlock()
	for _, cancel := range dials {
		cancel() // their conns close as they arrive (put on a closed pool)
	}
	for _, list := range hosts {
		for _, c := range list {
			c.close()
		}
	}
}
