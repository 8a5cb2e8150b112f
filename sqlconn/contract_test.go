package sqlconn_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lib/pq"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/mysqlconn"
	"github.com/herz-go/herz/sqlconn/pgxconn"
	"github.com/herz-go/herz/sqlconn/pqconn"
)

// recorder is an application's own dial function: it counts its dials and
// keeps every byte the client sent.
type recorder struct {
	dials atomic.Int64
	mu    sync.Mutex
	sent  bytes.Buffer
}

func (r *recorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	r.dials.Add(1)
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &recConn{Conn: nc, r: r}, nil
}

func (r *recorder) Dial(network, addr string) (net.Conn, error) {
	return r.dial(context.Background(), network, addr)
}

func (r *recorder) DialTimeout(network, addr string, d time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return r.dial(ctx, network, addr)
}

func (r *recorder) sentText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent.String()
}

type recConn struct {
	net.Conn
	r *recorder
}

func (c *recConn) Write(b []byte) (int, error) {
	c.r.mu.Lock()
	c.r.sent.Write(b)
	c.r.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *recConn) NetConn() net.Conn { return c.Conn }

// userDialDBs opens the same server bare and through herz, each with its own
// recorder as the application's dial hook (for MySQL, a network registered
// with mysql.RegisterDialContext).
func userDialDBs(t *testing.T, name string, cfg sqlconn.Config) (bare, herz *sql.DB, bareRec, herzRec *recorder, herzD *dialer.Dialer) {
	t.Helper()
	bareRec, herzRec = &recorder{}, &recorder{}
	d := driverNamed(name)
	dsn := d.dsn(t)
	switch name {
	case "pgx":
		for _, side := range []struct {
			r  *recorder
			db **sql.DB
		}{{bareRec, &bare}, {herzRec, &herz}} {
			pc, err := pgx.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			pc.DialFunc = side.r.dial
			if side.r == bareRec {
				*side.db = closeLater(t, stdlib.OpenDB(*pc))
				continue
			}
			c, err := pgxconn.FromConfig(pc, cfg)
			if err != nil {
				t.Fatal(err)
			}
			herzD = c.Dialer()
			*side.db = closeLater(t, sqlconn.OpenDB(c))
		}
	case "pq":
		pc, err := pq.NewConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		bc, err := pq.NewConnectorConfig(pc)
		if err != nil {
			t.Fatal(err)
		}
		bc.Dialer(bareRec)
		bare = closeLater(t, sql.OpenDB(bc))
		c, err := pqconn.FromConfig(pc, herzRec, cfg)
		if err != nil {
			t.Fatal(err)
		}
		herzD = c.Dialer()
		herz = closeLater(t, sqlconn.OpenDB(c))
	case "mysql":
		for _, side := range []struct {
			r  *recorder
			db **sql.DB
		}{{bareRec, &bare}, {herzRec, &herz}} {
			network := fmt.Sprintf("herztest%p", side.r)
			r := side.r
			mysql.RegisterDialContext(network, func(ctx context.Context, addr string) (net.Conn, error) {
				return r.dial(ctx, "tcp", addr)
			})
			t.Cleanup(func() { mysql.DeregisterDialContext(network) })
			mc, err := mysql.ParseDSN(dsn)
			if err != nil {
				t.Fatal(err)
			}
			mc.Net = network
			if side.r == bareRec {
				c, err := mysql.NewConnector(mc)
				if err != nil {
					t.Fatal(err)
				}
				*side.db = closeLater(t, sql.OpenDB(c))
				continue
			}
			c, err := mysqlconn.FromConfig(mc, cfg)
			if err != nil {
				t.Fatal(err)
			}
			herzD = c.Dialer()
			*side.db = closeLater(t, sqlconn.OpenDB(c))
		}
	}
	return bare, herz, bareRec, herzRec, herzD
}

