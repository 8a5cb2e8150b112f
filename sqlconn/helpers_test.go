package sqlconn_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "github.com/lib/pq" // the bare lib/pq driver, "postgres"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/mysqlconn"
	"github.com/herz-go/herz/sqlconn/pgxconn"
	"github.com/herz-go/herz/sqlconn/pqconn"
)

func init() {
	// go-sql-driver/mysql logs every dead connection herz closes under it
	// (and the bare pool's errors); the tests count what callers see.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
}

// A dbDriver opens the same database bare and wrapped by herz.
type dbDriver struct {
	name  string
	mysql bool
	dsn   func(t *testing.T) string
	bare  func(t testing.TB, dsn string) *sql.DB
	herz  func(t testing.TB, dsn string, cfg sqlconn.Config) (*sql.DB, *sqlconn.Connector)
	// kill ends this process's idle sessions.
	kill func(ctx context.Context, admin *sql.DB) (int, error)
}

func pgDSN(t *testing.T) string { return testenv.RequirePG(t) }

// myDSN is the MariaDB DSN with the driver's own liveness check off, so
// that herz is what is tested.
func myDSN(t *testing.T) string {
	dsn := testenv.RequireMySQL(t)
	if strings.Contains(dsn, "?") {
		return dsn + "&checkConnLiveness=false"
	}
	return dsn + "?checkConnLiveness=false"
}

var drivers = []dbDriver{
	{
		name: "pgx",
		dsn:  pgDSN,
		bare: func(t testing.TB, dsn string) *sql.DB {
			pc, err := pgx.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			return closeLater(t, stdlib.OpenDB(*pc))
		},
		herz: func(t testing.TB, dsn string, cfg sqlconn.Config) (*sql.DB, *sqlconn.Connector) {
			c, err := pgxconn.Connector(dsn, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return closeLater(t, sqlconn.OpenDB(c)), c
		},
		kill: testenv.KillIdlePG,
	},
	{
		name: "pq",
		dsn:  pgDSN,
		bare: func(t testing.TB, dsn string) *sql.DB {
			db, err := sql.Open("postgres", dsn)
			if err != nil {
				t.Fatal(err)
			}
			return closeLater(t, db)
		},
		herz: func(t testing.TB, dsn string, cfg sqlconn.Config) (*sql.DB, *sqlconn.Connector) {
			c, err := pqconn.Connector(dsn, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return closeLater(t, sqlconn.OpenDB(c)), c
		},
		kill: testenv.KillIdlePG,
	},
	{
		name:  "mysql",
		mysql: true,
		dsn:   myDSN,
		bare: func(t testing.TB, dsn string) *sql.DB {
			mc, err := mysql.ParseDSN(dsn)
			if err != nil {
				t.Fatal(err)
			}
			c, err := mysql.NewConnector(mc)
			if err != nil {
				t.Fatal(err)
			}
			return closeLater(t, sql.OpenDB(c))
		},
		herz: func(t testing.TB, dsn string, cfg sqlconn.Config) (*sql.DB, *sqlconn.Connector) {
			c, err := mysqlconn.Connector(dsn, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return closeLater(t, sqlconn.OpenDB(c)), c
		},
		kill: testenv.KillIdleMySQL,
	},
}

func driverNamed(name string) dbDriver {
	for _, d := range drivers {
		if d.name == name {
			return d
		}
	}
	panic("no driver " + name)
}

func closeLater(t testing.TB, db *sql.DB) *sql.DB {
	t.Cleanup(func() { db.Close() })
	return db
}

// warm makes db hold n distinct idle sessions.
func warm(t testing.TB, db *sql.DB, n int) {
	t.Helper()
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	ctx := context.Background()
	conns := make([]*sql.Conn, n)
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatalf("warm: %v", err)
		}
		if err := c.PingContext(ctx); err != nil {
			t.Fatalf("warm: %v", err)
		}
		conns[i] = c
	}
	for _, c := range conns {
		c.Close()
	}
	if s := db.Stats(); s.Idle != n {
		t.Fatalf("warm: %d idle connections, want %d", s.Idle, n)
	}
}

// queries runs n `SELECT 1` on db, concurrently (all at once) or one after
// the other, and returns how many failed and the first error.
func queries(db *sql.DB, n int, concurrent bool) (int, error) {
	var (
		failed atomic.Int64
		mu     sync.Mutex
		first  error
		wg     sync.WaitGroup
	)
	one := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var v int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&v); err != nil || v != 1 {
			failed.Add(1)
			mu.Lock()
			if first == nil {
				first = fmt.Errorf("v=%d: %w", v, err)
			}
			mu.Unlock()
		}
	}
	for range n {
		if concurrent {
			wg.Go(one)
		} else {
			one()
		}
	}
	wg.Wait()
	return int(failed.Load()), first
}

// withHost returns a PostgreSQL URL DSN or a MySQL DSN pointing at addr.
func withHost(t *testing.T, dsn, addr string, isMySQL bool) string {
	t.Helper()
	if isMySQL {
		mc, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		mc.Addr = addr
		return mc.FormatDSN()
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		t.Skipf("this test needs a URL-form PostgreSQL DSN")
	}
	u.Host = addr
	return u.String()
}

// adminFor opens a bare admin pool for d's server.
func adminFor(t *testing.T, d dbDriver, dsn string) *sql.DB {
	db := d.bare(t, dsn)
	db.SetMaxOpenConns(1)
	return db
}
