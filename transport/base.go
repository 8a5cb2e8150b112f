package transport

import (
	"context"
	"crypto/tls"
	"maps"
	"net"
	"net/http"
	"reflect"

	"github.com/herz-go/herz/dialer"
)

// Building a Transport from the user's *http.Transport (Config.Base): herz
// keeps every net/http field of it — proxies, TLS, timeouts, pool limits,
// buffer sizes, Protocols, HTTP/2 settings — and takes over only the
// hand-out of connections (its own pool for HTTP/1.1) and the dial, which
// it wraps: a DialContext (or Dial) the user set is the one that dials.

// baseTwins are the Config fields that have a twin in http.Transport: with
// Config.Base set, the twin in Base is the one used, so these must be zero.
func (c *Config) baseTwins() (string, bool) {
	switch {
	case c.Proxy != nil:
		return "Proxy", true
	case c.TLSClientConfig != nil:
		return "TLSClientConfig", true
	case c.TLSHandshakeTimeout != 0:
		return "TLSHandshakeTimeout", true
	case c.IdleConnTimeout != 0:
		return "IdleConnTimeout", true
	case c.MaxIdleConns != 0:
		return "MaxIdleConns", true
	case c.MaxIdleConnsPerHost != 0:
		return "MaxIdleConnsPerHost", true
	case c.MaxConnsPerHost != 0:
		return "MaxConnsPerHost", true
	case c.ResponseHeaderTimeout != 0:
		return "ResponseHeaderTimeout", true
	case c.ExpectContinueTimeout != 0:
		return "ExpectContinueTimeout", true
	case c.DisableHTTP2:
		return "DisableHTTP2", true
	}
	return "", false
}

// fromBase sets s's net/http twin fields to b's values, with net/http's
// meaning of zero (no proxy, no limit, 2 idle conns per host...): the
// settings' own meanings are those of http.Transport after withDefaults.
func (s *settings) fromBase(b *http.Transport) {
	s.Proxy = b.Proxy
	if s.Proxy == nil {
		s.Proxy = NoProxy
	}
	s.TLSClientConfig = b.TLSClientConfig
	s.TLSHandshakeTimeout = b.TLSHandshakeTimeout
	s.IdleConnTimeout = b.IdleConnTimeout
	s.MaxIdleConns = b.MaxIdleConns
	s.MaxIdleConnsPerHost = b.MaxIdleConnsPerHost
	if s.MaxIdleConnsPerHost == 0 {
		s.MaxIdleConnsPerHost = http.DefaultMaxIdleConnsPerHost
	}
	if b.DisableKeepAlives {
		s.MaxIdleConnsPerHost = -1 // no conn is ever idle
	}
	s.MaxConnsPerHost = b.MaxConnsPerHost
	s.ResponseHeaderTimeout = b.ResponseHeaderTimeout
	s.ExpectContinueTimeout = b.ExpectContinueTimeout
	s.h2cBase = b.Protocols != nil && b.Protocols.UnencryptedHTTP2()
	s.userDial = b.DialContext
	if isNetDialer(s.userDial) {
		s.userDial = nil // herz's dialer does what it does, and more
	}
	if s.userDial == nil && b.Dial != nil {
		dial := b.Dial
		s.userDial = func(_ context.Context, network, addr string) (net.Conn, error) { return dial(network, addr) }
	}
}

// netDialerDial is the code of a net.Dialer's DialContext method value,
// whatever the Dialer: http.DefaultTransport's DialContext is one.
var netDialerDial = reflect.ValueOf((&net.Dialer{}).DialContext).Pointer()

// isNetDialer reports whether dial is the DialContext method of a
// net.Dialer (http.DefaultTransport's, or one like it): a plain TCP dial,
// which herz's dialer replaces (its Timeout and LocalAddr, Resolver and
// Control of dialer.Config stand for the net.Dialer's fields). Any other
// DialContext is the user's own and is kept.
func isNetDialer(dial func(context.Context, string, string) (net.Conn, error)) bool {
	return dial != nil && reflect.ValueOf(dial).Pointer() == netDialerDial
}

