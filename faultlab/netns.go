package faultlab

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// envNetns marks a child started by InNetns; its value names the
	// InNetns call the child runs ("<test name>@<file>:<line>").
	envNetns = "HERZ_FAULTLAB_NETNS"
	// envNetnsHost carries the parent's network namespace ("net:[inode]").
	envNetnsHost = "HERZ_FAULTLAB_NETNS_HOST"

	// markInside is logged by the child before body; the parent reads the
	// namespace from it.
	markInside = "herz/faultlab: inside network namespace "
	// markDone is logged by the child when body returned.
	markDone = "herz/faultlab: namespace body returned"
)

// InNetns runs body in a new, empty network namespace of its own, in which
// [BlackholePort], [UnblackholePort], [ConntrackExpiry] and [Sysctl] may
// change the network without touching the host's. Only lo exists there
// (brought up), so body's servers and clients talk over 127.0.0.1.
//
// A network namespace belongs to a thread, and Go moves goroutines between
// threads (net/http dials from goroutines of its own), so InNetns does not
// switch namespaces in-process: it re-executes the test binary, filtered
// with -test.run to this test, as a child process cloned into a new network
// namespace (CLONE_NEWNET; the child is killed if the parent dies). In the
// child, InNetns finds its marker in the environment and runs body. The
// parent streams the child's output into t.Log and fails when the child
// fails, skips when it skipped, and fails if any process is still in the
// namespace after the child exits (the namespace, its iptables rules and
// sysctls die with the last process in it).
//
// Consequences for the test that calls it:
//   - Code before InNetns in the test (and in enclosing tests) runs twice,
//     once per process: keep setup inside body. In the child the test ends
//     when body returns (reported there as a skip, here as a pass), so code
//     after InNetns runs in the parent only.
//   - body cannot share memory with the parent: results travel only as
//     pass/fail and log lines.
//   - Do not call t.Parallel in body; the child honours -test.short and the
//     remaining -test.timeout, not other flags such as -test.cpu.
//   - A call is identified by the test's name and the chain of call sites
//     from the test function down to InNetns, so a helper wrapping InNetns
//     is fine, and two calls in one test run two children.
//
// It needs Linux, root and the ip command; without them the test is
// skipped with the reason [NetnsAvailable] gives.
func InNetns(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	token := t.Name() + "@" + callSites()
	if v, ok := os.LookupEnv(envNetns); ok {
		// Never mistake a stray variable for a child: that would pass the
		// test without running body.
		if _, err := ownNetns(); err != nil {
			t.Fatalf("herz/faultlab: InNetns: %s is set, but %v", envNetns, err)
		}
		if v == token {
			runNetnsChild(t, body)
		}
		return // another InNetns call of this test: its own child runs it
	}
	if err := NetnsAvailable(); err != nil {
		t.Skip(err.Error())
	}
	runNetnsParent(t, token)
}

// NetnsAvailable reports why [InNetns] cannot run here (not Linux, not
// root, no ip command, /proc unreadable), or nil when it can. A test suite
// that must not skip (CI) can fail on it before calling InNetns.
func NetnsAvailable() error {
	if !netnsSupported {
		return fmt.Errorf("herz/faultlab: network namespaces need Linux, this is %s", runtime.GOOS)
	}
	if euid := os.Geteuid(); euid != 0 {
		return fmt.Errorf("herz/faultlab: network namespaces need root (euid is %d)", euid)
	}
	if _, err := LookCommand("ip"); err != nil {
		return fmt.Errorf("herz/faultlab: network namespaces need the ip command: %w", err)
	}
	if _, err := netnsOf("self"); err != nil {
		return fmt.Errorf("herz/faultlab: cannot read this process's network namespace: %w", err)
	}
	return nil
}

// callSites returns "file:line" of every frame between InNetns and the
// package testing (the test function, its closures and any helpers),
// innermost first: the same in the parent and in its child.
func callSites() string {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs) // runtime.Callers, callSites, InNetns
	frames := runtime.CallersFrames(pcs[:n])
	var b strings.Builder
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, "testing.") {
			break
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(filepath.Base(f.File) + ":" + strconv.Itoa(f.Line))
		if !more {
			break
		}
	}
	return b.String()
}

// runNetnsChild runs body in the child process.
func runNetnsChild(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	ns, err := ownNetns()
	if err != nil {
		t.Fatalf("herz/faultlab: InNetns child: %v", err)
	}
	ip, err := LookCommand("ip")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(ip, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("herz/faultlab: ip link set lo up: %v: %s", err, out)
	}
	t.Log(markInside + ns)
	body(t)
	t.Log(markDone + "; the test continues in the parent process only")
	t.SkipNow()
}

