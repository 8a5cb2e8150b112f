package testenv_test

import (
	"testing"

	"github.com/herz-go/herz/internal/testenv"
)

func TestPortParsesAddressesAndFailsOnGarbage(t *testing.T) {
	if got := testenv.Port(t, "127.0.0.1:8080"); got != 8080 {
		t.Errorf("Port = %d, want 8080", got)
	}
	if got := testenv.Port(t, "[::1]:443"); got != 443 {
		t.Errorf("Port = %d, want 443", got)
	}
	for _, bad := range []string{"127.0.0.1", "h:http", "h:70000"} {
		if r := record(func(tb testing.TB) { testenv.Port(tb, bad) }); !r.failed {
			t.Errorf("Port(%q) did not fail", bad)
		}
	}
}
