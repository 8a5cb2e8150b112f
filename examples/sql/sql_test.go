package main

import (
	"bytes"
	"io"
	"log"
	"regexp"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/herz-go/herz/internal/testenv"
)

// TestRunPG runs the PostgreSQL half of the example: herz's pool answers
// every query after the kill (the bare pool's failures are what it shows).
func TestRunPG(t *testing.T) {
	dsn := testenv.RequirePG(t)
	var out bytes.Buffer
	if err := runPG(&out, dsn); err != nil {
		t.Fatalf("runPG: %v\n%s", err, out.String())
	}
	checkHerzClean(t, out.String(), "pgx + herz")
}

// TestRunMySQL is TestRunPG for MariaDB.
func TestRunMySQL(t *testing.T) {
	dsn := testenv.RequireMySQL(t)
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	var out bytes.Buffer
	if err := runMySQL(&out, dsn+"?checkConnLiveness=false"); err != nil {
		t.Fatalf("runMySQL: %v\n%s", err, out.String())
	}
	checkHerzClean(t, out.String(), "mysql + herz")
}

// checkHerzClean: herz's pool failed no query, and so was not worse than
// the bare driver's in the same run.
func checkHerzClean(t *testing.T, out, herzLine string) {
	t.Helper()
	if !strings.Contains(out, "terminated") && !strings.Contains(out, "killed") {
		t.Errorf("no sessions were killed:\n%s", out)
	}
	m := regexp.MustCompile(regexp.QuoteMeta(herzLine) + `\s+(\d+) of (\d+) queries failed`).FindStringSubmatch(out)
	if m == nil || m[1] != "0" {
		t.Errorf("herz's pool had failures:\n%s", out)
	}
}
