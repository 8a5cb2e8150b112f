package breaker_test

import (
	"math/rand/v2"
	"testing"

	"github.com/herz-go/herz/breaker"
)

// windowModel is the obvious, slow Window: every result kept, the counts
// recomputed from the results whose bucket is among the last ten at now.
type windowModel struct {
	period  int64
	results []modelResult
}

type modelResult struct {
	at   int64
	fail bool
}

func (m *windowModel) counts(now int64) (successes, failures, consecutive uint64) {
	for _, r := range m.results {
		if now/m.period-r.at/m.period >= 10 {
			continue // aged out
		}
		if r.fail {
			failures++
			consecutive++
		} else {
			successes++
			consecutive = 0
		}
	}
	return successes, failures, consecutive
}

// checkWindow plays ops against a Window and the model: each op advances the
// clock by its upper bits (far for large values) and, by its two low bits,
// counts a success, a failure or nothing.
func checkWindow(t *testing.T, period int64, ops []byte) {
	t.Helper()
	w := breaker.NewWindow(period)
	m := &windowModel{period: period}
	var now int64
	for i, op := range ops {
		adv := int64(op >> 2)
		if adv >= 56 {
			adv *= period // jump several windows ahead
		}
		now += adv
		switch op & 3 {
		case 0:
			w.Success(now)
			m.results = append(m.results, modelResult{now, false})
		case 1, 3:
			w.Failure(now)
			m.results = append(m.results, modelResult{now, true})
		}
		gs, gf, gc := w.Counts(now)
		ws, wf, wc := m.counts(now)
		if gs != ws || gf != wf || gc != wc {
			t.Fatalf("op %d (%#x) at %d: successes, failures, consecutive = %d, %d, %d; want %d, %d, %d",
				i, op, now, gs, gf, gc, ws, wf, wc)
		}
	}
}

func TestWindowMatchesModel(t *testing.T) {
	tests := []struct {
		name   string
		period int64
		ops    []byte
	}{
		{"empty", 1, nil},
		{"failures in one bucket", 10, []byte{1, 1, 1}},
		{"success ends the run", 10, []byte{1, 1, 0, 1}},
		{"run spans buckets", 1, []byte{1, 1<<2 | 1, 1<<2 | 1, 1<<2 | 1}},
		{"run ages out bucket by bucket", 1, []byte{1, 1, 1<<2 | 1, 9<<2 | 2, 1<<2 | 2, 1<<2 | 2}},
		{"success in an old bucket ages out", 1, []byte{1, 0, 1<<2 | 1, 9<<2 | 2}},
		{"everything ages out at once", 3, []byte{1, 0, 1, 60<<2 | 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkWindow(t, tc.period, tc.ops) })
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 200 {
		ops := make([]byte, 300)
		for j := range ops {
			ops[j] = byte(rng.UintN(256))
			if rng.IntN(4) != 0 {
				ops[j] &= 0x1f // mostly small steps, within a few buckets
			}
		}
		period := int64(1 + i%7)
		if !t.Run("random", func(t *testing.T) { checkWindow(t, period, ops) }) {
			break
		}
	}
}

func FuzzWindowMatchesModel(f *testing.F) {
	f.Add(int64(1), []byte{1, 1<<2 | 1, 1<<2 | 1, 1<<2 | 1})
	f.Add(int64(10), []byte{1, 1, 0, 1})
	f.Add(int64(3), []byte{1, 0, 1, 60<<2 | 2, 1})
	f.Fuzz(func(t *testing.T, period int64, ops []byte) {
		if period < 1 || period > 1000 {
			period = 1 + (period&0x7fffffff)%1000
		}
		checkWindow(t, period, ops)
	})
}
