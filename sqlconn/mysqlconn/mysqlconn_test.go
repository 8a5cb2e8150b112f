package mysqlconn_test

import (
	"testing"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/sqlconn/internal/drivertest"
	"github.com/herz-go/herz/sqlconn/mysqlconn"
)

var connector drivertest.Connector = mysqlconn.Connector

// TestDialsThroughHerz: the driver's connections come from the herz
// Dialer (tracked, idle after use), and the pool works.
func TestDialsThroughHerz(t *testing.T) {
	drivertest.DialsThroughHerz(t, connector, testenv.RequireMySQL(t))
}

func TestBadDSNErrorIsRedacted(t *testing.T) {
	drivertest.BadDSNRedacted(t, connector, "u:s3cret@tcp(h:3306)/db?timeout=bogus", "herz/sqlconn/mysqlconn: ")
}
