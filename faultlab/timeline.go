package faultlab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrorClass is the kind of a failure a [Timeline] counts: what a reader of
// its figure wants to tell apart (a refused dial, a connection lost under a
// request, a timeout, an error status).
type ErrorClass int

const (
	// ErrRefused: the dial was refused (ECONNREFUSED).
	ErrRefused ErrorClass = iota
	// ErrReset: the connection broke under the request (ECONNRESET, EPIPE,
	// an unexpected EOF, a closed connection).
	ErrReset
	// ErrTimeout: a deadline or timeout expired.
	ErrTimeout
	// ErrStatus: the server answered with an error status ("status 503").
	ErrStatus
	// ErrOther: anything else.
	ErrOther

	// NumErrorClasses is the number of error classes.
	NumErrorClasses = int(ErrOther) + 1
)

// String returns "refused", "reset", "timeout", "status" or "other".
func (c ErrorClass) String() string {
	switch c {
	case ErrRefused:
		return "refused"
	case ErrReset:
		return "reset"
	case ErrTimeout:
		return "timeout"
	case ErrStatus:
		return "status"
	case ErrOther:
		return "other"
	}
	return fmt.Sprintf("ErrorClass(%d)", int(c))
}

// Classify returns the class of err (err must be non-nil).
func Classify(err error) ErrorClass {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return ErrReset
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	}
	s := err.Error()
	switch {
	case strings.Contains(s, "connection refused"):
		return ErrRefused
	case strings.Contains(s, "connection reset"), strings.Contains(s, "broken pipe"), strings.Contains(s, "EOF"),
		strings.Contains(s, "closed"), strings.Contains(s, "GOAWAY"), strings.Contains(s, "Unavailable"):
		return ErrReset
	case strings.Contains(s, "timeout"), strings.Contains(s, "deadline"):
		return ErrTimeout
	case strings.Contains(s, "status "):
		return ErrStatus
	}
	return ErrOther
}

// latBins is the number of latency bins of a timeline bucket: four per
// octave of microseconds, from 1 µs to beyond 10 minutes.
const latBins = 4 * 32

// latBin returns the histogram bin of d: exact below 4 µs, then four bins
// per power of two (each at most 25% wider than its lower bound).
func latBin(d time.Duration) int {
	v := uint64(max(d, 0) / time.Microsecond)
	if v < 4 {
		return int(v)
	}
	n := bits.Len64(v) // >= 3
	i := (n-2)*4 + int((v>>(n-3))&3)
	return min(i, latBins-1)
}

// binUpper returns the upper bound of bin i (exclusive), the value a
// quantile that falls in the bin is reported as.
func binUpper(i int) time.Duration {
	i++
	if i < 4 {
		return time.Duration(i) * time.Microsecond
	}
	n := i/4 + 2
	return time.Duration((4+uint64(i%4))<<(n-3)) * time.Microsecond
}

// tlBucket is one fixed-size bucket of a timeline; every field is updated
// atomically, so recording never locks or allocates.
type tlBucket struct {
	ok    atomic.Uint32
	errs  [NumErrorClasses]atomic.Uint32
	lat   [latBins]atomic.Uint32
	conns atomic.Int64 // 1 + connections opened so far, sampled in this bucket; 0: not sampled
}

// TimelineConfig configures a [Timeline]. The zero value records 10 ms
// buckets for 30 s from the moment [NewTimeline] is called.
type TimelineConfig struct {
	// Start is the time zero of the timeline. Zero: when NewTimeline is
	// called.
	Start time.Time
	// Bucket is the width of one bucket. Zero: 10 ms. Must be >= 0.
	Bucket time.Duration
	// Buckets is the number of buckets; operations that end after the last
	// one are counted in it. Zero: 3000 (30 s of 10 ms buckets). Must be
	// >= 0; memory is about 550 bytes per bucket.
	Buckets int
	// Conns, if set, returns how many connections the client has opened so
	// far (any monotonic count: the timeline draws its increase). It is
	// called once when the timeline is built and then at most once per
	// bucket, from the goroutine of a [Timeline.Record] or of
	// [Timeline.Watch]; nil: no connection series.
	Conns func() int
}

// Timeline records what one client saw over a run in fixed-size time
// buckets: successes, failures by [ErrorClass], a latency histogram per
// bucket (for its quantiles), the connections opened and the fault's on/off
// marks. Record is safe for concurrent use and neither locks nor
// allocates; the memory is allocated once, by [NewTimeline]. A nil
// *Timeline records nothing. [NewFigure] draws timelines.
type Timeline struct {
	start   time.Time
	bucket  time.Duration
	b       []tlBucket
	conns   func() int
	conns0  int
	sampled atomic.Int64 // 1 + the last bucket whose conns was sampled

	mu    sync.Mutex
	marks []Mark
}

