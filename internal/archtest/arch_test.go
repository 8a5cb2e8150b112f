package archtest_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const mod = "github.com/herz-go/herz"

type pkg struct {
	ImportPath string
	Deps       []string
}

// listDeps returns every non-test herz package with its transitive deps.
func listDeps(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps=false", "-json=ImportPath,Deps", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// rules: for each herz package (relative path), module paths it must not
// depend on, directly or transitively. grpcconn may depend on
// golang.org/x/net/http2 transitively (grpc-go's transport is built on its
// framer); TestHeavyLibrariesHaveOneOwner still forbids importing it.
var forbidden = map[string][]string{
	"internal/sockopt":   {mod + "/"},
	"keepalive":          {mod + "/", "github.com/sony/gobreaker", "google.golang.org/grpc", "golang.org/x/net/http2", "github.com/jackc/", "database/sql"},
	"adaptive":           {mod + "/breaker", mod + "/dialer", "github.com/sony/gobreaker", "google.golang.org/grpc", "golang.org/x/net/http2", "database/sql"},
	"breaker":            {mod + "/", "google.golang.org/grpc", "golang.org/x/net/http2", "database/sql"},
	"internal/retry":     {mod + "/", "google.golang.org/grpc", "golang.org/x/net/http2"},
	"internal/telemetry": {mod + "/", "go.opentelemetry.io/otel/sdk"},
	"dialer":             {mod + "/transport", mod + "/grpcconn", mod + "/sqlconn", mod + "/pool", "google.golang.org/grpc", "golang.org/x/net/http2", "github.com/jackc/", "github.com/lib/pq", "github.com/go-sql-driver/", "database/sql", "go.opentelemetry.io/otel/sdk"},
	"transport":          {mod + "/grpcconn", mod + "/sqlconn", mod + "/pool", mod + "/internal/testenv", "google.golang.org/grpc", "github.com/jackc/", "github.com/lib/pq", "github.com/go-sql-driver/", "go.opentelemetry.io/otel/sdk"},
	"grpcconn":           {mod + "/transport", mod + "/sqlconn", mod + "/pool", mod + "/internal/testenv", "github.com/jackc/"},
	"sqlconn":            {mod + "/transport", mod + "/grpcconn", mod + "/pool", mod + "/internal/testenv", "google.golang.org/grpc", "golang.org/x/net/http2", "github.com/jackc/", "github.com/lib/pq", "github.com/go-sql-driver/"},
	// A user of one driver never compiles the others.
	"sqlconn/pgxconn":   {mod + "/transport", mod + "/grpcconn", mod + "/pool", mod + "/internal/testenv", "github.com/lib/pq", "github.com/go-sql-driver/"},
	"sqlconn/pqconn":    {mod + "/transport", mod + "/grpcconn", mod + "/pool", mod + "/internal/testenv", "github.com/jackc/", "github.com/go-sql-driver/"},
	"sqlconn/mysqlconn": {mod + "/transport", mod + "/grpcconn", mod + "/pool", mod + "/internal/testenv", "github.com/jackc/", "github.com/lib/pq"},
	// faultlab is user-facing: it stands alone, so soaking a client never
	// drags herz (or a heavy library) into the user's test binary.
	"faultlab": {mod + "/", "google.golang.org/grpc", "golang.org/x/net/http2", "github.com/sony/gobreaker", "github.com/jackc/", "github.com/lib/pq", "github.com/go-sql-driver/", "database/sql", "go.opentelemetry.io/"},
	"pool":     {mod + "/transport", mod + "/grpcconn", mod + "/sqlconn", mod + "/internal/testenv", "google.golang.org/grpc", "golang.org/x/net/http2"},
}

// owners: each heavy third-party library is imported by exactly one herz
// library package (tests, benchmarks and examples excepted).
var owners = map[string]string{
	"github.com/sony/gobreaker": "breaker",
	"github.com/jackc/puddle":   "pool",
	"golang.org/x/net/http2":    "transport",
	"google.golang.org/grpc":    "grpcconn",
	// Database drivers: only sqlconn's per-driver sub-packages.
	"github.com/jackc/pgx":      "sqlconn/pgxconn",
	"github.com/lib/pq":         "sqlconn/pqconn",
	"github.com/go-sql-driver/": "sqlconn/mysqlconn",
}

func TestDependencyDirection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module; skipped with -short")
	}
	for _, p := range listDeps(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, mod), "/")
		for _, bad := range forbidden[rel] {
			for _, d := range p.Deps {
				if strings.HasPrefix(d, bad) && d != p.ImportPath {
					t.Errorf("%s depends on %s (forbidden by ARCHITECTURE.md)", rel, d)
				}
			}
		}
	}
}

func TestHeavyLibrariesHaveOneOwner(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module; skipped with -short")
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		rel := strings.TrimPrefix(strings.TrimPrefix(f[0], mod), "/")
		if strings.HasPrefix(rel, "benchmarks") || strings.HasPrefix(rel, "examples") || strings.HasPrefix(rel, "internal/testenv") {
			continue
		}
		for _, imp := range f[1:] {
			for lib, owner := range owners {
				if strings.HasPrefix(imp, lib) && rel != owner {
					t.Errorf("%s imports %s; only %s may", rel, imp, owner)
				}
			}
		}
	}
}
