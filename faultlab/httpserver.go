package faultlab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Protocol selects what an [HTTPServer] speaks.
type Protocol int

const (
	// HTTP1 is plain-text HTTP/1.1, the default.
	HTTP1 Protocol = iota
	// HTTPS is TLS with ALPN "h2" and "http/1.1": HTTP/2 for clients that
	// offer it (as [HTTPServer.Client] does), HTTP/1.1 otherwise. The
	// certificate is self-signed; trust it with [HTTPServer.ClientTLSConfig].
	HTTPS
	// H2C is HTTP/2 over plain text with prior knowledge (no upgrade dance);
	// plain HTTP/1.1 requests are accepted on the same port too.
	H2C
)

// String returns "http1", "https" or "h2c".
func (p Protocol) String() string {
	switch p {
	case HTTP1:
		return "http1"
	case HTTPS:
		return "https"
	case H2C:
		return "h2c"
	}
	return "Protocol(" + strconv.Itoa(int(p)) + ")"
}

// RequestIDHeader is the request header whose value [HTTPServer] counts
// executions by; the server echoes it in the response.
const RequestIDHeader = "X-Request-Id"

// defaultBodySize is the response body size when HTTPOptions.BodySize is 0:
// the 1 KiB of the throughput benchmarks.
const defaultBodySize = 1024

// goAwayDrain bounds how long [HTTPServer.GoAway] lets the old connections
// finish their requests before closing them.
const goAwayDrain = 5 * time.Second

// HTTPOptions configures [NewHTTPServer]. The zero value is a well-behaved
// plain HTTP/1.1 server answering 200 with a 1 KiB body.
type HTTPOptions struct {
	// Protocol is what the server speaks. Zero: [HTTP1].
	Protocol Protocol

	// IdleTimeout is how long the server keeps an idle keep-alive
	// connection (HTTP/1.1 or HTTP/2) before closing it with a FIN, as
	// net/http's Server.IdleTimeout. Zero: never.
	IdleTimeout time.Duration

	// ResetEvery makes every n-th request (1-based, counted over the
	// server's whole life) end with a TCP RST of its connection instead of
	// a response: the request body is read and the request counted as
	// executed first, which is the worst case for a client (the side effect
	// happened, no answer came). HTTP/1 connections are hijacked, HTTP/2
	// ones reset underneath all their streams. Zero: never.
	ResetEvery int

	// Delay is how long each request waits before it is answered (a request
	// can ask for its own with the query parameter ?sleep=250ms). The wait
	// ends early when the client goes away. Zero: no delay.
	Delay time.Duration

	// BodySize is the size of the 200 response body in bytes. Zero: 1024;
	// negative: an empty body.
	BodySize int
}

// validate names the first bad field, as name.Field (name is how the
// caller wrote the options: "HTTPOptions", "Scenario.Backends[1]").
func (o HTTPOptions) validate(name string) error {
	switch {
	case o.Protocol < HTTP1 || o.Protocol > H2C:
		return fmt.Errorf("herz/faultlab: %s.Protocol must be HTTP1, HTTPS or H2C, got %d", name, int(o.Protocol))
	case o.IdleTimeout < 0:
		return fmt.Errorf("herz/faultlab: %s.IdleTimeout must be >= 0, got %v", name, o.IdleTimeout)
	case o.ResetEvery < 0:
		return fmt.Errorf("herz/faultlab: %s.ResetEvery must be >= 0, got %d", name, o.ResetEvery)
	case o.Delay < 0:
		return fmt.Errorf("herz/faultlab: %s.Delay must be >= 0, got %v", name, o.Delay)
	}
	return nil
}

// HTTPServer is a real net/http server on 127.0.0.1 that misbehaves on
// demand and counts what it executed. Create it with [NewHTTPServer] and
// stop it with [HTTPServer.Close]. All methods are safe for concurrent use.
//
// Every request is handled the same way: the body is read to the end, then
// the request is rejected (see [HTTPServer.SetStatus]), reset (see
// HTTPOptions.ResetEvery) or answered 200 with HTTPOptions.BodySize bytes
// after HTTPOptions.Delay. Requests carrying [RequestIDHeader] are counted
// per ID unless rejected, so [HTTPServer.Duplicates] exposes a client that
// re-sent a request whose side effect already happened.
type HTTPServer struct {
	opts    HTTPOptions // frozen copy
	body    []byte
	tlsCert tls.Certificate // zero unless HTTPS
	roots   *x509.CertPool  // nil unless HTTPS
	addr    string          // 127.0.0.1:port, fixed for the server's life

	requests atomic.Int64
	conns    atomic.Int64
	status   atomic.Pointer[statusReply] // nil: answer normally

	// life serializes Stop, Restart, GoAway and Close; it guards cur,
	// draining and stopped. Never held by the request path.
	life     sync.Mutex
	cur      *httpGen   // serving generation; nil while stopped
	draining []*httpGen // generations shut down gracefully by GoAway
	stopped  bool       // closed for good

	// mu guards the counters and the client list below.
	mu      sync.Mutex
	execs   map[string]int
	dups    int
	clients []*http.Transport
}