// TestDriverDialHooksKept: a dial function the application gave the driver
// (pgx ConnConfig.DialFunc, a lib/pq Dialer, a network registered with
// mysql.RegisterDialContext) still dials every connection through herz, as
// it does with the bare driver, and the queries succeed the same.
func TestDriverDialHooksKept(t *testing.T) {
	for _, name := range []string{"pgx", "pq", "mysql"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bare, herz, bareRec, herzRec, herzD := userDialDBs(t, name, sqlconn.Config{})
			bareFailed, bareErr := queries(bare, 20, true)
			herzFailed, herzErr := queries(herz, 20, true)
			t.Logf("%s: bare %d errors (%v), %d dials through the application's hook; herz %d errors (%v), %d dials",
				name, bareFailed, bareErr, bareRec.dials.Load(), herzFailed, herzErr, herzRec.dials.Load())
			if herzFailed > bareFailed || herzFailed != 0 {
				t.Errorf("herz %d errors (first %v), bare %d", herzFailed, herzErr, bareFailed)
			}
			if bareRec.dials.Load() == 0 {
				t.Fatal("the bare driver did not use the application's dial hook: the test is broken")
			}
			if herzRec.dials.Load() == 0 {
				t.Errorf("herz did not dial through the application's dial hook")
			}
			// Every conn the hook made is tracked by herz (probes at reuse,
			// lifetime, learned deadlines), none dialed by herz itself. A
			// network registered with mysql.RegisterDialContext is dialed
			// by the driver from its private registry: herz never sees
			// those conns (bounded ping and lifetime instead).
			if st := herzD.Stats(); name != "mysql" && (int64(st.Adopted) != herzRec.dials.Load() || st.Dials != 0) {
				t.Errorf("herz adopted %d of the %d conns the hook dialed (and dialed %d itself), want all", st.Adopted, herzRec.dials.Load(), st.Dials)
			}
			for _, q := range []string{"pg_settings", "wait_timeout"} {
				if strings.Contains(herzRec.sentText(), q) && !strings.Contains(bareRec.sentText(), q) {
					t.Errorf("herz sent a query the application did not send (%q)", q)
				}
			}
		})
	}
}

// TestRejectReadOnlyRetried: with rejectReadOnly=true, go-sql-driver
// answers a statement the server refused as read-only with
// driver.ErrBadConn on purpose, so that database/sql runs it again on a new
// connection (a failover's old primary). Through herz the same INSERT
// succeeds and runs exactly once, as with the bare driver.
func TestRejectReadOnlyRetried(t *testing.T) {
	t.Parallel()
	d := driverNamed("mysql")
	// interpolateParams: the INSERT goes out as one query, so the
	// read-only error answers a statement that was sent (not a PREPARE).
	dsn := d.dsn(t) + "&rejectReadOnly=true&interpolateParams=true"
	admin := adminFor(t, d, d.dsn(t))
	table := fmt.Sprintf("herz_ro_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE TABLE " + table + " (k VARCHAR(20))"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP TABLE " + table) })
	herzDB, _ := d.herz(t, dsn, sqlconn.Config{})
	herzControl, _ := d.herz(t, d.dsn(t), sqlconn.Config{})
	for _, side := range []struct {
		name string
		db   *sql.DB
	}{{"control", d.bare(t, d.dsn(t))}, {"herz control", herzControl}, {"bare", d.bare(t, dsn)}, {"herz", herzDB}} {
		ctx := context.Background()
		side.db.SetMaxIdleConns(1)
		c, err := side.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ExecContext(ctx, "SET SESSION TRANSACTION READ ONLY"); err != nil {
			t.Fatal(err)
		}
		c.Close() // the pool's one idle connection is now read-only
		_, err = side.db.ExecContext(ctx, "INSERT INTO "+table+" VALUES (?)", side.name)
		var n int
		if qerr := admin.QueryRow("SELECT COUNT(*) FROM "+table+" WHERE k = ?", side.name).Scan(&n); qerr != nil {
			t.Fatal(qerr)
		}
		t.Logf("%s: INSERT on a read-only session: err %v, rows %d", side.name, err, n)
		if strings.HasSuffix(side.name, "control") {
			// Without rejectReadOnly the read-only error reaches the caller:
			// the INSERT did go to the read-only session.
			var me *mysql.MySQLError
			if !errors.As(err, &me) || n != 0 {
				t.Fatalf("control without rejectReadOnly: %v, %d rows; want the server's read-only error", err, n)
			}
			continue
		}
		if err != nil || n != 1 {
			t.Errorf("%s: INSERT: %v, %d rows, want it retried on a new connection: nil, 1 row", side.name, err, n)
		}
	}
}

// hangingServer accepts connections and never answers.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// errShape describes what callers test on an error.
func errShape(err error) string {
	var multi interface{ Unwrap() []error }
	one := errors.Unwrap(err)
	_, oneMulti := one.(interface{ Unwrap() []error })
	return fmt.Sprintf("type %T, ==Canceled %v, Is(Canceled) %v, ==DeadlineExceeded %v, Is(DeadlineExceeded) %v, As(multi) %v, Unwrap() %T (multi %v)",
		err, err == context.Canceled, errors.Is(err, context.Canceled), err == context.DeadlineExceeded,
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &multi), one, oneMulti)
}

