//go:build linux

package faultlab

import "syscall"

// netnsSupported reports whether InNetns can work on this platform.
const netnsSupported = true

// netnsProcAttr clones the child into a new network namespace (the
// clone(2) equivalent of `unshare --net`) and has the kernel kill it if the
// parent's thread that started it dies first.
func netnsProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
}

// killProcess ends pid with SIGKILL.
func killProcess(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }
