package sqlconn_test

import (
	"context"
	"database/sql"
	"runtime"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/sqlconn"
)

// benchPair runs op on the bare and the herz pool in alternating chunks of
// the same run, and reports each one's ns/op, the overhead and the ratio.
func benchPair(b *testing.B, bare, herz *sql.DB, op func(db *sql.DB) error) {
	b.Helper()
	const chunk = 200
	var (
		tBare, tHerz time.Duration
		aBare, aHerz uint64
		ms           runtime.MemStats
	)
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for n < b.N {
		k := min(chunk, b.N-n)
		for i, db := range []*sql.DB{bare, herz} {
			if n/chunk%2 == 1 { // alternate which side runs first
				db = []*sql.DB{herz, bare}[i]
			}
			runtime.ReadMemStats(&ms)
			m0 := ms.Mallocs
			start := time.Now()
			for range k {
				if err := op(db); err != nil {
					b.Fatal(err)
				}
			}
			el := time.Since(start)
			runtime.ReadMemStats(&ms)
			if db == bare {
				tBare += el
				aBare += ms.Mallocs - m0
			} else {
				tHerz += el
				aHerz += ms.Mallocs - m0
			}
		}
		n += k
	}
	b.StopTimer()
	bareNs := float64(tBare.Nanoseconds()) / float64(b.N)
	herzNs := float64(tHerz.Nanoseconds()) / float64(b.N)
	b.ReportMetric(bareNs, "bare-ns/op")
	b.ReportMetric(herzNs, "herz-ns/op")
	b.ReportMetric(herzNs-bareNs, "overhead-ns/op")
	b.ReportMetric(herzNs/bareNs, "herz/bare")
	b.ReportMetric(float64(aBare)/float64(b.N), "bare-allocs/op")
	b.ReportMetric(float64(aHerz)/float64(b.N), "herz-allocs/op")
}

// BenchmarkWrapperOverhead measures what the wrapper adds to a query
// through database/sql, without a network: the fake driver answers at once.
// allocs/op counts both sides; the herz-only difference is the overhead.
func BenchmarkWrapperOverhead(b *testing.B) {
	bare := sql.OpenDB(&fakeConnector{})
	defer bare.Close()
	c, err := sqlconn.New(&fakeConnector{}, sqlconn.Config{PingAfterIdle: -1})
	if err != nil {
		b.Fatal(err)
	}
	herz := sqlconn.OpenDB(c)
	defer herz.Close()
	ctx := context.Background()
	benchPair(b, bare, herz, func(db *sql.DB) error {
		_, err := db.ExecContext(ctx, "x")
		return err
	})
}

// BenchmarkQueryContext: `SELECT 1` through pgx/v5 stdlib on the local
// PostgreSQL, bare and wrapped by herz (probe at every checkout), same run.
func BenchmarkQueryContext(b *testing.B) {
	for _, name := range []string{"pgx", "mysql"} {
		b.Run(name, func(b *testing.B) {
			d := driverNamed(name)
			dsn := benchDSN(b, d)
			bare := d.bare(b, dsn)
			herz, _ := d.herz(b, dsn, sqlconn.Config{})
			ctx := context.Background()
			benchPair(b, bare, herz, func(db *sql.DB) error {
				var v int
				return db.QueryRowContext(ctx, "SELECT 1").Scan(&v)
			})
		})
	}
}

// BenchmarkCheckout: take a pooled connection and give it back
// (sql.DB.Conn + Close) with no round trip: on herz that is ResetSession
// (CheckIdle with its MSG_PEEK probe, Lend) and IsValid (Return).
func BenchmarkCheckout(b *testing.B) {
	d := driverNamed("pgx")
	dsn := benchDSN(b, d)
	bare := d.bare(b, dsn)
	herz, c := d.herz(b, dsn, sqlconn.Config{})
	ctx := context.Background()
	op := func(db *sql.DB) error {
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	_ = op(bare)
	_ = op(herz)
	probes0 := sumProbes(c)
	benchPair(b, bare, herz, op)
	b.ReportMetric(float64(sumProbes(c)-probes0)/float64(b.N), "probes/checkout")
}

func sumProbes(c *sqlconn.Connector) uint64 {
	var n uint64
	for _, v := range c.Dialer().Stats().Probes {
		n += v
	}
	return n
}

func benchDSN(b *testing.B, d dbDriver) string {
	if d.mysql {
		dsn := testenv.RequireMySQL(b)
		return dsn + "?checkConnLiveness=false"
	}
	return testenv.RequirePG(b)
}
