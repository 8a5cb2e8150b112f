package faultlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// faultKind enumerates the [Fault] modes.
type faultKind int

const (
	kindNone faultKind = iota
	kindRefuse
	kindResetAll
	kindResetAfterBytes
	kindResetRandom
	kindBlackhole
	kindDrop
	kindLatency
	kindBandwidth
	kindCloseAfterBytes
	kindIdleClose
)

// Fault is what a [Proxy] does to the connections through it; set it with
// [Proxy.SetFault]. The zero Fault is [NoFault]. Faults are values: compare
// them with ==, keep them in tables, print them with String. One fault holds
// at a time; the last SetFault wins.
type Fault struct {
	kind  faultKind
	delay time.Duration // kindLatency, kindIdleClose
	bytes int64         // kindCloseAfterBytes, kindResetAfterBytes; bytes/s for kindBandwidth
	prob  float64       // kindResetRandom
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

// ResetAfterBytes lets each connection forward n more bytes (both
// directions together, counted from when the fault is set, or from the
// accept for new connections), then resets both of its sides with an RST:
// a peer that crashes in the middle of a message. n <= 0 resets on the next
// byte.
func ResetAfterBytes(n int64) Fault {
	return Fault{kind: kindResetAfterBytes, bytes: max(n, 0)}
}

// ResetRandom resets a connection (RST on both sides) instead of
// forwarding a chunk of bytes, with probability p per chunk (a chunk is what
// one read returned, up to 32 KiB), in either direction: a chunk from the
// client is lost with its connection (the request never reached the
// target), a chunk from the target is lost after the target acted on the
// request (the worst case for retries). p is clamped to [0, 1]; p <= 0 or
// NaN is [NoFault].
func ResetRandom(p float64) Fault {
	if !(p > 0) {
		return NoFault()
	}
	return Fault{kind: kindResetRandom, prob: min(p, 1)}
}

// Blackhole stops forwarding in both directions while keeping every socket
// open: no FIN, no RST, no data; peers wait until their own timeouts fire.
// New connections are accepted (the proxy's kernel completes the handshake)
// and stay silent too. Bytes read while the fault holds are held, not
// dropped, and flow on when it ends, like TCP retransmissions after a
// partition heals. The proxy's kernel still ACKs what the client sends: for
// unacknowledged bytes and SYNs that time out, use [BlackholePort] in a
// network namespace.
func Blackhole() Fault { return Fault{kind: kindBlackhole} }

// AcceptAndDrop accepts connections and discards every byte that arrives,
// on new connections (which never reach the target) and on established
// ones, in both directions: no FIN, no RST, no data. When the fault ends,
// every connection that lost bytes is reset, since its byte stream has a
// hole; untouched ones go on. Unlike [Blackhole], nothing is delivered
// late.
func AcceptAndDrop() Fault { return Fault{kind: kindDrop} }

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

// Bandwidth limits each direction of each connection to bytesPerSecond:
// bytes are forwarded in slices of a twentieth of a second's worth (at
// least 1 byte), each followed by the pause its size takes at that rate.
// bytesPerSecond <= 0 is [NoFault].
func Bandwidth(bytesPerSecond int64) Fault {
	if bytesPerSecond <= 0 {
		return NoFault()
	}
	return Fault{kind: kindBandwidth, bytes: bytesPerSecond}
}

// CloseAfterBytes lets each connection forward n more bytes (both directions
// together, counted from when the fault is set, or from the accept for new
// connections), then closes both of its sides with a FIN: a peer that dies
// in the middle of a message. n <= 0 closes on the next byte.
func CloseAfterBytes(n int64) Fault {
	return Fault{kind: kindCloseAfterBytes, bytes: max(n, 0)}
}

// IdleClose closes both sides of a connection with a FIN once it has
// carried no byte in either direction for d, like a server, load balancer
// or NAT that drops idle keep-alive connections. Idleness counts from the
// connection's last byte, so connections already idle for d when the fault
// is set are closed at once. d <= 0 is [NoFault].
func IdleClose(d time.Duration) Fault {
	if d <= 0 {
		return NoFault()
	}
	return Fault{kind: kindIdleClose, delay: d}
}

// String returns "none", "refuse", "reset-all", "reset-after-bytes(1024)",
// "reset-random(0.01)", "blackhole", "accept-and-drop", "latency(50ms)",
// "bandwidth(65536B/s)", "close-after-bytes(1024)" or "idle-close(1s)".
func (f Fault) String() string {
	switch f.kind {
	case kindNone:
		return "none"
	case kindRefuse:
		return "refuse"
	case kindResetAll:
		return "reset-all"
	case kindResetAfterBytes:
		return "reset-after-bytes(" + strconv.FormatInt(f.bytes, 10) + ")"
	case kindResetRandom:
		return "reset-random(" + strconv.FormatFloat(f.prob, 'g', -1, 64) + ")"
	case kindBlackhole:
		return "blackhole"
	case kindDrop:
		return "accept-and-drop"
	case kindLatency:
		return "latency(" + f.delay.String() + ")"
	case kindBandwidth:
		return "bandwidth(" + strconv.FormatInt(f.bytes, 10) + "B/s)"
	case kindCloseAfterBytes:
		return "close-after-bytes(" + strconv.FormatInt(f.bytes, 10) + ")"
	case kindIdleClose:
		return "idle-close(" + f.delay.String() + ")"
	}
	return "Fault(" + strconv.Itoa(int(f.kind)) + ")"
}

// hasBudget reports whether f gives each connection a byte budget.
func (f Fault) hasBudget() bool {
	return f.kind == kindCloseAfterBytes || f.kind == kindResetAfterBytes
}

// proxyDialTimeout bounds the proxy's dial to its target.
const proxyDialTimeout = 5 * time.Second

// proxyBufSize is the copy buffer per direction and connection.
const proxyBufSize = 32 << 10

// Proxy is a TCP proxy on 127.0.0.1 in front of any TCP server (PostgreSQL,
// MariaDB, gRPC, HTTP, Redis) whose [Fault] can be changed at run time.
// Create it with [NewProxy] and end it with [Proxy.Close]. All methods are
// safe for concurrent use.
type Proxy struct {
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
// ("host:port", e.g. "127.0.0.1:5432") with [NoFault]. Dial [Proxy.Addr]
// instead of target; call [Proxy.Close] when done.
func NewProxy(target string) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("herz/faultlab: NewProxy target must be host:port, got %q: %w", target, err)
	}
	ln, err := listenTCP("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		target: target, addr: ln.Addr().String(), ctx: ctx, cancel: cancel,
		changed: make(chan struct{}), ln: ln, conns: make(map[*proxyConn]struct{}),
	}
	p.startAccepting(ln)
	return p, nil
}

