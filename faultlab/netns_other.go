//go:build !linux

package faultlab

import "syscall"

// netnsSupported reports whether InNetns can work on this platform.
const netnsSupported = false

// netnsProcAttr is never called off Linux: InNetns skips first.
func netnsProcAttr() *syscall.SysProcAttr { return nil }
