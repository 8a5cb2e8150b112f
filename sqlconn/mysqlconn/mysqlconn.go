package mysqlconn

import (
	"database/sql"
	"fmt"

	"github.com/go-sql-driver/mysql"

	"github.com/herz-go/herz/sqlconn"
)

// Connector returns a wrapped go-sql-driver/mysql connector for dsn (see
// [FromConfig]).
func Connector(dsn string, cfg sqlconn.Config) (*sqlconn.Connector, error) {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("herz/sqlconn/mysqlconn: %s", sqlconn.Redact(err.Error()))
	}
	return FromConfig(mc, cfg)
}

// FromConfig is [Connector] for a parsed mysql.Config (mc is modified).
//
// The driver's dialing goes through herz: a DialFunc already set in mc is
// kept and wrapped ([sqlconn.WrapDial]: it still dials, herz verifies the
// socket it returns); an empty one dials through the connector's Dialer. A
// network registered with mysql.RegisterDialContext (mc.Net not tcp, tcp4,
// tcp6 or unix) is left to the driver, which dials it with the registered
// function: such connections get the bounded ping after
// Config.PingAfterIdle and the lifetime limit instead of the probe.
//
// cfg.Server defaults to the DSN's address, cfg.ConnectTimeout to the DSN's
// timeout (then bounding the whole connect), and with rejectReadOnly=true
// cfg.DeliberateBadConn lets database/sql retry a statement the server
// refused as read-only on a new connection, as the driver intends. No idle
// hint is queried unless cfg.IdleHint is set (for example to
// [sqlconn.MySQLIdleHint]).
func FromConfig(mc *mysql.Config, cfg sqlconn.Config) (*sqlconn.Connector, error) {
	switch mc.Net {
	case "", "tcp", "tcp4", "tcp6", "unix":
		mc.DialFunc = sqlconn.WrapDial(mc.DialFunc)
	default:
		if mc.DialFunc != nil {
			mc.DialFunc = sqlconn.WrapDial(mc.DialFunc)
		}
	}
	if cfg.Server == "" {
		cfg.Server = mc.Addr
	}
	if cfg.ConnectTimeout == 0 && mc.Timeout > 0 {
		cfg.ConnectTimeout = mc.Timeout
	}
	if mc.RejectReadOnly && cfg.DeliberateBadConn == nil {
		// After a write, go-sql-driver returns driver.ErrBadConn only for the
		// read-only errors rejectReadOnly names (1290, 1792, 1836): the
		// server answered, and refused the statement.
		cfg.DeliberateBadConn = rejectedReadOnly
	}
	inner, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("herz/sqlconn/mysqlconn: %s", sqlconn.Redact(err.Error()))
	}
	return sqlconn.New(inner, cfg)
}

func rejectedReadOnly(error) bool { return true }

// Open opens a database/sql pool on [Connector]; sql.DB.Close closes the
// connector and its Dialer.
func Open(dsn string, cfg sqlconn.Config) (*sql.DB, error) {
	c, err := Connector(dsn, cfg)
	if err != nil {
		return nil, err
	}
	return sqlconn.OpenDB(c), nil
}
