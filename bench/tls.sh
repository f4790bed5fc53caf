#!/usr/bin/env bash
# bench/tls.sh - TLS to the pooler: pgswitch vs PgBouncer 1.25.2, one run,
# one machine, through the shared harness (../shared/bench).
#
#   bench/tls.sh            pgbench -S -c 50 over sslmode=require, and -C
#                           (a new TLS connection per transaction, -c 10)
#   PLAIN=1 bench/tls.sh    the same tests without TLS, for the plain-text
#                           rows of the same run
#
# Both poolers get the same ini (transaction mode, client_tls_sslmode =
# require, a self-signed certificate made here); the server hop is plain.
# Environment: REPS [3], DURATION [10], BUILD [build-rel], SCALE [10],
# PGB125 [../shared/anchors/pgbouncer-1.25.2], PGPORT [25472] (below the
# ephemeral range, as in run.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness=${BENCH_HARNESS:-$root/../shared/bench}
pgb125=${PGB125:-$root/../shared/anchors/pgbouncer-1.25.2}
[ -x "$harness/run-matrix.sh" ] || { echo "no harness at $harness" >&2; exit 1; }
[ -x "$pgb125" ] || { echo "no PgBouncer 1.25.2 at $pgb125" >&2; exit 1; }
build=${BUILD:-build-rel}
if [ ! -x "$root/$build/pgswitch" ]; then
	cmake -S "$root" -B "$root/$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGSWITCH_TESTS=OFF >/dev/null
	cmake --build "$root/$build" -j2 >/dev/null
fi
# The poolers run as the unprivileged bench user: readable copies.
bin=/tmp/pgswitch-bench-bin
cp "$root/$build/pgswitch" "$bin"
cp "$pgb125" /tmp/pgbouncer125-bench-bin
chmod 755 "$bin" /tmp/pgbouncer125-bench-bin
export BENCH_DATA=${BENCH_DATA:-/tmp/pooler-bench}
export PGPORT=${PGPORT:-25472}

certs=$BENCH_DATA/tls-certs
mkdir -p "$certs"
if [ ! -f "$certs/server.crt" ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$certs/server.key" -out "$certs/server.crt" 2>/dev/null
fi
if [ "$(id -u)" = 0 ]; then chown -R postgres "$certs"; fi
chmod 600 "$certs/server.key"

. "$root/bench/lib.sh"
bench_cluster
trap '"$harness/pg-setup.sh" stop "$PGPORT" >/dev/null 2>&1 || true' EXIT

if [ "${PLAIN:-0}" = 1 ]; then
	suffix=plain
	export PGSSLMODE=disable
	extra=""
else
	suffix=tls
	export PGSSLMODE=require
	extra="client_tls_sslmode = require
client_tls_key_file = $certs/server.key
client_tls_cert_file = $certs/server.crt"
fi
CMD_pgswitch="$bin {config}" \
CMD_pgb125="/tmp/pgbouncer125-bench-bin {config}" \
POOLER_INI_EXTRA="$extra" \
TARGETS=${TLS_TARGETS:-"pgb125:transaction pgswitch:transaction"} \
TESTS=${TLS_TESTS:-"S-c50-$suffix|-S -c 50 -j 2
S-C-c10-$suffix|-S -C -c 10 -j 2"} \
REPS=${REPS:-3} DURATION=${DURATION:-10} "$harness/run-matrix.sh"
