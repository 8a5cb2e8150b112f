package testenv_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that records skips and failures instead of
// acting on them, to test helpers whose job is to skip or fail. Methods it
// does not override panic (the embedded TB is nil).
type recorder struct {
	testing.TB

	mu       sync.Mutex
	skipped  bool
	failed   bool
	msgs     []string
	cleanups []func()
}

func (r *recorder) Helper()      {}
func (r *recorder) Name() string { return "recorder" }

func (r *recorder) note(skip, fail bool, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped = r.skipped || skip
	r.failed = r.failed || fail
	r.msgs = append(r.msgs, msg)
}

func (r *recorder) Log(args ...any) { r.note(false, false, fmt.Sprint(args...)) }
func (r *recorder) Logf(format string, args ...any) {
	r.note(false, false, fmt.Sprintf(format, args...))
}
func (r *recorder) Error(args ...any) { r.note(false, true, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) {
	r.note(false, true, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any) { r.note(false, true, fmt.Sprint(args...)); runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) {
	r.note(false, true, fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) { r.note(true, false, fmt.Sprint(args...)); runtime.Goexit() }
func (r *recorder) Skipf(format string, args ...any) {
	r.note(true, false, fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// text returns everything recorded, one message per line.
func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

// record runs fn with a recorder in its own goroutine, so that a Fatal or
// Skip ends only that goroutine, then runs the registered cleanups in reverse.
func record(fn func(tb testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	return r
}
