package testenv_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/testenv"
)

func TestRunPatternMatchesExactlyOneTestPerElement(t *testing.T) {
	for _, tc := range []struct {
		name, want string
	}{
		{"TestX", `^TestX$`},
		{"TestX/sub", `^TestX$/^sub$`},
		{"TestX/a.b_(c)/d|e#01", `^TestX$/^a\.b_\(c\)$/^d\|e#01$`},
		{"TestX/[x]+", `^TestX$/^\[x\]\+$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := testenv.RunPattern(tc.name)
			if got != tc.want {
				t.Fatalf("RunPattern(%q) = %q, want %q", tc.name, got, tc.want)
			}
			for i, elem := range strings.Split(tc.name, "/") {
				re := regexp.MustCompile(strings.Split(got, "/")[i])
				if !re.MatchString(elem) || re.MatchString(elem+"x") {
					t.Errorf("element %d %q: pattern %s does not match exactly", i, elem, re)
				}
			}
		})
	}
}

// The helpers must never touch the host's network, even when the child
// marker is faked: they check the namespace itself, not only the variable.
func TestNetnsHelpersRefuseOutsideTheirNamespace(t *testing.T) {
	for _, env := range []struct {
		name      string
		netns     string
		netnsHost string
	}{
		{"no marker", "", ""},
		{"faked marker", "TestFake@x.go:1", "net:[1]"},
	} {
		t.Run(env.name, func(t *testing.T) {
			if env.netns != "" {
				t.Setenv(testenv.EnvNetns, env.netns)
				t.Setenv(testenv.EnvNetnsHost, env.netnsHost)
			}
			// Port 1 (tcpmux) is unused; should the guard ever break, the
			// rule is removed again below and the test fails.
			r := record(func(tb testing.TB) { testenv.BlackholePort(tb, 1) })
			if !r.failed || !strings.Contains(r.text(), "refused") {
				if path, err := exec.LookPath("iptables"); err == nil {
					_ = exec.Command(path, "-D", "INPUT", "-p", "tcp", "--dport", "1", "-j", "DROP").Run()
					_ = exec.Command(path, "-D", "OUTPUT", "-p", "tcp", "--sport", "1", "-j", "DROP").Run()
				}
				t.Fatalf("BlackholePort outside InNetns: failed=%v %q; want a refusal", r.failed, r.text())
			}
			fin, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_fin_timeout")
			for name, helper := range map[string]func(testing.TB){
				"UnblackholePort": func(tb testing.TB) { testenv.UnblackholePort(tb, 1) },
				"ConntrackExpiry": func(tb testing.TB) { testenv.ConntrackExpiry(tb, time.Hour) },
				// The host's own value, so a broken guard would change nothing.
				"Sysctl": func(tb testing.TB) {
					testenv.Sysctl(tb, "net.ipv4.tcp_fin_timeout", strings.TrimSpace(string(fin)))
				},
			} {
				r := record(helper)
				if !r.failed || !strings.Contains(r.text(), "refused") {
					t.Errorf("%s outside InNetns: failed=%v %q; want a refusal", name, r.failed, r.text())
				}
			}
		})
	}
}
