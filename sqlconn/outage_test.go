package sqlconn_test

import (
	"context"
	"database/sql"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/herz-go/herz/faultlab"
	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/pgxconn"
)

// TestOutageAndReturn takes PostgreSQL away behind a fault-injecting proxy
// (refused after a crash, every connection reset, blackholed) for 1.5s
// while a caller queries every 10ms, then brings it back. herz must make
// no more connect attempts than the bare pgx driver (each behind its own
// proxy with the same fault at the same time), bounded by its breaker, and
// succeed again within about a second of the return (the breaker's open
// interval is at most 1s ±20%). Blackholed, herz must also fail no slower
// than the bare driver.
func TestOutageAndReturn(t *testing.T) {
	dsn := testenv.RequirePG(t)
	modes := []struct {
		name   string
		faults []testenv.Fault
	}{
		{"refuse", []testenv.Fault{faultlab.ResetAll(), faultlab.Refuse()}},
		{"reset", []testenv.Fault{faultlab.ResetAll()}},
		{"blackhole", []testenv.Fault{faultlab.Blackhole()}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			hp := testenv.NewProxy(t, "127.0.0.1:5432")
			bp := testenv.NewProxy(t, "127.0.0.1:5432")
			hc, err := pgxconn.Connector(withHost(t, dsn, hp.Addr(), false), sqlconn.Config{ConnectTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			herz := closeLater(t, sqlconn.OpenDB(hc))
			bare, bareDials := countingBarePGX(t, withHost(t, dsn, bp.Addr(), false))
			warm(t, herz, 2)
			warm(t, bare, 2)
			herzDials0, bareDials0 := hc.Dialer().Stats().Dials, bareDials.Load()

			for _, f := range m.faults {
				hp.SetFault(f)
				bp.SetFault(f)
			}
			var wg sqlWait
			herzOut := wg.hammer(herz, 1500*time.Millisecond)
			bareOut := wg.hammer(bare, 1500*time.Millisecond)
			wg.Wait()
			herzDials := hc.Dialer().Stats().Dials - herzDials0
			bareN := bareDials.Load() - bareDials0

			hp.SetFault(faultlab.NoFault())
			bp.SetFault(faultlab.NoFault())
			back := time.Now()
			herzBack := wg.firstSuccess(herz, 5*time.Second)
			bareBack := wg.firstSuccess(bare, 5*time.Second)
			wg.Wait()
			t.Logf("%s: down 1.5s: herz %d queries failed (p50 %v), %d connect attempts; bare pgx %d failed (p50 %v), %d connect attempts; first success after return: herz %v, bare %v",
				m.name, len(*herzOut), p50(*herzOut), herzDials, len(*bareOut), p50(*bareOut), bareN, herzBack.Sub(back), bareBack.Sub(back))
			if herzDials > uint64(bareN) && herzDials > 3 {
				t.Errorf("herz made %d connect attempts, the bare driver %d", herzDials, bareN)
			}
			if herzDials*4 > uint64(bareN) && herzDials > 3 {
				t.Errorf("herz made %d connect attempts in 1.5s, the bare driver %d: want at most a quarter of them", herzDials, bareN)
			}
			if herzBack.IsZero() || herzBack.Sub(back) > 1500*time.Millisecond {
				t.Errorf("herz first success %v after the return, want within ~1s", herzBack.Sub(back))
			}
			if m.name == "blackhole" && p50(*herzOut) > p50(*bareOut)+50*time.Millisecond {
				t.Errorf("blackholed: herz fails in %v (p50), the bare driver in %v", p50(*herzOut), p50(*bareOut))
			}
		})
	}
}

// sqlWait runs query loops in goroutines it waits for.
type sqlWait struct{ sync.WaitGroup }

// hammer queries db every 10ms for d (500ms per query at most) and returns
// the latencies of the failed queries, valid after Wait.
func (w *sqlWait) hammer(db *sql.DB, d time.Duration) *[]time.Duration {
	out := new([]time.Duration)
	w.Go(func() {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_, err := db.ExecContext(ctx, "SELECT 1")
			cancel()
			if err != nil {
				*out = append(*out, time.Since(start))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	return out
}

// firstSuccess queries db every 10ms until one succeeds (or max passes) and
// returns when it did (zero if never); valid after Wait.
func (w *sqlWait) firstSuccess(db *sql.DB, max time.Duration) *time.Time {
	out := new(time.Time)
	w.Go(func() {
		end := time.Now().Add(max)
		for time.Now().Before(end) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_, err := db.ExecContext(ctx, "SELECT 1")
			cancel()
			if err == nil {
				*out = time.Now()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	return out
}

func p50(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestBlackholedIdleConnection is P15 for SQL: the server goes silent (no
// FIN, no RST) under a connection idle for more than a second. A checkout
// must not stall longer than the ping bound (Config.PingTimeout, 250ms)
// plus one connect (ConnectTimeout here 300ms). The bare pgx driver, behind
// its own blackholed proxy, pings with the caller's deadline (3s).
func TestBlackholedIdleConnection(t *testing.T) {
	t.Parallel()
	dsn := testenv.RequirePG(t)
	const connectTimeout = 300 * time.Millisecond
	hp := testenv.NewProxy(t, "127.0.0.1:5432")
	bp := testenv.NewProxy(t, "127.0.0.1:5432")
	hc, err := pgxconn.Connector(withHost(t, dsn, hp.Addr(), false), sqlconn.Config{ConnectTimeout: connectTimeout})
	if err != nil {
		t.Fatal(err)
	}
	herz := closeLater(t, sqlconn.OpenDB(hc))
	pc, err := pgx.ParseConfig(withHost(t, dsn, bp.Addr(), false))
	if err != nil {
		t.Fatal(err)
	}
	pc.ConnectTimeout = connectTimeout
	bare := closeLater(t, stdlib.OpenDB(*pc))
	warm(t, herz, 1)
	warm(t, bare, 1)
	time.Sleep(1100 * time.Millisecond)
	hp.SetFault(faultlab.Blackhole())
	bp.SetFault(faultlab.Blackhole())

	took := func(db *sql.DB) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		_, err := db.ExecContext(ctx, "SELECT 1")
		return time.Since(start), err
	}
	var wg sync.WaitGroup
	var herzTook, bareTook time.Duration
	var herzErr, bareErr error
	wg.Go(func() { herzTook, herzErr = took(herz) })
	wg.Go(func() { bareTook, bareErr = took(bare) })
	wg.Wait()
	t.Logf("blackholed after 1.1s idle: herz answered in %v (%v), bare pgx in %v (%v)", herzTook, herzErr, bareTook, bareErr)
	if bound := sqlconn.DefaultPingTimeout + connectTimeout + 400*time.Millisecond; herzTook > bound {
		t.Errorf("herz stalled %v, want at most the ping bound plus one connect (%v with slack)", herzTook, bound)
	}
	if herzTook > bareTook {
		t.Errorf("herz took %v, the bare driver %v", herzTook, bareTook)
	}
}

// countingBarePGX opens the bare pgx driver on dsn (300ms connect timeout,
// like the herz side's) and counts its connect attempts.
func countingBarePGX(t *testing.T, dsn string) (*sql.DB, *atomic.Int64) {
	t.Helper()
	var dials atomic.Int64
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pc.ConnectTimeout = 300 * time.Millisecond
	pc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return closeLater(t, stdlib.OpenDB(*pc)), &dials
}
