package drivertest_test

import (
	"testing"

	"github.com/herz-go/herz/sqlconn/internal/drivertest"
	"github.com/herz-go/herz/sqlconn/mysqlconn"
)

// A driver sub-package runs the shared checks from its own tests with its
// Connector function; the DSN comes from the environment
// (testenv.RequireMySQL here).
func ExampleDialsThroughHerz() {
	_ = func(t *testing.T, dsn string) {
		drivertest.DialsThroughHerz(t, mysqlconn.Connector, dsn)
		drivertest.BadDSNRedacted(t, mysqlconn.Connector,
			"u:s3cret@tcp(127.0.0.1:3306)/db?bogus=%zz", "herz/sqlconn/mysqlconn: ")
	}
}
