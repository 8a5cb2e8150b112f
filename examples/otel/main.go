package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/herz-go/herz/transport"
)

// app is the example's application: one MeterProvider exported to a
// Prometheus registry, a herz Transport recording into it, and the
// application's own counter.
type app struct {
	provider *sdkmetric.MeterProvider
	metrics  http.Handler // serves the registry: mount it at /metrics
	client   *http.Client
	tr       *transport.Transport
	orders   metric.Int64Counter
}

func newApp() (*app, error) {
	reg := prometheus.NewRegistry() // not the global one: nothing else lands in it
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	// herz's one line: the Transport (and its dialer) record into mp.
	// Status retries are opt-in: this client retries 502/503/504 (and 429
	// with Retry-After), so that the metrics show one.
	tr, err := transport.New(transport.Config{MeterProvider: mp, Retry: transport.RetryConfig{RetryStatus: transport.RetryUnavailable}})
	if err != nil {
		mp.Shutdown(context.Background())
		return nil, err
	}
	orders, err := mp.Meter("example/shop").Int64Counter("shop.orders",
		metric.WithDescription("Orders placed by the example application."), metric.WithUnit("{order}"))
	if err != nil {
		tr.Close()
		mp.Shutdown(context.Background())
		return nil, err
	}
	return &app{
		provider: mp,
		metrics:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		client:   &http.Client{Transport: tr, Timeout: 5 * time.Second},
		tr:       tr,
		orders:   orders,
	}, nil
}

// traffic places n orders at backend through herz.
func (a *app) traffic(ctx context.Context, backend string, n int) error {
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, backend, nil)
		if err != nil {
			return err
		}
		resp, err := a.client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("backend answered %s", resp.Status)
		}
		a.orders.Add(ctx, 1)
	}
	return nil
}

// Close stops the Transport and the MeterProvider.
func (a *app) Close() error {
	return errors.Join(a.tr.Close(), a.provider.Shutdown(context.Background()))
}

// backend answers 200, except its second request, which gets a 503 with
// Retry-After: 0 (herz retries it: herz_retries_total{herz_reason="status_503"}).
func backend() *httptest.Server {
	var n atomic.Int64
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 2 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:2112", "where /metrics is served")
	printOnly := flag.Bool("print", false, "print herz's and the application's series from /metrics (no histogram buckets) and exit")
	flag.Parse()
	if err := run(*addr, *printOnly, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, printOnly bool, w io.Writer) error {
	a, err := newApp()
	if err != nil {
		return err
	}
	defer a.Close()
	be := backend()
	defer be.Close()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := a.traffic(ctx, be.URL, 5); err != nil {
		return err
	}
	if printOnly {
		rec := httptest.NewRecorder()
		a.metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		for _, line := range strings.Split(rec.Body.String(), "\n") {
			if (strings.HasPrefix(line, "herz_") || strings.HasPrefix(line, "shop_")) && !strings.Contains(line, "_bucket{") {
				fmt.Fprintln(w, line)
			}
		}
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", a.metrics)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(w, "5 orders placed through herz; metrics: curl http://%s/metrics (Ctrl-C stops)\n", ln.Addr())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
