package testenv

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/herz-go/herz/faultlab"
)

// CI reports whether the tests run in continuous integration: the
// environment variable CI holds a true value as [strconv.ParseBool] reads it
// ("true", "1", "T", ...). Under CI a missing real component (root, a
// command, a database) fails the test instead of skipping it.
func CI() bool {
	ok, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ok
}

// SkipOrFail skips the test with the formatted reason, or fails it with the
// same reason when [CI] reports true: CI must run every test, so a missing
// prerequisite there is a broken machine, not a reason to skip.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("%s (CI=true: this test must run, not skip)", reason)
	}
	t.Skip(reason)
}

// RequireRoot skips the test (fails it under CI) unless the process runs
// with effective user ID 0.
func RequireRoot(t testing.TB) {
	t.Helper()
	if euid := os.Geteuid(); euid != 0 {
		SkipOrFail(t, "herz/testenv: test needs root (euid is %d)", euid)
	}
}

// RequireCommand returns the absolute path of the named command, looked up
// as [faultlab.LookCommand] does. When it is missing the test is skipped
// (failed under CI) with a reason naming it.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	path, err := faultlab.LookCommand(name)
	if err != nil {
		SkipOrFail(t, "herz/testenv: test needs the command %q: %v", name, err)
	}
	return path
}
