#!/usr/bin/env bash
# bench/bluegreen.sh - N logical (blue/green) switchovers forward and back
# under one pgbench write load, measured as the clients see them (issue
# 14's benchmark), then the hand-run cutover of the shared harness
# (../shared/bench/bluegreen-load.sh, PgBouncer 1.25.2) in the same run.
#
# BLUE (pgbench scale 1 plus a ledger table with a bigserial id) and GREEN
# (schema only), both wal_level = logical; BLUEGREEN PREPARE makes GREEN a
# subscriber through pgswitch's console. pgbench writes (tpcb-like plus a
# ledger row per transaction) for the whole run. Every SPACING seconds:
# SWITCHOVER bench TO the other side WITH (mode = 'logical') on odd
# switches, SWITCHOVER bench ROLLBACK on even ones. For each switchover,
# from pgbench's per-transaction log: the longest gap between two commits
# around it (blackout) and the max latency of transactions ending around
# it; and the report's freeze_ms and phases. At the end the data check:
# every committed ledger row on the side in use exactly once, and on the
# other side too once the reverse replication has caught up.
#
# Environment: N [20], SPACING [3] s, CLIENTS [10], PGPORT [25842] (+1 for
#   GREEN), POOLER_PORT [26842], BUILD [build-rel], HANDRUN [1] (0: skip the
#   hand-run), BENCH_HARNESS [../shared/bench].
# Last line: "result switches=N ok=K failed_tx=.. aborted=.. tx=..
#   blackout_max_ms=.. blackout_p50_ms=.. latency_max_ms=.. freeze_max_ms=..
#   ledger_in_use=.. ledger_other=.. dup_ids=.. handrun_blackout_ms=.."
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness=${BENCH_HARNESS:-$root/../shared/bench}
. "$harness/common.sh"
N=${N:-20}; SPACING=${SPACING:-3}; CLIENTS=${CLIENTS:-10}
PGPORT=${PGPORT:-25842}; GREEN=$((PGPORT + 1)); POOLER_PORT=${POOLER_PORT:-26842}
export BENCH_DATA=${BENCH_DATA:-/tmp/pooler-bench}/bluegreen-bench
out=$BENCH_DATA/out
bin=/tmp/pgswitch-bluegreen-bin
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
	for p in "$PGPORT" "$GREEN"; do
		[ -f "$BENCH_DATA/pg-$p/postmaster.pid" ] &&
			"$harness/pg-setup.sh" stop "$p" >/dev/null 2>&1
	done
	true
}
trap cleanup EXIT
for p in "$PGPORT" "$GREEN"; do
	[ -f "$BENCH_DATA/pg-$p/postmaster.pid" ] && "$harness/pg-setup.sh" stop "$p" >/dev/null 2>&1
done
rm -rf "$BENCH_DATA"; mkdir -p "$out"; chmod 755 "$BENCH_DATA" "$out"
[ "$(id -u)" = 0 ] && chown "$BENCH_USER" "$out"
ms() { date +%s%3N; }
psql_at() { "$PGBIN/psql" -X -qAt -h "$HOST" -p "$1" -U "$DB_USER" -d "$2" -c "$3"; }

"$harness/pg-setup.sh" "$PGPORT" 1 >/dev/null || die "BLUE did not start"
"$harness/pg-setup.sh" "$GREEN" 1 >/dev/null || die "GREEN did not start"
# Both sides logical (the reverse replication reads GREEN). The launcher
# starts an apply worker at most once per wal_retrieve_retry_interval
# (5 s by default): switching back and forth every few seconds re-enables
# subscriptions faster than that.
for p in "$PGPORT" "$GREEN"; do
	printf "wal_level = logical\nwal_retrieve_retry_interval = '200ms'\n" \
		>>"$BENCH_DATA/pg-$p/postgresql.conf"
	as_user "$PGBIN/pg_ctl" -D "$BENCH_DATA/pg-$p" -w restart -l "$BENCH_DATA/pg-$p/server.log" >/dev/null
done
psql_at "$PGPORT" "$DB_NAME" "CREATE TABLE ledger (id bigserial PRIMARY KEY, aid int, at timestamptz DEFAULT now())"
# pgbench_history has no key: give it one, as PREPARE asks
psql_at "$PGPORT" "$DB_NAME" "ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY" >/dev/null
psql_at "$GREEN" "$DB_NAME" "DROP TABLE pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history"
pool=5
POOL_SIZE=$pool POOLER_CMD="$bin {config}" \
	"$harness/pooler-start.sh" transaction "$POOLER_PORT" "$PGPORT" >/dev/null || die "pooler did not start"
# GREEN is empty: PREPARE copies the schema (pg_dump --schema-only) and
# subscribes with copy_data.
psql_at "$POOLER_PORT" pgbouncer "BLUEGREEN $DB_NAME PREPARE TO 'host=$HOST port=$GREEN'" \
	>"$out/prepare.out" 2>&1 || die "PREPARE failed: $(tail -1 "$out/prepare.out")"
