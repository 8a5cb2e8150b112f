package drivertest

import (
	"context"
	"strings"
	"testing"

	"github.com/herz-go/herz/sqlconn"
)

// Connector is a sub-package's Connector function.
type Connector func(dsn string, cfg sqlconn.Config) (*sqlconn.Connector, error)

// DialsThroughHerz checks that the connections of connector(dsn) come from
// the herz Dialer (one tracked connection, idle after use) and that the
// pool answers SELECT 1.
func DialsThroughHerz(t *testing.T, connector Connector, dsn string) {
	t.Helper()
	c, err := connector(dsn, sqlconn.Config{})
	if err != nil {
		t.Fatal(err)
	}
	db := sqlconn.OpenDB(c)
	defer db.Close()
	var v int
	if err := db.QueryRowContext(context.Background(), "SELECT 1").Scan(&v); err != nil || v != 1 {
		t.Fatalf("SELECT 1 = %d, %v", v, err)
	}
	st := c.Dialer().Stats()
	if st.Dials == 0 || st.Open != 1 || st.Idle != 1 {
		t.Errorf("dialer stats %v: want one tracked connection, idle after use", st)
	}
}

// BadDSNRedacted checks that connector rejects badDSN, whose password is
// "s3cret", with an error starting with prefix and not showing it.
func BadDSNRedacted(t *testing.T, connector Connector, badDSN, prefix string) {
	t.Helper()
	_, err := connector(badDSN, sqlconn.Config{})
	if err == nil {
		t.Fatal("no error for a bad DSN")
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("error %q: want the %q prefix and no password", err, prefix)
	}
}