// Addr returns the proxy's "127.0.0.1:port"; dial it instead of the target.
// It stays the same across faults.
func (p *Proxy) Addr() string { return p.addr }

// Port returns the proxy's port.
func (p *Proxy) Port() int { return portOf(p.addr) }

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
// including those it reset or whose target dial failed: the new connections
// its clients opened.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// SetFault switches the proxy to f; it acts on established connections at
// once (see each Fault). It returns an error only when leaving [Refuse]
// fails to listen on the same port again (f holds anyway; new dials stay
// refused). SetFault on a closed proxy does nothing.
func (p *Proxy) SetFault(f Fault) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	prev := p.fault
	p.fault = f
	close(p.changed)
	p.changed = make(chan struct{})

	var err error
	if f.kind == kindRefuse && p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	if f.kind != kindRefuse && p.ln == nil {
		ln, lerr := listenTCP(p.addr)
		if lerr != nil {
			err = fmt.Errorf("herz/faultlab: Proxy.SetFault(%v): %w", f, lerr)
		} else {
			p.ln = ln
			p.startAccepting(ln)
		}
	}
	for c := range p.conns {
		switch {
		case f.kind == kindResetAll:
			c.reset()
			continue
		case prev.kind == kindDrop && f.kind != kindDrop && c.dropped.Load():
			c.reset()
			continue
		case f.hasBudget():
			c.setBudget(f.bytes)
		default:
			c.setBudget(-1)
		}
		c.armIdle(f)
	}
	return err
}

