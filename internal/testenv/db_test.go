package testenv_test

import (
	"context"
	"database/sql"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/herz-go/herz/internal/testenv"
)

var dsnAddrCases = []struct {
	dsn           string
	pg            bool
	network, addr string
	bad           bool
}{
	{dsn: testenv.DefaultPGDSN, pg: true, network: "tcp", addr: "127.0.0.1:5432"},
	{dsn: "postgresql://u:p%40ss@db.example:6543/x", pg: true, network: "tcp", addr: "db.example:6543"},
	{dsn: "postgres://u@[::1]/x", pg: true, network: "tcp", addr: "[::1]:5432"},
	{dsn: "postgres://u@h1:5433,h2:5434/x", pg: true, network: "tcp", addr: "h1:5433"},
	{dsn: "postgres:///x?host=/var/run/postgresql", pg: true, network: "unix", addr: "/var/run/postgresql/.s.PGSQL.5432"},
	{dsn: "host=10.0.0.1 port=7000 user=u password='s3cret' dbname=x", pg: true, network: "tcp", addr: "10.0.0.1:7000"},
	{dsn: "user=u dbname=x", pg: true, network: "tcp", addr: "localhost:5432"},
	{dsn: "host=127.0.0.1 port=banana", pg: true, bad: true},
	{dsn: "postgres://u@h:99999/x", pg: true, bad: true},
	{dsn: testenv.DefaultMySQLDSN, network: "tcp", addr: "127.0.0.1:3306"},
	{dsn: "u:p@ss/w@tcp(db.example:3307)/x?parseTime=true", network: "tcp", addr: "db.example:3307"},
	{dsn: "u@tcp(db.example)/x", network: "tcp", addr: "db.example:3306"},
	{dsn: "/x", network: "tcp", addr: "127.0.0.1:3306"},
	{dsn: "u@unix(/run/mysqld/mysqld.sock)/x", network: "unix", addr: "/run/mysqld/mysqld.sock"},
	{dsn: "u@tcp(db.example:3307/x", bad: true},
	{dsn: "u@pipe(x)/x", bad: true},
	{dsn: "no-slash", bad: true},
}

func TestDSNAddressesAreParsedLikeTheDrivers(t *testing.T) {
	for _, tc := range dsnAddrCases {
		t.Run(tc.dsn, func(t *testing.T) {
			parse := testenv.MySQLAddr
			if tc.pg {
				parse = testenv.PGAddr
			}
			network, addr, err := parse(tc.dsn)
			if tc.bad {
				if err == nil {
					t.Fatalf("got %s %s, want an error", network, addr)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), tc.dsn) {
					t.Errorf("error %q quotes the DSN", err)
				}
				return
			}
			if err != nil || network != tc.network || addr != tc.addr {
				t.Errorf("got %q %q %v, want %q %q", network, addr, err, tc.network, tc.addr)
			}
		})
	}
}

func FuzzDSNAddr(f *testing.F) {
	for _, tc := range dsnAddrCases {
		f.Add(tc.dsn)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		for _, parse := range []func(string) (string, string, error){testenv.PGAddr, testenv.MySQLAddr} {
			network, addr, err := parse(dsn)
			if err == nil && (network == "" || addr == "") {
				t.Errorf("%q: empty network %q or address %q without an error", dsn, network, addr)
			}
		}
	})
}

func TestDSNHelpersUseEnvironmentAndDefaults(t *testing.T) {
	t.Setenv("HERZ_PG_DSN", "")
	t.Setenv("HERZ_MYSQL_DSN", "")
	if testenv.PGDSN() != testenv.DefaultPGDSN || testenv.MySQLDSN() != testenv.DefaultMySQLDSN {
		t.Errorf("defaults: %q %q", testenv.PGDSN(), testenv.MySQLDSN())
	}
	t.Setenv("HERZ_PG_DSN", "postgres://x@h/db")
	t.Setenv("HERZ_MYSQL_DSN", "x@tcp(h)/db")
	if testenv.PGDSN() != "postgres://x@h/db" || testenv.MySQLDSN() != "x@tcp(h)/db" {
		t.Errorf("from the environment: %q %q", testenv.PGDSN(), testenv.MySQLDSN())
	}
}

