package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestRun runs the example: five answers (three through the hardened
// http.DefaultTransport, one through its clone, one through the client's
// Transport), both Stats, and http.DefaultTransport restored afterwards.
func TestRun(t *testing.T) {
	before := http.DefaultTransport
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if got := strings.Count(out.String(), "200 hello from HTTP/1.1"); got != 5 {
		t.Errorf("%d answers, want 5:\n%s", got, out.String())
	}
	for _, want := range []string{"hardened:   open=2", "dials=2", "per-client: open=1", "requests=1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if http.DefaultTransport != before {
		t.Error("http.DefaultTransport not restored")
	}
}
