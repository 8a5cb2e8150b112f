package pgxconn_test

import (
	"testing"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/internal/drivertest"
	"github.com/herz-go/herz/sqlconn/pgxconn"
)

var connector drivertest.Connector = func(dsn string, cfg sqlconn.Config) (*sqlconn.Connector, error) { return pgxconn.Connector(dsn, cfg) }

// TestDialsThroughHerz: the driver's connections come from the herz
// Dialer (tracked, idle after use), and the pool works.
func TestDialsThroughHerz(t *testing.T) {
	drivertest.DialsThroughHerz(t, connector, testenv.RequirePG(t))
}

func TestBadDSNErrorIsRedacted(t *testing.T) {
	drivertest.BadDSNRedacted(t, connector, "postgres://u:s3cret@h:5432/db?sslmode=bogus", "herz/sqlconn/pgxconn: ")
}