// TestConnectErrorsAsTheDriver: what callers test on a connect error with
// the plain driver holds through herz: a connect cancelled by the caller
// (==, errors.Is, the driver's type), lib/pq's multi-host error one
// errors.Unwrap away, and an invalid lib/pq DSN failing at first use, not
// at Open.
func TestConnectErrorsAsTheDriver(t *testing.T) {
	t.Run("cancelled", func(t *testing.T) {
		for _, d := range drivers {
			if d.name == "pq" {
				// lib/pq ignores the context once connected: its startup
				// waits on a silent server for ever, bare or through herz.
				continue
			}
			t.Run(d.name, func(t *testing.T) {
				t.Parallel()
				dsn := withHost(t, d.dsn(t), hangingServer(t), d.mysql)
				bare := d.bare(t, dsn)
				herz, _ := d.herz(t, dsn, sqlconn.Config{})
				shape := func(db *sql.DB) string {
					ctx, cancel := context.WithCancel(context.Background())
					time.AfterFunc(100*time.Millisecond, cancel)
					err := db.PingContext(ctx)
					return errShape(err)
				}
				b, h := shape(bare), shape(herz)
				t.Logf("%s cancelled connect:\n bare %s\n herz %s", d.name, b, h)
				if b != h {
					t.Errorf("herz's error is shaped differently:\n herz %s\n bare %s", h, b)
				}
			})
		}
	})
	t.Run("pq multi-host", func(t *testing.T) {
		t.Parallel()
		dsn := "host=127.0.0.1,127.0.0.1 port=1,2 user=u dbname=db sslmode=disable"
		bare, err := sql.Open("postgres", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer bare.Close()
		herz, err := pqconn.Open(dsn, sqlconn.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer herz.Close()
		b, h := errShape(bare.Ping()), errShape(herz.Ping())
		t.Logf("lib/pq multi-host refused:\n bare %s\n herz %s", b, h)
		if b != h {
			t.Errorf("herz's error is shaped differently:\n herz %s\n bare %s", h, b)
		}
	})
	t.Run("pq invalid DSN", func(t *testing.T) {
		t.Parallel()
		const dsn = "host=127.0.0.1 port=notaport"
		bare, bareOpenErr := sql.Open("postgres", dsn)
		herz, herzOpenErr := pqconn.Open(dsn, sqlconn.Config{})
		if (bareOpenErr == nil) != (herzOpenErr == nil) {
			t.Fatalf("Open: herz %v, bare %v", herzOpenErr, bareOpenErr)
		}
		if bare == nil || herz == nil {
			return
		}
		defer bare.Close()
		defer herz.Close()
		be, he := bare.Ping(), herz.Ping()
		t.Logf("invalid DSN at first use: bare %v, herz %v", be, he)
		if be == nil || he == nil || be.Error() != he.Error() {
			t.Errorf("first use: herz %v, bare %v", he, be)
		}
	})
}

// TestRawLegacyInterfaces: the connection sql.Conn.Raw passes has every
// optional interface the driver's own has, the legacy driver.Execer and
// driver.Queryer included, and sqlconn.Inner gives code that asserts the
// driver's type what it asserts, with the plain driver and through herz.
func TestRawLegacyInterfaces(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			dsn := d.dsn(t)
			bare := d.bare(t, dsn)
			herz, _ := d.herz(t, dsn, sqlconn.Config{})
			var bareType reflect.Type
			for _, db := range []*sql.DB{bare, herz} {
				c, err := db.Conn(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				err = c.Raw(func(dc any) error {
					inner := sqlconn.Inner(dc)
					if db == bare {
						bareType = reflect.TypeOf(inner)
						return nil
					}
					if reflect.TypeOf(inner) != bareType {
						t.Errorf("Inner gave %T, the plain driver's Raw gives %v", inner, bareType)
					}
					for _, iface := range []struct {
						name          string
						inner, herzOK bool
					}{
						{"Execer", is[driver.Execer](inner), is[driver.Execer](dc)},    //nolint:staticcheck
						{"Queryer", is[driver.Queryer](inner), is[driver.Queryer](dc)}, //nolint:staticcheck
						{"ExecerContext", is[driver.ExecerContext](inner), is[driver.ExecerContext](dc)},
						{"QueryerContext", is[driver.QueryerContext](inner), is[driver.QueryerContext](dc)},
						{"Pinger", is[driver.Pinger](inner), is[driver.Pinger](dc)},
						{"SessionResetter", is[driver.SessionResetter](inner), is[driver.SessionResetter](dc)},
						{"Validator", is[driver.Validator](inner), is[driver.Validator](dc)},
						{"NamedValueChecker", is[driver.NamedValueChecker](inner), is[driver.NamedValueChecker](dc)},
						{"ConnBeginTx", is[driver.ConnBeginTx](inner), is[driver.ConnBeginTx](dc)},
						{"ConnPrepareContext", is[driver.ConnPrepareContext](inner), is[driver.ConnPrepareContext](dc)},
					} {
						if iface.inner && !iface.herzOK {
							t.Errorf("the driver's connection is a driver.%s, herz's is not", iface.name)
						}
					}
					// The legacy path works through herz's connection.
					q, ok := dc.(driver.Queryer) //nolint:staticcheck
					if !ok {
						return nil
					}
					rows, err := q.Query("SELECT 5", nil)
					if errors.Is(err, driver.ErrSkip) {
						return nil // as the driver answers
					}
					if err != nil {
						t.Errorf("legacy Query: %v", err)
						return nil
					}
					defer rows.Close()
					dest := make([]driver.Value, 1)
					if err := rows.Next(dest); err != nil {
						t.Errorf("legacy Query: Next: %v", err)
					}
					return nil
				})
				c.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// recordingProxy forwards 127.0.0.1:port to target and keeps every byte the
// clients sent.
func recordingProxy(t *testing.T, target string) (addr string, sent func() string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Go(func() { io.Copy(&recConn{Conn: up, r: rec}, c); up.Close() })
			wg.Go(func() { io.Copy(c, up); c.Close() })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), rec.sentText
}

// TestNoQueryTheApplicationDidNotSend: through herz with the default Config,
// the bytes the client sends carry no query the application did not send (no
// idle-timeout lookup: pg_settings, wait_timeout), as with the bare driver;
// a server that cannot answer one is never asked.
func TestNoQueryTheApplicationDidNotSend(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			dsn := d.dsn(t)
			target := "127.0.0.1:5432"
			if d.mysql {
				target = "127.0.0.1:3306"
			}
			bareAddr, bareSent := recordingProxy(t, target)
			herzAddr, herzSent := recordingProxy(t, target)
			bare := d.bare(t, withHost(t, dsn, bareAddr, d.mysql))
			herz, _ := d.herz(t, withHost(t, dsn, herzAddr, d.mysql), sqlconn.Config{})
			for _, db := range []*sql.DB{bare, herz} {
				if n, err := queries(db, 4, true); n != 0 {
					t.Fatalf("%d queries failed: %v", n, err)
				}
				db.Close()
			}
			for _, q := range []string{"pg_settings", "wait_timeout"} {
				if strings.Contains(herzSent(), q) && !strings.Contains(bareSent(), q) {
					t.Errorf("herz sent a query the application did not send (%q)", q)
				}
			}
		})
	}
}

// TestIdleHintUnavailableIsNotFatal: an idle hint the server cannot answer
// (a proxy or PostgreSQL-compatible database without pg_settings) costs
// nothing: connections open and queries succeed as with the bare driver.
func TestIdleHintUnavailableIsNotFatal(t *testing.T) {
	t.Parallel()
	d := driverNamed("pgx")
	dsn := d.dsn(t)
	var asked atomic.Int64
	hint := func(ctx context.Context, c driver.Conn) (time.Duration, error) {
		asked.Add(1)
		return sqlconn.PostgresIdleHint(ctx, &noSettings{c})
	}
	bare := d.bare(t, dsn)
	herz, _ := d.herz(t, dsn, sqlconn.Config{IdleHint: hint})
	bareFailed, _ := queries(bare, 8, true)
	herzFailed, herzErr := queries(herz, 8, true)
	t.Logf("idle hint failing on every connection (%d asked): herz %d errors, bare %d", asked.Load(), herzFailed, bareFailed)
	if asked.Load() == 0 {
		t.Fatal("the idle hint never ran: the test is broken")
	}
	if herzFailed > bareFailed {
		t.Errorf("herz %d errors (first %v), bare %d", herzFailed, herzErr, bareFailed)
	}
}

// noSettings is a connection whose server has no pg_settings.
type noSettings struct{ driver.Conn }

func (n *noSettings) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return n.Conn.(driver.QueryerContext).QueryContext(ctx, "SELECT setting FROM no_such_relation_pg_settings", args)
}