func TestRequireDatabaseNamesAddressAndStartCommandButNoPassword(t *testing.T) {
	for _, tc := range []struct {
		name, env, dsn, start string
		require               func(testing.TB) string
	}{
		{"pg", "HERZ_PG_DSN", "postgres://u:s3cret@127.0.0.1:1/test", "pg_ctlcluster", testenv.RequirePG},
		{"mysql", "HERZ_MYSQL_DSN", "u:s3cret@tcp(127.0.0.1:1)/test", "mariadbd", testenv.RequireMySQL},
	} {
		for _, ci := range []string{"", "true"} {
			t.Run(tc.name+"/CI="+ci, func(t *testing.T) {
				t.Setenv(tc.env, tc.dsn)
				t.Setenv("CI", ci)
				r := record(func(tb testing.TB) { tc.require(tb) })
				msg := r.text()
				if r.skipped != (ci == "") || r.failed != (ci != "") {
					t.Errorf("skipped=%v failed=%v with CI=%q", r.skipped, r.failed, ci)
				}
				if !strings.Contains(msg, "127.0.0.1:1") || !strings.Contains(msg, tc.start) || strings.Contains(msg, "s3cret") {
					t.Errorf("reason %q: want the address and %q, not the password", msg, tc.start)
				}
			})
		}
	}
}

func TestDSNWithSessionTimeouts(t *testing.T) {
	for _, tc := range []struct {
		got  func() (string, error)
		want string
	}{
		{func() (string, error) {
			return testenv.PGDSNWithIdleSessionTimeout(testenv.DefaultPGDSN, 1500*time.Microsecond)
		},
			"postgres://postgres@127.0.0.1:5432/test?idle_session_timeout=2&sslmode=disable"},
		{func() (string, error) { return testenv.PGDSNWithIdleSessionTimeout("host=h dbname=x ", time.Second) },
			"host=h dbname=x idle_session_timeout=1000"},
		{func() (string, error) {
			return testenv.MySQLDSNWithWaitTimeout(testenv.DefaultMySQLDSN, 1500*time.Millisecond)
		},
			"root@tcp(127.0.0.1:3306)/test?wait_timeout=2"},
		{func() (string, error) {
			return testenv.MySQLDSNWithWaitTimeout("u@tcp(h)/x?parseTime=true", time.Second)
		},
			"u@tcp(h)/x?parseTime=true&wait_timeout=1"},
	} {
		if got, err := tc.got(); err != nil || got != tc.want {
			t.Errorf("got %q, %v; want %q", got, err, tc.want)
		}
	}
	if _, err := testenv.PGDSNWithIdleSessionTimeout(testenv.DefaultPGDSN, -1); err == nil {
		t.Error("negative idle_session_timeout accepted")
	}
	if _, err := testenv.MySQLDSNWithWaitTimeout(testenv.DefaultMySQLDSN, 0); err == nil {
		t.Error("zero wait_timeout accepted")
	}
}

