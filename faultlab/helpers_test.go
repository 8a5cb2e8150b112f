package faultlab_test

import "testing"

// must fails the test on err. Servers, proxies and echo servers come from
// internal/testenv, which wraps this package for tests.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
