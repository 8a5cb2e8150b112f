// Package driversuites holds the script (run.sh, `make driver-suites`) that
// runs go-sql-driver/mysql's and lib/pq's own database/sql test suites from
// the module cache twice, plain and with every database they open routed
// through package sqlconn, and reports the tests that pass plain but fail
// through herz. The *.go.txt files are the hooks it adds to a copy of each
// driver module. No Go code of herz imports this package.
package driversuites
