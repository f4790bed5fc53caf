#!/usr/bin/env bash
# bench/prepared.sh - issue 13's rows: pgswitch against PgBouncer 1.25.2
# (../shared/anchors) in the same run, transaction mode.
#
#   bench/prepared.sh            TPS + pooler CPU us/tx, then callgrind
#   bench/prepared.sh tps        only the TPS matrix
#   bench/prepared.sh callgrind  only callgrind instructions
#
# TPS rows: pgbench -M prepared -S -c 50 -j 2 (select-only: no open
# transaction, so pgbench's synchronous prepare cannot deadlock a small
# pool), and -S -C -c 10 (a new connection per transaction: the login
# path). Callgrind: instructions per transaction for -M prepared -S, and
# per login (-S -C), as ../shared/bench/callgrind-pooler.sh counts them.
# Environment: REPS [3], DURATION [15], BUILD [build-rel], SCALE [10],
# PGPORT [25452], ANCHOR [../shared/anchors/pgbouncer-1.25.2].
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness=${BENCH_HARNESS:-$root/../shared/bench}
anchor=${ANCHOR:-$root/../shared/anchors/pgbouncer-1.25.2}
build=${BUILD:-build-rel}
bin=/tmp/pgswitch-bench-bin
. "$root/bench/lib.sh"
bench_build "$bin"
export BENCH_DATA=${BENCH_DATA:-/tmp/pooler-bench}
export PGPORT=${PGPORT:-25452}
what=${1:-all}

bench_cluster
trap '"$harness/pg-setup.sh" stop "$PGPORT" >/dev/null 2>&1 || true' EXIT

if [ "$what" = all ] || [ "$what" = tps ]; then
	CMD_pgbouncer125="$anchor {config}" CMD_pgswitch="$bin {config}" \
		TARGETS="pgbouncer125:transaction pgswitch:transaction" \
		TESTS="prep-S-c50|-M prepared -S -c 50 -j 2
S-C-c10|-S -C -c 10 -j 2
S-c50|-S -c 50 -j 2" \
		REPS=${REPS:-3} DURATION=${DURATION:-15} "$harness/run-matrix.sh"
fi

as_bench() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=postgres --regid=postgres --init-groups -- \
			env PATH="/usr/sbin:$PATH" USER=postgres LOGNAME=postgres HOME=/tmp \
			BENCH_DATA="$BENCH_DATA" PGPORT="$PGPORT" "$@"
	else
		"$@"
	fi
}

# Instructions per -M prepared transaction: (Ir(-t N2) - Ir(-t N1)) over
# the extra transactions, so the logins cancel out.
cg_prepared() { # NAME CMD PORT
	local name=$1 cmd=$2 port=$3 dir=$BENCH_DATA/pooler-$3
	as_bench bash -c '
		set -euo pipefail
		. "'"$harness"'/common.sh"
		dir='"$dir"'; rm -f "$dir"/cg.out*
		export POOLER_WRAP="valgrind --tool=callgrind --callgrind-out-file=$dir/cg.out"
		export POOLER_CMD="'"$cmd"'"
		pid=$("'"$harness"'/pooler-start.sh" transaction '"$port"' "$PGPORT")
		trap "\"'"$harness"'/pooler-start.sh\" stop '"$port"'" EXIT
		count() {
			callgrind_control -z "$pid" >/dev/null
			"$PGBIN/pgbench" -h "$HOST" -p '"$port"' -U "$DB_USER" -n "$@" "$DB_NAME" >/dev/null 2>&1 ||
				echo "warning: pgbench $* failed" >&2
			callgrind_control -d "$pid" >/dev/null
			awk "/^(summary|totals):/{print \$2; exit}" "$(ls -t "$dir"/cg.out.* | head -1)"
		}
		count -M prepared -S -c 50 -j 2 -t 20 >/dev/null
		for rep in 1 2; do
			a=$(count -M prepared -S -c 50 -j 2 -t 100)
			b=$(count -M prepared -S -c 50 -j 2 -t 500)
			awk -v a="$a" -v b="$b" -v r="$rep" -v n="'"$name"'" \
				"BEGIN{printf \"%s rep %d: Ir/tx(-M prepared -S -c 50) = %.0f\n\", n, r, (b-a)/(50*400)}"
		done'
}

if [ "$what" = all ] || [ "$what" = callgrind ]; then
	cg_prepared "PgBouncer 1.25.2" "$anchor {config}" 26561
	cg_prepared pgswitch "$bin {config}" 26562
	echo "--- login path (Ir/conn), PgBouncer 1.25.2 then pgswitch"
	as_bench env REPS=2 POOLER_PORT=26563 POOLER_CMD="$anchor {config}" \
		"$harness/callgrind-pooler.sh" transaction 10
	as_bench env REPS=2 POOLER_PORT=26564 POOLER_CMD="$bin {config}" \
		"$harness/callgrind-pooler.sh" transaction 10
fi
