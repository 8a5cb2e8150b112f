package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemoShort runs the demo in short mode (a tenth of the HTTP requests,
// no database rows) and checks that the table has both clients for every
// row that ran, names the rows it skipped and ends with a verdict in which
// herz is worse nowhere.
func TestDemoShort(t *testing.T) {
	if testing.Short() {
		t.Skip("the short demo still takes about 10s")
	}
	var out bytes.Buffer
	if err := run(&out, options{short: true}); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"scenario", "client", "requests", "errors", "dups", "p50", "p99", "conns", "retries (why)", "evictions (why)",
		"HTTP RST every 7th request, POST", "SSE streams", "101 upgrade",
		"skipped:", "PostgreSQL: idle sessions killed: short mode", "gRPC",
		"verdict: in 7 scenarios",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	var stdRows, herzRows int
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		for i, w := range f {
			if i+1 < len(f) && (w == "stdlib" || w == "herz") && isNumber(f[i+1]) {
				if w == "stdlib" {
					stdRows++
				} else {
					herzRows++
				}
				break
			}
		}
	}
	if stdRows != 7 || herzRows != 7 {
		t.Errorf("table has %d stdlib and %d herz lines, want 7 each:\n%s", stdRows, herzRows, text)
	}
	if strings.Contains(text, "herz WORSE") || !strings.Contains(text, "worse in 0.") {
		t.Errorf("herz did worse than the standard library somewhere:\n%s", text)
	}
}

func isNumber(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
