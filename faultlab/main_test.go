package faultlab_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines. It also runs in the child processes
// InNetns starts (the same binary, filtered to one test), where it checks the
// child the same way.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
