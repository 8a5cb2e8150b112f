package benchmarks_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herz-go/herz/faultlab"
)

// defaultSoak is the duration of one scenario × client run when HERZ_SOAK
// is not set: short, so that `make bench` stays fast. `make soak` sets it
// long.
const defaultSoak = 2 * time.Second

// soakDuration reads HERZ_SOAK (a Go duration).
func soakDuration(tb testing.TB) time.Duration {
	v := os.Getenv("HERZ_SOAK")
	if v == "" {
		return defaultSoak
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("HERZ_SOAK=%q: want a positive Go duration such as 30s", v)
	}
	return d
}

// idleTimeout is the servers' keep-alive idle timeout in the idle-close
// scenarios (P4): requests are spaced around it.
const idleTimeout = 30 * time.Millisecond

// httpScenarios are the HTTP soak scenarios, in the order they run: the
// public faultlab scenarios, exactly as a user runs them.
func httpScenarios(d time.Duration) []faultlab.Scenario {
	scs := []faultlab.Scenario{
		faultlab.IdleCloseRace(faultlab.POSTs, idleTimeout), // P4
		faultlab.IdleCloseRace(faultlab.GETs, idleTimeout),
		faultlab.ResetStorm(10), // P10
		faultlab.OutageAndReturn(),
		faultlab.Storm503("1"), // P9
		faultlab.SlowBackend(), // P11
		faultlab.GoAwayRestarts(3),
	}
	for i := range scs {
		scs[i].Duration = d
	}
	return scs
}

// figures collects the timelines of one scenario's clients when
// HERZ_FIGURES names a directory, and writes their figure there as
// <scenario>.svg (every client on the same axes, the fault shaded).
type figures struct {
	dir    string
	series []faultlab.Series
}

func newFigures() *figures { return &figures{dir: os.Getenv("HERZ_FIGURES")} }

// opts are the soak options: record a timeline when figures are asked for.
func (f *figures) opts() []faultlab.Option {
	if f.dir == "" {
		return nil
	}
	return []faultlab.Option{faultlab.WithTimeline()}
}

// add keeps the timeline of client's last run.
func (f *figures) add(client string, r *faultlab.Result) {
	if f.dir == "" || r == nil || r.Timeline == nil {
		return
	}
	for i := range f.series {
		if f.series[i].Label == client { // the framework ran it again: keep the last
			f.series[i].Timeline = r.Timeline
			return
		}
	}
	f.series = append(f.series, faultlab.Series{Label: client, Timeline: r.Timeline})
}

