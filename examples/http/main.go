package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/herz-go/herz/transport"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.Proto)
	}))
	defer srv.Close()

	// Level 1: harden http.DefaultTransport in place; it stays an
	// *http.Transport, so libraries that assert and Clone it keep working.
	// A service writes
	//	transport.Harden(http.DefaultTransport.(*http.Transport), transport.HardenConfig{})
	// once at start; this example hardens a clone and restores the original.
	hardened := http.DefaultTransport.(*http.Transport).Clone()
	d, err := transport.Harden(hardened, transport.HardenConfig{})
	if err != nil {
		return err
	}
	prev := http.DefaultTransport
	http.DefaultTransport = hardened
	defer func() { http.DefaultTransport = prev; hardened.CloseIdleConnections(); d.Close() }()
	for range 3 {
		if err := fetch(w, http.DefaultClient, srv.URL); err != nil {
			return err
		}
	}
	// What libraries do with http.DefaultTransport keeps working.
	clone := http.DefaultTransport.(*http.Transport).Clone()
	defer clone.CloseIdleConnections()
	if err := fetch(w, &http.Client{Transport: clone}, srv.URL); err != nil {
		return err
	}
	fmt.Fprintln(w, "hardened:  ", d.Stats())

	// Level 2: the full RoundTripper (retries, budget, request breaker,
	// stale-connection refusal) for a client of its own, configured.
	own, err := transport.New(transport.Config{
		AttemptTimeout: 2 * time.Second,                      // a hung attempt of an idempotent request is retried
		Retry:          transport.RetryConfig{MaxRetries: 1}, // at most one retry per request
		Budget:         transport.BudgetConfig{Ratio: 0.1},   // retries add at most 10% (plus the floor)
	})
	if err != nil {
		return err
	}
	defer own.Close()
	client := &http.Client{Transport: own, Timeout: 10 * time.Second}
	if err := fetch(w, client, srv.URL); err != nil {
		return err
	}
	fmt.Fprintln(w, "per-client:", own.Stats())
	return nil
}

func fetch(w io.Writer, c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%d %s\n", resp.StatusCode, body)
	return nil
}
