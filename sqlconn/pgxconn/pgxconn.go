package pgxconn

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/herz-go/herz/sqlconn"
)

// Connector returns a wrapped pgx connector for dsn (any form pgx.ParseConfig
// accepts). cfg.Server defaults to the DSN's first host:port and
// cfg.IdleHint to [sqlconn.PostgresIdleHint]. opts are passed to
// stdlib.GetConnector after this package's own (which turns pgx's
// unbounded reuse ping off: sqlconn probes, and pings within
// Config.PingTimeout after Config.PingAfterIdle).
func Connector(dsn string, cfg sqlconn.Config, opts ...stdlib.OptionOpenDB) (*sqlconn.Connector, error) {
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("herz/sqlconn/pgxconn: %s", sqlconn.Redact(err.Error()))
	}
	pc.DialFunc = sqlconn.DialContext
	if cfg.Server == "" {
		cfg.Server = net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port)))
	}
	if cfg.IdleHint == nil {
		cfg.IdleHint = sqlconn.PostgresIdleHint
	}
	all := append([]stdlib.OptionOpenDB{stdlib.OptionShouldPing(noPing)}, opts...)
	return sqlconn.New(stdlib.GetConnector(*pc, all...), cfg)
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
