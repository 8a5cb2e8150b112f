package pgxconn

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"reflect"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/herz-go/herz/sqlconn"
)

// Connector returns a wrapped pgx connector for dsn (any form pgx.ParseConfig
// accepts); see [FromConfig].
func Connector(dsn string, cfg sqlconn.Config, opts ...stdlib.OptionOpenDB) (*sqlconn.Connector, error) {
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("herz/sqlconn/pgxconn: %s", sqlconn.Redact(err.Error()))
	}
	return FromConfig(pc, cfg, opts...)
}

// FromConfig returns a wrapped pgx connector for pc (which is modified).
//
// The dial function pgx.ParseConfig put in pc.DialFunc is replaced by
// herz's Dialer; one the application set instead is kept and wrapped
// ([sqlconn.WrapDial]: it still dials, herz verifies the socket it
// returns). cfg.Server defaults to the first host:port and cfg.ConnectTimeout
// to pc.ConnectTimeout (the DSN's connect_timeout, then bounding the whole
// connect). No idle hint is queried unless cfg.IdleHint is set (for example
// to [sqlconn.PostgresIdleHint]). opts are passed to stdlib.GetConnector
// after this package's own, which turns pgx's unbounded reuse ping off:
// sqlconn probes, and pings within Config.PingTimeout after
// Config.PingAfterIdle.
func FromConfig(pc *pgx.ConnConfig, cfg sqlconn.Config, opts ...stdlib.OptionOpenDB) (*sqlconn.Connector, error) {
	if isDefaultDial(pc.DialFunc) {
		pc.DialFunc = sqlconn.DialContext
	} else {
		pc.DialFunc = sqlconn.WrapDial(pc.DialFunc)
	}
	if cfg.Server == "" {
		cfg.Server = net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port)))
	}
	if cfg.ConnectTimeout == 0 && pc.ConnectTimeout > 0 {
		cfg.ConnectTimeout = pc.ConnectTimeout
	}
	all := append([]stdlib.OptionOpenDB{stdlib.OptionShouldPing(noPing)}, opts...)
	return sqlconn.New(stdlib.GetConnector(*pc, all...), cfg)
}

// defaultDial is the code of the dial function pgx.ParseConfig sets (a
// net.Dialer's DialContext method value).
var defaultDial = func() uintptr {
	pc, err := pgx.ParseConfig("")
	if err != nil || pc.DialFunc == nil {
		return 0
	}
	return reflect.ValueOf(pc.DialFunc).Pointer()
}()

// isDefaultDial reports whether f is nil or pgx's own default dial function.
func isDefaultDial(f func(ctx context.Context, network, addr string) (net.Conn, error)) bool {
	return f == nil || reflect.ValueOf(f).Pointer() == defaultDial
}

func noPing(context.Context, stdlib.ShouldPingParams) bool { return false }

// Open opens a database/sql pool on [Connector]; sql.DB.Close closes the
// connector and its Dialer.
func Open(dsn string, cfg sqlconn.Config, opts ...stdlib.OptionOpenDB) (*sql.DB, error) {
	c, err := Connector(dsn, cfg, opts...)
	if err != nil {
		return nil, err
	}
	return sqlconn.OpenDB(c), nil
}
