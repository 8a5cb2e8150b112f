package adaptive

import (
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// SourceConfig configures a [Source]. The zero value reads /proc/sys once a
// minute.
type SourceConfig struct {
	// FS is the file system rooted at /proc/sys the kernel settings are read
	// from. Nil means os.DirFS("/proc/sys"). Tests pass an fstest.MapFS.
	FS fs.FS
	// Refresh is how old a reading may get before Profile reads the kernel
	// again. Default 1 minute; zero means the default; negative is invalid.
	Refresh time.Duration
}

const defaultRefresh = time.Minute

// withDefaults validates c and returns a copy with defaults filled in.
func (c SourceConfig) withDefaults() (SourceConfig, error) {
	if c.Refresh < 0 {
		return c, fmt.Errorf("herz/adaptive: SourceConfig.Refresh must be >= 0, got %v", c.Refresh)
	}
	if c.Refresh == 0 {
		c.Refresh = defaultRefresh
	}
	if c.FS == nil {
		c.FS = os.DirFS("/proc/sys")
	}
	return c, nil
}

// Source serves the current [Profile], re-reading the kernel's settings
// lazily: Profile reads them again when the last reading is older than
// Refresh. It starts no goroutine. It is safe for concurrent use.
//
// A setting that cannot be read on a refresh keeps its last good value (its
// [DefaultKernel] value on the first reading); [Source.Err] reports the
// problems of the latest reading.
type Source struct {
	cfg SourceConfig // frozen

	// cur is the latest reading. Profile loads it without locking.
	cur atomic.Pointer[reading]
	// refreshMu is held by the one goroutine re-reading the kernel; the
	// others keep serving cur meanwhile (TryLock), so the hot path never
	// waits on file I/O.
	refreshMu sync.Mutex
}

// reading is one immutable reading of the kernel.
type reading struct {
	profile Profile
	err     error
	at      time.Time // when it was read (monotonic)
}

// NewSource reads the kernel once and returns a Source. Problems reading the
// kernel are not fatal: the Source uses fallbacks for the settings concerned
// and reports the problems through [Source.Err]. The only error NewSource
// returns is an invalid cfg, naming the field.
func NewSource(cfg SourceConfig) (*Source, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: c}
	s.read(DefaultKernel())
	return s, nil
}

// read reads the kernel with fallback for unusable settings and publishes the
// result.
func (s *Source) read(fallback Kernel) *reading {
	k, err := readKernel(s.cfg.FS, fallback)
	r := &reading{profile: Derive(k), err: err, at: time.Now()}
	s.cur.Store(r)
	return r
}

// Profile returns the current Profile. On the hot path it costs one atomic
// load and one clock read; when the reading is older than Refresh, one caller
// re-reads the kernel (a few small file reads) while concurrent callers keep
// getting the previous Profile.
func (s *Source) Profile() Profile {
	r := s.cur.Load()
	if time.Since(r.at) < s.cfg.Refresh || !s.refreshMu.TryLock() {
		return r.profile
	}
	defer s.refreshMu.Unlock()
	if r = s.cur.Load(); time.Since(r.at) < s.cfg.Refresh { // refreshed meanwhile
		return r.profile
	}
	return s.read(r.profile.Kernel).profile
}

// Cached returns the latest reading's Profile without ever reading the
// kernel: one atomic load. Code on a request's path uses it, and whoever
// owns the Source calls [Source.RefreshIfStale] off that path (a Dialer
// does it from its background ticks).
func (s *Source) Cached() Profile { return s.cur.Load().profile }

// RefreshIfStale re-reads the kernel when the latest reading is older than
// Refresh (a few small file reads), and reports whether it did. Concurrent
// callers do not wait: one reads, the others return false.
func (s *Source) RefreshIfStale() bool {
	r := s.cur.Load()
	if time.Since(r.at) < s.cfg.Refresh || !s.refreshMu.TryLock() {
		return false
	}
	defer s.refreshMu.Unlock()
	if r = s.cur.Load(); time.Since(r.at) < s.cfg.Refresh {
		return false
	}
	s.read(r.profile.Kernel)
	return true
}

// Err returns the problems of the latest reading of the kernel (an
// errors.Join of [*SettingError]s wrapping [ErrParse]), or nil if every
// setting was read cleanly.
func (s *Source) Err() error { return s.cur.Load().err }
