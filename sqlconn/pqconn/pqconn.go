package pqconn

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"time"

	"github.com/lib/pq"

	"github.com/herz-go/herz/internal/telemetry"
	"github.com/herz-go/herz/sqlconn"
)

// dialer is lib/pq's Dialer (and DialerContext) on sqlconn.DialContext.
type dialer struct{}

func (dialer) Dial(network, address string) (net.Conn, error) {
	return sqlconn.DialContext(context.Background(), network, address)
}

func (dialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return sqlconn.DialContext(ctx, network, address)
}

func (dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return sqlconn.DialContext(ctx, network, address)
}

// Connector returns a wrapped lib/pq connector for dsn (URL or keyword
// form). cfg.Server defaults to the DSN's first host:port and cfg.IdleHint
// to [sqlconn.PostgresIdleHint].
func Connector(dsn string, cfg sqlconn.Config) (*sqlconn.Connector, error) {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("herz/sqlconn/pqconn: %s", sqlconn.Redact(err.Error()))
	}
	c.Dialer(dialer{})
	if cfg.Server == "" {
		cfg.Server = telemetry.Peer(dsn)
	}
	if cfg.IdleHint == nil {
		cfg.IdleHint = sqlconn.PostgresIdleHint
	}
	return sqlconn.New(c, cfg)
}

// Open opens a database/sql pool on [Connector]; sql.DB.Close closes the
// connector and its Dialer.
func Open(dsn string, cfg sqlconn.Config) (*sql.DB, error) {
	c, err := Connector(dsn, cfg)
	if err != nil {
		return nil, err
	}
	return sqlconn.OpenDB(c), nil
}
