package sqlconn_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/mysqlconn"
	"github.com/herz-go/herz/sqlconn/pgxconn"
	"github.com/herz-go/herz/sqlconn/pqconn"
)

// TestConnectTimeoutIsTheTotal: the DSN's own connect timeout
// (connect_timeout=3 for PostgreSQL, timeout=3s for MySQL) bounds the whole
// connect through every sub-package, herz's connect retries included, against
// a blackholed address (SYNs dropped, in a network namespace): herz fails
// within 3.2s (the bound of the issue: 3s plus 200ms of scheduling), never
// later than the bare driver plus the same 200ms, both run at the same time.
func TestConnectTimeoutIsTheTotal(t *testing.T) {
	testenv.InNetns(t, func(t *testing.T) {
		const port = 15432
		testenv.BlackholePort(t, port)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		pgDSN := "postgres://u@" + addr + "/db?sslmode=disable&connect_timeout=3"
		myDSN := "u@tcp(" + addr + ")/db?timeout=3s"
		open := map[string]func() (*sql.DB, error){
			"pgx bare": func() (*sql.DB, error) {
				pc, err := pgx.ParseConfig(pgDSN)
				if err != nil {
					return nil, err
				}
				return stdlib.OpenDB(*pc), nil
			},
			"pgx herz": func() (*sql.DB, error) { return pgxconn.Open(pgDSN, sqlconn.Config{}) },
			"pq bare":  func() (*sql.DB, error) { return sql.Open("postgres", pgDSN) },
			"pq herz":  func() (*sql.DB, error) { return pqconn.Open(pgDSN, sqlconn.Config{}) },
			"mysql bare": func() (*sql.DB, error) {
				mc, err := mysql.ParseDSN(myDSN)
				if err != nil {
					return nil, err
				}
				c, err := mysql.NewConnector(mc)
				if err != nil {
					return nil, err
				}
				return sql.OpenDB(c), nil
			},
			"mysql herz": func() (*sql.DB, error) { return mysqlconn.Open(myDSN, sqlconn.Config{}) },
		}
		var (
			mu   sync.Mutex
			took = map[string]time.Duration{}
			errs = map[string]error{}
			wg   sync.WaitGroup
		)
		for name, o := range open {
			db, err := o()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			defer db.Close()
			wg.Go(func() {
				// The caller's own deadline is far away: the DSN's timeout
				// is the one that must end the connect.
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				start := time.Now()
				err := db.PingContext(ctx)
				mu.Lock()
				took[name], errs[name] = time.Since(start), err
				mu.Unlock()
			})
		}
		wg.Wait()
		// A connect the caller cancels while the SYN goes unanswered: what
		// callers test on the plain driver's error holds through herz, and
		// errors.Is(err, context.Canceled) always does.
		for _, drv := range []string{"pgx", "pq", "mysql"} {
			var shapes [2]string
			var herzErr error
			for i, mode := range []string{" bare", " herz"} {
				db, err := open[drv+mode]()
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(100*time.Millisecond, cancel)
				err = db.PingContext(ctx)
				cancel()
				db.Close()
				shapes[i] = fmt.Sprintf("==Canceled %v, Is(Canceled) %v", err == context.Canceled, errors.Is(err, context.Canceled))
				if mode == " herz" {
					herzErr = err
				}
			}
			t.Logf("%s, connect cancelled while blackholed: bare %s; herz %s (%v)", drv, shapes[0], shapes[1], herzErr)
			if !errors.Is(herzErr, context.Canceled) {
				t.Errorf("%s: herz's cancelled connect %v does not match context.Canceled", drv, herzErr)
			}
			if strings.Contains(shapes[0], "==Canceled true") && herzErr != context.Canceled {
				t.Errorf("%s: the bare driver's cancelled connect is context.Canceled, herz's is %v", drv, herzErr)
			}
		}
		for _, drv := range []string{"pgx", "pq", "mysql"} {
			b, h := took[drv+" bare"], took[drv+" herz"]
			t.Logf("%s, connect timeout 3s, blackholed: bare %v (%v); herz %v (%v)", drv, b.Round(time.Millisecond), errs[drv+" bare"], h.Round(time.Millisecond), errs[drv+" herz"])
			if errs[drv+" herz"] == nil {
				t.Errorf("%s: herz connected to a blackholed address", drv)
			}
			if h > 3200*time.Millisecond {
				t.Errorf("%s: herz took %v, want ≤ 3.2s (the DSN's connect timeout is the total)", drv, h)
			}
			if h > b+200*time.Millisecond {
				t.Errorf("%s: herz took %v, the bare driver %v", drv, h, b)
			}
		}
	})
}
