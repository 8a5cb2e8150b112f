package sqlconn_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/sqlconn"
)

// mysqlSocket is MariaDB's unix socket on the test machine.
const mysqlSocket = "/run/mysqld/mysqld.sock"

// warmIDs makes db hold n idle sessions and returns their server IDs.
func warmIDs(t *testing.T, db *sql.DB, n int) []int64 {
	t.Helper()
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	ctx := context.Background()
	var ids []int64
	conns := make([]*sql.Conn, n)
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			t.Fatal(err)
		}
		conns[i], ids = c, append(ids, id)
	}
	for _, c := range conns {
		c.Close()
	}
	return ids
}

// TestMySQLUnixSocketAdopted: a DSN on MariaDB's unix socket. herz dials
// it (untracked by the Dialer, which tracks TCP) and adopts the conn, so
// that when the server kills the idle sessions, herz's probe at the
// checkout finds them closed and database/sql gets a fresh session before
// any statement is sent: 0 errors, as the bare driver (whose own
// connection check also runs on unix sockets), with every session adopted
// and the dead ones refused by herz's probe.
func TestMySQLUnixSocketAdopted(t *testing.T) {
	if _, err := os.Stat(mysqlSocket); err != nil {
		testenv.SkipOrFail(t, "no MariaDB unix socket at %s: %v", mysqlSocket, err)
	}
	t.Parallel()
	mc, err := mysql.ParseDSN(driverNamed("mysql").dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	mc.Net, mc.Addr = "unix", mysqlSocket
	dsn := mc.FormatDSN()
	d := driverNamed("mysql")
	const n = 3
	bare := d.bare(t, dsn)
	herz, c := d.herz(t, dsn, sqlconn.Config{})
	admin := adminFor(t, d, driverNamed("mysql").dsn(t))
	ids := append(warmIDs(t, bare, n), warmIDs(t, herz, n)...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range ids {
		if _, err := admin.ExecContext(ctx, fmt.Sprintf("KILL %d", id)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // the server closes the killed sessions' sockets
	herzFailed, herzErr := queries(herz, 20, false)
	bareFailed, bareErr := queries(bare, 20, false)
	st := c.Dialer().Stats()
	t.Logf("unix socket, %d idle sessions killed each: herz %d errors (%v), bare %d errors (%v); herz dialer: %v", n, herzFailed, herzErr, bareFailed, bareErr, st)
	if herzFailed != 0 || herzFailed > bareFailed {
		t.Errorf("herz: %d errors (bare %d), want 0", herzFailed, bareFailed)
	}
	if st.Adopted < n+1 {
		t.Errorf("herz adopted %d unix conns, want >= %d (the warm ones and at least one fresh)", st.Adopted, n+1)
	}
	if st.Evictions["probe_eof"]+st.Evictions["probe_rst"] < 1 {
		t.Errorf("herz's probe refused none of the killed sessions: %v", st)
	}
}