// Mark is a change of the fault a [Timeline] shows: at At (since the
// timeline's start) the fault Label began (On) or ended.
type Mark struct {
	At    time.Duration
	Label string
	On    bool
}

// NewTimeline returns an empty timeline.
func NewTimeline(cfg TimelineConfig) (*Timeline, error) {
	switch {
	case cfg.Bucket < 0:
		return nil, fmt.Errorf("herz/faultlab: TimelineConfig.Bucket must be >= 0, got %v", cfg.Bucket)
	case cfg.Buckets < 0:
		return nil, fmt.Errorf("herz/faultlab: TimelineConfig.Buckets must be >= 0, got %d", cfg.Buckets)
	}
	if cfg.Bucket == 0 {
		cfg.Bucket = 10 * time.Millisecond
	}
	if cfg.Buckets == 0 {
		cfg.Buckets = 3000
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	t := &Timeline{start: cfg.Start, bucket: cfg.Bucket, b: make([]tlBucket, cfg.Buckets), conns: cfg.Conns}
	if t.conns != nil {
		t.conns0 = t.conns()
	}
	return t, nil
}

// shard returns an empty timeline of t's geometry, without connections or
// marks, for one goroutine to record into without sharing cache lines with
// the others; [Timeline.merge] adds it back.
func (t *Timeline) shard() *Timeline {
	return &Timeline{start: t.start, bucket: t.bucket, b: make([]tlBucket, len(t.b))}
}

// merge adds the operations s recorded (a shard of t) to t.
func (t *Timeline) merge(s *Timeline) {
	for i := range s.b {
		src, dst := &s.b[i], &t.b[i]
		if n := src.ok.Load(); n > 0 {
			dst.ok.Add(n)
		}
		for k := range src.errs {
			if n := src.errs[k].Load(); n > 0 {
				dst.errs[k].Add(n)
			}
		}
		for k := range src.lat {
			if n := src.lat[k].Load(); n > 0 {
				dst.lat[k].Add(n)
			}
		}
	}
}

// Start returns the timeline's time zero.
func (t *Timeline) Start() time.Time { return t.start }

// index returns the bucket of the moment at.
func (t *Timeline) index(at time.Time) int {
	i := int(at.Sub(t.start) / t.bucket)
	return max(0, min(i, len(t.b)-1))
}

// Record counts one operation that ended now after taking lat, failed
// with err (nil: a success).
func (t *Timeline) Record(lat time.Duration, err error) {
	if t == nil {
		return
	}
	t.RecordAt(time.Now(), lat, err)
}

// RecordAt is [Timeline.Record] for an operation that ended at end.
func (t *Timeline) RecordAt(end time.Time, lat time.Duration, err error) {
	if t == nil {
		return
	}
	i := t.index(end)
	b := &t.b[i]
	if err == nil {
		b.ok.Add(1)
	} else {
		b.errs[Classify(err)].Add(1)
	}
	b.lat[latBin(lat)].Add(1)
	t.sampleConns(i)
}

// sampleConns samples the connection count into bucket i, once per bucket.
func (t *Timeline) sampleConns(i int) {
	if t.conns == nil {
		return
	}
	last := t.sampled.Load()
	if last >= int64(i)+1 || !t.sampled.CompareAndSwap(last, int64(i)+1) {
		return
	}
	t.b[i].conns.Store(int64(t.conns()) + 1)
}

// Watch samples the connection count once per bucket (at most every 5
// ms) until ctx ends, so
// that connections opened while no operation ends (a client waiting out a
// Retry-After, dialing a peer that is down) show when they happen; run it
// in a goroutine you wait for. Without it the count is sampled only when
// operations end. It returns at once without a Conns function.
func (t *Timeline) Watch(ctx context.Context) {
	if t == nil || t.conns == nil {
		return
	}
	tick := time.NewTicker(max(t.bucket, 5*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			t.sampleConns(t.index(now))
		}
	}
}

// Finish samples the connection count one last time, into the bucket of
// now; call it when the client is done (before closing it).
func (t *Timeline) Finish() {
	if t == nil || t.conns == nil {
		return
	}
	i := t.index(time.Now())
	t.sampled.Store(int64(i) + 1)
	t.b[i].conns.Store(int64(t.conns()) + 1)
}

// FaultOn marks, now, the start of the fault label.
func (t *Timeline) FaultOn(label string) { t.FaultOnAt(time.Now(), label) }

// FaultOff marks, now, the end of the fault that is on.
func (t *Timeline) FaultOff() { t.FaultOffAt(time.Now()) }

// FaultOnAt marks the start of the fault label at the moment at.
func (t *Timeline) FaultOnAt(at time.Time, label string) { t.mark(at, label, true) }

// FaultOffAt marks the end of the fault that is on at the moment at.
func (t *Timeline) FaultOffAt(at time.Time) { t.mark(at, "", false) }

func (t *Timeline) mark(at time.Time, label string, on bool) {
	if t == nil {
		return
	}
	m := Mark{At: max(at.Sub(t.start), 0), Label: label, On: on}
	t.mu.Lock()
	t.marks = append(t.marks, m)
	t.mu.Unlock()
}

// Marks returns a copy of the fault marks, in time order.
func (t *Timeline) Marks() []Mark {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	out := append([]Mark(nil), t.marks...)
	t.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Mark) int { return cmp.Compare(a.At, b.At) })
	return out
}

