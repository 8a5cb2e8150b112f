package sqlconn

import (
	"context"
	"database/sql/driver"
)

// stmt wraps a prepared statement so that an error after the statement was
// sent never becomes driver.ErrBadConn. The rows it returns are the
// driver's own.
type stmt struct {
	c     *conn
	inner driver.Stmt
}

// stmtCC is a stmt whose driver statement is a driver.ColumnConverter:
// database/sql looks for that interface, so it is kept only when present.
type stmtCC struct{ *stmt }

func wrapStmt(c *conn, s driver.Stmt) driver.Stmt {
	w := &stmt{c: c, inner: s}
	if _, ok := s.(driver.ColumnConverter); ok { //nolint:staticcheck // kept for drivers that have it
		return stmtCC{w}
	}
	return w
}

// ColumnConverter implements driver.ColumnConverter with the driver's.
func (s stmtCC) ColumnConverter(idx int) driver.ValueConverter {
	return s.inner.(driver.ColumnConverter).ColumnConverter(idx) //nolint:staticcheck // see wrapStmt
}

// Close implements driver.Stmt.
func (s *stmt) Close() error { return s.inner.Close() }

// NumInput implements driver.Stmt.
func (s *stmt) NumInput() int { return s.inner.NumInput() }

// Exec implements driver.Stmt (legacy).
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	before := s.c.written()
	res, err := s.inner.Exec(args) //nolint:staticcheck // legacy entry point
	return res, s.c.guard(err, before)
}

// Query implements driver.Stmt (legacy).
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	before := s.c.written()
	rows, err := s.inner.Query(args) //nolint:staticcheck // legacy entry point
	return rows, s.c.guard(err, before)
}

// ExecContext implements driver.StmtExecContext.
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if err := s.c.use(ctx); err != nil {
		return nil, err
	}
	before := s.c.written()
	var (
		res driver.Result
		err error
	)
	if e, ok := s.inner.(driver.StmtExecContext); ok {
		res, err = e.ExecContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = legacyArgs(ctx, args); err != nil {
			return nil, err
		}
		res, err = s.inner.Exec(vals) //nolint:staticcheck // legacy drivers
	}
	return res, s.c.guard(err, before)
}

// QueryContext implements driver.StmtQueryContext.
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if err := s.c.use(ctx); err != nil {
		return nil, err
	}
	before := s.c.written()
	var (
		rows driver.Rows
		err  error
	)
	if q, ok := s.inner.(driver.StmtQueryContext); ok {
		rows, err = q.QueryContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = legacyArgs(ctx, args); err != nil {
			return nil, err
		}
		rows, err = s.inner.Query(vals) //nolint:staticcheck // legacy drivers
	}
	return rows, s.c.guard(err, before)
}

// CheckNamedValue implements driver.NamedValueChecker: the statement's,
// else the connection's (the order database/sql uses), else driver.ErrSkip.
func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := s.inner.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return s.c.CheckNamedValue(nv)
}
