package testenv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// DefaultPGDSN is the PostgreSQL every development and CI machine runs:
	// 127.0.0.1:5432, trust authentication, user postgres, database test.
	DefaultPGDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	// DefaultMySQLDSN is the MariaDB every development and CI machine runs
	// (go-sql-driver/mysql syntax): 127.0.0.1:3306, user root, no password,
	// database test.
	DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/test"

	pgStartCommand    = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
	mysqlStartCommand = "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"

	// dbDialTimeout bounds the reachability check of RequirePG/RequireMySQL.
	dbDialTimeout = time.Second
	// killWait bounds how long KillIdle* wait for killed sessions to go.
	killWait = 5 * time.Second
)

// PGDSN returns $HERZ_PG_DSN, or [DefaultPGDSN] when it is empty.
func PGDSN() string {
	if dsn := os.Getenv("HERZ_PG_DSN"); dsn != "" {
		return dsn
	}
	return DefaultPGDSN
}

// MySQLDSN returns $HERZ_MYSQL_DSN, or [DefaultMySQLDSN] when it is empty.
func MySQLDSN() string {
	if dsn := os.Getenv("HERZ_MYSQL_DSN"); dsn != "" {
		return dsn
	}
	return DefaultMySQLDSN
}

// RequirePG returns [PGDSN] when its server accepts a TCP (or Unix socket)
// connection within a second; otherwise it skips the test (fails it under
// [CI]) naming the address and the command that starts PostgreSQL. The
// reason never contains the DSN's password.
func RequirePG(t testing.TB) string {
	t.Helper()
	dsn := PGDSN()
	requireReachable(t, "PostgreSQL", "HERZ_PG_DSN", pgStartCommand, dsn, pgAddr)
	return dsn
}

// RequireMySQL is [RequirePG] for [MySQLDSN] and MariaDB/MySQL.
func RequireMySQL(t testing.TB) string {
	t.Helper()
	dsn := MySQLDSN()
	requireReachable(t, "MariaDB", "HERZ_MYSQL_DSN", mysqlStartCommand, dsn, mysqlAddr)
	return dsn
}

func requireReachable(t testing.TB, what, env, start, dsn string, addrOf func(string) (string, string, error)) {
	t.Helper()
	network, addr, err := addrOf(dsn)
	if err != nil {
		t.Fatalf("herz/testenv: $%s: %v", env, err)
	}
	c, err := net.DialTimeout(network, addr, dbDialTimeout)
	if err != nil {
		SkipOrFail(t, "herz/testenv: %s is not reachable at %s (%v); start it with `%s` or set $%s",
			what, addr, err, start, env)
		return
	}
	_ = c.Close()
}

// pgAddr returns the network and address of the first host of a libpq DSN,
// URL ("postgres://...") or keyword ("host=... port=...") form. Errors never
// quote the DSN (it may hold a password).
func pgAddr(dsn string) (network, addr string, err error) {
	host, port := "", ""
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", "", errors.New("herz/testenv: PostgreSQL DSN is not a valid URL")
		}
		hostport, _, _ := strings.Cut(u.Host, ",") // first of several hosts
		host, port = hostport, ""
		if h, p, err := net.SplitHostPort(hostport); err == nil {
			host, port = h, p
		}
		if h := u.Query().Get("host"); h != "" {
			host = h
		}
		if p := u.Query().Get("port"); p != "" {
			port = p
		}
	} else {
		for _, field := range strings.Fields(dsn) {
			k, v, ok := strings.Cut(field, "=")
			if !ok {
				continue
			}
			v = strings.Trim(v, "'")
			switch k {
			case "host":
				host = v
			case "hostaddr":
				if host == "" {
					host = v
				}
			case "port":
				port = v
			}
		}
	}
	host, _, _ = strings.Cut(host, ",")
	port, _, _ = strings.Cut(port, ",")
	if port == "" {
		port = "5432"
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", "", fmt.Errorf("herz/testenv: PostgreSQL DSN has a bad port %q", port)
	}
	switch {
	case host == "":
		host = "localhost"
	case strings.HasPrefix(host, "/"): // a directory holding the Unix socket
		return "unix", host + "/.s.PGSQL." + port, nil
	}
	return "tcp", net.JoinHostPort(strings.Trim(host, "[]"), port), nil
}

