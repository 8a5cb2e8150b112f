package sqlconn

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"regexp"
	"strconv"
	"time"
)

// Redacted replaces a password in the text [Redact] returns.
const Redacted = "xxxxx"

var (
	// password=secret, password='sec ret', password = "x" (libpq keyword
	// DSNs, query parameters: password=...&).
	kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&;]+)`)
	// scheme://user:secret@host and user:secret@tcp(host) (URLs, MySQL DSNs).
	userinfoPassword = regexp.MustCompile(`((?:^|[\s/"'(])[^\s:/@"'(]*:)([^\s@/]*)(@)`)
)

// Redact returns s with every DSN password in it replaced by [Redacted]:
// the password of URL userinfo ("postgres://u:secret@h/db"), of a MySQL DSN
// ("u:secret@tcp(h:3306)/db") and of libpq keywords ("password=secret",
// quoted or not). herz passes every driver message of a connect failure
// through it, and logs nothing itself.
func Redact(s string) string {
	s = kvPassword.ReplaceAllString(s, "${1}"+Redacted)
	return userinfoPassword.ReplaceAllString(s, "${1}"+Redacted+"${3}")
}

// PostgresIdleHint is a Config.IdleHint for PostgreSQL (any driver whose
// connections run queries directly): the session's idle_session_timeout
// (PostgreSQL 14+; 0 when off or on older servers).
func PostgresIdleHint(ctx context.Context, c driver.Conn) (time.Duration, error) {
	v, err := queryInt(ctx, c, "SELECT setting::bigint FROM pg_settings WHERE name = 'idle_session_timeout'")
	return time.Duration(v) * time.Millisecond, err
}

// MySQLIdleHint is a Config.IdleHint for MySQL and MariaDB: the session's
// wait_timeout.
func MySQLIdleHint(ctx context.Context, c driver.Conn) (time.Duration, error) {
	v, err := queryInt(ctx, c, "SELECT @@SESSION.wait_timeout")
	return time.Duration(v) * time.Second, err
}

// queryInt runs query on c and returns the integer in the first column of
// its first row (0 when there is no row).
func queryInt(ctx context.Context, c driver.Conn, query string) (int64, error) {
	q, ok := c.(driver.QueryerContext)
	if !ok {
		return 0, errors.New("herz/sqlconn: the driver connection cannot run a query directly")
	}
	rows, err := q.QueryContext(ctx, query, nil)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil
		}
		return 0, err
	}
	switch v := dest[0].(type) {
	case int64:
		return v, nil
	case uint64:
		return int64(v), nil
	case []byte:
		return strconv.ParseInt(string(v), 10, 64)
	case string:
		return strconv.ParseInt(v, 10, 64)
	}
	return 0, errors.New("herz/sqlconn: unexpected value type in an idle hint")
}
