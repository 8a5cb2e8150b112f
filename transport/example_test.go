package transport_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/herz-go/herz/transport"
)

func ExampleMust() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Keep-Alive", "timeout=5")
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	// In a program: http.DefaultTransport = transport.Must(transport.Config{})
	tr := transport.Must(transport.Config{})
	defer tr.Close()
	client := &http.Client{Transport: tr}

	resp, err := client.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	// The server's Keep-Alive header taught herz its idle timeout.
	timeout, _ := tr.Dialer().Learner().Estimate(srv.Listener.Addr().String())
	st := tr.Stats()
	fmt.Println("learned idle timeout:", timeout, "requests:", st.Requests, "dials:", st.Dials)
	// Output:
	// 200 hello
	// learned idle timeout: 5s requests: 1 dials: 1
}