// statusReply is the reply of a status storm.
type statusReply struct {
	code       int
	retryAfter string
}

// httpGen is one listener and http.Server; Restart and GoAway make a new one
// on the same port.
type httpGen struct {
	srv    *http.Server
	served chan struct{} // closed when Serve returned
	done   chan struct{} // closed when a GoAway drain finished (GoAway only)
}

// connKey is the context key under which the handler finds the request's
// connection (to reset HTTP/2 connections, which cannot be hijacked).
type connKey struct{}

// NewHTTPServer starts a server on a fresh 127.0.0.1 port. A bad option is
// an error naming the field. Call [HTTPServer.Close] when done.
func NewHTTPServer(opts HTTPOptions) (*HTTPServer, error) {
	if err := opts.validate("HTTPOptions"); err != nil {
		return nil, err
	}
	size := opts.BodySize
	if size == 0 {
		size = defaultBodySize
	}
	s := &HTTPServer{opts: opts, execs: make(map[string]int)}
	if size > 0 {
		s.body = make([]byte, size)
		for i := range s.body {
			s.body[i] = 'a' + byte(i%26)
		}
	}
	if opts.Protocol == HTTPS {
		cert, roots, err := newSelfSigned()
		if err != nil {
			return nil, err
		}
		s.tlsCert, s.roots = cert, roots
	}
	ln, err := listenTCP("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.addr = ln.Addr().String()
	s.cur = s.serve(ln)
	return s, nil
}

// Addr returns the server's "127.0.0.1:port"; it stays the same across
// [HTTPServer.Stop], [HTTPServer.Restart] and [HTTPServer.GoAway].
func (s *HTTPServer) Addr() string { return s.addr }

// Port returns the server's port, for [BlackholePort].
func (s *HTTPServer) Port() int { return portOf(s.addr) }

// URL returns "http://127.0.0.1:port" ("https://" for [HTTPS]).
func (s *HTTPServer) URL() string {
	if s.opts.Protocol == HTTPS {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

// ClientTLSConfig returns a new client TLS config that trusts the server's
// self-signed certificate, for transports built by the test itself (such as
// herz's). It returns nil unless the server speaks [HTTPS].
func (s *HTTPServer) ClientTLSConfig() *tls.Config {
	if s.roots == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
}

// Client returns a new standard-library client with its own transport set up
// for the server's protocol: HTTP/1.1, HTTP/2 over TLS trusting the server's
// certificate, or h2c with prior knowledge. Its idle connections are closed
// by [HTTPServer.Close].
func (s *HTTPServer) Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // 127.0.0.1 only, whatever the environment says
	protos := new(http.Protocols)
	switch s.opts.Protocol {
	case HTTP1:
		protos.SetHTTP1(true)
	case HTTPS:
		tr.TLSClientConfig = s.ClientTLSConfig()
		protos.SetHTTP1(true)
		protos.SetHTTP2(true)
	case H2C:
		protos.SetUnencryptedHTTP2(true)
	}
	tr.Protocols = protos
	s.mu.Lock()
	s.clients = append(s.clients, tr)
	s.mu.Unlock()
	return &http.Client{Transport: tr}
}

// SetStatus starts a status storm: from now on every request is answered
// with code (and a Retry-After header when retryAfter is not empty, e.g.
// "1" or an HTTP date) and is not counted as executed. SetStatus(0, "") or
// SetStatus(200, "") ends the storm.
func (s *HTTPServer) SetStatus(code int, retryAfter string) {
	if code == 0 || (code == http.StatusOK && retryAfter == "") {
		s.status.Store(nil)
		return
	}
	s.status.Store(&statusReply{code: code, retryAfter: retryAfter})
}

// Requests returns how many requests reached the handler, executed,
// rejected or reset, with or without a request ID.
func (s *HTTPServer) Requests() int { return int(s.requests.Load()) }

// Conns returns how many connections the server accepted over its life.
func (s *HTTPServer) Conns() int { return int(s.conns.Load()) }

// Executions returns how many times a request with the given
// [RequestIDHeader] value was executed (answered 200 or reset after being
// read; not rejected by a status storm).
func (s *HTTPServer) Executions(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.execs[id]
}

// Duplicates returns how many request IDs were executed more than once.
// Any non-zero value means a client re-sent a request that had already
// taken effect.
func (s *HTTPServer) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dups
}

// Stop closes the listener and every connection at once (peers see a FIN,
// or an RST if they had unread bytes in flight), like a crashed server whose
// kernel is still up: dials are refused until [HTTPServer.Restart]. Stopping
// a stopped server does nothing.
func (s *HTTPServer) Stop() {
	s.life.Lock()
	defer s.life.Unlock()
	s.stopLocked()
}

// Restart stops the server if it runs and serves again on the same port.
// Counters are kept. A failure to re-bind the port is returned and leaves
// the server stopped. Restart on a closed server does nothing.
func (s *HTTPServer) Restart() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.stopped {
		return nil
	}
	s.stopLocked()
	ln, err := listenTCP(s.addr)
	if err != nil {
		return fmt.Errorf("herz/faultlab: HTTPServer.Restart: %w", err)
	}
	s.cur = s.serve(ln)
	return nil
}

