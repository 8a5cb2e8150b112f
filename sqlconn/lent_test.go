package sqlconn_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/sqlconn"
)

// TestLentConnectionsNeverCut: a long silent query, an open transaction
// left waiting and a held *sql.Conn belong to their caller: with a herz
// idle limit (100ms) and background probes far shorter than the silences,
// herz closes none of them. The bare driver runs the same steps.
func TestLentConnectionsNeverCut(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			dsn := d.dsn(t)
			dl, err := dialer.New(dialer.Config{IdleTimeout: 100 * time.Millisecond, ProbeInterval: 20 * time.Millisecond, DialRetries: -1, DisableBreaker: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dl.Close() })
			herz, _ := d.herz(t, dsn, sqlconn.Config{Dialer: dl})
			bare := d.bare(t, dsn)
			sleep := "SELECT pg_sleep(0.8)"
			if d.mysql {
				sleep = "SELECT SLEEP(0.8)"
			}
			herzErrs := lentSteps(t, herz, sleep)
			bareErrs := lentSteps(t, bare, sleep)
			t.Logf("%s: errors on lent connections: herz %v, bare %v; herz dialer %v", d.name, herzErrs, bareErrs, dl.Stats())
			if len(herzErrs) != 0 {
				t.Errorf("herz cut lent connections: %v", herzErrs)
			}
			if len(herzErrs) > len(bareErrs) {
				t.Errorf("herz %d errors, bare %d", len(herzErrs), len(bareErrs))
			}
		})
	}
}

// lentSteps runs the long query, the waiting transaction and the held
// connection concurrently and returns their errors.
func lentSteps(t *testing.T, db *sql.DB, sleep string) []error {
	t.Helper()
	db.SetMaxOpenConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 3)
	go func() {
		_, err := db.ExecContext(ctx, sleep)
		errs <- err
	}()
	go func() {
		tx, err := db.BeginTx(ctx, nil)
		if err == nil {
			_, err = tx.ExecContext(ctx, "SELECT 1")
			time.Sleep(500 * time.Millisecond)
			if err == nil {
				_, err = tx.ExecContext(ctx, "SELECT 2")
			}
			if err == nil {
				err = tx.Commit()
			} else {
				tx.Rollback()
			}
		}
		errs <- err
	}()
	go func() {
		c, err := db.Conn(ctx)
		if err == nil {
			err = c.PingContext(ctx)
			time.Sleep(500 * time.Millisecond)
			if err == nil {
				_, err = c.ExecContext(ctx, "SELECT 3")
			}
			c.Close()
		}
		errs <- err
	}()
	var out []error
	for range 3 {
		if err := <-errs; err != nil {
			out = append(out, err)
		}
	}
	return out
}
