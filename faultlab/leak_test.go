package faultlab_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/herz-go/herz/faultlab"
)

func TestOpenFDsCountsDescriptors(t *testing.T) {
	before := faultlab.OpenFDs()
	if runtime.GOOS != "linux" {
		if before != -1 {
			t.Errorf("OpenFDs() = %d without /proc, want -1", before)
		}
		return
	}
	// Other goroutines of the test binary may open or close descriptors at
	// the same moment: one clean attempt out of five is proof enough.
	var msgs []string
	for range 5 {
		before := faultlab.OpenFDs()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		during := faultlab.OpenFDs()
		r.Close()
		w.Close()
		after := faultlab.OpenFDs()
		if during == before+2 && after == before {
			return
		}
		msgs = append(msgs, fmt.Sprintf("before %d, with a pipe %d, after closing it %d", before, during, after))
	}
	t.Errorf("OpenFDs never counted a pipe as 2 descriptors: %v", msgs)
}

func TestGoroutinesCountsGoroutines(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); <-stop }()
	// This test's goroutine, its parent's and the one above at least; an
	// exact count would race with other goroutines ending.
	if got := faultlab.Goroutines(); got < 3 {
		t.Errorf("Goroutines() = %d, want at least 3", got)
	}
	close(stop)
	<-done
}
