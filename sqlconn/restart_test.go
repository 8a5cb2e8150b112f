package sqlconn_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/pgxconn"
)

// restartEnv gates TestPostgresRestartForReal: it stops and starts the
// machine's PostgreSQL cluster, so it must run alone. `make test` runs it in
// its own step (pg-restart) after every other test.
const restartEnv = "HERZ_PG_RESTART"

// TestPostgresRestartForReal restarts the real PostgreSQL cluster under a
// herz pool and a bare pgx pool: while it is down both fail (herz fast, with
// a bounded number of connect attempts), and once it is back herz succeeds
// again within a second — the outage test of outage_test.go without a proxy
// in between.
func TestPostgresRestartForReal(t *testing.T) {
	if os.Getenv(restartEnv) != "1" {
		t.Skipf("restarts the machine's PostgreSQL cluster, so it runs alone: `make test` runs it in its pg-restart step (%s=1)", restartEnv)
	}
	dsn := testenv.RequirePG(t)
	testenv.RequireRoot(t)
	ctl := testenv.RequireCommand(t, "pg_ctlcluster")
	versions, _ := filepath.Glob("/etc/postgresql/*/main")
	if len(versions) == 0 {
		testenv.SkipOrFail(t, "no PostgreSQL cluster under /etc/postgresql/*/main")
	}
	version := filepath.Base(filepath.Dir(versions[0]))
	cluster := func(action string, args ...string) error {
		cmd := exec.Command(ctl, append([]string{"--skip-systemctl-redirect", version, "main", action}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("pg_ctlcluster %s: %v: %s", action, err, out)
		}
		return err
	}
	t.Cleanup(func() {
		// Whatever happened, leave the cluster running for the next steps.
		if !pgReady(2 * time.Second) {
			cluster("start")
			if !pgReady(30 * time.Second) {
				t.Errorf("PostgreSQL did not come back after the test")
			}
		}
	})

	hc, err := pgxconn.Connector(dsn, sqlconn.Config{ConnectTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	herz := closeLater(t, sqlconn.OpenDB(hc))
	bare, bareDials := countingBarePGX(t, dsn)
	warm(t, herz, 2)
	warm(t, bare, 2)
	herzDials0, bareDials0 := hc.Dialer().Stats().Dials, bareDials.Load()

	if err := cluster("stop", "-m", "fast"); err != nil {
		t.Fatal("could not stop the cluster")
	}
	var wg sqlWait
	herzOut := wg.hammer(herz, 1500*time.Millisecond)
	bareOut := wg.hammer(bare, 1500*time.Millisecond)
	wg.Wait()
	herzDials := hc.Dialer().Stats().Dials - herzDials0
	bareN := bareDials.Load() - bareDials0

	if err := cluster("start"); err != nil || !pgReady(30*time.Second) {
		t.Fatal("could not start the cluster again")
	}
	back := time.Now()
	herzBack := wg.firstSuccess(herz, 5*time.Second)
	bareBack := wg.firstSuccess(bare, 5*time.Second)
	wg.Wait()
	t.Logf("PostgreSQL %s stopped for 1.5s: herz %d queries failed (p50 %v), %d connect attempts; bare pgx %d failed (p50 %v), %d connect attempts; first success after it was back: herz %v, bare %v",
		version, len(*herzOut), p50(*herzOut), herzDials, len(*bareOut), p50(*bareOut), bareN, herzBack.Sub(back), bareBack.Sub(back))
	if len(*herzOut) == 0 {
		t.Error("no herz query failed while the cluster was down: the outage did not happen")
	}
	if herzDials > uint64(bareN) && herzDials > 3 {
		t.Errorf("herz made %d connect attempts, the bare driver %d", herzDials, bareN)
	}
	if herzDials > 30 {
		t.Errorf("herz made %d connect attempts in 1.5s, want them bounded by the breaker", herzDials)
	}
	if herzBack.IsZero() || herzBack.Sub(back) > time.Second {
		t.Errorf("herz first success %v after the cluster was back, want ≤ 1s", herzBack.Sub(back))
	}
}

// pgReady reports whether PostgreSQL accepts TCP connections on
// 127.0.0.1:5432 within limit.
func pgReady(limit time.Duration) bool {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:5432", 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
