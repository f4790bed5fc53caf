#!/usr/bin/env bash
# bench/login.sh - issue 13's login row (pgbench -S -C -c 10 -j 2, a new
# connection per transaction, transaction mode) for PgBouncer 1.25.2,
# pgswitch and bench/login-floor.c in the same run.
#
#   bench/login.sh          TPS matrix, then where the CPU goes
#   bench/login.sh tps      only the TPS matrix (run-matrix.sh, interleaved)
#   bench/login.sh cpu      only the CPU split per transaction
#
# login-floor answers every login and query with canned bytes and never
# talks to PostgreSQL: its TPS is the most any pooler can reach on this
# machine, whatever it does in user space. fwd-floor is the same program
# forwarding each query to PostgreSQL over one pipelined connection: the
# least any pooler can do for the query. The CPU split gives, per
# transaction, the pooler's user and system time, the PostgreSQL cluster's
# time and pgbench's own.
# Environment: REPS [6], DURATION [5], BUILD [build-rel], SCALE [10],
# PGPORT [25452], ANCHOR [../shared/anchors/pgbouncer-1.25.2].
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness=${BENCH_HARNESS:-$root/../shared/bench}
anchor=${ANCHOR:-$root/../shared/anchors/pgbouncer-1.25.2}
build=${BUILD:-build-rel}
. "$root/bench/lib.sh"
tmp=$(mktemp -d /tmp/pgswitch-login.XXXXXX)
chmod 755 "$tmp"
bench_build "$tmp/pgswitch"
cc -std=c11 -O2 -o "$tmp/login-floor" "$root/bench/login-floor.c"
# pooler-start.sh passes an ini: the floor only needs its listen_port.
cat >"$tmp/floor" <<EOF
#!/bin/bash
exec "$tmp/login-floor" "\$(awk -F' *= *' '/^listen_port/{print \$2}' "\${@: -1}")"
EOF
cat >"$tmp/fwd-floor" <<EOF
#!/bin/bash
ini=\${@: -1}
exec "$tmp/login-floor" "\$(awk -F' *= *' '/^listen_port/{print \$2}' "\$ini")" \\
	"\$(grep -o 'port=[0-9]*' "\$ini" | head -1 | cut -d= -f2)"
EOF
chmod 755 "$tmp"/*
export BENCH_DATA=${BENCH_DATA:-/tmp/pooler-bench}
export PGPORT=${PGPORT:-25452}
what=${1:-all}
. "$harness/common.sh"

bench_cluster
trap '"$harness/pg-setup.sh" stop "$PGPORT" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

row="-S -C -c 10 -j 2"
if [ "$what" = all ] || [ "$what" = tps ]; then
	CMD_pgbouncer125="$anchor {config}" CMD_pgswitch="$tmp/pgswitch {config}" \
		CMD_floor="$tmp/floor {config}" CMD_fwdfloor="$tmp/fwd-floor {config}" \
		TARGETS="pgbouncer125:transaction pgswitch:transaction floor:transaction fwdfloor:transaction" \
		TESTS="S-C-c10|$row" REPS=${REPS:-6} DURATION=${DURATION:-5} \
		"$harness/run-matrix.sh"
fi

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
split_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
cluster_ticks() {
	local pm t=0 p
	pm=$(head -1 "$BENCH_DATA/pg-$PGPORT/postmaster.pid")
	for p in "$pm" $(pgrep -P "$pm"); do t=$((t + $(ticks "$p"))); done
	echo "$t"
}
cpu_row() { # NAME CMD
	local port=$POOLER_PORT pid u0 s0 u1 s1 c0 c1 tx
	pid=$(POOLER_CMD=$2 "$harness/pooler-start.sh" transaction "$port" "$PGPORT")
	"$PGBIN/pgbench" -h "$HOST" -p "$port" -U "$DB_USER" -n $row -T 2 "$DB_NAME" >/dev/null 2>&1
	read -r u0 s0 < <(split_ticks "$pid")
	c0=$(cluster_ticks)
	/usr/bin/time -f "%U %S" -o "$tmp/time" \
		"$PGBIN/pgbench" -h "$HOST" -p "$port" -U "$DB_USER" -n $row \
		-T "${DURATION:-5}" "$DB_NAME" >"$tmp/out" 2>&1
	read -r u1 s1 < <(split_ticks "$pid")
	c1=$(cluster_ticks)
	"$harness/pooler-start.sh" stop "$port"
	tx=$(awk '/actually processed/{print $NF}' "$tmp/out")
	awk -v n="$1" -v tx="$tx" -v hz="$CLK_TCK" -v pu=$((u1 - u0)) -v ps=$((s1 - s0)) \
		-v pg=$((c1 - c0)) -v b="$(cat "$tmp/time")" \
		-v tps="$(awk '/^tps = /{print $3}' "$tmp/out")" 'BEGIN {
		split(b, t, " "); f = 1e6 / hz / tx
		printf "%-16s tps %7.0f  us/tx: pooler user %5.1f sys %5.1f  postgres %5.1f  pgbench %5.1f\n",
			n, tps, pu * f, ps * f, pg * f, (t[1] + t[2]) * 1e6 / tx }'
}
if [ "$what" = all ] || [ "$what" = cpu ]; then
	POOLER_PORT=${POOLER_PORT:-26432}
	for rep in $(seq "${REPS:-6}"); do
		cpu_row "PgBouncer 1.25.2" "$anchor {config}"
		cpu_row pgswitch "$tmp/pgswitch {config}"
		cpu_row login-floor "$tmp/floor {config}"
		cpu_row fwd-floor "$tmp/fwd-floor {config}"
	done
fi