// Close stops listening, closes every connection with a FIN and waits for
// the proxy's goroutines. Closing twice does nothing. It always returns
// nil.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
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
	return nil
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
	c := &proxyConn{p: p, client: client, done: make(chan struct{}), budget: -1}
	c.touch()
	switch p.Fault().kind {
	case kindResetAll:
		resetConn(client) // no need to bother the target
		return
	case kindDrop:
		// Accepted, never forwarded: read and discard until the fault ends
		// (SetFault resets it then) or the proxy closes.
		c.dropped.Store(true)
		if !p.register(c) {
			return
		}
		c.pipe(nil, client)
		c.close()
		p.unregister(c)
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
	c.upstream = up.(*net.TCPConn)
	if !p.register(c) {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.pipe(c.client, c.upstream) })
	c.pipe(c.upstream, c.client)
	wg.Wait()
	c.close()
	p.unregister(c)
}

// register adds c to the proxy's connections with the current fault
// applied, or ends c and reports false when the proxy is closed or resetting.
func (p *Proxy) register(c *proxyConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		c.close()
		return false
	case p.fault.kind == kindResetAll,
		c.upstream == nil && p.fault.kind != kindDrop: // accepted under AcceptAndDrop, which has ended
		c.reset()
		return false
	case p.fault.hasBudget():
		c.budget = p.fault.bytes
	}
	c.armIdle(p.fault)
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) unregister(c *proxyConn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// current returns the fault and the channel closed at its next change.
func (p *Proxy) current() (Fault, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault, p.changed
}

// proxyConn is one client connection and its connection to the target
// (upstream is nil for a connection accepted under [AcceptAndDrop]).
type proxyConn struct {
	p        *Proxy
	client   *net.TCPConn
	upstream *net.TCPConn
	done     chan struct{} // closed when the proxy ends the connection
	once     sync.Once
	last     atomic.Int64 // unix ns of the last byte read from either side
	dropped  atomic.Bool  // bytes were discarded under AcceptAndDrop

	mu     sync.Mutex // guards budget
	budget int64      // bytes it may still forward; -1: unlimited
}

// touch records activity now.
func (c *proxyConn) touch() { c.last.Store(time.Now().UnixNano()) }

// armIdle sets both sides' read deadlines for f: the end of the idle
// period under [IdleClose], none otherwise. A pipe whose read runs into the
// deadline checks idleness itself (see pipe).
func (c *proxyConn) armIdle(f Fault) {
	var dl time.Time
	if f.kind == kindIdleClose {
		dl = time.Unix(0, c.last.Load()).Add(f.delay)
	}
	_ = c.client.SetReadDeadline(dl)
	if c.upstream != nil {
		_ = c.upstream.SetReadDeadline(dl)
	}
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
		if c.upstream != nil {
			_ = c.upstream.Close()
		}
	})
}

