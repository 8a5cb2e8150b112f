package transport_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// TestHardenKeepsTheCloneIdiom: after the in-place adoption, the idiom many
// libraries use on http.DefaultTransport — a type assertion to
// *http.Transport and Clone() — keeps working, and the clone dials through
// herz with HTTP/2 health pings. The replacement adoption
// (http.DefaultTransport = transport.Must(...)) makes that idiom panic,
// which is why it is not the one the README recommends.
func TestHardenKeepsTheCloneIdiom(t *testing.T) {
	for _, p := range []testenv.Protocol{testenv.HTTP1, testenv.HTTPS} {
		t.Run(p.String(), func(t *testing.T) {
			srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: p})
			// A copy of http.DefaultTransport stands for it: the test must
			// not change the process's global.
			base := http.DefaultTransport.(*http.Transport).Clone()
			d, err := transport.Harden(base, transport.HardenConfig{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			var defaultTransport http.RoundTripper = base // http.DefaultTransport after adoption

			var clone *http.Transport
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("the Clone idiom panicked after Harden: %v", r)
					}
				}()
				clone = defaultTransport.(*http.Transport).Clone()
			}()
			t.Cleanup(clone.CloseIdleConnections)
			clone.Proxy = nil
			if p == testenv.HTTPS {
				clone.TLSClientConfig = srv.ClientTLSConfig()
			}
			if clone.HTTP2 == nil || clone.HTTP2.SendPingTimeout != 3*time.Second || clone.HTTP2.PingTimeout != 3*time.Second {
				t.Errorf("clone's HTTP2 = %+v, want the health pings (3s, 3s)", clone.HTTP2)
			}
			std := stdlibFor(t, srv, p) // the plain library, same server
			for _, rt := range []http.RoundTripper{std, clone} {
				resp, err := rt.RoundTrip(mustGet(t, srv.URL()))
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if want := map[testenv.Protocol]int{testenv.HTTP1: 1, testenv.HTTPS: 2}[p]; resp.StatusCode != 200 || resp.ProtoMajor != want {
					t.Errorf("%T: %d over %s, want 200 over HTTP/%d", rt, resp.StatusCode, resp.Proto, want)
				}
			}
			if st := d.Stats(); st.Dials != 1 || st.DialErrors != 0 {
				t.Errorf("herz dialer: %d dials, %d errors; want the clone's 1 connection dialed through herz", st.Dials, st.DialErrors)
			}

			var replaced http.RoundTripper = transport.Must(transport.Config{})
			defer replaced.(*transport.Transport).Close()
			if _, ok := replaced.(*http.Transport); ok {
				t.Error("the replacement adoption unexpectedly is an *http.Transport")
			}
		})
	}
}

func mustGet(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestHardenKeepsHTTP2Attempted: replacing DialContext would turn net/http's
// HTTP/2 off for a transport that attempted it; Harden keeps it attempted,
// and leaves alone a transport that did not.
func TestHardenKeepsHTTP2Attempted(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   *http.Transport
		want bool
	}{
		{"zero", &http.Transport{}, true},
		{"forced", &http.Transport{ForceAttemptHTTP2: true}, true},
		{"custom dialer", &http.Transport{DialContext: (&dialerStub{}).DialContext}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := transport.Harden(tc.tr, transport.HardenConfig{H2ReadIdleTimeout: -1})
			if err != nil {
				t.Fatal(err)
			}
			d.Close()
			if tc.tr.ForceAttemptHTTP2 != tc.want {
				t.Errorf("ForceAttemptHTTP2 = %v, want %v", tc.tr.ForceAttemptHTTP2, tc.want)
			}
			if tc.tr.HTTP2.SendPingTimeout != 0 {
				t.Errorf("H2ReadIdleTimeout -1 gave SendPingTimeout %v, want 0 (off)", tc.tr.HTTP2.SendPingTimeout)
			}
		})
	}
}

type dialerStub struct{}

func (*dialerStub) DialContext(context.Context, string, string) (net.Conn, error) { return nil, nil }

func TestHardenRejectsBadInput(t *testing.T) {
	if _, err := transport.Harden(nil, transport.HardenConfig{}); err == nil || !strings.HasPrefix(err.Error(), "herz/transport: ") {
		t.Errorf("Harden(nil) = %v", err)
	}
	for _, tc := range []struct {
		cfg   transport.HardenConfig
		field string
	}{
		{transport.HardenConfig{H2PingTimeout: -1}, "HardenConfig.H2PingTimeout"},
		{transport.HardenConfig{Dialer: dialer.Config{Timeout: -1}}, "HardenConfig.Dialer.Timeout"},
	} {
		tr := &http.Transport{}
		if _, err := transport.Harden(tr, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Harden(%+v) = %v, want an error naming %s", tc.cfg, err, tc.field)
		}
		if tr.DialContext != nil {
			t.Error("a failed Harden changed the transport")
		}
	}
}