// Bucket is one bucket (or several merged) of a timeline, as [Timeline.Buckets]
// and [Figure] see it.
type Bucket struct {
	// Start is the bucket's start since the timeline's start; Width its
	// width.
	Start, Width time.Duration
	// OK counts the operations that succeeded in the bucket.
	OK int
	// Errors counts the failures by class.
	Errors [NumErrorClasses]int
	// Conns is how many connections had been opened since the timeline's
	// start, as last sampled in or before the bucket (0 without a Conns
	// function).
	Conns int

	lat [latBins]uint32
}

// Ops returns OK plus all errors.
func (b *Bucket) Ops() int { return b.OK + b.ErrorCount() }

// ErrorCount returns the failures of all classes.
func (b *Bucket) ErrorCount() int {
	n := 0
	for _, e := range b.Errors {
		n += e
	}
	return n
}

// Quantile returns the q-quantile (0..1) of the bucket's latencies, as the
// upper bound of the histogram bin it falls in (at most 25% above the
// true value); 0 for an empty bucket.
func (b *Bucket) Quantile(q float64) time.Duration {
	var total uint64
	for _, n := range b.lat {
		total += uint64(n)
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.999999)
	rank = max(1, min(rank, total))
	var seen uint64
	for i, n := range b.lat {
		seen += uint64(n)
		if seen >= rank {
			return binUpper(i)
		}
	}
	return binUpper(latBins - 1)
}

// Buckets returns a snapshot of the timeline, merging every merge
// consecutive buckets into one (merge < 1 counts as 1), up to the last
// bucket that recorded anything.
func (t *Timeline) Buckets(merge int) []Bucket {
	merge = max(merge, 1)
	used := t.used()
	out := make([]Bucket, 0, (used+merge-1)/merge)
	conns := 0
	for i := 0; i < used; i += merge {
		o := Bucket{Start: time.Duration(i) * t.bucket, Width: time.Duration(merge) * t.bucket}
		for j := i; j < min(i+merge, len(t.b)); j++ {
			b := &t.b[j]
			o.OK += int(b.ok.Load())
			for k := range b.errs {
				o.Errors[k] += int(b.errs[k].Load())
			}
			for k := range b.lat {
				o.lat[k] += b.lat[k].Load()
			}
			if c := b.conns.Load(); c > 0 {
				conns = int(c-1) - t.conns0
			}
		}
		o.Conns = conns
		out = append(out, o)
	}
	return out
}

// used returns the number of buckets up to the last one that recorded an
// operation or a connection sample.
func (t *Timeline) used() int {
	for i := len(t.b) - 1; i >= 0; i-- {
		b := &t.b[i]
		if b.ok.Load() > 0 || b.conns.Load() > 0 {
			return i + 1
		}
		for k := range b.errs {
			if b.errs[k].Load() > 0 {
				return i + 1
			}
		}
	}
	return 0
}

// Totals returns the operations and failures recorded.
func (t *Timeline) Totals() (ops, errs int) {
	for _, b := range t.Buckets(len(t.b)) {
		ops += b.Ops()
		errs += b.ErrorCount()
	}
	return ops, errs
}

// Elapsed returns the time from the start to the end of the last bucket
// that recorded something.
func (t *Timeline) Elapsed() time.Duration { return time.Duration(t.used()) * t.bucket }

// BucketWidth returns the width of one bucket.
func (t *Timeline) BucketWidth() time.Duration { return t.bucket }