// reset ends both sides with an RST.
func (c *proxyConn) reset() {
	c.once.Do(func() {
		close(c.done)
		resetConn(c.client)
		if c.upstream != nil {
			resetConn(c.upstream)
		}
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

// verdict is what the fault gate decided for one chunk.
type verdict int

const (
	pass  verdict = iota // forward it
	drop                 // discard it (AcceptAndDrop)
	ended                // the connection ended meanwhile: stop
)

// pipe copies src to dst through the fault gate until src ends; dst nil
// discards everything (a connection accepted under AcceptAndDrop). An EOF
// from src becomes a FIN on dst (half-close); a reset of src becomes a
// reset of both sides, so the far peer sees what the near one did.
func (c *proxyConn) pipe(dst, src *net.TCPConn) {
	buf := make([]byte, proxyBufSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			c.touch()
			if !c.forward(dst, buf[:n]) {
				return
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && c.idleCheck(src) {
				continue
			}
			if errors.Is(err, io.EOF) {
				if dst != nil {
					_ = dst.CloseWrite()
				}
				return
			}
			c.abort()
			return
		}
	}
}

// forward passes one chunk through the gate to dst; false: stop piping.
func (c *proxyConn) forward(dst *net.TCPConn, chunk []byte) bool {
	f, v := c.gate(len(chunk))
	switch v {
	case ended:
		return false
	case drop:
		c.dropped.Store(true)
		return true
	}
	if dst == nil { // accepted under AcceptAndDrop, which has ended: no target to talk to
		c.reset()
		return false
	}
	allowed, spent := c.take(len(chunk))
	if allowed > 0 {
		if !c.write(dst, chunk[:allowed], f) {
			c.abort()
			return false
		}
	}
	if spent {
		if f.kind == kindResetAfterBytes {
			c.reset()
		} else {
			c.close()
		}
		return false
	}
	return true
}

// write writes b to dst, in paced slices under [Bandwidth]; false on a
// write error or when the connection ended while pacing. When the fault
// changes while pacing, the rest of b goes out at once.
func (c *proxyConn) write(dst *net.TCPConn, b []byte, f Fault) bool {
	if f.kind != kindBandwidth {
		_, err := dst.Write(b)
		return err == nil
	}
	slice := int(max(f.bytes/20, 1))
	for len(b) > 0 {
		cur, changed := c.p.current()
		if cur != f {
			_, err := dst.Write(b)
			return err == nil
		}
		n := min(slice, len(b))
		if _, err := dst.Write(b[:n]); err != nil {
			return false
		}
		b = b[n:]
		pause := time.Duration(float64(n) / float64(f.bytes) * float64(time.Second))
		if !c.sleep(pause, changed) && c.ended() {
			return false
		}
	}
	return true
}

// sleep waits d; false when the connection ended or the fault changed first.
func (c *proxyConn) sleep(d time.Duration, changed <-chan struct{}) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-changed:
		return false
	case <-c.done:
		return false
	}
}

// idleCheck handles a read of src that ran into its deadline: under
// [IdleClose] it closes the connection once it has been idle long enough
// (and reports false), or moves the deadline on; under any other fault it
// clears the leftover deadline. true: read again.
func (c *proxyConn) idleCheck(src *net.TCPConn) bool {
	if c.ended() {
		return false
	}
	f := c.p.Fault()
	if f.kind != kindIdleClose {
		_ = src.SetReadDeadline(time.Time{})
		return true
	}
	end := time.Unix(0, c.last.Load()).Add(f.delay)
	if !time.Now().Before(end) {
		c.close()
		return false
	}
	_ = src.SetReadDeadline(end)
	return true
}

// abort ends the connection after an I/O error: unless the proxy ended it
// itself, the error came from a peer, and a reset is passed on as a reset.
func (c *proxyConn) abort() {
	if c.ended() {
		return
	}
	c.reset()
}

// gate waits until the current fault lets a chunk of n bytes through and
// returns that fault and the verdict.
func (c *proxyConn) gate(n int) (Fault, verdict) {
	for {
		f, changed := c.p.current()
		switch f.kind {
		case kindBlackhole:
			select {
			case <-changed:
				continue
			case <-c.done:
				return f, ended
			}
		case kindDrop:
			return f, drop
		case kindLatency:
			if !c.sleep(f.delay, nil) {
				return f, ended
			}
		case kindResetRandom:
			if rand.Float64() < f.prob {
				c.reset()
				return f, ended
			}
		}
		if c.ended() || n <= 0 {
			return f, ended
		}
		return f, pass
	}
}
