package benchmarks_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines, also in the child processes that
// testenv.InNetns starts for the namespace tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
