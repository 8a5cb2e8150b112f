package sqlconn_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/herz-go/herz/sqlconn"
)

// TestStatementNeverReexecuted: the backend running a statement is
// terminated while the statement sleeps (pg_terminate_backend during
// pg_sleep). The caller must get an error, and the statement must have run
// exactly once: it takes a number from a sequence (nextval survives the
// rollback of the killed statement), so a second execution shows. The bare
// driver is measured alongside and herz must not be worse.
func TestStatementNeverReexecuted(t *testing.T) {
	for _, name := range []string{"pgx", "pq"} {
		t.Run(name, func(t *testing.T) {
			d := driverNamed(name)
			dsn := d.dsn(t)
			admin := adminFor(t, d, dsn)
			herz, _ := d.herz(t, dsn, sqlconn.Config{})
			bare := d.bare(t, dsn)
			herzRuns, herzErr := runKilledStatement(t, admin, herz)
			bareRuns, bareErr := runKilledStatement(t, admin, bare)
			t.Logf("%s: killed statement ran %d time(s) with herz (caller error: %v), %d time(s) bare (caller error: %v)",
				name, herzRuns, herzErr, bareRuns, bareErr)
			if herzErr == nil {
				t.Error("herz: the caller got no error for a statement whose connection died")
			}
			if herzRuns != 1 {
				t.Errorf("herz: the statement ran %d times, want 1", herzRuns)
			}
			if herzRuns > bareRuns {
				t.Errorf("herz ran it %d times, the bare driver %d", herzRuns, bareRuns)
			}
		})
	}
}

// runKilledStatement runs `SELECT nextval(seq), pg_sleep(2)` on db, kills
// its backend once it is sleeping, and returns how many times the sequence
// advanced and the caller's error.
func runKilledStatement(t *testing.T, admin, db *sql.DB) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seq := fmt.Sprintf("herz_reexec_%d", rand.Uint64())
	if _, err := admin.ExecContext(ctx, "CREATE SEQUENCE "+seq); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SEQUENCE IF EXISTS " + seq) })
	warm(t, db, 2)
	marker := "/* " + seq + " */"
	done := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, marker+" SELECT nextval('"+seq+"'), pg_sleep(2)")
		done <- err
	}()
	// Wait until the statement has taken its number (nextval is visible to
	// other sessions at once) and sleeps, then terminate its backend.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var killed bool
		err := admin.QueryRowContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()
			AND (SELECT is_called FROM `+seq+`)`, "%"+marker+"%").Scan(&killed)
		if err == nil && killed {
			break
		}
		if err != nil && err != sql.ErrNoRows {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the statement never showed up in pg_stat_activity")
		}
		time.Sleep(5 * time.Millisecond)
	}
	err := <-done
	var last int64
	var called bool
	if qerr := admin.QueryRowContext(ctx, "SELECT last_value, is_called FROM "+seq).Scan(&last, &called); qerr != nil {
		t.Fatal(qerr)
	}
	if !called {
		return 0, err
	}
	return int(last), err
}