// runNetnsParent re-executes this test in a child in a new network namespace.
func runNetnsParent(t *testing.T, token string) {
	t.Helper()
	hostNS, err := netnsOf("self")
	if err != nil {
		t.Fatalf("herz/faultlab: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("herz/faultlab: find the test binary: %v", err)
	}

	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, exe, childTestArgs(t)...)
	cmd.Env = append(os.Environ(), envNetns+"="+token, envNetnsHost+"="+hostNS)
	cmd.SysProcAttr = netnsProcAttr()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("herz/faultlab: pipe: %v", err)
	}
	defer r.Close()
	cmd.Stdout, cmd.Stderr = w, w // *os.File: no copying goroutines

	// The child gets SIGKILL when the thread that started it exits (see
	// netnsProcAttr): keep this goroutine on that thread until it is reaped.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatalf("herz/faultlab: start %s in a new network namespace: %v", filepath.Base(exe), err)
	}

	// Reap the child as soon as it exits, then give the pipe a moment to
	// drain: a process body left behind may hold the pipe open forever.
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		_ = r.SetReadDeadline(time.Now().Add(time.Second))
		exited <- err
	}()

	var childNS string
	done := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		t.Log("netns| " + line)
		if _, after, ok := strings.Cut(line, markInside); ok && childNS == "" {
			childNS = strings.TrimSpace(after)
		}
		done = done || strings.Contains(line, markDone)
	}
	waitErr := <-exited

	if childNS != "" {
		if pids := processesIn(childNS); len(pids) > 0 {
			// Descendants of our child: ours to end, so the namespace dies.
			for _, pid := range pids {
				killProcess(pid)
			}
			t.Errorf("herz/faultlab: processes %v were still in the namespace %s after the child exited (killed)", pids, childNS)
		}
	}
	switch {
	case waitErr != nil:
		t.Fatalf("herz/faultlab: the test failed in its network namespace (%v); its output is above", waitErr)
	case childNS == "":
		t.Fatalf("herz/faultlab: the child process never reached InNetns with -test.run=%s; "+
			"the code before InNetns must take the same path in both processes", runPattern(t.Name()))
	case !done:
		t.Skip("herz/faultlab: skipped inside the network namespace; the reason is in the output above")
	}
}

// childTestArgs runs exactly t in the child, verbosely, within what is left
// of the parent's timeout.
func childTestArgs(t *testing.T) []string {
	args := []string{"-test.run=" + runPattern(t.Name()), "-test.count=1", "-test.v=true"}
	if deadline, ok := t.Deadline(); ok {
		// Leave the child time to time out by itself, with a stack dump,
		// before the parent's context kills it.
		if left := time.Until(deadline) * 9 / 10; left > 0 {
			args = append(args, "-test.timeout="+left.String())
		}
	}
	if testing.Short() {
		args = append(args, "-test.short=true")
	}
	if f := flag.Lookup("test.gocoverdir"); f != nil && f.Value.String() != "" {
		args = append(args, "-test.gocoverdir="+f.Value.String())
	}
	return args
}

// runPattern returns the -test.run pattern matching exactly the test named
// name: each slash-separated element quoted and anchored on its own, since
// -test.run matches element by element.
func runPattern(name string) string {
	elems := strings.Split(name, "/")
	for i, e := range elems {
		elems[i] = "^" + regexp.QuoteMeta(e) + "$"
	}
	return strings.Join(elems, "/")
}

// netnsOf returns the network namespace of /proc/<pid> ("self" for this
// process) as "net:[inode]".
func netnsOf(pid string) (string, error) {
	ns, err := os.Readlink("/proc/" + pid + "/ns/net")
	if err != nil {
		return "", fmt.Errorf("herz/faultlab: %w", err)
	}
	return ns, nil
}

// errNotInNetns is why the namespace helpers refuse to run.
var errNotInNetns = errors.New("not inside a network namespace created by testenv.InNetns")

// ownNetns returns this process's namespace if it is one InNetns created:
// the child marker is set, and the namespace differs from the one the
// parent recorded, from the parent process's and (when readable) from
// PID 1's. It fails closed when one of them cannot be read.
func ownNetns() (string, error) {
	if os.Getenv(envNetns) == "" {
		return "", fmt.Errorf("herz/faultlab: %w (no %s in the environment)", errNotInNetns, envNetns)
	}
	self, err := netnsOf("self")
	if err != nil {
		return "", err
	}
	if host := os.Getenv(envNetnsHost); host == "" || host == self {
		return "", fmt.Errorf("herz/faultlab: %w (same namespace %s as the parent recorded, %q)", errNotInNetns, self, host)
	}
	parent, err := netnsOf(strconv.Itoa(os.Getppid()))
	if err != nil {
		return "", fmt.Errorf("herz/faultlab: %w (cannot read the parent's: %w)", errNotInNetns, err)
	}
	if parent == self {
		return "", fmt.Errorf("herz/faultlab: %w (same namespace %s as the parent process)", errNotInNetns, self)
	}
	if initNS, err := netnsOf("1"); err == nil && initNS == self {
		return "", fmt.Errorf("herz/faultlab: %w (same namespace %s as PID 1)", errNotInNetns, self)
	}
	return self, nil
}

