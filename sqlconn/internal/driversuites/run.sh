#!/usr/bin/env bash
# Runs the database/sql test suites of go-sql-driver/mysql, lib/pq and pgx v5
# stdlib from
# the module cache twice, with the same flags: once plain, once with every
# database the suite opens routed through herz's sqlconn (HERZ_SUITE=1). The
# only edits to their code, made in a copy of the module (the module cache
# is not touched; herz's go.mod neither: a temporary -modfile replaces the
# driver with the copy): a hook file that opens the database through herz,
# the suite's open helper calling it, and sql.Conn.Raw assertions routed
# through sqlconn.Inner (a no-op with the plain driver). Prints, per suite, the
# tests passing plain and through herz, and the tests that pass plain but
# fail through herz; exits non-zero if there are any.
#
# Usage: run.sh [mysql|pq|pgx ...]   (default: all three; pgx needs the
# module proxy once, for testify). Needs MariaDB on
# 127.0.0.1:3306 (root, db test) and PostgreSQL on 127.0.0.1:5432 (postgres,
# db test).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"
GO=${GO:-go}
tmp=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "outputs in $tmp"
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(mysql pq pgx)
status=0

moddir() { $GO list -m -f '{{.Dir}}' "$1"; }

copymod() { # copymod <module>: copies it to $tmp/<base> and replaces it there
	local d base
	d=$($GO list -m -f '{{.Dir}}' "$1")
	base=$(basename "$1")
	cp -r "$d" "$tmp/$base"
	chmod -R u+w "$tmp/$base"
	echo "replace $1 => $tmp/$base" >>"$tmp/go.mod"
	echo "$tmp/$base"
}
cp go.mod "$tmp/go.mod"
cp go.sum "$tmp/go.sum"

run() { # run <name> <pkg> <skip regexp> <env...>: prints "<name> plain|herz" results
	local name=$1 pkg=$2 skip=$3; shift 3
	for mode in plain herz; do
		local suite=0
		[ $mode = herz ] && suite=1
		env "$@" HERZ_SUITE=$suite $GO test -count=1 -v -timeout 600s -skip "$skip" -modfile="$tmp/go.mod" "$pkg" >"$tmp/$name.$mode.out" 2>&1 || true
		grep -E '^--- (PASS|FAIL)' "$tmp/$name.$mode.out" | awk '{print $2, $3}' | sort >"$tmp/$name.$mode.res" || true
	done
	if ! grep -q 'herz driver-suites hook' "$tmp/$name.herz.out"; then
		echo "$name: the herz hook did not run: the herz figures would be the plain driver's" >&2
		head -20 "$tmp/$name.herz.out" >&2
		status=1
		return
	fi
	local pp hp
	pp=$(grep -c '^PASS' "$tmp/$name.plain.res" || true)
	hp=$(grep -c '^PASS' "$tmp/$name.herz.res" || true)
	local worse
	worse=$(comm -12 <(awk '$1=="PASS:"{print $2}' "$tmp/$name.plain.res") <(awk '$1=="FAIL:"{print $2}' "$tmp/$name.herz.res") || true)
	local pf hf
	pf=$(grep -c '^FAIL' "$tmp/$name.plain.res" || true)
	hf=$(grep -c '^FAIL' "$tmp/$name.herz.res" || true)
	echo "$name: plain $pp passed, $pf failed; through herz $hp passed, $hf failed"
	if [ -n "$worse" ]; then
		echo "$name: passing plain, failing through herz:"
		echo "$worse" | sed 's/^/  /'
		for t in $worse; do
			grep -A12 -E "^(=== (RUN|NAME|CONT) +|--- FAIL: )$t( |\$)" "$tmp/$name.herz.out" | grep -E '_test.go:[0-9]+' | head -3 | sed 's/^/    /' || true
		done
		status=1
	fi
}

for s in "${suites[@]}"; do
	case $s in
	mysql)
		d=$(copymod github.com/go-sql-driver/mysql)
		sed -i -e 's/conn\.(\*mysqlConn)/sqlconn.Inner(conn).(*mysqlConn)/g' \
			-e '0,/^import (/s//import (\n\t"github.com\/herz-go\/herz\/sqlconn"/' "$d/driver_test.go"
		cp "$here/mysql_hook.go.txt" "$d/zz_herz_test.go"
		run mysql github.com/go-sql-driver/mysql '^$' \
			MYSQL_TEST_USER=root MYSQL_TEST_PASS= MYSQL_TEST_PROT=tcp MYSQL_TEST_ADDR=127.0.0.1:3306 MYSQL_TEST_DBNAME=test
		;;
	pq)
		d=$(copymod github.com/lib/pq)
		sed -i -e 's/sql\.Open("postgres", DSN(/sql.Open(herzDriverName(), DSN(/' "$d/internal/pqtest/pqtest.go"
		cat >>"$d/internal/pqtest/pqtest.go" <<'EOG'

// herzDriverName is the driver pqtest.DB opens: herz's (registered by the
// pq package's herz hook test file) when HERZ_SUITE=1.
func herzDriverName() string {
	if os.Getenv("HERZ_SUITE") == "1" {
		return "herz-postgres"
	}
	return "postgres"
}
EOG
		cp "$here/pq_hook.go.txt" "$d/zz_herz_test.go"
		# lib/pq's Listener tests give a connect 100ms and panic past it,
		# ending the whole binary: on this shared machine they do so with
		# the plain driver too (they never open a database through pqtest,
		# so herz is not in their path). Skipped in both runs.
		run pq github.com/lib/pq '^TestListener' \
			PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres PGDATABASE=test PGSSLMODE=disable
		;;
	pgx)
		d=$(copymod github.com/jackc/pgx/v5)
		# pgx's suite uses testify, which herz's go.mod does not require:
		# added to the temporary modfile only.
		GOFLAGS=-mod=mod $GO get -modfile="$tmp/go.mod" github.com/stretchr/testify@v1.12.1 >/dev/null 2>&1 || {
			echo "pgx: cannot add testify to the temporary modfile (needs the module proxy once)" >&2
			status=1
			continue
		}
		sed -i -e 's/return stdlib\.OpenDB(\*config, opts\.\.\.)/return herzOpenDB(t, config, opts...)/' \
			-e 's/driverConn\.(\*stdlib\.Conn)/sqlconn.Inner(driverConn).(*stdlib.Conn)/g' \
			-e '0,/^import (/s//import (\n\t"github.com\/herz-go\/herz\/sqlconn"/' "$d/stdlib/sql_test.go"
		cp "$here/pgx_hook.go.txt" "$d/stdlib/zz_herz_test.go"
		run pgx github.com/jackc/pgx/v5/stdlib '^$' \
			PGX_TEST_DATABASE="postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		;;
	*)
		echo "unknown suite $s" >&2
		exit 2
		;;
	esac
done
exit $status
