package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herz-go/herz/transport"
)

// echoServer answers every request with what net/http's client sent that
// the fields under test change, and counts the connections it accepted.
type echoServer struct {
	*httptest.Server
	conns atomic.Int64
}

func newEchoServer(t *testing.T) *echoServer {
	t.Helper()
	s := &echoServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := r.URL.Query().Get("bighdr"); n != "" {
			w.Header().Set("X-Big", strings.Repeat("x", 4096))
		}
		fmt.Fprintf(w, "ae=%q close=%v conn=%s", r.Header.Get("Accept-Encoding"), r.Close, r.Header.Get("Connection"))
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// outcome is what a caller sees of one request.
type outcome struct {
	status int
	body   string
	err    string
}

func do(rt http.RoundTripper, method, url string) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return outcome{err: err.Error()}
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return outcome{err: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	o := outcome{status: resp.StatusCode, body: string(b)}
	if err != nil {
		o.err = err.Error()
	}
	return o
}

// TestBaseHonoursTheTransportsFields: herz built from the user's
// *http.Transport (Config.Base) sends what net/http with that transport
// sends, and fails where it fails with the same error, for each field;
// net/http runs in the same test against the same server.
func TestBaseHonoursTheTransportsFields(t *testing.T) {
	srv := newEchoServer(t)
	for _, tc := range []struct {
		name  string
		base  func() *http.Transport
		query string
		want  string // in the body or the error, for both
	}{
		{"DisableCompression", func() *http.Transport { return &http.Transport{DisableCompression: true} }, "", `ae=""`},
		{"compression", func() *http.Transport { return &http.Transport{} }, "", `ae="gzip"`},
		{"DisableKeepAlives", func() *http.Transport { return &http.Transport{DisableKeepAlives: true} }, "", `close=true`},
		{"MaxResponseHeaderBytes", func() *http.Transport { return &http.Transport{MaxResponseHeaderBytes: 1024} }, "?bighdr=1", "server response headers exceeded 1024 bytes"},
		{"buffer sizes", func() *http.Transport { return &http.Transport{WriteBufferSize: 64, ReadBufferSize: 64} }, "?bighdr=1", `ae="gzip"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			std := tc.base()
			t.Cleanup(std.CloseIdleConnections)
			herz, err := transport.New(transport.Config{Base: tc.base()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { herz.Close() })
			want := do(std, http.MethodGet, srv.URL+tc.query)
			got := do(herz, http.MethodGet, srv.URL+tc.query)
			if !strings.Contains(want.body+want.err, tc.want) {
				t.Fatalf("net/http: %+v, want %q in it (the test's premise)", want, tc.want)
			}
			if got.status != want.status || got.body != want.body || (got.err == "") != (want.err == "") {
				t.Errorf("herz: %+v\nnet/http: %+v", got, want)
			}
			if want.err != "" && !strings.Contains(got.err, tc.want) {
				t.Errorf("herz's error %q, want %q in it as net/http's %q", got.err, tc.want, want.err)
			}
		})
	}
}

// TestBaseKeepsTheConnectionRules: the pool follows Base's keep-alive
// settings as net/http does: with DisableKeepAlives every request dials,
// without it three sequential requests share one connection.
func TestBaseKeepsTheConnectionRules(t *testing.T) {
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprint("DisableKeepAlives=", disable), func(t *testing.T) {
			conns := map[string]int64{}
			for _, name := range []string{"net/http", "herz"} {
				srv := newEchoServer(t)
				var rt http.RoundTripper = &http.Transport{DisableKeepAlives: disable}
				if name == "herz" {
					rt = transport.Must(transport.Config{Base: rt.(*http.Transport)})
					t.Cleanup(func() { rt.(*transport.Transport).Close() })
				} else {
					t.Cleanup(rt.(*http.Transport).CloseIdleConnections)
				}
				for range 3 {
					if o := do(rt, http.MethodGet, srv.URL); o.err != "" || o.status != 200 {
						t.Fatalf("%s: %+v", name, o)
					}
				}
				conns[name] = srv.conns.Load()
			}
			if conns["herz"] != conns["net/http"] {
				t.Errorf("connections: herz %d, net/http %d", conns["herz"], conns["net/http"])
			}
		})
	}
}

// TestBaseTLSAndProtocol: Base's TLSClientConfig is used, and HTTP/2 is
// attempted exactly when net/http attempts it with that transport (not
// with a custom TLS config unless forced).
func TestBaseTLSAndProtocol(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprint("ForceAttemptHTTP2=", force), func(t *testing.T) {
			base := func() *http.Transport {
				return &http.Transport{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone(), ForceAttemptHTTP2: force}
			}
			std := base()
			t.Cleanup(std.CloseIdleConnections)
			herz := transport.Must(transport.Config{Base: base()})
			t.Cleanup(func() { herz.Close() })
			want, got := do(std, http.MethodGet, srv.URL), do(herz, http.MethodGet, srv.URL)
			if want.err != "" || got != want {
				t.Errorf("herz: %+v, net/http: %+v", got, want)
			}
			// Without the trust the same transport fails both ways.
			bare := transport.Must(transport.Config{Base: &http.Transport{ForceAttemptHTTP2: force}})
			t.Cleanup(func() { bare.Close() })
			stdBare := &http.Transport{ForceAttemptHTTP2: force}
			w, g := do(stdBare, http.MethodGet, srv.URL), do(bare, http.MethodGet, srv.URL)
			if !strings.Contains(w.err, "certificate") || !strings.Contains(g.err, "certificate") {
				t.Errorf("untrusted: herz %q, net/http %q; want a certificate error from both", g.err, w.err)
			}
		})
	}
}

// TestBaseUnixSocketDialContext: a client talking to a server on a unix
// socket through its own DialContext (as Docker's clients do) works
// through herz on both levels — built from the transport, and the
// transport hardened in place — as with net/http, reusing its connection.
func TestBaseUnixSocketDialContext(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "unix "+r.URL.Path) }),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	newBase := func() *http.Transport {
		return &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
	}
	std := newBase()
	t.Cleanup(std.CloseIdleConnections)
	herz := transport.Must(transport.Config{Base: newBase()})
	t.Cleanup(func() { herz.Close() })
	hardened := newBase()
	h, err := transport.Harden(hardened, transport.HardenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); hardened.CloseIdleConnections() })
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{{"net/http", std}, {"herz", herz}, {"hardened", hardened}} {
		before := conns.Load()
		for range 3 {
			if o := do(c.rt, http.MethodGet, "http://docker/v1.47/info"); o.err != "" || o.body != "unix /v1.47/info" {
				t.Fatalf("%s: %+v", c.name, o)
			}
		}
		if n := conns.Load() - before; n != 1 {
			t.Errorf("%s: 3 requests took %d connections, want 1", c.name, n)
		}
	}
	if st := h.Stats(); st.Requests != 3 {
		t.Errorf("hardened: herz saw %d requests, want 3 (routed through herz): %v", st.Requests, st)
	}
}

// TestBaseRejectsTwinFields: with Base, a Config field that has a twin in
// http.Transport would be ambiguous; New names it.
func TestBaseRejectsTwinFields(t *testing.T) {
	for _, c := range []struct {
		cfg   transport.Config
		field string
	}{
		{transport.Config{Proxy: transport.NoProxy}, "Config.Proxy"},
		{transport.Config{MaxIdleConns: 3}, "Config.MaxIdleConns"},
		{transport.Config{IdleConnTimeout: time.Second}, "Config.IdleConnTimeout"},
		{transport.Config{DisableHTTP2: true}, "Config.DisableHTTP2"},
		{transport.Config{H2C: true}, "Config.H2C"},
	} {
		c.cfg.Base = &http.Transport{}
		if _, err := transport.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.field) || !strings.HasPrefix(err.Error(), "herz/transport: ") {
			t.Errorf("New(%s with Base) = %v, want an error naming it", c.field, err)
		}
	}
}

// TestBaseProxy: Base's Proxy is used (nil: none, as net/http), and a
// proxy error reaches the caller as net/http's.
func TestBaseProxy(t *testing.T) {
	srv := newEchoServer(t)
	fail := func(*http.Request) (*url.URL, error) { return nil, errors.New("no proxy for you") }
	std := &http.Transport{Proxy: fail}
	herz := transport.Must(transport.Config{Base: &http.Transport{Proxy: fail}})
	t.Cleanup(func() { herz.Close() })
	w, g := do(std, http.MethodGet, srv.URL), do(herz, http.MethodGet, srv.URL)
	if !strings.Contains(w.err, "no proxy for you") || g.err != w.err {
		t.Errorf("proxy error: herz %q, net/http %q", g.err, w.err)
	}
}

// TestCopyTransportCopiesEveryField pins http.Transport's exported fields:
// copyTransport (Clone without setting HTTP/2 up) must copy each of them,
// so a field a new Go version adds fails here until it is copied.
func TestCopyTransportCopiesEveryField(t *testing.T) {
	src := &http.Transport{}
	v := reflect.ValueOf(src).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		setNonZero(t, f.Name, v.Field(i))
	}
	dst := reflect.ValueOf(transport.CopyTransport(src)).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.IsExported() && dst.Field(i).IsZero() {
			t.Errorf("copyTransport does not copy http.Transport.%s", f.Name)
		}
	}
}

func setNonZero(t *testing.T, name string, f reflect.Value) {
	switch f.Kind() {
	case reflect.Bool:
		f.SetBool(true)
	case reflect.Int, reflect.Int64:
		f.SetInt(7)
	case reflect.Pointer:
		f.Set(reflect.New(f.Type().Elem()))
	case reflect.Map:
		f.Set(reflect.MakeMap(f.Type()))
	case reflect.Func:
		f.Set(reflect.MakeFunc(f.Type(), func([]reflect.Value) []reflect.Value { panic("not called") }))
	default:
		t.Fatalf("http.Transport.%s: kind %v not handled by the test", name, f.Kind())
	}
}
