package mysqlconn

import (
	"database/sql"
	"fmt"

	"github.com/go-sql-driver/mysql"

	"github.com/herz-go/herz/sqlconn"
)

// Connector returns a wrapped go-sql-driver/mysql connector for dsn.
// cfg.Server defaults to the DSN's address and cfg.IdleHint to
// [sqlconn.MySQLIdleHint].
func Connector(dsn string, cfg sqlconn.Config) (*sqlconn.Connector, error) {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("herz/sqlconn/mysqlconn: %s", sqlconn.Redact(err.Error()))
	}
	return FromConfig(mc, cfg)
}

// FromConfig is [Connector] for a parsed mysql.Config, whose DialFunc it
// sets (mc is modified).
func FromConfig(mc *mysql.Config, cfg sqlconn.Config) (*sqlconn.Connector, error) {
	mc.DialFunc = sqlconn.DialContext
	if cfg.Server == "" {
		cfg.Server = mc.Addr
	}
	if cfg.IdleHint == nil {
		cfg.IdleHint = sqlconn.MySQLIdleHint
	}
	inner, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("herz/sqlconn/mysqlconn: %s", sqlconn.Redact(err.Error()))
	}
	return sqlconn.New(inner, cfg)
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
