package adaptive_test

import (
	"errors"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"testing/synctest"
	"time"

	"github.com/herz-go/herz/adaptive"
)

// countingFS counts the kernel readings (opens of tcp_fin_timeout).
type countingFS struct {
	fs.FS
	reads atomic.Int64
}

func (c *countingFS) Open(name string) (fs.File, error) {
	if name == adaptive.FileFinTimeout {
		c.reads.Add(1)
	}
	return c.FS.Open(name)
}

func setFile(m fstest.MapFS, name, content string) {
	m[name] = &fstest.MapFile{Data: []byte(content)}
}

func TestNewSourceRejectsANegativeRefresh(t *testing.T) {
	s, err := adaptive.NewSource(adaptive.SourceConfig{Refresh: -time.Second})
	if s != nil || err == nil || err.Error() != "herz/adaptive: SourceConfig.Refresh must be >= 0, got -1s" {
		t.Fatalf("NewSource() = %v, %v", s, err)
	}
}

func TestNewSourceReadsThisHostByDefault(t *testing.T) {
	s, err := adaptive.NewSource(adaptive.SourceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	checkProfile(t, s.Profile())
	t.Logf("this host:\n%v\nproblems: %v", s.Profile(), s.Err())
}

func TestSourceInitialParseProblemsAreNotFatal(t *testing.T) {
	fsys := linuxFS(map[string]string{adaptive.FileFinTimeout: "garbage\n", adaptive.FileConntrack: "5\n"})
	s, err := adaptive.NewSource(adaptive.SourceConfig{FS: fsys})
	if err != nil {
		t.Fatalf("NewSource() error = %v, want nil (parse problems are not fatal)", err)
	}
	if !errors.Is(s.Err(), adaptive.ErrParse) || !strings.Contains(s.Err().Error(), "tcp_fin_timeout") {
		t.Fatalf("Err() = %v, want the tcp_fin_timeout problem", s.Err())
	}
	p := s.Profile()
	if p.Kernel.FinTimeout != 60*time.Second || p.NATLimit != 5*time.Second {
		t.Fatalf("Profile() kernel = %v, want the fallback fin timeout and the conntrack value read", p.Kernel)
	}
}

func TestSourceRereadsTheKernelLazilyAfterRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := natFS()
		fsys := &countingFS{FS: m}
		s, err := adaptive.NewSource(adaptive.SourceConfig{FS: fsys, Refresh: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Profile().NATLimit; got != 5*time.Second || s.Err() != nil || fsys.reads.Load() != 1 {
			t.Fatalf("initial NATLimit %v, Err %v, reads %d", got, s.Err(), fsys.reads.Load())
		}

		setFile(m, adaptive.FileConntrack, "60\n") // the operator changes the sysctl
		time.Sleep(9 * time.Second)
		for range 100 {
			if got := s.Profile().NATLimit; got != 5*time.Second {
				t.Fatalf("NATLimit %v before Refresh elapsed, want the cached 5s", got)
			}
		}
		if n := fsys.reads.Load(); n != 1 {
			t.Fatalf("%d readings before Refresh elapsed, want 1", n)
		}

		time.Sleep(time.Second)
		if got := s.Profile(); got.NATLimit != 60*time.Second || got.Keepalive.Idle != 15*time.Second {
			t.Fatalf("after Refresh: %v, want the 60s conntrack limit", got)
		}
		if n := fsys.reads.Load(); n != 2 {
			t.Fatalf("%d readings, want 2", n)
		}
		s.Profile()
		if n := fsys.reads.Load(); n != 2 {
			t.Fatalf("%d readings right after a refresh, want 2", n)
		}

		// A setting that turns bad keeps its last good value and is reported.
		setFile(m, adaptive.FileFinTimeout, "30\n")
		time.Sleep(10 * time.Second)
		if got := s.Profile().Kernel.FinTimeout; got != 30*time.Second || s.Err() != nil {
			t.Fatalf("FinTimeout %v, Err %v", got, s.Err())
		}
		setFile(m, adaptive.FileFinTimeout, "thirty\n")
		delete(m, adaptive.FileConntrack) // conntrack module unloaded: unknown, no error
		time.Sleep(10 * time.Second)
		p := s.Profile()
		if p.Kernel.FinTimeout != 30*time.Second || p.Kernel.ConntrackEstablished != 0 || p.NATLimit != 240*time.Second {
			t.Fatalf("after a bad reading: %v", p.Kernel)
		}
		if err := s.Err(); !errors.Is(err, adaptive.ErrParse) || !strings.Contains(err.Error(), `"thirty\n": invalid syntax (using 30s)`) {
			t.Fatalf("Err() = %v", err)
		}
		setFile(m, adaptive.FileFinTimeout, "45\n")
		time.Sleep(10 * time.Second)
		if got := s.Profile().Kernel.FinTimeout; got != 45*time.Second || s.Err() != nil {
			t.Fatalf("after repair: FinTimeout %v, Err %v", got, s.Err())
		}
	})
}

func TestSourceIsSafeForConcurrentUse(t *testing.T) {
	fsys := &countingFS{FS: natFS()}
	s, err := adaptive.NewSource(adaptive.SourceConfig{FS: fsys, Refresh: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				if p := s.Profile(); p.NATLimit != 5*time.Second {
					t.Errorf("NATLimit %v", p.NATLimit)
					return
				}
				_ = s.Err()
			}
		})
	}
	wg.Wait()
	if fsys.reads.Load() < 2 {
		t.Fatalf("only %d readings with a 1ns Refresh", fsys.reads.Load())
	}
}

func BenchmarkSourceProfile(b *testing.B) {
	s, err := adaptive.NewSource(adaptive.SourceConfig{FS: natFS()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if s.Profile().NATLimit == 0 {
				b.Fatal("zero NAT limit")
			}
		}
	})
}

// openCounter counts the files opened in it.
type openCounter struct {
	fs.FS
	n atomic.Int64
}

func (o *openCounter) Open(name string) (fs.File, error) {
	o.n.Add(1)
	return o.FS.Open(name)
}

// TestCachedNeverReadsAndRefreshIfStaleDoes: Cached serves the latest
// reading without touching the file system however stale it is;
// RefreshIfStale reads only when the reading is older than Refresh.
func TestCachedNeverReadsAndRefreshIfStaleDoes(t *testing.T) {
	fsys := &openCounter{FS: fstest.MapFS{"net/ipv4/tcp_fin_timeout": {Data: []byte("30\n")}}}
	s, err := adaptive.NewSource(adaptive.SourceConfig{FS: fsys, Refresh: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	n0 := fsys.n.Load()
	if s.RefreshIfStale() || fsys.n.Load() != n0 {
		t.Fatal("RefreshIfStale read a fresh reading again")
	}
	s2, _ := adaptive.NewSource(adaptive.SourceConfig{FS: fsys, Refresh: time.Nanosecond})
	n1 := fsys.n.Load()
	for range 10 {
		if s2.Cached() != s.Cached() {
			t.Fatal("two readings of the same files differ")
		}
	}
	if fsys.n.Load() != n1 {
		t.Fatalf("Cached opened %d files, want 0", fsys.n.Load()-n1)
	}
	if !s2.RefreshIfStale() || fsys.n.Load() == n1 {
		t.Fatal("RefreshIfStale did not re-read a stale reading")
	}
}
