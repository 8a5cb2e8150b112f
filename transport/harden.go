package transport

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/herz-go/herz/dialer"
)

// HardenConfig configures [Harden]. The zero value is a good production
// default; durations follow [Config]'s fields of the same names.
type HardenConfig struct {
	// Dialer configures the herz dialer the transport will dial through.
	// Its zero value: verified connects, kernel-derived TCP keepalive, a
	// dead-path watchdog, 2 dial retries with jittered backoff and a
	// per-address breaker whose open interval is 200ms × consecutive trips,
	// capped at 600ms unless Dialer.Breaker sets one (see Config.Breaker).
	// Its Timeout (default 30s) replaces http.DefaultTransport's net.Dialer
	// timeout of the same value.
	Dialer dialer.Config
	// H2ReadIdleTimeout becomes HTTP2Config.SendPingTimeout: how long an
	// HTTP/2 connection may receive nothing before a PING health check is
	// sent. Default 3s; negative leaves the health check off. Ignored when
	// the transport's HTTP2 field already sets it.
	H2ReadIdleTimeout time.Duration
	// H2PingTimeout becomes HTTP2Config.PingTimeout: how long to wait for
	// the PING's answer before closing the connection. Default 3s. Negative
	// is invalid. Ignored when the transport's HTTP2 field already sets it.
	H2PingTimeout time.Duration
	// H2WriteByteTimeout becomes HTTP2Config.WriteByteTimeout: an HTTP/2
	// connection whose writes make no progress this long is closed.
	// Default 10s; negative means no limit. Ignored when the transport's
	// HTTP2 field already sets it.
	H2WriteByteTimeout time.Duration
	// Config configures herz's handling of the hardened transport's
	// requests (retries, budget, request breaker, lifetime, AttemptTimeout,
	// its Dialer...). Its fields that have a twin in http.Transport, and
	// Base, must be zero: they come from the hardened transport. Its H2
	// fields are ignored: the ones above apply. Default: [Config]'s.
	Config Config
}

// Harden hardens t in place, so that a program can adopt herz without
// changing the type of http.DefaultTransport, which many libraries assert:
//
//	if _, err := transport.Harden(http.DefaultTransport.(*http.Transport), transport.HardenConfig{}); err != nil {
//		log.Fatal(err)
//	}
//
// Call it before t is used or cloned: t's own HTTP/2 must not be set up yet
// (Harden returns an error otherwise, and changes nothing). Its effects:
//
//   - t's http and https requests go through a herz [Transport] built from
//     t's fields as they were (see Config.Base: proxies, TLS, timeouts,
//     pool limits and a DialContext of the user's all honoured), with
//     everything of level 2: herz's pool for HTTP/1.1, stale-connection
//     refusal, learned idle deadlines, max lifetime, safe retries with a
//     budget, the request breaker. It is registered with
//     t.RegisterProtocol for "http" and "https" (requests net/http must
//     send over HTTP/1, such as an https Upgrade, stay on t's own pool),
//     and t.CloseIdleConnections closes its idle connections too.
//   - t.DialContext, unless t had one of its own (or Dial; a net.Dialer's,
//     as http.DefaultTransport's, is not), becomes a herz
//     [dialer.Dialer] for what t still dials itself and for the clones
//     libraries make of t (http.DefaultTransport.(*http.Transport).Clone()
//     keeps working): verified connects, kernel-derived TCP keepalive, a
//     dead-path watchdog, jittered dial retries and a per-address dial
//     breaker. A DialContext the user set is kept as it is (and used by the
//     herz Transport to dial).
//   - t.HTTP2: PING health checks (SendPingTimeout, PingTimeout) and
//     WriteByteTimeout where it leaves them zero, for t's clones; and
//     ForceAttemptHTTP2 when t would have attempted HTTP/2 before, so that
//     the new DialContext does not turn it off for them.
//
// Harden t once: a second call returns an error. What it returns gives
// statistics; its Close cannot break t (see [Hardened.Close]).
func Harden(t *http.Transport, cfg HardenConfig) (*Hardened, error) {
	if t == nil {
		return nil, errors.New("herz/transport: Harden: nil *http.Transport")
	}
	if cfg.H2PingTimeout < 0 {
		return nil, fmt.Errorf("herz/transport: HardenConfig.H2PingTimeout must not be negative, got %v", cfg.H2PingTimeout)
	}
	if t.TLSNextProto["h2"] != nil {
		return nil, errors.New("herz/transport: Harden: the transport's HTTP/2 is already set up (it was used, cloned or configured by golang.org/x/net/http2): harden it before its first use")
	}
	c := cfg.Config
	if c.Base != nil {
		return nil, errors.New("herz/transport: HardenConfig.Config.Base must not be set: it is the hardened transport")
	}
	if name, ok := c.baseTwins(); ok {
		return nil, fmt.Errorf("herz/transport: HardenConfig.Config.%s must not be set: the hardened transport's is used", name)
	}
	c.H2ReadIdleTimeout, c.H2PingTimeout, c.H2WriteByteTimeout = cfg.H2ReadIdleTimeout, cfg.H2PingTimeout, cfg.H2WriteByteTimeout
	c.Base = copyTransport(t) // t as the user made it: its dial wrapped, not herz's level-1 one
	tr, err := New(c)
	if err != nil {
		if msg, ok := strings.CutPrefix(err.Error(), "herz/transport: Config."); ok {
			return nil, errors.New("herz/transport: HardenConfig.Config." + msg)
		}
		return nil, err
	}
	h := &Hardened{tr: tr}
	userDial := (t.DialContext != nil && !isNetDialer(t.DialContext)) || t.Dial != nil
	if !userDial {
		dc := cfg.Dialer
		dc.Breaker = recoveringBreaker(dc.Breaker)
		if h.d, err = dialer.New(dc); err != nil {
			tr.Close()
			if msg, ok := strings.CutPrefix(err.Error(), "herz/dialer: Config."); ok {
				return nil, errors.New("herz/transport: HardenConfig.Dialer." + msg)
			}
			return nil, fmt.Errorf("herz/transport: HardenConfig.Dialer: %w", err)
		}
	}
	// net/http reads this struct's single exported field, when it sets t's
	// HTTP/2 up, as the HTTP/2 transport to close idle connections of (the
	// hook golang.org/x/net/http2 uses; Go issue 22891), and then sets up no
	// bundled HTTP/2 of its own on t: t's https requests are herz's.
	rt := altProto{H: h}
	if err := registerProtocol(t, "http", rt); err != nil {
		h.release()
		return nil, errors.New("herz/transport: Harden: the transport is already hardened (its \"http\" protocol is registered)")
	}
	if err := registerProtocol(t, "https", rt); err != nil {
		// Only a protocol registered by hand (an HTTP/2 set up by net/http
		// was refused above): http goes through herz, https cannot.
		h.https = false
		return h, fmt.Errorf("herz/transport: Harden: %v: the transport's https requests do not go through herz", err)
	}
	h.https = true
	if !userDial {
		if attemptsHTTP2(t) && t.Protocols == nil && t.TLSNextProto == nil {
			t.ForceAttemptHTTP2 = true // net/http would have attempted HTTP/2: keep it so
		}
		t.DialContext = h.d.DialContext
	}
	h2 := new(http.HTTP2Config)
	if t.HTTP2 != nil {
		*h2 = *t.HTTP2 // a copy: the old value may be shared with a clone
	}
	fillH2(h2, &http.HTTP2Config{
		SendPingTimeout:  orDefault(cfg.H2ReadIdleTimeout, defaultH2ReadIdleTimeout),
		PingTimeout:      orDefault(cfg.H2PingTimeout, defaultH2PingTimeout),
		WriteByteTimeout: orDefault(cfg.H2WriteByteTimeout, defaultH2WriteByteTimeout),
	})
	t.HTTP2 = h2
	return h, nil
}

