package testenv_test

import (
	"strings"
	"testing"

	"github.com/herz-go/herz/internal/testenv"
)

func TestCIReadsTheCIVariableAsABool(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{
		{"", false}, {"true", true}, {"1", true}, {"TRUE", true}, {"false", false}, {"0", false}, {"yes", false},
	} {
		t.Run("CI="+tc.value, func(t *testing.T) {
			t.Setenv("CI", tc.value)
			if got := testenv.CI(); got != tc.want {
				t.Errorf("CI() = %v with CI=%q, want %v", got, tc.value, tc.want)
			}
		})
	}
}

func TestSkipOrFailSkipsLocallyAndFailsUnderCI(t *testing.T) {
	for _, tc := range []struct {
		ci                 string
		wantSkip, wantFail bool
	}{
		{ci: "", wantSkip: true},
		{ci: "true", wantFail: true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			reached := false
			r := record(func(tb testing.TB) {
				testenv.SkipOrFail(tb, "no %s here", "widget")
				reached = true
			})
			if r.skipped != tc.wantSkip || r.failed != tc.wantFail {
				t.Errorf("skipped=%v failed=%v, want skipped=%v failed=%v", r.skipped, r.failed, tc.wantSkip, tc.wantFail)
			}
			if reached {
				t.Error("SkipOrFail returned; it must end the test")
			}
			if !strings.Contains(r.text(), "no widget here") {
				t.Errorf("reason missing from %q", r.text())
			}
		})
	}
}

func TestRequireCommandFindsSbinAndNamesMissingCommands(t *testing.T) {
	t.Setenv("CI", "")
	if p := testenv.RequireCommand(t, "sh"); !strings.HasSuffix(p, "/sh") {
		t.Errorf("RequireCommand(sh) = %q", p)
	}
	r := record(func(tb testing.TB) { testenv.RequireCommand(tb, "herz-no-such-command") })
	if !r.skipped || !strings.Contains(r.text(), "herz-no-such-command") {
		t.Errorf("missing command: skipped=%v, message %q", r.skipped, r.text())
	}
}
