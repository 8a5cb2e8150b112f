package adaptive_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportsOnlyTheStandardLibrary enforces ARCHITECTURE.md's dependency
// direction: this package imports the standard library, package keepalive
// and golang-lru (its bounded per-peer state) only: no other herz package and
// nothing about HTTP, gRPC or SQL.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"github.com/herz-go/herz/keepalive": true, "github.com/hashicorp/golang-lru/v2/simplelru": true}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		std := !strings.Contains(first, ".")
		if !std && !allowed[imp] || strings.HasPrefix(imp, "net/http") || strings.HasPrefix(imp, "database/sql") {
			t.Errorf("forbidden import %q", imp)
		}
	}
}
