//go:build !linux

package sockopt

import (
	"syscall"
	"time"
)

// Supported reports whether probes, verification and TCP_INFO are implemented on this platform.
const Supported = false

// Prober is the portable stand-in: every probe answers [Unknown].
type Prober struct{}

// NewProber returns a Prober that cannot probe on this platform.
func NewProber(raw syscall.RawConn) *Prober { return &Prober{} }

// Probe always returns [Unknown] here: herz does not guess liveness where it cannot look.
func (p *Prober) Probe() Result { return Result{State: Unknown} }

// TCPInfo returns [ErrUnsupported].
func (p *Prober) TCPInfo(info *TCPInfo) error { return ErrUnsupported }

// Verify is a no-op on this platform: the connect result from the OS is trusted.
func Verify(raw syscall.RawConn) error { return nil }

// SetUserTimeout is a no-op on this platform.
func SetUserTimeout(fd uintptr, d time.Duration) error { return nil }

// UserTimeout returns [ErrUnsupported].
func UserTimeout(raw syscall.RawConn) (time.Duration, error) { return 0, ErrUnsupported }
