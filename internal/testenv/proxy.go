package testenv

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// faultKind enumerates the [Fault] modes.
type faultKind int

const (
	kindNone faultKind = iota
	kindRefuse
	kindResetAll
	kindBlackhole
	kindLatency
	kindCloseAfterBytes
)

// Fault is what a [Proxy] does to the connections through it; set it with
// [Proxy.SetFault]. The zero Fault is [NoFault]. Faults are values: compare
// them with ==, print them with String.
type Fault struct {
	kind  faultKind
	delay time.Duration // kindLatency
	bytes int64         // kindCloseAfterBytes
}

// NoFault forwards bytes both ways untouched.
func NoFault() Fault { return Fault{} }

// Refuse closes the proxy's listener: new dials fail at once with
// ECONNREFUSED, as when the peer's process is down. Established connections
// keep working (set [ResetAll] first to model a crash). Leaving Refuse
// listens again on the same port.
func Refuse() Fault { return Fault{kind: kindRefuse} }

// ResetAll resets (TCP RST, via SO_LINGER 0) every established connection
// through the proxy, both the client and the target side, and every
// connection accepted while the fault holds, right after its handshake.
func ResetAll() Fault { return Fault{kind: kindResetAll} }

// Blackhole stops forwarding in both directions while keeping every socket
// open: no FIN, no RST, no data; peers wait until their own timeouts fire.
// New connections are accepted (the proxy's kernel completes the handshake)
// and stay silent too. Bytes read while the fault holds are held, not
// dropped, and flow on when it ends, like TCP retransmissions after a
// partition heals. The proxy's kernel still ACKs what the client sends: for
// unacknowledged bytes and SYNs that time out, use [BlackholePort] in a
// network namespace.
func Blackhole() Fault { return Fault{kind: kindBlackhole} }

// Latency delays every chunk of bytes by d before forwarding it, in each
// direction, so a request/response round trip gains at least 2×d. Chunks of
// one direction are delayed one after another, which also caps throughput.
// d <= 0 is [NoFault].
func Latency(d time.Duration) Fault {
	if d <= 0 {
		return NoFault()
	}
	return Fault{kind: kindLatency, delay: d}
}

// CloseAfterBytes lets each connection forward n more bytes (both directions
// together, counted from when the fault is set, or from the accept for new
// connections), then closes both of its sides with a FIN: a peer that dies
// in the middle of a message. n <= 0 closes on the next byte.
func CloseAfterBytes(n int64) Fault {
	return Fault{kind: kindCloseAfterBytes, bytes: max(n, 0)}
}

// String returns "none", "refuse", "reset-all", "blackhole",
// "latency(50ms)" or "close-after-bytes(1024)".
func (f Fault) String() string {
	switch f.kind {
	case kindNone:
		return "none"
	case kindRefuse:
		return "refuse"
	case kindResetAll:
		return "reset-all"
	case kindBlackhole:
		return "blackhole"
	case kindLatency:
		return "latency(" + f.delay.String() + ")"
	case kindCloseAfterBytes:
		return "close-after-bytes(" + strconv.FormatInt(f.bytes, 10) + ")"
	}
	return "Fault(" + strconv.Itoa(int(f.kind)) + ")"
}

// proxyDialTimeout bounds the proxy's dial to its target.
const proxyDialTimeout = 5 * time.Second

// proxyBufSize is the copy buffer per direction and connection.
const proxyBufSize = 32 << 10

// Proxy is a TCP proxy on 127.0.0.1 in front of any TCP server (PostgreSQL,
// MariaDB, gRPC, HTTP) whose [Fault] can be changed at run time. Create it
// with [NewProxy]; it closes in t.Cleanup. All methods are safe for
// concurrent use.
type Proxy struct {
	t      testing.TB
	target string
	addr   string
	ctx    context.Context // canceled by Close: aborts dials to the target
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loops and connection goroutines

	mu       sync.Mutex // guards the fields below
	fault    Fault
	changed  chan struct{} // closed and replaced by every SetFault
	ln       net.Listener  // nil while refusing or closed
	conns    map[*proxyConn]struct{}
	accepted int
	closed   bool
}

// NewProxy starts a proxy on a fresh 127.0.0.1 port forwarding to target
// ("host:port") with [NoFault]. It is closed in t.Cleanup.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := listenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		t: t, target: target, addr: ln.Addr().String(), ctx: ctx, cancel: cancel,
		changed: make(chan struct{}), ln: ln, conns: make(map[*proxyConn]struct{}),
	}
	p.startAccepting(ln)
	t.Cleanup(p.Close)
	return p
}

// Addr returns the proxy's "127.0.0.1:port"; dial it instead of the target.
// It stays the same across faults.
func (p *Proxy) Addr() string { return p.addr }

// Target returns the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Fault returns the current fault.
func (p *Proxy) Fault() Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault
}