// write draws the scenario's figure, if any client ran.
func (f *figures) write(b *testing.B, scenario string) {
	if f.dir == "" || len(f.series) == 0 {
		return
	}
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := faultlab.NewFigure(scenario, f.series...).WriteFile(filepath.Join(f.dir, scenario+".svg")); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSoak runs every soak scenario for HERZ_SOAK (default 2s) with
// every client through faultlab.Run: BenchmarkSoak/<scenario>/<client>. Run
// it with -benchtime 1x (make soak); with a duration benchtime longer than
// HERZ_SOAK the framework runs it again. An iteration is a whole soak run:
// the numbers are the reported metrics, not ns/op. With HERZ_FIGURES=dir it
// also draws each scenario's clients over time into dir/<scenario>.svg
// (benchmarks/results.sh does, for RESULTS.md).
func BenchmarkSoak(b *testing.B) {
	d := soakDuration(b)
	for _, sc := range httpScenarios(d) {
		b.Run(sc.Name, func(b *testing.B) {
			figs := newFigures()
			for _, ck := range httpClients {
				b.Run(ck.name, func(b *testing.B) {
					figs.add(ck.name, faultlab.Run(b, sc, ck.newClient, figs.opts()...))
				})
			}
			figs.write(b, sc.Name)
		})
	}
	for _, dk := range dbKinds {
		b.Run(dk.scenario, func(b *testing.B) {
			figs := newFigures()
			for _, cl := range dbClients {
				b.Run(cl.name, func(b *testing.B) {
					if cl.skip != "" {
						b.Skip(cl.skip)
					}
					for range b.N {
						r, kills := runDBSoak(b, dk, cl, d, figs.opts()...)
						b.Log(r)
						r.Report(b)
						b.ReportMetric(float64(kills), "killed")
						if b.N == 1 {
							figs.add(cl.name, r)
						}
					}
				})
			}
			figs.write(b, dk.scenario)
		})
	}
	for _, ns := range netnsScenarios {
		b.Run(ns.name, func(b *testing.B) {
			b.Skipf("measured by %s (faultlab.InNetns needs a *testing.T and its own process): "+
				"go test -run '%s' -v ./benchmarks/", ns.test, ns.test)
		})
	}
}

// TestSoakShort runs every soak scenario once per client for a fraction of
// a second through faultlab.Soak and checks the hard safety properties herz
// must keep, against the other clients in the same run: no duplicate
// execution of a POST (P10, and never more than another client), no
// caller-visible error when the server closes idle connections (P4), back
// within a second after an outage with no more errors than net/http
// (P14), no more errors than net/http in a 503 storm. Goroutine leaks are
// checked by goleak in TestMain. The other figures are logged (go test -v).
func TestSoakShort(t *testing.T) {
	const d = 400 * time.Millisecond
	for _, sc := range httpScenarios(d) {
		t.Run(sc.Name, func(t *testing.T) {
			res := map[string]*faultlab.Result{}
			for _, ck := range httpClients {
				r, err := faultlab.Soak(context.Background(), sc, ck.newClient)
				if err != nil {
					t.Fatalf("%s: %v", ck.name, err)
				}
				t.Logf("%s %s", ck.name, r)
				res[ck.name] = r
			}
			herz := res["herz"]
			for name, r := range res {
				if herz.Duplicates > r.Duplicates {
					t.Errorf("herz executed %d POSTs twice, %s %d", herz.Duplicates, name, r.Duplicates)
				}
			}
			if herz.Duplicates != 0 {
				t.Errorf("herz executed %d POSTs more than once, want 0", herz.Duplicates)
			}
			// A run here is a few dozen POSTs, and herz acts on a learned
			// idle deadline only once two of the server's closes agree (one
			// close may be a restart): the race can hit it once before that,
			// as it hits net/http, and the runs race independently. 0 errors
			// over thousands of POSTs is transport's
			// TestIdleCloseRacePOSTsSeeNoErrorsAndNoDuplicates.
			if std := res["stdlib"]; strings.HasPrefix(sc.Name, "idle-close") && herz.Errors > std.Errors+1 {
				t.Errorf("herz: %d of %d requests failed against a server closing idle connections, stdlib %d", herz.Errors, herz.Ops, std.Errors)
			}
			if herz.RecoveryMarked && !herz.Recovered {
				t.Error("herz: no request succeeded after the server came back")
			}
			switch sc.Name {
			case "outage-and-return":
				checkOutage(t, herz, res["stdlib"])
			case "503-storm":
				check503(t, herz, res["stdlib"])
			}
		})
	}
	for _, dk := range dbKinds {
		t.Run(dk.scenario, func(t *testing.T) {
			errs := map[string]int{}
			for _, cl := range dbClients {
				t.Run(cl.name, func(t *testing.T) {
					if cl.skip != "" {
						t.Skip(cl.skip)
					}
					r, kills := runDBSoak(t, dk, cl, d)
					t.Logf("%s killed=%d", r, kills)
					errs[cl.name] = r.Errors
				})
			}
			// P6 under load: sessions are killed while queries run, so a kill
			// can land between a checkout's probe and the query's write — a
			// race no pool can see (the statement may have run: it is never
			// re-sent). herz may meet that race once, never more often than
			// the bare driver beyond it.
			if h, s := errs["herz"], errs["stdlib"]; h > s+1 {
				t.Errorf("herz: %d queries failed after idle sessions were killed, the bare driver %d", h, s)
			}
		})
	}
}

// maxRecovery is P14's bound on the time from a server's return to herz's
// first success.
const maxRecovery = time.Second

// checkOutage asserts P14 on an outage-and-return run: herz's first request
// after the server came back succeeded within maxRecovery, and herz's
// callers saw no more errors than net/http's in the same run. (At 400ms
// herz saw 0-4 errors where net/http saw ~80 in 15 runs: net/http fails
// every request of the outage with "connection refused", herz retries a
// refused connect, which sent nothing, with backoff within its retry
// window. Its recovery took 1-16ms.)
func checkOutage(t *testing.T, herz, std *faultlab.Result) {
	t.Helper()
	t.Logf("outage-and-return: herz recovered=%v in %v (bound %v), errors %d of %d; stdlib errors %d of %d",
		herz.Recovered, herz.Recovery, maxRecovery, herz.Errors, herz.Ops, std.Errors, std.Ops)
	switch {
	case !herz.RecoveryMarked:
		t.Error("outage-and-return: the server was never restarted, so recovery was not measured")
	case !herz.Recovered:
		// Reported above.
	case herz.Recovery > maxRecovery:
		t.Errorf("herz: first success %v after the server came back (want ≤ %v)", herz.Recovery, maxRecovery)
	}
	if herz.Errors > std.Errors {
		t.Errorf("herz: %d of %d requests failed around an outage, net/http %d of %d", herz.Errors, herz.Ops, std.Errors, std.Ops)
	}
}

// stormTolerance is how far herz's errors/op may exceed net/http's in a
// 503 storm. Both clients give the storm's 503s to their callers: POSTs are
// never retried on a response, and the GETs' Retry-After (1s) does not end
// before the operation's deadline (1s), so herz returns those at once too.
// Each client's errors/op is then the share of its operations that started
// inside the storm window (~0.5), which varies with where the 4 workers'
// operations fall at the window's two edges: over 15 runs at 400ms herz's
// raw error count exceeded net/http's in 6 (by up to 8 errors), its
// errors/op by at most 0.021. 0.05 (~13 of ~255 operations) is well
// above that noise and well below what a regression adds (a breaker opened
// by 503s or retries past the storm keep failing requests after it: +0.1
// and more).
const stormTolerance = 0.05

// check503 asserts that herz's callers saw no more errors than net/http's
// in a 503 storm, in errors/op within stormTolerance.
func check503(t *testing.T, herz, std *faultlab.Result) {
	t.Helper()
	t.Logf("503-storm: herz errors %d of %d (%.4f/op), stdlib %d of %d (%.4f/op), tolerance %.2f/op",
		herz.Errors, herz.Ops, herz.ErrorRatio(), std.Errors, std.Ops, std.ErrorRatio(), stormTolerance)
	if herz.Ops == 0 || std.Ops == 0 {
		t.Fatalf("503-storm: no operations ran (herz %d, stdlib %d)", herz.Ops, std.Ops)
	}
	if herz.ErrorRatio() > std.ErrorRatio()+stormTolerance {
		t.Errorf("herz: %.4f errors/op in a 503 storm, net/http %.4f (tolerance %.2f)",
			herz.ErrorRatio(), std.ErrorRatio(), stormTolerance)
	}
}
