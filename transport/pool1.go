package transport

import (
	"context"
	"errors"
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
//     (LIFO: the warmest, and the older ones age out), or dials one;
//   - the conn is lent to the request (armed for the stale check at its
//     first write when the conn was idle and the request can be re-sent,
//     dialer.Conn.LendRefusingStale);
//   - the ClientConn's state hook, which net/http calls when the response
//     is done (body read to EOF or closed, or no body), returns it idle and
//     back to the pool.
//
// Knowing the conn this way, rather than following net/http's own pool
// through httptrace's GotConn with a per-request exchange and a wrapped
// body, costs far less per request (BenchmarkConcurrentGET). Requests that
// need net/http's pool keep it (see pool1.eligible): HTTPS (HTTP/2 is
// negotiated per conn), proxies, h2c, a caller's own httptrace hooks (a
// ClientConn does not report GetConn, GotConn or PutIdleConn),
// MaxConnsPerHost and AttemptTimeout.
type pool1 struct {
	t *Transport

	mu         sync.Mutex
	hosts      map[string][]*conn1 // idle conns per host:port, most recent last
	idle       int                 // idle conns in all hosts
	closed     bool
	sweepTimer *time.Timer // closes conns idle for IdleConnTimeout (see sweep)
	sweepArmed bool
}

// conn1 is one pooled HTTP/1.1 connection.
type conn1 struct {
	p     *pool1
	addr  string
	cc    *http.ClientConn
	dc    *dialer.Conn
	lease atomic.Uint64 // of the current hand-out
	busy  atomic.Bool   // handed out to a request, not yet returned
	gone  atomic.Bool   // given away (101) or closed: never pooled again
	since time.Time     // when it went idle; guarded by pool1.mu
}

// dialSlot is where dialContext leaves the herz conn it dialed for a
// NewClientConn call (found in the dial's context).
type dialSlot struct{ c *dialer.Conn }

type dialSlotKey struct{}

func newPool1(t *Transport) *pool1 {
	return &pool1{t: t, hosts: make(map[string][]*conn1)}
}

// eligible reports whether r goes through the pool rather than net/http's.
func (p *pool1) eligible(r *http.Request) bool {
	s := &p.t.s
	if r.URL.Scheme != "http" || p.t.h2c != nil || s.AttemptTimeout > 0 || s.MaxConnsPerHost > 0 ||
		r.URL.Host == "" || httptrace.ContextClientTrace(r.Context()) != nil {
		return false
	}
	u, err := s.Proxy(r)
	return err == nil && u == nil
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
		c, reused, err := p.get(req.Context(), addr, start, window, retry || tries > 0)
		if err != nil {
			return nil, err
		}
		resp, err := c.roundTrip(req, reused)
		if err == errClaimed && tries < maxStaleRetries {
			continue // herz closed it as stale before it could be lent: nothing was sent
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
	switch typeName(err) {
	case "http.nothingWrittenError", "http.transportReadFromServerError":
		if u := errors.Unwrap(err); u != nil {
			return u
		}
	}
	return err
}

func typeName(err error) string { return reflect.TypeOf(err).String() }

// get returns an idle conn to addr (reused) or a new one. A wait (no idle
// conn) is counted in Stats.WaitCount. A re-send's dial is bounded by the
// request's RetryWindow (see dialWindow).
func (p *pool1) get(ctx context.Context, addr string, start, window time.Time, resend bool) (*conn1, bool, error) {
	for {
		p.mu.Lock()
		list := p.hosts[addr]
		n := len(list)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c := list[n-1]
		list[n-1] = nil
		p.hosts[addr] = list[:n-1]
		p.idle--
		idleFor := time.Since(c.since)
		p.mu.Unlock()
		if c.cc.Err() != nil || (p.t.s.IdleConnTimeout > 0 && idleFor >= p.t.s.IdleConnTimeout) {
			c.close()
			continue
		}
		return c, true, nil
	}
	if resend && !window.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, window)
		defer cancel()
	}
	slot := &dialSlot{}
	cc, err := p.t.direct.NewClientConn(context.WithValue(ctx, dialSlotKey{}, slot), "http", addr)
	p.t.waits.add(time.Since(start))
	if err != nil {
		return nil, false, err
	}
	// slot.c is nil when Config.Base's own DialContext made a conn that
	// is not a herz dialer's (a unix socket...): it is pooled as net/http
	// would, without herz's checks on it.
	c := &conn1{p: p, addr: addr, cc: cc, dc: slot.c}
	cc.SetStateHook(c.changed)
	return c, false, nil
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
	list := p.hosts[c.addr]
	if p.closed || len(list) >= s.MaxIdleConnsPerHost || (s.MaxIdleConns > 0 && p.idle >= s.MaxIdleConns) {
		p.mu.Unlock()
		c.close()
		return
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
}

// closeIdle closes every idle conn; with final, later returns close too.
func (p *pool1) closeIdle(final bool) {
	p.mu.Lock()
	hosts := p.hosts
	p.hosts = make(map[string][]*conn1)
	p.idle = 0
	if final {
		p.closed = true
		if p.sweepTimer != nil {
			p.sweepTimer.Stop()
		}
		p.sweepArmed = false
	}
	p.mu.Unlock()
	for _, list := range hosts {
		for _, c := range list {
			c.close()
		}
	}
}
