// Package drivertest holds the checks every sqlconn driver sub-package runs
// in its tests (pgxconn, pqconn, mysqlconn). Only tests import it.
package drivertest
