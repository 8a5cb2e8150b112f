package transport_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/herz-go/herz/transport"
)

// A Transport of its own for one client: the server's first answer is a
// 503 with Retry-After: 0, which herz retries under the RetryUnavailable
// policy the client opted into (a GET is safe to re-send); the caller sees
// the 200, and Stats says why it was retried.
func ExampleNew() {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	tr, err := transport.New(transport.Config{
		AttemptTimeout: 2 * time.Second, // a hung attempt of a GET is retried
		Retry:          transport.RetryConfig{RetryStatus: transport.RetryUnavailable},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	fmt.Println("retries:", tr.Stats().Retries)
	// Output:
	// 200 hello
	// retries: map[status_503:1]
}
