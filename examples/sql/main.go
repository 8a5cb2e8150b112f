package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/mysqlconn"
	"github.com/herz-go/herz/sqlconn/pgxconn"
)

func main() {
	// herz closes dead connections under the driver; keep its log quiet.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	err := runPG(os.Stdout, testenv.PGDSN())
	if err == nil {
		err = runMySQL(os.Stdout, testenv.MySQLDSN()+"?checkConnLiveness=false")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sql:", sqlconn.Redact(err.Error()))
		os.Exit(1)
	}
}

func runPG(w io.Writer, dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The one line that changes: pgxconn.Open instead of sql.Open("pgx", dsn).
	herz, err := pgxconn.Open(dsn, sqlconn.Config{})
	if err != nil {
		return err
	}
	defer herz.Close()

	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	bare := stdlib.OpenDB(*pc)
	defer bare.Close()
	admin := stdlib.OpenDB(*pc)
	defer admin.Close()
	admin.SetMaxOpenConns(1)

	const size = 8
	for _, db := range []*sql.DB{bare, herz} {
		if err := warm(ctx, db, size); err != nil {
			return err
		}
	}
	killed, err := testenv.KillIdlePG(ctx, admin)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "PostgreSQL: terminated %d idle backends of this process (pg_terminate_backend)\n", killed)
	compare(ctx, w, "pgx", bare, herz)
	return nil
}

func runMySQL(w io.Writer, dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	herz, err := mysqlconn.Open(dsn, sqlconn.Config{})
	if err != nil {
		return err
	}
	defer herz.Close()
	bare, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer bare.Close()
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer admin.Close()
	admin.SetMaxOpenConns(1)
	for _, db := range []*sql.DB{bare, herz} {
		if err := warm(ctx, db, 8); err != nil {
			return err
		}
	}
	killed, err := testenv.KillIdleMySQL(ctx, admin)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "MariaDB: killed %d idle connections of this process (KILL CONNECTION)\n", killed)
	compare(ctx, w, "mysql", bare, herz)
	return nil
}

// compare runs the same queries on the bare and the herz pool.
func compare(ctx context.Context, w io.Writer, driver string, bare, herz *sql.DB) {
	const n = 200
	for _, p := range []struct {
		name string
		db   *sql.DB
	}{{"  bare " + driver, bare}, {"  " + driver + " + herz", herz}} {
		failed := 0
		var first error
		for range n {
			var v int
			if err := p.db.QueryRowContext(ctx, "SELECT 1").Scan(&v); err != nil {
				failed++
				if first == nil {
					first = err
				}
			}
		}
		fmt.Fprintf(w, "%-16s %d of %d queries failed", p.name, failed, n)
		if first != nil {
			fmt.Fprintf(w, " (first: %v)", first)
		}
		fmt.Fprintln(w)
	}
}

// warm makes db hold size idle sessions.
func warm(ctx context.Context, db *sql.DB, size int) error {
	db.SetMaxOpenConns(size)
	db.SetMaxIdleConns(size)
	conns := make([]*sql.Conn, 0, size)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range size {
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if err := c.PingContext(ctx); err != nil {
			return err
		}
	}
	return nil
}
