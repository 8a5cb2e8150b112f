package faultlab_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herz-go/herz/faultlab"
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
			got := faultlab.RunPattern(tc.name)
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
				t.Setenv(faultlab.EnvNetns, env.netns)
				t.Setenv(faultlab.EnvNetnsHost, env.netnsHost)
			}
			// Port 1 (tcpmux) is unused; should the guard ever break, the
			// rule is removed again below and the test fails.
			if err := faultlab.BlackholePort(1); err == nil || !strings.Contains(err.Error(), "refused") {
				if path, err := exec.LookPath("iptables"); err == nil {
					_ = exec.Command(path, "-D", "INPUT", "-p", "tcp", "--dport", "1", "-j", "DROP").Run()
					_ = exec.Command(path, "-D", "OUTPUT", "-p", "tcp", "--sport", "1", "-j", "DROP").Run()
				}
				t.Fatalf("BlackholePort outside InNetns: %v; want a refusal", err)
			}
			fin, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_fin_timeout")
			for name, helper := range map[string]func() error{
				"UnblackholePort": func() error { return faultlab.UnblackholePort(1) },
				"ConntrackExpiry": func() error { return faultlab.ConntrackExpiry(time.Hour) },
				// The host's own value, so a broken guard would change nothing.
				"Sysctl": func() error {
					return faultlab.Sysctl("net.ipv4.tcp_fin_timeout", strings.TrimSpace(string(fin)))
				},
			} {
				if err := helper(); err == nil || !strings.Contains(err.Error(), "refused") {
					t.Errorf("%s outside InNetns: %v; want a refusal", name, err)
				}
			}
		})
	}
}
