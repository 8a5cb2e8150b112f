package dialer_test

import (
	"sync"
	"testing"
	"time"

	"github.com/herz-go/herz/dialer"
)

// lentIdle dials n conns to srv, runs one exchange on each through an echo
// server whose conns the test closes itself, and returns them idle (Lend,
// exchange, Return) with the server's ends.
func lentIdle(t *testing.T, d *dialer.Dialer, srv *server, n int) ([]*dialer.Conn, []closer) {
	t.Helper()
	var cs []*dialer.Conn
	var ends []closer
	for range n {
		c := dial(t, d, srv.addr())
		end := srv.accept(t)
		l, _ := c.Lend()
		go func() { b := make([]byte, 4); end.Read(b); end.Write(b) }()
		exchange(t, c, "ping")
		if !c.Return(l) {
			t.Fatal("Return refused the current lease")
		}
		cs, ends = append(cs, c), append(ends, end)
	}
	return cs, ends
}

type closer interface{ Close() error }

// readLate reads each conn to its EOF only after delay, as starved readers
// on a loaded machine would, and waits for all of them.
func readLate(cs []*dialer.Conn, delay time.Duration) {
	time.Sleep(delay)
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			b := make([]byte, 1)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			c.Read(b)
		})
	}
	wg.Wait()
}

// TestMassCloseIsNotLearnedEvenWhenReadLate: a server closes every idle
// conn at once (a restart) while they have been idle 20 ms and 70 ms; the
// readers notice only later and at different times (the young ones after
// 60 ms, the old ones 40 ms after that: outside the learner's burst window
// as measured at read time). The kernel dated the FINs together, so
// nothing is learned.
func TestMassCloseIsNotLearnedEvenWhenReadLate(t *testing.T) {
	srv := newServer(t)
	d := newDialer(t, dialer.Config{DisableEvictor: true})
	old, oldEnds := lentIdle(t, d, srv, 3)
	time.Sleep(50 * time.Millisecond)
	young, youngEnds := lentIdle(t, d, srv, 2)
	time.Sleep(20 * time.Millisecond)
	for _, e := range append(youngEnds, oldEnds...) {
		e.Close()
	}
	readLate(young, 60*time.Millisecond)
	readLate(old, 40*time.Millisecond)
	if est, ok := d.Learner().Estimate(srv.addr()); ok {
		t.Fatalf("a mass close was learned as an idle timeout of %v", est)
	}
	if got := d.Stats().PeerCloses; got != 5 {
		t.Fatalf("PeerCloses = %d, want 5", got)
	}
}

// TestIdleTimeoutIsLearnedFromFINTimeWhenReadLate: a server closes each
// idle conn 100 ms after its exchange (an idle timeout); the readers notice
// 80 ms later. The sample is the idle age when the FIN arrived (100 ms),
// not when it was read (180 ms).
func TestIdleTimeoutIsLearnedFromFINTimeWhenReadLate(t *testing.T) {
	const serverIdle = 100 * time.Millisecond
	srv := newServer(t)
	d := newDialer(t, dialer.Config{DisableEvictor: true})
	for range 3 {
		cs, ends := lentIdle(t, d, srv, 1)
		time.Sleep(serverIdle)
		ends[0].Close()
		readLate(cs, 80*time.Millisecond)
	}
	est, ok := d.Learner().Estimate(srv.addr())
	if !ok {
		t.Fatalf("nothing learned from 3 idle closes; stats %v", d.Stats())
	}
	if est < serverIdle*8/10 || est > serverIdle*13/10 {
		t.Fatalf("learned %v, want about %v (the FIN's time, not the late read's)", est, serverIdle)
	}
}

// TestRestartClosingYoungConnsFirstIsNotLearned: a restart closes the
// young idle conns (20 ms) a moment before the old ones (70 ms), and the
// young closes are read while the old conns are still open. Those are
// contradicted (an older conn still open) and dropped; the old closes that
// follow within the learner's burst window find no sibling left, and are
// dropped too, rather than learned as a 70 ms timeout.
func TestRestartClosingYoungConnsFirstIsNotLearned(t *testing.T) {
	srv := newServer(t)
	d := newDialer(t, dialer.Config{DisableEvictor: true})
	old, oldEnds := lentIdle(t, d, srv, 3)
	time.Sleep(50 * time.Millisecond)
	young, youngEnds := lentIdle(t, d, srv, 2)
	time.Sleep(20 * time.Millisecond)
	for _, e := range youngEnds {
		e.Close()
	}
	readLate(young, 0)
	for _, c := range young {
		c.Close() // as net/http closes a conn once it read its EOF
	}
	for _, e := range oldEnds {
		e.Close()
	}
	readLate(old, 0)
	if est, ok := d.Learner().Estimate(srv.addr()); ok {
		t.Fatalf("a restart was learned as an idle timeout of %v", est)
	}
}