// GoAway restarts the server gracefully: the listener closes, a new one
// opens on the same port at once (a dial in between, microseconds, is
// refused, as in a real restart), and the old connections are shut down the
// way http.Server.Shutdown does it: HTTP/2 connections get a GOAWAY frame and
// finish their streams, idle HTTP/1 connections are closed, busy ones finish
// their request with "Connection: close". Old connections still busy after
// 5 s are closed. GoAway on a stopped server starts it; on a closed one it
// does nothing. A failure to re-bind the port is returned and leaves the
// server stopped.
func (s *HTTPServer) GoAway() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.stopped {
		return nil
	}
	if old := s.cur; old != nil {
		s.cur = nil
		old.done = make(chan struct{})
		// Forget drained generations, so a soak calling GoAway in a loop
		// keeps only those still draining.
		s.draining = slices.DeleteFunc(s.draining, func(g *httpGen) bool {
			select {
			case <-g.done:
				return true
			default:
				return false
			}
		})
		s.draining = append(s.draining, old)
		go func() {
			defer close(old.done)
			ctx, cancel := context.WithTimeout(context.Background(), goAwayDrain)
			defer cancel()
			if err := old.srv.Shutdown(ctx); err != nil {
				_ = old.srv.Close()
			}
		}()
		<-old.served // Shutdown closed the listener: the port is free
	}
	ln, err := listenTCP(s.addr)
	if err != nil {
		return fmt.Errorf("herz/faultlab: HTTPServer.GoAway: %w", err)
	}
	s.cur = s.serve(ln)
	return nil
}

// stopLocked closes the current generation hard. s.life must be held.
func (s *HTTPServer) stopLocked() {
	if g := s.cur; g != nil {
		s.cur = nil
		_ = g.srv.Close()
		<-g.served
	}
}

// Close closes the idle connections of every [HTTPServer.Client], then
// stops the server for good and waits for its goroutines. Closing twice does
// nothing. It always returns nil.
func (s *HTTPServer) Close() error {
	s.mu.Lock()
	clients := s.clients
	s.clients = nil
	s.mu.Unlock()
	for _, tr := range clients {
		tr.CloseIdleConnections()
	}

	s.life.Lock()
	defer s.life.Unlock()
	s.stopped = true
	s.stopLocked()
	for _, g := range s.draining {
		_ = g.srv.Close()
		<-g.done
	}
	s.draining = nil
	return nil
}

// serve starts a new generation on ln.
func (s *HTTPServer) serve(ln net.Listener) *httpGen {
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	switch s.opts.Protocol {
	case HTTPS:
		protos.SetHTTP2(true)
	case H2C:
		protos.SetUnencryptedHTTP2(true)
	}
	srv := &http.Server{
		Handler:     http.HandlerFunc(s.handle),
		IdleTimeout: s.opts.IdleTimeout,
		Protocols:   protos,
		// Resets and closed connections are the point here, not news.
		ErrorLog: log.New(io.Discard, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.conns.Add(1)
			}
		},
	}
	if s.opts.Protocol == HTTPS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{s.tlsCert}, MinVersion: tls.VersionTLS12}
	}
	g := &httpGen{srv: srv, served: make(chan struct{})}
	go func() {
		defer close(g.served)
		if s.opts.Protocol == HTTPS {
			_ = srv.ServeTLS(ln, "", "")
			return
		}
		_ = srv.Serve(ln)
	}()
	return g
}

// handle is the server's handler; see [HTTPServer] for what it does.
func (s *HTTPServer) handle(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)

	if st := s.status.Load(); st != nil {
		if st.retryAfter != "" {
			w.Header().Set("Retry-After", st.retryAfter)
		}
		w.WriteHeader(st.code)
		return
	}

	id := r.Header.Get(RequestIDHeader)
	if id != "" {
		s.mu.Lock()
		s.execs[id]++
		if s.execs[id] == 2 {
			s.dups++
		}
		s.mu.Unlock()
		w.Header().Set(RequestIDHeader, id)
	}

	if e := s.opts.ResetEvery; e > 0 && n%int64(e) == 0 {
		s.reset(w, r)
		return
	}

	delay := s.opts.Delay
	if v := r.URL.Query().Get("sleep"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			http.Error(w, "herz/faultlab: bad sleep parameter", http.StatusBadRequest)
			return
		}
		delay = d
	}
	if delay > 0 {
		tm := time.NewTimer(delay)
		select {
		case <-tm.C:
		case <-r.Context().Done():
			tm.Stop()
			return
		}
	}

	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(s.body)))
	_, _ = w.Write(s.body)
}

// reset sends an RST on the request's connection without answering.
func (s *HTTPServer) reset(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			resetConn(c)
			return
		}
	}
	// HTTP/2 cannot be hijacked: reset the TCP connection under all its
	// streams, then abort this handler so nothing more is written.
	if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		resetConn(c)
	}
	panic(http.ErrAbortHandler)
}
