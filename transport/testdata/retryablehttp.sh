#!/bin/sh
# Runs go-retryablehttp v0.7.8's own test suite with herz as its transport,
# on both levels, beside the plain suite: level 0 is net/http as the
# library configures it (cleanhttp's pooled transport), level 1 that
# transport hardened in place (transport.Harden), level 2 herz built from it
# (transport.Config{Base: ...}). Usage, from the module root:
#
#	sh transport/testdata/retryablehttp.sh [go test flags, e.g. -run TestClient_Do]
#
# It copies the library from the module cache to a temporary module, points
# NewClient's HTTP client at herz (the one-line change below), and prints
# each level's failing tests and time. Needs no network (GOPROXY=off).
set -eu
herz=$(pwd)
src=$(go env GOMODCACHE)/github.com/hashicorp/go-retryablehttp@v0.7.8
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
cp -r "$src"/. "$tmp"
chmod -R u+w "$tmp"
cd "$tmp"
# NewClient and the nil-HTTPClient fallback build their client through herz.
sed -i 's/cleanhttp\.DefaultPooledClient()/herzPooledClient(cleanhttp.DefaultPooledClient())/' client.go
cat > herz_level.go <<'GO'
package retryablehttp

import (
	"net/http"
	"os"

	"github.com/herz-go/herz/transport"
)

// herzPooledClient returns c (cleanhttp.DefaultPooledClient()) with its
// transport hardened (HERZ_LEVEL=1) or made into herz's (HERZ_LEVEL=2).
func herzPooledClient(c *http.Client) *http.Client {
	switch os.Getenv("HERZ_LEVEL") {
	case "1":
		if _, err := transport.Harden(c.Transport.(*http.Transport), transport.HardenConfig{}); err != nil {
			panic(err)
		}
	case "2":
		c.Transport = transport.Must(transport.Config{Base: c.Transport.(*http.Transport)})
	}
	return c
}
GO
# herz's own requirements (so that the module graph resolves offline as
# herz's does), renamed, plus herz itself from this tree.
sed -e 's|^module .*|module github.com/hashicorp/go-retryablehttp|' \
	-e '/^require github.com\/hashicorp\/go-retryablehttp /d' "$herz/go.mod" > go.mod
cat >> go.mod <<GO

require github.com/hashicorp/go-hclog v1.6.3

require github.com/herz-go/herz v0.0.0

replace github.com/herz-go/herz => $herz

// go-hclog's go.mod (go 1.13: its requirements are not pruned) names
// versions whose go.mod files are not in the module cache; only their go.mod
// files would be read (the build uses the versions herz's graph selects), so
// point them at the cached ones.
replace (
	github.com/davecgh/go-spew => github.com/davecgh/go-spew v1.1.0
	github.com/fatih/color => github.com/fatih/color v1.16.0
	github.com/mattn/go-colorable => github.com/mattn/go-colorable v0.1.13
	github.com/mattn/go-isatty => github.com/mattn/go-isatty v0.0.20
	github.com/stretchr/testify => github.com/stretchr/testify v1.12.1
	golang.org/x/sys => golang.org/x/sys v0.49.0
	github.com/stretchr/objx => github.com/stretchr/objx v0.1.0
	gopkg.in/yaml.v3 => gopkg.in/yaml.v3 v3.0.0-20200313102051-9f266ea9e77c
)
GO
cat "$herz/go.sum" "$src/go.sum" | sort -u > go.sum
export GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off
for level in 0 1 2; do
	start=$(date +%s.%N)
	HERZ_LEVEL=$level go test -count=1 -vet=off "$@" . > "out.$level" 2>&1 || true
	end=$(date +%s.%N)
	printf 'level %s: %s s, %s\n' "$level" "$(echo "$end - $start" | bc)" "$(tail -1 "out.$level")"
	grep -E '^--- FAIL' "out.$level" | sed 's/^/    /' || true
done
if [ -n "${KEEP:-}" ]; then cp out.* "$KEEP"; fi
