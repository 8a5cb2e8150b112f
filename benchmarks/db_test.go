package benchmarks_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

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

// dbClient opens the pool under test, or returns a skip reason.
type dbClient struct {
	name string
	open func(driver, dsn string) (*sql.DB, string)
}

var dbClients = []dbClient{
	{"stdlib", func(driver, dsn string) (*sql.DB, string) {
		db, err := sql.Open(driver, dsn)
		if err != nil {
			return nil, err.Error()
		}
		return db, ""
	}},
	{"herz", func(driver, dsn string) (*sql.DB, string) {
		open := func(dsn string, cfg sqlconn.Config) (*sql.DB, error) { return pgxconn.Open(dsn, cfg) }
		if driver == "mysql" {
			open = mysqlconn.Open
		}
		db, err := open(dsn, sqlconn.Config{})
		if err != nil {
			return nil, err.Error()
		}
		return db, ""
	}},
}

// dbResult is what one backend-kill run measured.
type dbResult struct {
	ops, errs  int
	errSamples map[string]int
	lat        []time.Duration
	kills      int // sessions killed under the pool
	rounds     int
	leakedG    int
	leakedFDs  int
}

func (r *dbResult) errRatio() float64 {
	if r.ops == 0 {
		return 0
	}
	return float64(r.errs) / float64(r.ops)
}

func (r *dbResult) percentile(q float64) time.Duration {
	s := soakResult{lat: r.lat}
	return s.percentile(q)
}

func (r *dbResult) summary() string {
	s := fmt.Sprintf("queries=%d errors=%d (%.4f/op) killed=%d in %d rounds p50=%v p99=%v leaked-goroutines=%d leaked-fds=%d",
		r.ops, r.errs, r.errRatio(), r.kills, r.rounds, r.percentile(0.5).Round(10*time.Microsecond),
		r.percentile(0.99).Round(10*time.Microsecond), r.leakedG, r.leakedFDs)
	for k, v := range r.errSamples {
		s += fmt.Sprintf("\n\t%d× %s", v, k)
	}
	return s
}

const (
	dbWorkers = 4
	dbBurst   = 100 * time.Millisecond // queries from every worker, then all connections idle
)

// runDBSoak alternates bursts of queries from dbWorkers goroutines (which
// fill the pool) with killing every idle session of the pool
// (pg_terminate_backend / KILL), for d. Each burst after a kill starts on
// connections whose backend is gone: a caller-visible error there is what
// P6 forbids.
func runDBSoak(tb testing.TB, dk dbKind, cl dbClient, d time.Duration) (*dbResult, string) {
	dsn := dk.require(tb)
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
	g0, fd0 := testenv.Goroutines(), testenv.OpenFDs()
	db, skip := cl.open(dk.driver, dsn)
	if skip != "" {
		return nil, skip
	}
	db.SetMaxOpenConns(dbWorkers)
	db.SetMaxIdleConns(dbWorkers)

	res := &dbResult{errSamples: map[string]int{}}
	var mu sync.Mutex
	start := time.Now()
	for time.Since(start) < d {
		res.rounds++
		var wg sync.WaitGroup
		burstEnd := time.Now().Add(dbBurst)
		for range dbWorkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var lat []time.Duration
				errs := 0
				samples := map[string]int{}
				for time.Now().Before(burstEnd) {
					qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
					t0 := time.Now()
					var one int
					err := db.QueryRowContext(qctx, "SELECT 1").Scan(&one)
					lat = append(lat, time.Since(t0))
					qcancel()
					if err != nil {
						errs++
						samples[shorten(err.Error())]++
					}
					time.Sleep(2 * time.Millisecond)
				}
				mu.Lock()
				res.ops += len(lat)
				res.errs += errs
				res.lat = append(res.lat, lat...)
				for k, v := range samples {
					res.errSamples[k] += v
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if time.Since(start) >= d {
			break
		}
		n, err := dk.kill(ctx, admin)
		if err != nil {
			tb.Fatalf("kill idle sessions: %v", err)
		}
		res.kills += n
	}
	slices.Sort(res.lat)
	db.Close()
	res.leakedG, res.leakedFDs = settle(g0, fd0)
	return res, ""
}

func reportDB(b *testing.B, r *dbResult) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(r.ops), "reqs")
	b.ReportMetric(r.errRatio(), "errors/op")
	b.ReportMetric(float64(r.kills), "killed")
	b.ReportMetric(ms(r.percentile(0.5)), "p50-ms")
	b.ReportMetric(ms(r.percentile(0.99)), "p99-ms")
	b.ReportMetric(float64(r.leakedG), "leaked-goroutines")
	b.ReportMetric(float64(r.leakedFDs), "leaked-fds")
}
