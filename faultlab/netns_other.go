//go:build !linux

package faultlab

import (
	"os"
	"syscall"
)

// netnsSupported reports whether InNetns can work on this platform.
const netnsSupported = false

// netnsProcAttr is never called off Linux: InNetns skips first.
func netnsProcAttr() *syscall.SysProcAttr { return nil }

// killProcess ends pid (namespaces exist only on Linux: never called here).
func killProcess(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
