package pqconn_test

import (
	"context"
	"strings"
	"testing"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/pqconn"
)

// TestDialsThroughHerz: the driver's connections come from the herz
// Dialer (tracked, idle after use), and the pool works.
func TestDialsThroughHerz(t *testing.T) {
	dsn := testenv.RequirePG(t)
	c, err := pqconn.Connector(dsn, sqlconn.Config{})
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

func TestBadDSNErrorIsRedacted(t *testing.T) {
	_, err := pqconn.Connector("postgres://u:s3cret@h:5432/db?sslmode=bogus", sqlconn.Config{})
	if err == nil {
		t.Fatal("no error for a bad DSN")
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.HasPrefix(err.Error(), "herz/sqlconn/pqconn: ") {
		t.Errorf("error %q: want the herz/sqlconn/pqconn prefix and no password", err)
	}
}
