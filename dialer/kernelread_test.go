package dialer_test

import (
	"io/fs"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/herz-go/herz/adaptive"
	"github.com/herz-go/herz/dialer"
)

// countingFS counts the files opened in it.
type countingFS struct {
	fs.FS
	opens atomic.Int64
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.opens.Add(1)
	return c.FS.Open(name)
}

// TestNoKernelReadOnTheRequestPath: with a kernel reading that is always
// stale, dialing, lending, a first write's stale check, CheckIdle and
// Profile read no /proc/sys file; the Dialer's background ticks refresh it.
func TestNoKernelReadOnTheRequestPath(t *testing.T) {
	fsys := &countingFS{FS: fstest.MapFS{"net/ipv4/tcp_fin_timeout": {Data: []byte("60\n")}}}
	src, err := adaptive.NewSource(adaptive.SourceConfig{FS: fsys, Refresh: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t)
	for _, background := range []bool{false, true} {
		cfg := dialer.Config{Profile: src, DisableEvictor: true, UserTimeout: -1}
		if background {
			cfg = dialer.Config{Profile: src}
		}
		d := newDialer(t, cfg)
		before := fsys.opens.Load()
		c := dial(t, d, srv.addr())
		srv.accept(t)
		lease, _ := c.Lend()
		c.Write([]byte("x"))
		c.Return(lease)
		time.Sleep(2 * time.Millisecond) // past ReuseProbeIdle: the full check runs
		c.CheckIdle()
		c.LendRefusingStale()
		c.Write([]byte("y"))
		d.Profile()
		if !background {
			if n := fsys.opens.Load() - before; n != 0 {
				t.Fatalf("%d files opened on the request path, want 0", n)
			}
			continue
		}
		eventually(t, 5*time.Second, "a background refresh", func() bool { return fsys.opens.Load() > before })
	}
}
