package pqconn

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net"
	"time"

	"github.com/lib/pq"

	"github.com/herz-go/herz/internal/telemetry"
	"github.com/herz-go/herz/sqlconn"
)

// dialer is lib/pq's Dialer (and DialerContext) on dial: sqlconn.DialContext
// or the application's own dialer wrapped by sqlconn.WrapDial.
type dialer struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (d dialer) Dial(network, address string) (net.Conn, error) {
	return d.dial(context.Background(), network, address)
}

func (d dialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.dial(ctx, network, address)
}

func (d dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return d.dial(ctx, network, address)
}

// userDial turns the application's lib/pq Dialer into a context dial
// function, the way lib/pq calls it.
func userDial(d pq.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dc, ok := d.(pq.DialerContext); ok {
		return dc.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dl, ok := ctx.Deadline(); ok {
			return d.DialTimeout(network, addr, time.Until(dl))
		}
		return d.Dial(network, addr)
	}
}

// Connector returns a wrapped lib/pq connector for dsn (URL or keyword
// form); see [FromConfig]. An invalid dsn is an error here, as it is for
// pq.NewConnector.
func Connector(dsn string, cfg sqlconn.Config) (*sqlconn.Connector, error) {
	pc, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("herz/sqlconn/pqconn: %s", sqlconn.Redact(err.Error()))
	}
	if cfg.Server == "" {
		cfg.Server = telemetry.Peer(dsn)
	}
	return FromConfig(pc, nil, cfg)
}

// FromConfig returns a wrapped lib/pq connector for pc. d is the
// application's own lib/pq Dialer, or nil: a dialer given is kept and
// wrapped ([sqlconn.WrapDial]: it still dials, herz verifies the socket it
// returns); nil dials through the connector's herz Dialer. cfg.Server
// defaults to pc's host:port and cfg.ConnectTimeout to pc.ConnectTimeout
// (the DSN's connect_timeout, then bounding the whole connect, every host
// included). No idle hint is queried unless cfg.IdleHint is set (for example
// to [sqlconn.PostgresIdleHint]).
func FromConfig(pc pq.Config, d pq.Dialer, cfg sqlconn.Config) (*sqlconn.Connector, error) {
	c, err := pq.NewConnectorConfig(pc)
	if err != nil {
		return nil, fmt.Errorf("herz/sqlconn/pqconn: %s", sqlconn.Redact(err.Error()))
	}
	if d == nil {
		c.Dialer(dialer{dial: sqlconn.DialContext})
	} else {
		c.Dialer(dialer{dial: sqlconn.WrapDial(userDial(d))})
	}
	if cfg.Server == "" {
		host := pc.Host
		if host == "" {
			host = "localhost"
		}
		cfg.Server = net.JoinHostPort(host, fmt.Sprint(pc.Port))
	}
	if cfg.ConnectTimeout == 0 && pc.ConnectTimeout > 0 {
		cfg.ConnectTimeout = pc.ConnectTimeout
	}
	return sqlconn.New(c, cfg)
}

// Open opens a database/sql pool on [Connector]; sql.DB.Close closes the
// connector and its Dialer. Like sql.Open with lib/pq, an invalid dsn is not
// an error here: every connect returns lib/pq's error for it, at first use.
func Open(dsn string, cfg sqlconn.Config) (*sql.DB, error) {
	c, err := Connector(dsn, cfg)
	if err != nil {
		if _, perr := pq.NewConfig(dsn); perr != nil {
			return sql.OpenDB(failing{err: perr}), nil
		}
		return nil, err
	}
	return sqlconn.OpenDB(c), nil
}

// failing is the connector of a DSN lib/pq cannot parse: it fails every
// connect with lib/pq's own error, as sql.Open("postgres", dsn) does.
type failing struct{ err error }

func (f failing) Connect(context.Context) (driver.Conn, error) { return nil, f.err }
func (f failing) Driver() driver.Driver                        { return pq.Driver{} }
