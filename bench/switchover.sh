#!/usr/bin/env bash
# bench/switchover.sh [MODE] - N switchovers back and forth under one pgbench
# write load, measured as the clients see them (issue 7's benchmark).
#
# A primary (A) and a streaming standby (B, physical slot) from the shared
# harness, pgswitch in front (pooler-start.sh, MODE transaction|session),
# pgbench tpcb-like writes with per-transaction logging for the whole run.
# Every SPACING seconds: SWITCHOVER to the standby, then rebuild the old
# primary as a standby of the new one (pg_basebackup, new slot), so the
# next switchover goes back. For each switchover, from pgbench's log:
# the longest gap between two commits around it (blackout) and the max
# latency of transactions that ended around it.
#
# Environment: N [20], SPACING [4] s, CLIENTS [10], PGPORT [25752] (+1 for B),
#   POOLER_PORT [26752], BUILD [build-rel], BENCH_HARNESS [../shared/bench].
# Last line: "result mode=... switches=N ok=K failed_tx=.. aborted=..
#   blackout_max_ms=.. blackout_p50_ms=.. latency_max_ms=..
#   latency_p99_windows_ms=.. latency_p99_run_ms=.."
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness=${BENCH_HARNESS:-$root/../shared/bench}
. "$harness/common.sh"
mode=${1:-transaction}
N=${N:-20}; SPACING=${SPACING:-4}; CLIENTS=${CLIENTS:-10}
PGPORT=${PGPORT:-25752}; SBPORT=$((PGPORT + 1)); POOLER_PORT=${POOLER_PORT:-26752}
export BENCH_DATA=${BENCH_DATA:-/tmp/pooler-bench}/switchover-bench-$mode
out=$BENCH_DATA/out
bin=/tmp/pgswitch-switchbench-bin
build=${BUILD:-build-rel}
[ -x "$root/$build/pgswitch" ] || { cmake -S "$root" -B "$root/$build" \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGSWITCH_TESTS=OFF >/dev/null &&
	cmake --build "$root/$build" -j2 >/dev/null; }
cp "$root/$build/pgswitch" "$bin"; chmod 755 "$bin"

pgb_pid=
cleanup() {
	[ -n "$pgb_pid" ] && kill "$pgb_pid" 2>/dev/null
	[ -f "$BENCH_DATA/pooler-$POOLER_PORT/pid" ] &&
		"$harness/pooler-start.sh" stop "$POOLER_PORT" >/dev/null 2>&1
	for p in "$PGPORT" "$SBPORT"; do
		[ -f "$BENCH_DATA/pg-$p/postmaster.pid" ] &&
			"$harness/pg-setup.sh" stop "$p" >/dev/null 2>&1
	done
	true
}
trap cleanup EXIT
for p in "$PGPORT" "$SBPORT"; do
	[ -f "$BENCH_DATA/pg-$p/postmaster.pid" ] && "$harness/pg-setup.sh" stop "$p" >/dev/null 2>&1
done
rm -rf "$BENCH_DATA"; mkdir -p "$out"; chmod 755 "$BENCH_DATA" "$out"
[ "$(id -u)" = 0 ] && chown "$BENCH_USER" "$out"

# standby DATADIR PORT FROM_PORT SLOT
standby() {
	rm -rf "$1"
	as_user "$PGBIN/pg_basebackup" -h "$HOST" -p "$3" -U "$DB_USER" -D "$1" -R -C -S "$4" \
		-X stream --checkpoint=fast >/dev/null 2>&1 || die "pg_basebackup from $3 failed"
	printf "port = %s\nunix_socket_directories = '%s'\n" "$2" "$1" >>"$1/postgresql.conf"
	as_user "$PGBIN/pg_ctl" -D "$1" -l "$1/server.log" -w start >/dev/null || die "standby $2 did not start"
}
ms() { date +%s%3N; }
psql_at() { "$PGBIN/psql" -X -qAt -h "$HOST" -p "$1" -U "$DB_USER" -d "$2" -c "$3"; }

"$harness/pg-setup.sh" "$PGPORT" 1 >/dev/null || die "primary did not start"
standby "$BENCH_DATA/pg-$SBPORT" "$SBPORT" "$PGPORT" slot_0
pool=$([ "$mode" = session ] && echo $((CLIENTS + 5)) || echo 5)
POOL_SIZE=$pool POOLER_CMD="$bin {config}" \
	"$harness/pooler-start.sh" "$mode" "$POOLER_PORT" "$PGPORT" >/dev/null || die "pooler did not start"