// Conns returns how many proxied connections are open now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Accepted returns how many connections the proxy accepted over its life,
// including those it reset or whose target dial failed.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// SetFault switches the proxy to f; it acts on established connections at
// once (see each Fault). A failure to listen again when leaving [Refuse] is
// reported with t.Errorf (safe from any goroutine). SetFault on a closed
// proxy does nothing.
func (p *Proxy) SetFault(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	prev := p.fault
	p.fault = f
	close(p.changed)
	p.changed = make(chan struct{})

	if f.kind == kindRefuse && p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	if prev.kind == kindRefuse && f.kind != kindRefuse {
		ln, err := listenTCP(p.addr)
		if err != nil {
			p.t.Errorf("herz/testenv: Proxy.SetFault(%v): %v", f, err)
		} else {
			p.ln = ln
			p.startAccepting(ln)
		}
	}
	for c := range p.conns {
		switch f.kind {
		case kindResetAll:
			c.reset()
		case kindCloseAfterBytes:
			c.setBudget(f.bytes)
		default:
			c.setBudget(-1)
		}
	}
}

// Close stops listening, closes every connection with a FIN and waits for
// the proxy's goroutines. Closing twice does nothing.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
}

// startAccepting runs an accept loop on ln until ln is closed. p.mu is held
// or p is not shared yet.
func (p *Proxy) startAccepting(ln net.Listener) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Refuse or Close
			}
			p.mu.Lock()
			p.accepted++
			if p.closed {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			p.wg.Add(1)
			p.mu.Unlock()
			go p.handle(c.(*net.TCPConn))
		}
	}()
}

// handle dials the target for client and pumps bytes until both directions
// are done.
func (p *Proxy) handle(client *net.TCPConn) {
	defer p.wg.Done()
	if p.Fault().kind == kindResetAll {
		resetConn(client) // no need to bother the target
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, proxyDialTimeout)
	var d net.Dialer
	up, err := d.DialContext(ctx, "tcp", p.target)
	cancel()
	if err != nil {
		resetConn(client) // the target is down: so is the route through us
		return
	}
	c := &proxyConn{p: p, client: client, upstream: up.(*net.TCPConn), done: make(chan struct{}), budget: -1}

	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		c.close()
		return
	case p.fault.kind == kindResetAll:
		p.mu.Unlock()
		c.reset()
		return
	case p.fault.kind == kindCloseAfterBytes:
		c.budget = p.fault.bytes
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()

	var wg sync.WaitGroup
	wg.Go(func() { c.pipe(c.upstream, c.client) })
	c.pipe(c.client, c.upstream)
	wg.Wait()
	c.close()

	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// proxyConn is one client connection and its connection to the target.
type proxyConn struct {
	p        *Proxy
	client   *net.TCPConn
	upstream *net.TCPConn
	done     chan struct{} // closed when the proxy ends the connection
	once     sync.Once

	mu     sync.Mutex // guards budget
	budget int64      // bytes it may still forward; -1: unlimited
}

// setBudget sets how many more bytes may pass; -1 is unlimited.
func (c *proxyConn) setBudget(n int64) {
	c.mu.Lock()
	c.budget = n
	c.mu.Unlock()
}

// take reserves up to n bytes of the budget and reports how many may be
// written and whether the budget is now spent.
func (c *proxyConn) take(n int) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.budget < 0 {
		return n, false
	}
	allowed := int(min(int64(n), c.budget))
	c.budget -= int64(allowed)
	return allowed, c.budget == 0
}

// close ends both sides with a FIN.
func (c *proxyConn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.client.Close()
		_ = c.upstream.Close()
	})
}

// reset ends both sides with an RST.
func (c *proxyConn) reset() {
	c.once.Do(func() {
		close(c.done)
		resetConn(c.client)
		resetConn(c.upstream)
	})
}

// ended reports whether the proxy has closed or reset the connection.
func (c *proxyConn) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// pipe copies src to dst through the fault gate until src ends. An EOF from
// src becomes a FIN on dst (half-close); a reset of src becomes a reset of
// both sides, so the far peer sees what the near one did.
func (c *proxyConn) pipe(dst, src *net.TCPConn) {
	buf := make([]byte, proxyBufSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !c.gate() {
				return
			}
			allowed, spent := c.take(n)
			if allowed > 0 {
				if _, werr := dst.Write(buf[:allowed]); werr != nil {
					c.abort()
					return
				}
			}
			if spent {
				c.close()
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				_ = dst.CloseWrite()
				return
			}
			c.abort()
			return
		}
	}
}

// abort ends the connection after an I/O error: unless the proxy ended it
// itself, the error came from a peer, and a reset is passed on as a reset.
func (c *proxyConn) abort() {
	if c.ended() {
		return
	}
	c.reset()
}

// gate waits until the current fault lets a chunk through and reports false
// when the connection ended meanwhile.
func (c *proxyConn) gate() bool {
	for {
		c.p.mu.Lock()
		f, changed := c.p.fault, c.p.changed
		c.p.mu.Unlock()
		switch f.kind {
		case kindBlackhole:
			select {
			case <-changed:
				continue
			case <-c.done:
				return false
			}
		case kindLatency:
			tm := time.NewTimer(f.delay)
			select {
			case <-tm.C:
				return !c.ended()
			case <-c.done:
				tm.Stop()
				return false
			}
		default:
			return !c.ended()
		}
	}
}
