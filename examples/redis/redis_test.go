package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/herz-go/herz/internal/testenv"
)

// TestRun runs the example against the local Redis (skipped when it is not
// running, failed under CI).
func TestRun(t *testing.T) {
	addr := testenv.RequireRedis(t)
	var out bytes.Buffer
	if err := run(&out, addr); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"PING", "-> PONG", "-> OK", "-> 2", "-> 1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