// openDB opens a *sql.DB closed in t.Cleanup.
func openDB(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// heldConns returns n connections of db, pinged and held (not in the pool).
func heldConns(t *testing.T, db *sql.DB, n int) []*sql.Conn {
	t.Helper()
	var conns []*sql.Conn
	for range n {
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.PingContext(context.Background()); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	return conns
}

// outsider starts a database client process (another process, so its
// session must survive KillIdle*) that holds an idle session until the test
// ends. ready polls for its session and returns its ID.
func outsider(t *testing.T, name string, args []string, env []string, ready func() (int64, bool)) int64 {
	t.Helper()
	path := testenv.RequireCommand(t, name)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(cmd.Environ(), env...)
	stdin, err := cmd.StdinPipe() // held open: the client waits for input
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cancel()
		_ = cmd.Wait()
	})
	for range 500 { // bounded: 5 s
		if id, ok := ready(); ok {
			return id
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never opened its session", name)
	return 0
}

func TestKillIdlePGEndsOnlyThisProcessIdleSessions(t *testing.T) {
	dsn := testenv.RequirePG(t)
	ctx := context.Background()
	admin := openDB(t, "pgx", dsn)
	db := openDB(t, "pgx", dsn)
	held := heldConns(t, db, 2)
	if err := db.PingContext(ctx); err != nil { // a third one, idle in the pool
		t.Fatal(err)
	}
	const app = "herz-testenv-outsider"
	other := outsider(t, "psql", []string{"-X", "-q", dsn}, []string{"PGAPPNAME=" + app}, func() (int64, bool) {
		var pid int64
		err := admin.QueryRowContext(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle'", app).Scan(&pid)
		return pid, err == nil
	})

	killed, err := testenv.KillIdlePG(ctx, admin)
	if err != nil || killed != 3 {
		t.Fatalf("KillIdlePG = %d, %v; want 3 (two held, one pooled)", killed, err)
	}
	for i, c := range held {
		if err := c.PingContext(ctx); err == nil {
			t.Errorf("held conn %d still answers after KillIdlePG", i)
		}
	}
	var alive bool
	if err := admin.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", other).Scan(&alive); err != nil || !alive {
		t.Errorf("the other process's session %d: alive=%v %v; want it untouched", other, alive, err)
	}
}

func TestKillIdleMySQLKillsOnlyThisProcessIdleConnections(t *testing.T) {
	dsn := testenv.RequireMySQL(t)
	ctx := context.Background()
	admin := openDB(t, "mysql", dsn)
	db := openDB(t, "mysql", dsn)
	held := heldConns(t, db, 2)
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-h", host, "-P", port, "-u", cfg.User, cfg.DBName}
	var env []string
	if cfg.Passwd != "" {
		env = append(env, "MYSQL_PWD="+cfg.Passwd)
	}
	ours, err := testenv.OwnTCPPorts()
	if err != nil {
		t.Fatal(err)
	}
	// The outsider is a Sleep connection whose port is not one of ours.
	other := outsider(t, "mysql", args, env, func() (int64, bool) {
		rows, err := admin.QueryContext(ctx, "SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE COMMAND = 'Sleep'")
		if err != nil {
			return 0, false
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var h string
			if rows.Scan(&id, &h) != nil {
				return 0, false
			}
			p, err := strconv.Atoi(h[strings.LastIndex(h, ":")+1:])
			if err == nil && !ours[p] {
				if now, _ := testenv.OwnTCPPorts(); !now[p] {
					return id, true
				}
			}
		}
		return 0, false
	})

	killed, err := testenv.KillIdleMySQL(ctx, admin)
	if err != nil || killed != 3 {
		t.Fatalf("KillIdleMySQL = %d, %v; want 3 (two held, one pooled)", killed, err)
	}
	for i, c := range held {
		if err := c.PingContext(ctx); err == nil {
			t.Errorf("held conn %d still answers after KillIdleMySQL", i)
		}
	}
	var ids []int64
	rows, err := admin.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if !slices.Contains(ids, other) {
		t.Errorf("the other process's connection %d is gone; want it untouched", other)
	}
}

func TestSessionTimeoutDSNsMakeTheServerCloseIdleConns(t *testing.T) {
	t.Run("pg idle_session_timeout", func(t *testing.T) {
		t.Parallel()
		dsn, err := testenv.PGDSNWithIdleSessionTimeout(testenv.RequirePG(t), 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		c := heldConns(t, openDB(t, "pgx", dsn), 1)[0]
		var v string
		if err := c.QueryRowContext(context.Background(), "SHOW idle_session_timeout").Scan(&v); err != nil || v != "200ms" {
			t.Fatalf("SHOW idle_session_timeout = %q, %v; want 200ms", v, err)
		}
		time.Sleep(500 * time.Millisecond)
		if err := c.PingContext(context.Background()); err == nil {
			t.Error("conn idle for 500ms still answers; want it closed by the server")
		}
	})
	t.Run("mysql wait_timeout", func(t *testing.T) {
		t.Parallel()
		dsn, err := testenv.MySQLDSNWithWaitTimeout(testenv.RequireMySQL(t), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c := heldConns(t, openDB(t, "mysql", dsn), 1)[0]
		var v int
		if err := c.QueryRowContext(context.Background(), "SELECT @@SESSION.wait_timeout").Scan(&v); err != nil || v != 1 {
			t.Fatalf("wait_timeout = %d, %v; want 1", v, err)
		}
		time.Sleep(1500 * time.Millisecond)
		if err := c.PingContext(context.Background()); err == nil {
			t.Error("conn idle for 1.5s still answers; want it closed by the server")
		}
	})
}

func TestRedirectDSNPointsTheDSNElsewhere(t *testing.T) {
	for _, tc := range []struct {
		driver, dsn, from, want string
	}{
		{"pgx", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "127.0.0.1:5432",
			"postgres://postgres@127.0.0.1:9/test?sslmode=disable"},
		{"pgx", "postgres://u@db/test?port=6000&sslmode=disable", "db:6000", "postgres://u@127.0.0.1:9/test?sslmode=disable"},
		{"pgx", "host=localhost user=u", "localhost:5432", "host=localhost user=u host=127.0.0.1 port=9"},
		{"mysql", "root@tcp(127.0.0.1:3306)/test?parseTime=true", "127.0.0.1:3306", "root@tcp(127.0.0.1:9)/test?parseTime=true"},
		{"mysql", "u:p@/test", "127.0.0.1:3306", "u:p@tcp(127.0.0.1:9)/test"},
	} {
		from, got, err := testenv.RedirectDSN(tc.driver, tc.dsn, "127.0.0.1:9")
		if err != nil || from != tc.from || got != tc.want {
			t.Errorf("RedirectDSN(%s, %q) = %q, %q, %v; want %q, %q", tc.driver, tc.dsn, from, got, err, tc.from, tc.want)
		}
	}
	for _, bad := range [][2]string{{"pgx", "host=/tmp"}, {"mysql", "u@unix(/tmp/s)/db"}, {"sqlite", "x"}} {
		if _, _, err := testenv.RedirectDSN(bad[0], bad[1], "127.0.0.1:9"); err == nil {
			t.Errorf("RedirectDSN(%s, %q): no error", bad[0], bad[1])
		}
	}
}