// TestWrappedDialVerified: the application's own dial function, on its
// first dial only, connects to a peer that resets at once (the reset lands
// in the connect or on the socket the hook returns, whichever the kernel
// reports first). herz treats the hook's dial as its own: a reset connect is
// retried, a returned socket is verified (SO_ERROR, getpeername) before the
// handshake, and the next dial goes through the same hook: the ping
// succeeds. The bare driver, with the same hook, fails it.
func TestWrappedDialVerified(t *testing.T) {
	t.Parallel()
	d := driverNamed("pgx")
	dsn := d.dsn(t)
	// A listener that resets every connection it accepts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	hook := func(dials *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			var nd net.Dialer
			if dials.Add(1) == 1 {
				c, err := nd.DialContext(ctx, "tcp", ln.Addr().String())
				if err == nil {
					time.Sleep(50 * time.Millisecond) // the RST arrives
				}
				return c, err
			}
			return nd.DialContext(ctx, network, addr)
		}
	}
	var bareDials, herzDials atomic.Int64
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pc.DialFunc = hook(&bareDials)
	bare := closeLater(t, stdlib.OpenDB(*pc))
	hc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	hc.DialFunc = hook(&herzDials)
	c, err := pgxconn.FromConfig(hc, sqlconn.Config{})
	if err != nil {
		t.Fatal(err)
	}
	herz := closeLater(t, sqlconn.OpenDB(c))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bareErr := bare.PingContext(ctx)
	herzErr := herz.PingContext(ctx)
	t.Logf("first dial of the hook returns a reset socket: bare %v (%d dials); herz %v (%d dials)", bareErr, bareDials.Load(), herzErr, herzDials.Load())
	if herzErr != nil {
		t.Errorf("herz: %v, want the dead socket refused and dialed again", herzErr)
	}
	if bareErr == nil {
		t.Log("the bare driver got past the dead socket too (pgx retried on its own)")
	}
}