// mysqlAddr returns the network and address of a go-sql-driver/mysql DSN:
// [user[:password]@][net[(addr)]]/dbname[?params]. Errors never quote the
// DSN.
func mysqlAddr(dsn string) (network, addr string, err error) {
	// Like the driver: the last '/' starts the database name (a '/' in a
	// parameter value must be escaped as %2F).
	slash := strings.LastIndex(dsn, "/")
	if slash < 0 {
		return "", "", errors.New("herz/testenv: MySQL DSN has no '/' before the database name")
	}
	netAddr := dsn[:slash]
	if at := strings.LastIndex(netAddr, "@"); at >= 0 {
		netAddr = netAddr[at+1:]
	}
	network = netAddr
	if open := strings.Index(netAddr, "("); open >= 0 {
		if !strings.HasSuffix(netAddr, ")") {
			return "", "", errors.New("herz/testenv: MySQL DSN address has no closing ')'")
		}
		network, addr = netAddr[:open], netAddr[open+1:len(netAddr)-1]
	}
	switch network {
	case "", "tcp", "tcp4", "tcp6":
		if network == "" {
			network = "tcp"
		}
		if addr == "" {
			addr = "127.0.0.1:3306"
		} else if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(strings.Trim(addr, "[]"), "3306")
		}
	case "unix":
		if addr == "" {
			addr = "/tmp/mysql.sock"
		}
	default:
		return "", "", fmt.Errorf("herz/testenv: MySQL DSN network %q is neither tcp nor unix", network)
	}
	return network, addr, nil
}

// PGDSNWithIdleSessionTimeout returns dsn with PostgreSQL's
// idle_session_timeout (PostgreSQL 14+) set for every session opened with
// it, as a startup parameter: the server then closes a connection idle
// longer than d (rounded up to a millisecond) with a FATAL message and a
// FIN. Only these sessions are affected, never the server's other users. It
// works with pgx and lib/pq, in URL and keyword form; d == 0 disables the
// timeout, d < 0 is an error.
func PGDSNWithIdleSessionTimeout(dsn string, d time.Duration) (string, error) {
	if d < 0 {
		return "", fmt.Errorf("herz/testenv: idle_session_timeout must be >= 0, got %v", d)
	}
	ms := strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("herz/testenv: PostgreSQL DSN is not a valid URL")
		}
		q := u.Query()
		q.Set("idle_session_timeout", ms)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return strings.TrimSpace(dsn) + " idle_session_timeout=" + ms, nil
}

// MySQLDSNWithWaitTimeout returns dsn with the session variable
// wait_timeout set on every connection opened with it (go-sql-driver/mysql
// sends unknown DSN parameters as SET statements): the server then closes a
// connection idle longer than d, rounded up to whole seconds. Only these
// connections are affected, never the server's other users. d must be > 0.
func MySQLDSNWithWaitTimeout(dsn string, d time.Duration) (string, error) {
	if d <= 0 {
		return "", fmt.Errorf("herz/testenv: wait_timeout must be > 0, got %v", d)
	}
	if _, _, err := mysqlAddr(dsn); err != nil {
		return "", err
	}
	secs := strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
	sep := "?"
	if strings.Contains(dsn[strings.LastIndex(dsn, "/"):], "?") {
		sep = "&"
	}
	return dsn + sep + "wait_timeout=" + secs, nil
}