// registerProtocol is t.RegisterProtocol, its panic (a scheme registered
// already) returned as an error.
func registerProtocol(t *http.Transport, scheme string, rt http.RoundTripper) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	t.RegisterProtocol(scheme, rt)
	return nil
}

// Hardened is what [Harden] made of a transport: statistics, and a way to
// stop routing its requests through herz.
type Hardened struct {
	tr    *Transport
	d     *dialer.Dialer // t's DialContext; nil when the user's was kept
	https bool

	mu     sync.RWMutex // held for reading by requests going through tr
	closed bool
}

// altProto is registered on the hardened transport for "http" and "https".
// Its one exported field makes net/http call H.CloseIdleConnections from
// the hardened transport's CloseIdleConnections (see Harden).
type altProto struct{ H *Hardened }

// RoundTrip sends req through herz, or lets the hardened transport send it
// itself once Close was called.
func (p altProto) RoundTrip(req *http.Request) (*http.Response, error) {
	h := p.H
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return nil, http.ErrSkipAltProtocol
	}
	return h.tr.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of herz's Transport.
// The hardened transport's CloseIdleConnections calls it.
func (h *Hardened) CloseIdleConnections() { h.tr.CloseIdleConnections() }

// Stats returns a snapshot of herz's Transport for the hardened transport's
// requests, with the connections its DialContext dialed for clones (and
// for what it sends itself) added to Open, InUse, Dials, DialErrors and
// PeerCloses.
func (h *Hardened) Stats() Stats {
	s := h.tr.Stats()
	if h.d != nil {
		ds := h.d.Stats()
		s.Open += ds.Open
		s.Idle += ds.Idle
		s.InUse += ds.Open - ds.Idle
		s.Dials += ds.Dials
		s.DialErrors += ds.DialErrors
		s.PeerCloses += ds.PeerCloses
	}
	return s
}

// HTTPS reports whether the hardened transport's https requests go through
// herz (false only when Harden returned an error about it).
func (h *Hardened) HTTPS() bool { return h.https }

// Close stops routing the hardened transport's requests through herz: it
// waits for requests in flight there to get their response headers, then
// later requests are sent by the transport itself (HTTP/1.1 over TLS: its
// HTTP/2 was never set up), and herz's connections close once idle. The
// DialContext Harden set keeps working (it has nothing to release but its
// metric callbacks). Close never breaks the transport; it is idempotent.
func (h *Hardened) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	return h.tr.Close()
}

// release undoes a Harden that failed before registering anything.
func (h *Hardened) release() {
	h.tr.Close()
	if h.d != nil {
		h.d.Close()
	}
}
