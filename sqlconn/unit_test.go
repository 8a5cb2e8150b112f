package sqlconn_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/mysqlconn"
	"github.com/herz-go/herz/sqlconn/pgxconn"
	"github.com/herz-go/herz/sqlconn/pqconn"
)

// fakeConnector is a driver with no dial hook and no Pinger: herz cannot
// see its socket.
type fakeConnector struct{ connects, closes atomic.Int64 }

func (f *fakeConnector) Connect(context.Context) (driver.Conn, error) {
	f.connects.Add(1)
	return &fakeConn{f: f}, nil
}
func (f *fakeConnector) Driver() driver.Driver { return nil }

type fakeConn struct{ f *fakeConnector }

func (c *fakeConn) Prepare(string) (driver.Stmt, error) { return fakeStmt{}, nil }
func (c *fakeConn) Close() error                        { c.f.closes.Add(1); return nil }
func (c *fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("no tx") }

type fakeStmt struct{}

func (fakeStmt) Close() error                               { return nil }
func (fakeStmt) NumInput() int                              { return -1 }
func (fakeStmt) Exec([]driver.Value) (driver.Result, error) { return driver.RowsAffected(1), nil }
func (fakeStmt) Query([]driver.Value) (driver.Rows, error)  { return &fakeRows{}, nil }

type fakeRows struct{ done bool }

func (*fakeRows) Columns() []string { return []string{"x"} }
func (*fakeRows) Close() error      { return nil }
func (r *fakeRows) Next(dest []driver.Value) error {
	if r.done {
		return io.EOF
	}
	r.done = true
	dest[0] = int64(1)
	return nil
}

// TestNoSocketFallback: a driver whose socket herz cannot see gets the
// lifetime limit and, after PingAfterIdle, a ping — which a driver without
// Pinger cannot answer, so the connection is replaced, silently.
func TestNoSocketFallback(t *testing.T) {
	cases := []struct {
		name string
		cfg  sqlconn.Config
		wait time.Duration
		want int64 // connects after two uses separated by wait
	}{
		{"reused", sqlconn.Config{PingAfterIdle: -1}, 5 * time.Millisecond, 1},
		{"ping after idle", sqlconn.Config{PingAfterIdle: time.Millisecond}, 5 * time.Millisecond, 2},
		{"lifetime", sqlconn.Config{PingAfterIdle: -1, MaxLifetime: 2 * time.Millisecond}, 5 * time.Millisecond, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeConnector{}
			c, err := sqlconn.New(f, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			db := sqlconn.OpenDB(c)
			defer db.Close()
			for i := range 2 {
				if i == 1 {
					time.Sleep(tc.wait)
				}
				if _, err := db.Exec("x"); err != nil {
					t.Fatalf("exec %d: %v (the caller must see no error)", i, err)
				}
			}
			if got := f.connects.Load(); got != tc.want {
				t.Errorf("connects = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		cfg  sqlconn.Config
		want string
	}{
		{sqlconn.Config{PingTimeout: -1}, "Config.PingTimeout must be >= 0, got -1ns"},
		{sqlconn.Config{ConnectBackoff: -1}, "Config.ConnectBackoff must be >= 0, got -1ns"},
		{sqlconn.Config{ConnectBackoffMax: -1}, "Config.ConnectBackoffMax must be >= 0, got -1ns"},
		{sqlconn.Config{ConnectBackoff: time.Second, ConnectBackoffMax: time.Millisecond}, "Config.ConnectBackoffMax must be >= Config.ConnectBackoff"},
		{sqlconn.Config{Breaker: breakerWithBadRatio()}, "Config.Breaker"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			_, err := sqlconn.New(&fakeConnector{}, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "herz/sqlconn: ") {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
			// Wrap cannot return it: every Connect does.
			_, cerr := sqlconn.Wrap(&fakeConnector{}, tc.cfg).Connect(context.Background())
			if cerr == nil || cerr.Error() != err.Error() {
				t.Fatalf("Wrap(...).Connect: %v, want %v", cerr, err)
			}
		})
	}
	if _, err := sqlconn.New(nil, sqlconn.Config{}); err == nil {
		t.Error("New(nil): no error")
	}
}

func TestRedact(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://u:s3cret@h:5432/db", "postgres://u:xxxxx@h:5432/db"},
		{"failed: postgres://u:s3cret@h/db?sslmode=disable", "failed: postgres://u:xxxxx@h/db?sslmode=disable"},
		{"u:s3cret@tcp(127.0.0.1:3306)/test", "u:xxxxx@tcp(127.0.0.1:3306)/test"},
		{"host=h password=s3cret user=u", "host=h password=xxxxx user=u"},
		{"host=h password='s3 cret' user=u", "host=h password=xxxxx user=u"},
		{"postgres://u@h/db?password=s3cret&x=1", "postgres://u@h/db?password=xxxxx&x=1"},
		{"no secret here: dial tcp 127.0.0.1:1: connect: connection refused", "no secret here: dial tcp 127.0.0.1:1: connect: connection refused"},
	}
	for _, tc := range cases {
		if got := sqlconn.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{"postgres://u:s3cret@h/db", "u:s3cret@tcp(h)/d", "password=s3cret", "password='s3cret'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, secret string) {
		if secret == "" || strings.ContainsAny(secret, "@/:'\"\\ \t\n\r\v\f&;()=?#,") {
			return
		}
		for _, tmpl := range []string{
			"postgres://user:%s@host:5432/db",
			"user:%s@tcp(host:3306)/db",
			"host=h password=%s user=u",
			"host=h password='%s'",
		} {
			dsn := strings.Replace(tmpl, "%s", secret, 1)
			want := "error: " + strings.Replace(strings.Replace(tmpl, "'%s'", "%s", 1), "%s", sqlconn.Redacted, 1)
			if out := sqlconn.Redact("error: " + dsn); out != want {
				t.Fatalf("Redact(%q) = %q, want %q", dsn, out, want)
			}
		}
	})
}

// TestConnectErrorsRedacted: connect failures through each sub-package
// never show the DSN's password, and match what the driver's own error
// matches (the refused connect).
func TestConnectErrorsRedacted(t *testing.T) {
	const secret = "s3cretPW"
	open := map[string]func() (*sql.DB, error){
		"pgx": func() (*sql.DB, error) {
			return pgxconn.Open("postgres://u:"+secret+"@127.0.0.1:1/db?sslmode=disable", fastFail)
		},
		"pq": func() (*sql.DB, error) {
			return pqconn.Open("postgres://u:"+secret+"@127.0.0.1:1/db?sslmode=disable", fastFail)
		},
		"mysql": func() (*sql.DB, error) { return mysqlconn.Open("u:"+secret+"@tcp(127.0.0.1:1)/db", fastFail) },
		"pgx keyword": func() (*sql.DB, error) {
			return pgxconn.Open("host=127.0.0.1 port=1 user=u password="+secret+" sslmode=disable", fastFail)
		},
	}
	for name, o := range open {
		t.Run(name, func(t *testing.T) {
			db, err := o()
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = db.Ping()
			if err == nil {
				t.Fatal("ping to a closed port succeeded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the password: %v", err)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("error %T does not match ECONNREFUSED as the driver's does: %v", err, err)
			}
		})
	}
}

var fastFail = sqlconn.Config{ConnectRetries: -1}

func breakerWithBadRatio() (c breaker.Config) {
	c.FailureRatio = 2
	return c
}