# Rebuilding the old primary as a standby can take longer than SPACING:
# pgbench runs long enough to cover every switch.
duration=$((N * (SPACING + 4) + 4))
(cd "$out" && exec "${AS_USER[@]}" "$PGBIN/pgbench" -h "$HOST" -p "$POOLER_PORT" -U "$DB_USER" -n \
	-c "$CLIENTS" -j 2 -T "$duration" -l --log-prefix=tx "$DB_NAME") >"$out/pgbench.out" 2>&1 &
pgb_pid=$!
sleep 2

cur=$PGPORT; other=$SBPORT; ok=0
: >"$out/switches"
for i in $(seq "$N"); do
	t0=$(ms)
	if psql_at "$POOLER_PORT" pgbouncer \
		"SWITCHOVER $DB_NAME TO 'host=$HOST port=$other'" >"$out/switch.$i" 2>&1; then
		ok=$((ok + 1)); st=ok
	else
		st="FAILED: $(tail -1 "$out/switch.$i")"
	fi
	t1=$(ms)
	echo "$i $t0 $t1 $cur->$other $st" >>"$out/switches"
	echo "switch $i: $cur -> $other in $((t1 - t0)) ms: $st"
	if [ "$st" = ok ]; then
		# the old primary (fenced, read-only) becomes a standby of the new one
		"$harness/pg-setup.sh" stop "$cur" >/dev/null 2>&1
		standby "$BENCH_DATA/pg-$cur" "$cur" "$other" "slot_$i"
		tmp=$cur; cur=$other; other=$tmp
	fi
	left=$((SPACING * 1000 - ($(ms) - t0)))
	[ "$left" -gt 0 ] && sleep "$(awk -v l="$left" 'BEGIN{printf "%.3f", l/1000}')"
done
wait "$pgb_pid"; pgb_pid=

failed=$(awk '/^number of failed/{print $5}' "$out/pgbench.out")
aborted=$(grep -c 'aborted in command' "$out/pgbench.out")
# per transaction: end time (ms) and latency (ms)
cat "$out"/tx.* | awk '{printf "%.3f %.3f\n", $5 * 1000 + $6 / 1000, $3 / 1000}' |
	sort -n >"$out/ends"
# For each switchover window [t0 - 200 ms, t1 + 500 ms]: longest gap between
# consecutive commits and the max latency of transactions ending in it.
awk 'NR == FNR { t0[NR] = $2; t1[NR] = $3; n = NR; next }
	{ e = $1; l = $2
	  for (i = 1; i <= n; i++) if (e >= t0[i] - 200 && e <= t1[i] + 500) {
		if (last[i] && e - last[i] > gap[i]) gap[i] = e - last[i]
		last[i] = e; if (l > lat[i]) lat[i] = l } }
	END { for (i = 1; i <= n; i++) printf "%d %.1f %.1f\n", i, gap[i], lat[i] }' \
	"$out/switches" "$out/ends" >"$out/per-switch"
echo "per switchover: n blackout_ms max_latency_ms"
sed 's/^/  /' "$out/per-switch"
bmax=$(awk '$2 > m {m = $2} END {printf "%.1f", m}' "$out/per-switch")
lmax=$(awk '$3 > m {m = $3} END {printf "%.1f", m}' "$out/per-switch")
bp50=$(awk '{print $2}' "$out/per-switch" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
# p99 latency (nearest rank): of transactions ending in any switchover
# window, and of the whole run.
p99() { sort -n | awk '{a[NR] = $1} END {if (NR) printf "%.1f", a[int((NR * 99 + 99) / 100)]; else print "n/a"}'; }
lp99=$(awk 'NR == FNR { t0[NR] = $2; t1[NR] = $3; n = NR; next }
	{ for (i = 1; i <= n; i++) if ($1 >= t0[i] - 200 && $1 <= t1[i] + 500) { print $2; break } }' \
	"$out/switches" "$out/ends" | p99)
lp99all=$(awk '{print $2}' "$out/ends" | p99)
echo "result mode=$mode switches=$N ok=$ok failed_tx=${failed:-?} aborted=$aborted" \
	"blackout_max_ms=$bmax blackout_p50_ms=$bp50 latency_max_ms=$lmax" \
	"latency_p99_windows_ms=$lp99 latency_p99_run_ms=$lp99all"