// mustOwnNetns refuses helper unless it runs in an InNetns namespace.
func mustOwnNetns(helper string) error {
	if _, err := ownNetns(); err != nil {
		return fmt.Errorf("herz/faultlab: %s refused to touch the network: %w", helper, err)
	}
	return nil
}

// processesIn lists the PIDs whose network namespace is ns.
func processesIn(ns string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if got, err := netnsOf(e.Name()); err == nil && got == ns {
			pids = append(pids, pid)
		}
	}
	return pids
}

// BlackholePort silently drops every TCP packet to and from local port
// port in the InNetns namespace: iptables INPUT --dport and OUTPUT --sport
// DROP rules. Peers see no FIN and no RST: their sent bytes stay
// unacknowledged, reads time out and SYNs go unanswered — a whole-path
// blackhole, which a user-space [Proxy] cannot make. It refuses (returns an
// error) outside a namespace made by [InNetns]; it needs iptables.
func BlackholePort(port int) error {
	if err := mustOwnNetns("BlackholePort"); err != nil {
		return err
	}
	p := strconv.Itoa(port)
	if err := iptables("-A", "INPUT", "-p", "tcp", "--dport", p, "-j", "DROP"); err != nil {
		return err
	}
	return iptables("-A", "OUTPUT", "-p", "tcp", "--sport", p, "-j", "DROP")
}

// UnblackholePort removes the rules of one [BlackholePort] call; TCP
// retransmissions then deliver what was held back. Same guard as
// BlackholePort.
func UnblackholePort(port int) error {
	if err := mustOwnNetns("UnblackholePort"); err != nil {
		return err
	}
	p := strconv.Itoa(port)
	if err := iptables("-D", "INPUT", "-p", "tcp", "--dport", p, "-j", "DROP"); err != nil {
		return err
	}
	return iptables("-D", "OUTPUT", "-p", "tcp", "--sport", p, "-j", "DROP")
}

// ConntrackExpiry makes the InNetns namespace behave like a NAT or stateful
// firewall that forgets idle TCP connections after timeout (rounded up to
// whole seconds, at least 1): connection tracking with
// nf_conntrack_tcp_timeout_established = timeout, nf_conntrack_tcp_loose = 0
// (a packet of a forgotten connection is not picked up again) and packets in
// state INVALID dropped on INPUT and OUTPUT. A connection idle for longer
// than timeout then hangs: its next packets are dropped, no RST comes.
// Traffic (or TCP keepalive probes) more often than timeout keeps it alive.
//
// Call it before opening the connections under test: connections opened
// earlier are not tracked and their packets are dropped as INVALID at once.
// Same guard as [BlackholePort]; needs iptables with the conntrack match.
func ConntrackExpiry(timeout time.Duration) error {
	if err := mustOwnNetns("ConntrackExpiry"); err != nil {
		return err
	}
	secs := max(int64((timeout+time.Second-1)/time.Second), 1)
	// The rules first: they turn connection tracking on in the namespace,
	// which creates the sysctls below.
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		if err := iptables("-A", chain, "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"); err != nil {
			return err
		}
	}
	if err := Sysctl("net.netfilter.nf_conntrack_tcp_loose", "0"); err != nil {
		return err
	}
	return Sysctl("net.netfilter.nf_conntrack_tcp_timeout_established", strconv.FormatInt(secs, 10))
}

// sysctlKey is what a sysctl name may look like.
var sysctlKey = regexp.MustCompile(`^[a-z0-9_-]+(\.[a-z0-9_-]+)+$`)

// Sysctl sets the sysctl key (dotted, e.g. "net.ipv4.tcp_fin_timeout") to
// value in the InNetns namespace by writing /proc/sys; net.* keys are per
// namespace, so the host keeps its own. Same guard as [BlackholePort].
func Sysctl(key, value string) error {
	if err := mustOwnNetns("Sysctl"); err != nil {
		return err
	}
	if !sysctlKey.MatchString(key) {
		return fmt.Errorf("herz/faultlab: Sysctl: bad key %q", key)
	}
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if err := os.WriteFile(path, []byte(value+"\n"), 0); err != nil {
		return fmt.Errorf("herz/faultlab: Sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// iptables runs iptables with args (waiting for the xtables lock).
func iptables(args ...string) error {
	path, err := LookCommand("iptables")
	if err != nil {
		return err
	}
	out, err := exec.Command(path, append([]string{"-w", "5"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("herz/faultlab: iptables %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
