package benchmarks_test

import (
	"context"
	"database/sql"
	"io"
	"log"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/herz-go/herz/faultlab"
	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/mysqlconn"
	"github.com/herz-go/herz/sqlconn/pgxconn"
)

func init() {
	// go-sql-driver/mysql logs each dead idle connection it drops
	// ("closing bad idle connection: EOF"); the soak counts what callers
	// see instead.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
}

// dbKind is a database the backend-kill scenario runs against.
type dbKind struct {
	scenario string
	driver   string
	require  func(testing.TB) string // DSN, or skip
	kill     func(context.Context, *sql.DB) (int, error)
}

var dbKinds = []dbKind{
	{"backend-kill-pg", "pgx", testenv.RequirePG, testenv.KillIdlePG},
	{"backend-kill-mysql", "mysql", testenv.RequireMySQL, testenv.KillIdleMySQL},
}

// dbClient opens the pool under test; skip says why it cannot run (yet).
type dbClient struct {
	name string
	open func(driver, dsn string) (*sql.DB, error)
	skip string
}

var dbClients = []dbClient{
	{name: "stdlib", open: sql.Open},
	{name: "herz", open: func(driver, dsn string) (*sql.DB, error) {
		if driver == "mysql" {
			return mysqlconn.Open(dsn, sqlconn.Config{})
		}
		return pgxconn.Open(dsn, sqlconn.Config{})
	}},
}

const (
	dbWorkers = 4
	dbPeriod  = 250 * time.Millisecond // a burst of queries, then every connection idles
	dbBurst   = 100 * time.Millisecond
	dbKillAt  = 175 * time.Millisecond // into each period: mid-idle
	dbGap     = 2 * time.Millisecond   // between a worker's queries in a burst
)

// phase returns how far into its dbPeriod the wall clock is.
func phase() time.Duration { return time.Duration(time.Now().UnixNano() % int64(dbPeriod)) }

// burstGap spaces queries dbGap apart during a burst and sleeps to the next
// burst otherwise, so the pool's connections all idle while the fault
// driver kills their sessions.
func burstGap(*rand.Rand) time.Duration {
	if p := phase(); p >= dbBurst {
		return dbPeriod - p
	}
	return dbGap
}

// runDBSoak runs the backend-kill scenario through faultlab.Soak: the pool
// reaches the database through a faultlab proxy (its new connections are
// counted there), its workers query in bursts, and between bursts every
// idle session of this process is killed (pg_terminate_backend / KILL).
// Each burst then starts on connections whose backend is gone: a
// caller-visible error there is what P6 forbids. It returns the result and
// how many sessions were killed.
func runDBSoak(tb testing.TB, dk dbKind, cl dbClient, d time.Duration, opts ...faultlab.Option) (*faultlab.Result, int) {
	dsn := dk.require(tb)
	upstream, _, err := testenv.RedirectDSN(dk.driver, dsn, "127.0.0.1:1")
	if err != nil {
		tb.Fatal(err)
	}
	admin, err := sql.Open(dk.driver, dsn)
	if err != nil {
		tb.Fatalf("open admin pool: %v", err)
	}
	defer admin.Close()
	admin.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		tb.Fatalf("admin ping: %v", err)
	}

	var (
		kills   atomic.Int64
		killErr error // written by the fault driver, read after Soak waited for it
	)
	sc := faultlab.Scenario{
		Name:      dk.scenario,
		Upstreams: []string{upstream},
		Workers:   dbWorkers,
		Duration:  d,
		Gap:       burstGap,
		Fault: func(ctx context.Context, env *faultlab.Env) {
			for {
				wait := dbKillAt - phase()
				if wait <= 0 {
					wait += dbPeriod
				}
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				env.FaultOn("idle sessions killed")
				n, err := dk.kill(ctx, admin)
				env.FaultOff()
				if err != nil && ctx.Err() == nil {
					killErr = err
					return
				}
				kills.Add(int64(n))
			}
		},
	}
	newClient := func(tgt faultlab.Target) (faultlab.Client, error) {
		_, viaProxy, err := testenv.RedirectDSN(dk.driver, dsn, tgt.Addrs[0])
		if err != nil {
			return nil, err
		}
		db, err := cl.open(dk.driver, viaProxy)
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(dbWorkers)
		db.SetMaxIdleConns(dbWorkers)
		query := func(ctx context.Context, _ faultlab.Op) error {
			var one int
			return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
		}
		return faultlab.ClientFunc(query, db.Close), nil
	}
	r, err := faultlab.Soak(ctx, sc, newClient, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	if killErr != nil {
		tb.Fatalf("kill idle sessions: %v", killErr)
	}
	return r, int(kills.Load())
}
