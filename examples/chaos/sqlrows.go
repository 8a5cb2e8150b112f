package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/mysqlconn"
	"github.com/herz-go/herz/sqlconn/pgxconn"
)

// The databases the SQL rows use when reachable: the same defaults and
// environment variables as herz's tests.
const (
	defaultPGDSN    = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultMySQLDSN = "root@tcp(127.0.0.1:3306)/test"
	sqlPoolSize     = 8
	sqlQueries      = 25 // per worker, sqlPoolSize workers
)

// sqlDB is one database the demo knows how to break: open the bare driver
// (counting its connects) and the herz one, tell a session's backend id,
// kill a backend and tell whether it is gone.
type sqlDB struct {
	name, env, dsn, addr string
	openBare             func(dsn string, dial func(context.Context, string, string) (net.Conn, error)) (*sql.DB, error)
	openHerz             func(dsn string) (*sql.DB, *sqlconn.Connector, error)
	idQuery, killQuery   string
	aliveQuery           string
}

func sqlDBs() []sqlDB {
	return []sqlDB{
		{
			name: "PostgreSQL", env: "HERZ_PG_DSN", dsn: defaultPGDSN, addr: "127.0.0.1:5432",
			openBare: func(dsn string, dial func(context.Context, string, string) (net.Conn, error)) (*sql.DB, error) {
				pc, err := pgx.ParseConfig(dsn)
				if err != nil {
					return nil, err
				}
				pc.DialFunc = dial
				return stdlib.OpenDB(*pc), nil
			},
			openHerz: func(dsn string) (*sql.DB, *sqlconn.Connector, error) {
				c, err := pgxconn.Connector(dsn, sqlconn.Config{}) // the one line that changes
				if err != nil {
					return nil, nil, err
				}
				return sql.OpenDB(c), c, nil
			},
			idQuery:    "SELECT pg_backend_pid()",
			killQuery:  "SELECT pg_terminate_backend(%d)",
			aliveQuery: "SELECT count(*) FROM pg_stat_activity WHERE pid = %d",
		},
		{
			name: "MariaDB", env: "HERZ_MYSQL_DSN", dsn: defaultMySQLDSN, addr: "127.0.0.1:3306",
			openBare: func(dsn string, dial func(context.Context, string, string) (net.Conn, error)) (*sql.DB, error) {
				mc, err := mysql.ParseDSN(dsn)
				if err != nil {
					return nil, err
				}
				mc.DialFunc = dial
				c, err := mysql.NewConnector(mc)
				if err != nil {
					return nil, err
				}
				return sql.OpenDB(c), nil
			},
			openHerz: func(dsn string) (*sql.DB, *sqlconn.Connector, error) {
				c, err := mysqlconn.Connector(dsn, sqlconn.Config{}) // the one line that changes
				if err != nil {
					return nil, nil, err
				}
				return sql.OpenDB(c), c, nil
			},
			idQuery:    "SELECT CONNECTION_ID()",
			killQuery:  "KILL %d",
			aliveQuery: "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %d",
		},
	}
}

// sqlRows runs, per reachable database: both pools warmed up to
// sqlPoolSize sessions, every one of those sessions killed on the server
// (a failover, a restart or an idle timeout would do the same), then the
// same queries on both pools.
func sqlRows(w io.Writer, o options) []row {
	// go-sql-driver logs the dead connections it finds; keep the table readable.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	var rows []row
	for _, db := range sqlDBs() {
		name := db.name + ": idle sessions killed"
		dsn, fromEnv := os.LookupEnv(db.env)
		if !fromEnv || dsn == "" {
			dsn = db.dsn
		}
		switch {
		case o.short:
			rows = append(rows, row{name: name, skipped: "short mode"})
			continue
		case !fromEnv && !reachable(db.addr):
			rows = append(rows, row{name: name, skipped: fmt.Sprintf("nothing listens on %s (set $%s to use another server)", db.addr, db.env)})
			continue
		}
		starting(w, name)
		r, err := runSQL(db, dsn)
		if err != nil {
			fmt.Fprintln(w, "could not run")
			rows = append(rows, row{name: name, skipped: "could not run: " + sqlconn.Redact(err.Error())})
			continue
		}
		r.name = name
		done(w, r, "errors")
		rows = append(rows, r)
	}
	return rows
}

func reachable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func runSQL(db sqlDB, dsn string) (row, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cd := &countingDial{d: net.Dialer{Timeout: 10 * time.Second}}
	bare, err := db.openBare(dsn, cd.DialContext)
	if err != nil {
		return row{}, err
	}
	defer bare.Close()
	hz, conn, err := db.openHerz(dsn)
	if err != nil {
		return row{}, err
	}
	defer hz.Close()
	admin, err := db.openBare(dsn, (&net.Dialer{}).DialContext)
	if err != nil {
		return row{}, err
	}
	defer admin.Close()
	admin.SetMaxOpenConns(1)

	var ids []int64
	for _, p := range []*sql.DB{bare, hz} {
		got, err := warmSQL(ctx, p, db.idQuery)
		if err != nil {
			return row{}, err
		}
		ids = append(ids, got...)
	}
	for _, id := range ids {
		if _, err := admin.ExecContext(ctx, fmt.Sprintf(db.killQuery, id)); err != nil {
			return row{}, fmt.Errorf("kill session %d: %w", id, err)
		}
	}
	for _, id := range ids { // bounded: until each backend is gone, at most 2s
		for range 200 {
			var n int
			if err := admin.QueryRowContext(ctx, fmt.Sprintf(db.aliveQuery, id)).Scan(&n); err != nil || n == 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(20 * time.Millisecond) // the last FINs cross loopback

	r := row{std: &tally{dups: -1, conns: func() int { return int(cd.n.Load()) }},
		hz: &tally{dups: -1, herzSide: true, conns: func() int { return int(conn.Dialer().Stats().Dials) }}}
	r.std.before, r.hz.before = "idle sessions killed before the run", "idle sessions killed before the run"
	for _, side := range []struct {
		db *sql.DB
		t  *tally
	}{{bare, r.std}, {hz, r.hz}} {
		side.t.load(sqlPoolSize, sqlQueries, func() error {
			var v int
			return side.db.QueryRowContext(ctx, "SELECT 1").Scan(&v)
		})
	}
	r.std.newConns = cd.n.Load()
	ds := conn.Dialer().Stats()
	r.hz.newConns, r.hz.evicts = ds.Dials, ds.Evictions
	return r, nil
}

// warmSQL makes p hold sqlPoolSize idle sessions and returns their server
// ids.
func warmSQL(ctx context.Context, p *sql.DB, idQuery string) ([]int64, error) {
	p.SetMaxOpenConns(sqlPoolSize)
	p.SetMaxIdleConns(sqlPoolSize)
	conns := make([]*sql.Conn, 0, sqlPoolSize)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var ids []int64
	for range sqlPoolSize {
		c, err := p.Conn(ctx)
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
		var id int64
		if err := c.QueryRowContext(ctx, idQuery).Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
