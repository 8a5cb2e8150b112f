package sqlconn_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"testing"

	"github.com/herz-go/herz/sqlconn"
)

// TestDriverFeaturesKept checks, per driver, that a wrapped connection
// behaves as the bare one wherever the driver's optional interfaces show:
// arguments only the driver's NamedValueChecker accepts, column types
// (RowsColumnType*), prepared statements, transactions with options
// (ConnBeginTx), Ping, and reaching the driver's connection through
// sql.Conn.Raw and sqlconn.Inner.
func TestDriverFeaturesKept(t *testing.T) {
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			dsn := d.dsn(t)
			bare := d.bare(t, dsn)
			herz, _ := d.herz(t, dsn, sqlconn.Config{})
			want := features(t, bare, d.mysql)
			got := features(t, herz, d.mysql)
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("herz: %s\n bare: %s", got[i], want[i])
				}
			}
			t.Logf("%s: %d behaviours identical:\n%s", d.name, len(want), strings.Join(want, "\n"))

			conn, err := herz.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = conn.Raw(func(dc any) error {
				for _, iface := range []struct {
					name string
					ok   bool
				}{
					{"Validator", is[driver.Validator](dc)},
					{"SessionResetter", is[driver.SessionResetter](dc)},
					{"Pinger", is[driver.Pinger](dc)},
					{"QueryerContext", is[driver.QueryerContext](dc)},
					{"ExecerContext", is[driver.ExecerContext](dc)},
					{"ConnPrepareContext", is[driver.ConnPrepareContext](dc)},
					{"ConnBeginTx", is[driver.ConnBeginTx](dc)},
					{"NamedValueChecker", is[driver.NamedValueChecker](dc)},
				} {
					if !iface.ok {
						t.Errorf("wrapped connection is not a driver.%s", iface.name)
					}
				}
				inner := sqlconn.Inner(dc)
				if inner == dc || strings.Contains(fmt.Sprintf("%T", inner), "sqlconn") {
					t.Errorf("Inner returned %T, want the driver's connection", inner)
				}
				t.Logf("%s: inner connection %T", d.name, inner)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func is[T any](v any) bool { _, ok := v.(T); return ok }

// features runs the same operations on db and describes each outcome.
func features(t *testing.T, db *sql.DB, isMySQL bool) []string {
	t.Helper()
	ctx := context.Background()
	ph := func(n int) string {
		if isMySQL {
			return "?"
		}
		return fmt.Sprintf("$%d", n)
	}
	var out []string
	add := func(name string, v any, err error) {
		out = append(out, fmt.Sprintf("%s: %v (err %v)", name, v, err))
	}
	// An argument type only a driver's NamedValueChecker accepts.
	var s string
	err := db.QueryRowContext(ctx, "SELECT CAST("+ph(1)+" AS CHAR(30))", uint64(1<<63)).Scan(&s)
	if !isMySQL {
		err = db.QueryRowContext(ctx, "SELECT "+ph(1)+"::numeric::text", uint64(1<<63)).Scan(&s)
	}
	add("uint64 high bit", s, err)
	if !isMySQL {
		var arr string
		err = db.QueryRowContext(ctx, "SELECT "+ph(1)+"::int[]::text", []int32{1, 2}).Scan(&arr)
		add("[]int32", arr, err)
	}
	// Column types.
	rows, err := db.QueryContext(ctx, "SELECT 1 AS a, 'x' AS b")
	if err == nil {
		cts, cerr := rows.ColumnTypes()
		for _, ct := range cts {
			n, nok := ct.Nullable()
			l, lok := ct.Length()
			add("column "+ct.Name(), fmt.Sprint(ct.DatabaseTypeName(), ct.ScanType(), n, nok, l, lok), cerr)
		}
		rows.Close()
	} else {
		add("column types", nil, err)
	}
	// Prepared statement.
	st, err := db.PrepareContext(ctx, "SELECT "+ph(1))
	if err == nil {
		var v string
		err = st.QueryRowContext(ctx, "7").Scan(&v)
		add("prepared", v, err)
		st.Close()
	} else {
		add("prepare", nil, err)
	}
	// Transaction options.
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable, ReadOnly: true})
	if err == nil {
		var v int
		err = tx.QueryRowContext(ctx, "SELECT 1").Scan(&v)
		add("serializable read-only tx", v, err)
		add("rollback", nil, tx.Rollback())
	} else {
		add("begin", nil, err)
	}
	add("ping", nil, db.PingContext(ctx))
	return out
}
