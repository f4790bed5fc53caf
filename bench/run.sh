#!/usr/bin/env bash
# bench/run.sh - pgswitch vs PgBouncer vs direct connections, one run, one
# machine, using the shared harness (../shared/bench, or BENCH_HARNESS).
#
#   bench/run.sh            TPS matrix + callgrind instructions per transaction
#   bench/run.sh tps        only the TPS matrix
#   bench/run.sh callgrind  only callgrind
#
# Tests (as issue 3 asks): pgbench -S -c 50 in transaction mode, -c 200 in
# session mode, plus select-1 at -c 50. Results land in $BENCH_DATA/results/
# and the summary is printed; copy it into docs/benchmarks.md with the command.
# Environment: REPS [3], DURATION [15], BUILD [build-rel], SCALE [10],
# PGPORT [25462]: below the kernel's ephemeral range (32768-60999), where
# the churn of -C runs can hold a port and make the cluster's bind fail.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness=${BENCH_HARNESS:-$root/../shared/bench}
[ -x "$harness/run-matrix.sh" ] || { echo "no harness at $harness" >&2; exit 1; }
build=${BUILD:-build-rel}
if [ ! -x "$root/$build/pgswitch" ]; then
	cmake -S "$root" -B "$root/$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGSWITCH_TESTS=OFF >/dev/null
	cmake --build "$root/$build" -j2 >/dev/null
fi
# The pooler runs as the unprivileged bench user: give it a readable copy.
bin=/tmp/pgswitch-bench-bin
cp "$root/$build/pgswitch" "$bin"; chmod 755 "$bin"
export BENCH_DATA=${BENCH_DATA:-/tmp/pooler-bench}
export PGPORT=${PGPORT:-25462}
what=${1:-all}

. "$root/bench/lib.sh"
bench_cluster
trap '"$harness/pg-setup.sh" stop "$PGPORT" >/dev/null 2>&1 || true' EXIT

if [ "$what" = all ] || [ "$what" = tps ]; then
	CMD_pgswitch="$bin {config}" \
	TARGETS=${TPS_TARGETS:-"direct pgbouncer:transaction pgswitch:transaction pgbouncer:session pgswitch:session"} \
	TESTS=${TPS_TESTS:-"S-c50|-S -c 50 -j 2
sel1-c50|-f $harness/select1.sql -c 50 -j 2
S-c200|-S -c 200 -j 2"} \
	REPS=${REPS:-3} DURATION=${DURATION:-15} "$harness/run-matrix.sh"
fi
# callgrind_control finds the pooler through a pipe named after the user:
# run the whole step as the bench user when we are root.
as_bench() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=postgres --regid=postgres --init-groups -- \
			env PATH="/usr/sbin:$PATH" USER=postgres LOGNAME=postgres HOME=/tmp \
			BENCH_DATA="$BENCH_DATA" PGPORT="$PGPORT" "$@"
	else
		"$@"
	fi
}
if [ "$what" = all ] || [ "$what" = callgrind ]; then
	rm -rf "$BENCH_DATA"/pooler-56532 # left by a root run: not writable
	for mode in ${CG_MODES:-transaction session}; do
		echo "--- callgrind $mode: PgBouncer"
		as_bench env REPS=${CG_REPS:-2} "$harness/callgrind-pooler.sh" "$mode" 10
		echo "--- callgrind $mode: pgswitch"
		as_bench env REPS=${CG_REPS:-2} POOLER_CMD="$bin {config}" \
			"$harness/callgrind-pooler.sh" "$mode" 10
	done
fi
