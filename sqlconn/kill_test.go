package sqlconn_test

import (
	"context"
	"testing"
	"time"

	"github.com/herz-go/herz/sqlconn"
)

// TestQueriesAfterIdleBackendsKilled is P6: warm a pool, kill every idle
// backend of this process (pg_terminate_backend, KILL), then 1,000 queries
// at once and one after the other, after an idle age below and above 1s.
// herz must show 0 caller-visible errors; the bare driver's figure, measured
// alongside on the same server, must not be better.
func TestQueriesAfterIdleBackendsKilled(t *testing.T) {
	const (
		poolSize = 4
		nQueries = 1000
	)
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			dsn := d.dsn(t)
			admin := adminFor(t, d, dsn)
			for _, idle := range []time.Duration{0, 1200 * time.Millisecond} {
				for _, concurrent := range []bool{true, false} {
					name := map[bool]string{true: "at-once", false: "sequential"}[concurrent] + "/idle-" + idle.String()
					t.Run(name, func(t *testing.T) {
						bare := d.bare(t, dsn)
						herz, c := d.herz(t, dsn, sqlconn.Config{})
						warm(t, bare, poolSize)
						warm(t, herz, poolSize)
						ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
						defer cancel()
						killed, err := d.kill(ctx, admin)
						if err != nil {
							t.Fatal(err)
						}
						if killed < 2*poolSize {
							t.Fatalf("killed %d sessions, want >= %d", killed, 2*poolSize)
						}
						time.Sleep(idle)
						herzFailed, herzErr := queries(herz, nQueries, concurrent)
						bareFailed, bareErr := queries(bare, nQueries, concurrent)
						t.Logf("%s %s: caller-visible errors: herz %d/%d, bare %s %d/%d (first: %v); herz dialer: %v",
							d.name, name, herzFailed, nQueries, d.name, bareFailed, nQueries, bareErr, c.Dialer().Stats())
						if herzFailed != 0 {
							t.Errorf("herz: %d caller-visible errors, want 0; first: %v", herzFailed, herzErr)
						}
						if herzFailed > bareFailed {
							t.Errorf("herz (%d errors) worse than the bare driver (%d)", herzFailed, bareFailed)
						}
					})
				}
			}
		})
	}
}