// copyTransport returns a copy of b's exported fields, as b.Clone() would,
// but without Clone's side effect of setting up b's bundled HTTP/2 (Harden
// must register its protocols on b before that happens). TLSNextProto is
// copied as set (nil stays nil). TestCopyTransportCopiesEveryField pins the
// field list against http.Transport's.
func copyTransport(b *http.Transport) *http.Transport {
	t := &http.Transport{
		Proxy:                  b.Proxy,
		OnProxyConnectResponse: b.OnProxyConnectResponse,
		DialContext:            b.DialContext,
		Dial:                   b.Dial,
		DialTLSContext:         b.DialTLSContext,
		DialTLS:                b.DialTLS,
		TLSHandshakeTimeout:    b.TLSHandshakeTimeout,
		DisableKeepAlives:      b.DisableKeepAlives,
		DisableCompression:     b.DisableCompression,
		MaxIdleConns:           b.MaxIdleConns,
		MaxIdleConnsPerHost:    b.MaxIdleConnsPerHost,
		MaxConnsPerHost:        b.MaxConnsPerHost,
		IdleConnTimeout:        b.IdleConnTimeout,
		ResponseHeaderTimeout:  b.ResponseHeaderTimeout,
		ExpectContinueTimeout:  b.ExpectContinueTimeout,
		ProxyConnectHeader:     b.ProxyConnectHeader.Clone(),
		GetProxyConnectHeader:  b.GetProxyConnectHeader,
		MaxResponseHeaderBytes: b.MaxResponseHeaderBytes,
		WriteBufferSize:        b.WriteBufferSize,
		ReadBufferSize:         b.ReadBufferSize,
		ForceAttemptHTTP2:      b.ForceAttemptHTTP2,
	}
	if b.TLSClientConfig != nil {
		t.TLSClientConfig = b.TLSClientConfig.Clone()
	}
	if b.TLSNextProto != nil {
		t.TLSNextProto = maps.Clone(b.TLSNextProto)
	}
	if b.HTTP2 != nil {
		h2 := *b.HTTP2
		t.HTTP2 = &h2
	}
	if b.Protocols != nil {
		p := *b.Protocols
		t.Protocols = &p
	}
	return t
}

// attemptsHTTP2 reports whether net/http would attempt HTTP/2 over TLS on
// b as it is (its rules in Transport.protocols), so that replacing its dial
// function keeps HTTP/2 as it was.
func attemptsHTTP2(b *http.Transport) bool {
	switch {
	case b.Protocols != nil:
		return b.Protocols.HTTP2()
	case b.TLSNextProto != nil:
		return b.TLSNextProto["h2"] != nil
	case b.ForceAttemptHTTP2:
		return true
	}
	return b.TLSClientConfig == nil && b.Dial == nil && b.DialContext == nil && b.DialTLS == nil && b.DialTLSContext == nil
}

// baseTransport builds t1 from Config.Base: a copy of every field, the dial
// wrapped (see dialNet), HTTP/2 attempted exactly when Base attempts it,
// and herz's HTTP/2 health checks filled in where Base's HTTP2 leaves them
// zero.
func (t *Transport) baseTransport() *http.Transport {
	b := t.s.Base
	t1 := copyTransport(b)
	h2 := attemptsHTTP2(b)
	t1.Dial = nil
	t1.DialContext = t.dialContext
	t1.Proxy = t.proxyOf // the attempt's answer of Config.Proxy: asked once per attempt
	if h2 && t1.Protocols == nil && t1.TLSNextProto == nil {
		t1.ForceAttemptHTTP2 = true // a custom DialContext turns it off otherwise
	}
	cfg := t.h2Config()
	if t1.HTTP2 == nil {
		t1.HTTP2 = cfg
	} else {
		fillH2(t1.HTTP2, cfg)
	}
	return t1
}

// fillH2 sets the health checks of h2 that are zero to def's.
func fillH2(h2, def *http.HTTP2Config) {
	if h2.SendPingTimeout == 0 {
		h2.SendPingTimeout = def.SendPingTimeout
	}
	if h2.PingTimeout == 0 {
		h2.PingTimeout = def.PingTimeout
	}
	if h2.WriteByteTimeout == 0 {
		h2.WriteByteTimeout = def.WriteByteTimeout
	}
}

// lendH2ForLife wraps t1's bundled HTTP/2 hook (set up by now) so that an
// HTTP/2 conn herz follows is lent to HTTP/2 for life (never refused or
// evicted by herz) and drained at its lifetime (see exchange.gotConn). The
// hook runs after the TLS handshake, before the connection preface.
func lendH2ForLife(t1 *http.Transport) {
	t1.CloseIdleConnections() // sets the bundled HTTP/2 up now
	if next := t1.TLSNextProto["h2"]; next != nil {
		t1.TLSNextProto["h2"] = func(authority string, c *tls.Conn) http.RoundTripper {
			if dc, ok := dialer.ConnOf(c); ok {
				dc.LendForLife()
			}
			return next(authority, c)
		}
	}
}

// dialNet makes a connection for net/http: through the user's DialContext
// when Config.Base set one (a unix socket, a SSH tunnel...), else through
// the herz dialer. The user's conn is adopted by the herz dialer
// (dialer.Dialer.Adopt): verified when it is TCP, and tracked like a conn
// herz dialed (stale refusal, learned deadlines, lifetime, probes where a
// socket is reachable); one that already is, or wraps, a herz dialer's conn
// is followed as it is.
func (t *Transport) dialNet(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial := t.s.userDial; dial != nil {
		c, err := dial(ctx, network, addr)
		if err != nil || c == nil {
			return c, err // (nil, nil) gets net/http's own error
		}
		if _, ok := dialer.ConnOf(c); ok {
			return c, nil
		}
		dc, err := t.d.Adopt(c, network, addr)
		if err != nil {
			return nil, err // Adopt closed c
		}
		return dc, nil
	}
	return t.d.DialContext(ctx, network, addr)
}