// KillIdlePG terminates (pg_terminate_backend) every idle PostgreSQL
// session whose client socket belongs to this process, waits until each
// backend is gone (its socket then has the server's FIN), and returns how
// many it ended. "Idle" is the server's state: no statement running, no
// transaction open, whether the connection sits in a pool or in a held
// *sql.Conn. Sessions of other processes on the same server are never
// touched, so tests sharing a server do not disturb each other; connections
// through a [Proxy] of this process count as this process's.
//
// admin runs the statements on one of its connections, which is spared:
// pass a separate *sql.DB (any driver) to end every idle connection of the
// pool under test. Needs Linux (/proc) and PostgreSQL 14+.
func KillIdlePG(ctx context.Context, admin *sql.DB) (int, error) {
	ports, err := ownTCPPorts()
	if err != nil {
		return 0, err
	}
	conn, err := admin.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("herz/testenv: KillIdlePG: %w", err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, `SELECT pid, client_port FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND state = 'idle' AND client_port IS NOT NULL`)
	if err != nil {
		return 0, fmt.Errorf("herz/testenv: KillIdlePG: list sessions: %w", err)
	}
	var victims []int64
	for rows.Next() {
		var pid, port int64
		if err := rows.Scan(&pid, &port); err != nil {
			rows.Close()
			return 0, fmt.Errorf("herz/testenv: KillIdlePG: list sessions: %w", err)
		}
		if ports[int(port)] {
			victims = append(victims, pid)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("herz/testenv: KillIdlePG: list sessions: %w", err)
	}
	killed := 0
	for _, pid := range victims {
		// With a timeout, pg_terminate_backend waits for the backend to exit.
		var gone bool
		err := conn.QueryRowContext(ctx, "SELECT pg_terminate_backend($1, $2)", pid, killWait.Milliseconds()).Scan(&gone)
		if err != nil {
			return killed, fmt.Errorf("herz/testenv: KillIdlePG: terminate backend %d: %w", pid, err)
		}
		if gone {
			killed++
		}
	}
	return killed, nil
}

// KillIdleMySQL runs KILL CONNECTION on every MariaDB/MySQL connection in
// state Sleep whose client socket belongs to this process, waits until they
// are gone from the process list, and returns how many it killed. Like
// [KillIdlePG], other processes' connections are never touched and admin's
// own connection is spared. Needs Linux (/proc).
func KillIdleMySQL(ctx context.Context, admin *sql.DB) (int, error) {
	ports, err := ownTCPPorts()
	if err != nil {
		return 0, err
	}
	conn, err := admin.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("herz/testenv: KillIdleMySQL: %w", err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, `SELECT ID, HOST FROM information_schema.PROCESSLIST
		WHERE COMMAND = 'Sleep' AND ID <> CONNECTION_ID()`)
	if err != nil {
		return 0, fmt.Errorf("herz/testenv: KillIdleMySQL: list connections: %w", err)
	}
	var victims []uint64
	for rows.Next() {
		var id uint64
		var host string
		if err := rows.Scan(&id, &host); err != nil {
			rows.Close()
			return 0, fmt.Errorf("herz/testenv: KillIdleMySQL: list connections: %w", err)
		}
		// HOST is "127.0.0.1:54321" (or "localhost:54321") for TCP clients.
		if i := strings.LastIndex(host, ":"); i >= 0 {
			if port, err := strconv.Atoi(host[i+1:]); err == nil && ports[port] {
				victims = append(victims, id)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("herz/testenv: KillIdleMySQL: list connections: %w", err)
	}
	killed := 0
	for _, id := range victims {
		// The ID comes from the server as an integer: safe to format in.
		if _, err := conn.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatUint(id, 10)); err != nil {
			var still bool
			q := "SELECT EXISTS (SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = " + strconv.FormatUint(id, 10) + ")"
			if qerr := conn.QueryRowContext(ctx, q).Scan(&still); qerr != nil || still {
				return killed, fmt.Errorf("herz/testenv: KillIdleMySQL: kill connection %d: %w", id, err)
			}
			continue // it ended by itself meanwhile ("Unknown thread id")
		}
		killed++
	}
	return killed, waitMySQLGone(ctx, conn, victims)
}

// waitMySQLGone polls the process list until none of ids is in it.
func waitMySQLGone(ctx context.Context, conn *sql.Conn, ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = strconv.FormatUint(id, 10)
	}
	query := "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN (" + strings.Join(list, ",") + ")"
	deadline := time.Now().Add(killWait)
	for {
		var left int
		if err := conn.QueryRowContext(ctx, query).Scan(&left); err != nil {
			return fmt.Errorf("herz/testenv: KillIdleMySQL: wait for the kills: %w", err)
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("herz/testenv: KillIdleMySQL: %d killed connections still listed after %v", left, killWait)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("herz/testenv: KillIdleMySQL: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// RedirectDSN returns the TCP address a DSN of driver ("pgx" for
// PostgreSQL, "mysql" for go-sql-driver/mysql) points at, and the same DSN
// pointing at addr instead: to put a faultlab.Proxy between a pool and its
// server. Unix-socket DSNs are an error. Errors never quote the DSN.
func RedirectDSN(driver, dsn, addr string) (from, redirected string, err error) {
	switch driver {
	case "pgx":
		network, from, err := pgAddr(dsn)
		if err != nil {
			return "", "", err
		}
		if network != "tcp" {
			return "", "", errors.New("herz/testenv: RedirectDSN: the PostgreSQL DSN uses a Unix socket")
		}
		host, port, _ := net.SplitHostPort(addr)
		if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
			u, err := url.Parse(dsn)
			if err != nil {
				return "", "", errors.New("herz/testenv: PostgreSQL DSN is not a valid URL")
			}
			u.Host = addr
			q := u.Query()
			q.Del("host")
			q.Del("port")
			u.RawQuery = q.Encode()
			return from, u.String(), nil
		}
		return from, dsn + " host=" + host + " port=" + port, nil // the last setting wins
	case "mysql":
		network, from, err := mysqlAddr(dsn)
		if err != nil {
			return "", "", err
		}
		if network == "unix" {
			return "", "", errors.New("herz/testenv: RedirectDSN: the MySQL DSN uses a Unix socket")
		}
		slash := strings.LastIndex(dsn, "/")
		user := ""
		if at := strings.LastIndex(dsn[:slash], "@"); at >= 0 {
			user = dsn[:at+1]
		}
		return from, user + "tcp(" + addr + ")" + dsn[slash:], nil
	}
	return "", "", fmt.Errorf("herz/testenv: RedirectDSN: driver must be pgx or mysql, got %q", driver)
}
