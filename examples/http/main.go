// Command http shows herz's two levels of HTTP adoption: hardening
// http.DefaultTransport in place (it stays an *http.Transport, so libraries
// that assert and Clone it keep working), and the full RoundTripper, with
// retries and a breaker, for a client the program builds. It starts a local
// test server, fetches from it both ways and prints what herz saw.
//
//	go run ./examples/http
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/herz-go/herz/transport"
)

func main() {
	// Level 1, one line: every http.Get below dials through herz.
	d, err := transport.Harden(http.DefaultTransport.(*http.Transport), transport.HardenConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	// Level 2: the full RoundTripper for the clients you build.
	tr := transport.Must(transport.Config{})
	defer tr.Close()
	client := &http.Client{Transport: tr}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.Proto)
	}))
	defer srv.Close()

	for _, get := range []func(string) (*http.Response, error){http.Get, client.Get} {
		resp, err := get(srv.URL)
		if err != nil {
			log.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d %s\n", resp.StatusCode, body)
	}
	fmt.Println("hardened http.DefaultTransport: dials", d.Stats().Dials)
	fmt.Println("transport.New:", tr.Stats())
}
