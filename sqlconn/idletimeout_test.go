package sqlconn_test

import (
	"testing"
	"time"

	"github.com/herz-go/herz/internal/telemetry"
	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/sqlconn"
)

// TestServerIdleTimeout: the server closes sessions idle longer than its
// timeout (PostgreSQL idle_session_timeout, MariaDB wait_timeout, set per
// session through the DSN); the pool sits idle past it, then 200 queries.
// herz, asked to (Config.IdleHint), learned the timeout from the session at connect and evicts at the
// learned deadline (75% of it): 0 caller-visible errors, and the bare
// driver's figure measured alongside.
func TestServerIdleTimeout(t *testing.T) {
	cases := []struct {
		driver  string
		timeout time.Duration
		dsn     func(t *testing.T, dsn string, d time.Duration) string
	}{
		{"pgx", time.Second, pgIdleDSN},
		{"pq", time.Second, pgIdleDSN},
		{"mysql", 2 * time.Second, func(t *testing.T, dsn string, d time.Duration) string {
			out, err := testenv.MySQLDSNWithWaitTimeout(dsn, d)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}},
	}
	for _, tc := range cases {
		t.Run(tc.driver, func(t *testing.T) {
			t.Parallel()
			d := driverNamed(tc.driver)
			dsn := tc.dsn(t, d.dsn(t), tc.timeout)
			bare := d.bare(t, dsn)
			hint := sqlconn.PostgresIdleHint
			if d.mysql {
				hint = sqlconn.MySQLIdleHint
			}
			herz, c := d.herz(t, dsn, sqlconn.Config{IdleHint: hint})
			warm(t, bare, 4)
			warm(t, herz, 4)
			time.Sleep(tc.timeout + 300*time.Millisecond)
			herzFailed, herzErr := queries(herz, 200, false)
			bareFailed, bareErr := queries(bare, 200, false)
			st := c.Dialer().Stats()
			learned, ok := c.Dialer().Learner().IdleDeadline(telemetry.Peer(dsn))
			t.Logf("%s server idle timeout %v: herz %d/200 errors, bare %d/200 (first: %v); learned deadline %v (%v); %v",
				tc.driver, tc.timeout, herzFailed, bareFailed, bareErr, learned, ok, st)
			if herzFailed != 0 {
				t.Errorf("herz: %d caller-visible errors, want 0; first: %v", herzFailed, herzErr)
			}
			if herzFailed > bareFailed {
				t.Errorf("herz (%d errors) worse than the bare driver (%d)", herzFailed, bareFailed)
			}
			if !ok || learned >= tc.timeout {
				t.Errorf("learned idle deadline %v (known %v), want below the server's %v", learned, ok, tc.timeout)
			}
			if st.Evictions["learned_idle"] == 0 {
				t.Errorf("no eviction at the learned deadline: %v", st)
			}
		})
	}
}

func pgIdleDSN(t *testing.T, dsn string, d time.Duration) string {
	out, err := testenv.PGDSNWithIdleSessionTimeout(dsn, d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
