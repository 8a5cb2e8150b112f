package transport

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/herz-go/herz/dialer"
)

// HardenConfig configures [Harden]. The zero value is a good production
// default; durations follow [Config]'s fields of the same names.
type HardenConfig struct {
	// Dialer configures the herz dialer the transport will dial through.
	// Its zero value: verified connects, kernel-derived TCP keepalive and
	// TCP_USER_TIMEOUT, 2 dial retries with jittered backoff and a
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
}

// Harden hardens t in place, so that a program can adopt herz without
// changing the type of http.DefaultTransport, which many libraries assert
// (http.DefaultTransport.(*http.Transport).Clone() keeps working, and the
// clones dial through herz too):
//
//	if _, err := transport.Harden(http.DefaultTransport.(*http.Transport), transport.HardenConfig{}); err != nil {
//		log.Fatal(err)
//	}
//
// Call it before t is used (net/http reads these fields when it makes its
// first connection; changing them later is a data race). It sets:
//
//   - t.DialContext to a herz [dialer.Dialer]: verified connects (SO_ERROR,
//     getpeername, no self-connect), TCP keepalive idle and interval derived
//     from the kernel's NAT/conntrack limits, TCP_USER_TIMEOUT so a
//     connection whose writes go unacknowledged dies in seconds, not after
//     ~15 minutes, jittered dial retries and a per-address dial breaker. A
//     DialContext or Dial set before is replaced; DialTLSContext, if set,
//     still dials TLS connections itself (herz does not see them).
//   - t.HTTP2 (Go's bundled HTTP/2): PING health checks (SendPingTimeout,
//     PingTimeout) and WriteByteTimeout, so a dead HTTP/2 connection is
//     found within ~6s. A transport whose HTTP/2 was set up by
//     golang.org/x/net/http2.ConfigureTransports ignores this field.
//   - ForceAttemptHTTP2, only when t would have attempted HTTP/2 before
//     (no custom dialer, TLS config or TLSNextProto): replacing DialContext
//     would otherwise turn HTTP/2 off.
//
// What in-place hardening cannot give: net/http offers no per-request hook
// here, so herz never learns when a connection is handed out or put back.
// Its connections are given away to net/http ([dialer.GivenAway]): no
// probe or refusal of a stale connection before reuse, no idle deadlines
// learned from the server's closes or Keep-Alive headers, no max lifetime,
// no evictor; and no request retries, retry budget or request breaker.
// For those, use the full RoundTripper of [New] for the clients you build
// (&http.Client{Transport: tr}). Pool sizes (MaxIdleConnsPerHost) are left
// as they are.
//
// Harden returns the dialer, for its Stats; its Close unregisters its
// metric callbacks (it starts no goroutine: the connections it dials are
// net/http's to close). Harden t once: a second call replaces the dialer.
func Harden(t *http.Transport, cfg HardenConfig) (*dialer.Dialer, error) {
	if t == nil {
		return nil, errors.New("herz/transport: Harden: nil *http.Transport")
	}
	if cfg.H2PingTimeout < 0 {
		return nil, fmt.Errorf("herz/transport: HardenConfig.H2PingTimeout must not be negative, got %v", cfg.H2PingTimeout)
	}
	dc := cfg.Dialer
	dc.Breaker = recoveringBreaker(dc.Breaker)
	d, err := dialer.New(dc)
	if err != nil {
		if msg, ok := strings.CutPrefix(err.Error(), "herz/dialer: Config."); ok {
			return nil, errors.New("herz/transport: HardenConfig.Dialer." + msg)
		}
		return nil, fmt.Errorf("herz/transport: HardenConfig.Dialer: %w", err)
	}
	if t.Protocols == nil && !t.ForceAttemptHTTP2 && t.TLSNextProto == nil && t.TLSClientConfig == nil &&
		t.Dial == nil && t.DialContext == nil && t.DialTLS == nil && t.DialTLSContext == nil {
		t.ForceAttemptHTTP2 = true // net/http would have attempted HTTP/2: keep it so
	}
	t.Dial = nil
	t.DialContext = d.DialContext
	h2 := new(http.HTTP2Config)
	if t.HTTP2 != nil {
		*h2 = *t.HTTP2 // a copy: the old value may be shared with a clone
	}
	if h2.SendPingTimeout == 0 {
		h2.SendPingTimeout = orDefault(cfg.H2ReadIdleTimeout, defaultH2ReadIdleTimeout)
	}
	if h2.PingTimeout == 0 {
		h2.PingTimeout = orDefault(cfg.H2PingTimeout, defaultH2PingTimeout)
	}
	if h2.WriteByteTimeout == 0 {
		h2.WriteByteTimeout = orDefault(cfg.H2WriteByteTimeout, defaultH2WriteByteTimeout)
	}
	t.HTTP2 = h2
	return d, nil
}