for _ in $(seq 600); do
	psql_at "$POOLER_PORT" pgbouncer "SHOW BLUEGREEN $DB_NAME" | grep -q '|ready|' && break
	sleep 0.1
done
psql_at "$POOLER_PORT" pgbouncer "SHOW BLUEGREEN $DB_NAME" | head -1 | grep -q '|ready|' || die "GREEN not ready"

cat >"$out/load.sql" <<'SQL'
\set aid random(1, 100000 * :scale)
\set bid random(1, 1 * :scale)
\set tid random(1, 10 * :scale)
\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
INSERT INTO ledger (aid) VALUES (:aid);
END;
SQL
duration=$((N * SPACING + 4))
(cd "$out" && exec "${AS_USER[@]}" "$PGBIN/pgbench" -h "$HOST" -p "$POOLER_PORT" -U "$DB_USER" -n \
	-c "$CLIENTS" -j 2 -T "$duration" -f load.sql -l --log-prefix=tx "$DB_NAME") >"$out/pgbench.out" 2>&1 &
pgb_pid=$!
sleep 2

cur=$PGPORT; other=$GREEN; ok=0
: >"$out/switches"
for i in $(seq "$N"); do
	if [ $((i % 2)) = 1 ]; then
		sql="SWITCHOVER $DB_NAME TO 'host=$HOST port=$other' WITH (mode = 'logical')"
	else
		sql="SWITCHOVER $DB_NAME ROLLBACK"
	fi
	t0=$(ms)
	if psql_at "$POOLER_PORT" pgbouncer "$sql" >"$out/switch.$i" 2>&1 &&
		grep -q '|switched|' "$out/switch.$i"; then
		ok=$((ok + 1)); st=ok
		tmp=$cur; cur=$other; other=$tmp
	else
		st="FAILED: $(tail -1 "$out/switch.$i")"
	fi
	t1=$(ms)
	# SHOW SWITCHOVER's row: freeze_ms is field 6, phases field 7
	frz=$(awk -F'|' '{print $6}' "$out/switch.$i" | head -1)
	phases=$(awk -F'|' '{print $7}' "$out/switch.$i" | head -1)
	echo "$i $t0 $t1 ${frz:-0} $st" >>"$out/switches"
	echo "switch $i ($(echo "$sql" | awk '{print $3}')): $((t1 - t0)) ms, freeze ${frz:-?} ms: $st [$phases]"
	left=$((SPACING * 1000 - ($(ms) - t0)))
	[ "$left" -gt 0 ] && sleep "$(awk -v l="$left" 'BEGIN{printf "%.3f", l/1000}')"
done
wait "$pgb_pid"; pgb_pid=

tx=$(awk '/actually processed/{print $NF}' "$out/pgbench.out")
failed=$(awk '/^number of failed/{print $5}' "$out/pgbench.out")
aborted=$(grep -c 'aborted in command' "$out/pgbench.out")
cat "$out"/tx.* | awk '{printf "%.3f %.3f\n", $5 * 1000 + $6 / 1000, $3 / 1000}' |
	sort -n >"$out/ends"
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
fmax=$(awk '$4 > m {m = $4} END {printf "%.1f", m}' "$out/switches")

# Data check: every committed transaction left one ledger row on the side
# in use; the other side has them too once the reverse replication caught up.
in_use=$(psql_at "$POOLER_PORT" "$DB_NAME" "SELECT inet_server_port()")
[ "$in_use" = "$cur" ] || echo "  the pooler reaches port $in_use, expected $cur"
lu=$(psql_at "$cur" "$DB_NAME" "SELECT count(*) FROM ledger")
dup=$(psql_at "$cur" "$DB_NAME" "SELECT count(*) - count(DISTINCT id) FROM ledger")
for _ in $(seq 100); do
	lo=$(psql_at "$other" "$DB_NAME" "SELECT count(*) FROM ledger")
	[ "$lo" = "$lu" ] && break
	sleep 0.1
done
"$harness/pooler-start.sh" stop "$POOLER_PORT" >/dev/null 2>&1
hand=skipped
if [ "${HANDRUN:-1}" = 1 ]; then
	POOLER_CMD="$root/../shared/anchors/pgbouncer-1.25.2 {config}" bash "$harness/bluegreen-load.sh" \
		>"$out/handrun.out" 2>&1
	tail -1 "$out/handrun.out" | sed 's/^/  hand-run: /'
	hand=$(tail -1 "$out/handrun.out" | sed -n 's/.*blackout_ms=\([0-9.]*\).*/\1/p')
fi
echo "result switches=$N ok=$ok failed_tx=${failed:-?} aborted=$aborted tx=${tx:-0}" \
	"blackout_max_ms=$bmax blackout_p50_ms=$bp50 latency_max_ms=$lmax freeze_max_ms=$fmax" \
	"ledger_in_use=$lu ledger_other=$lo dup_ids=$dup handrun_blackout_ms=${hand:-?}"
