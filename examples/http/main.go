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
	tr := transport.Must(transport.Config{})
	http.DefaultTransport = tr // the drop-in: every http.Get below goes through herz
	defer tr.Close()

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.Proto)
	}))
	defer srv.Close()

	for i := 0; i < 3; i++ {
		resp, err := http.Get(srv.URL)
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
	fmt.Println(tr.Stats())
}
