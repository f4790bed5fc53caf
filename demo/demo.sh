#!/usr/bin/env bash
# The pgswitch demo (what `pgswitch` with no config runs): initdb a
# PostgreSQL 15 primary and a streaming standby (replication slot) on
# loopback ports in a temp dir, start pgswitch in front, run pgbench
# writes through it and SWITCHOVER to the standby while they run; print
# pgswitch's timeline and pgbench's failed-transaction count. Then rebuild
# the old primary as a standby of the new one (pg_basebackup) and switch
# back: the round trip. Keeps serving until Ctrl-C (or DEMO_SECONDS).
# Everything it starts it stops by PID.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGSWITCH_BIN=${PGSWITCH_BIN:-$(dirname "$0")/../build/pgswitch}
PGSWITCH_BIN=$(readlink -f "$PGSWITCH_BIN")
PGPORT=${PGPORT:-55440}
PORT=${PORT:-6432}
DURATION=${DURATION:-10}
dir=$(mktemp -d /tmp/pgswitch-demo.XXXXXX)
chmod 755 "$dir"

if [ "$(id -u)" = 0 ]; then
	chown postgres "$dir"
	AS=(setpriv --reuid=postgres --regid=postgres --init-groups --)
else
	AS=()
fi
sw_pid=; bench_pid=; pids=()
cleanup() {
	set +e
	[ -n "$bench_pid" ] && kill "$bench_pid" 2>/dev/null
	[ -n "$sw_pid" ] && kill -QUIT "$sw_pid" 2>/dev/null
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
	sleep 1
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

as_pg() { "${AS[@]}" "$@"; }
psql_q() { "$PGBIN/psql" -X -qAt -h 127.0.0.1 -p "$1" -U postgres -d "$2" -c "$3"; }

# start_pg DATADIR PORT: configure and start a cluster, remember its PID
start_pg() {
	cat >>"$1/postgresql.conf" <<CONF
port = $2
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
max_connections = 100
CONF
	as_pg "$PGBIN/pg_ctl" -D "$1" -l "$1.log" -w start >/dev/null
	pids+=("$(head -1 "$1/postmaster.pid")")
}

# make_standby FROM_PORT DATADIR PORT SLOT: streaming standby with a slot
make_standby() {
	rm -rf "$2"
	as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$1" -U postgres -D "$2" -R -C -S "$4" \
		-X stream --checkpoint=fast >/dev/null 2>&1
	start_pg "$2" "$3"
}

# switch TO_PORT: one admin command; prints pgswitch's report
switch_to() {
	"$PGBIN/psql" -X -h 127.0.0.1 -p "$PORT" -U postgres -d pgbouncer -x \
		-c "SWITCHOVER demo TO 'host=127.0.0.1 port=$1'"
}

# load SECONDS: pgbench writes through pgswitch in the background
load() {
	"$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -n -c 20 -j 2 -T "$1" demo \
		>"$dir/pgbench.out" 2>&1 &
	bench_pid=$!
}
load_result() {
	wait "$bench_pid" || true
	grep -E 'processed|failed|latency average|tps' "$dir/pgbench.out" | sed 's/^/    /'
	echo "    pgbench client errors: $(grep -c 'aborted\|error' "$dir/pgbench.out" || true)"
}

pids=()
SBPORT=$((PGPORT + 1))
say "initdb a primary (port $PGPORT) and a streaming standby (port $SBPORT) in $dir"
as_pg "$PGBIN/initdb" -D "$dir/a" -U postgres --auth=trust >/dev/null
start_pg "$dir/a" "$PGPORT"
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres demo
"$PGBIN/pgbench" -i -s 5 -q -h 127.0.0.1 -p "$PGPORT" -U postgres demo 2>/dev/null
make_standby "$PGPORT" "$dir/b" "$SBPORT" standby_b

say "start pgswitch on 127.0.0.1:$PORT in front of the primary (transaction mode)"
echo '"postgres" ""' >"$dir/userlist.txt"
cat >"$dir/pgswitch.ini" <<INI
[databases]
demo = host=127.0.0.1 port=$PGPORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = 10
max_client_conn = 500
logfile = $dir/pgswitch.log
INI
"$PGSWITCH_BIN" -q "$dir/pgswitch.ini" &
sw_pid=$!
for _ in $(seq 50); do
	"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -d demo && break
	sleep 0.1
done

say "pgbench writes through pgswitch; SWITCHOVER to the standby while it runs"
load "$DURATION"
sleep $((DURATION / 3))
switch_to "$SBPORT"
load_result
echo "    pgswitch now reaches port $(psql_q "$PORT" demo 'SELECT inet_server_port()'), in recovery: $(psql_q "$PORT" demo 'SELECT pg_is_in_recovery()')"
echo "    the old primary is fenced: default_transaction_read_only = $(psql_q "$PGPORT" demo 'SHOW default_transaction_read_only')"
echo "    the ini now says: $(grep '^demo' "$dir/pgswitch.ini")"

say "round trip: rebuild the old primary as a standby of the new one, switch back"
as_pg "$PGBIN/pg_ctl" -D "$dir/a" -m fast stop >/dev/null
make_standby "$SBPORT" "$dir/a" "$PGPORT" standby_a
load "$DURATION"
sleep $((DURATION / 3))
switch_to "$PGPORT"
load_result
echo "    pgswitch now reaches port $(psql_q "$PORT" demo 'SELECT inet_server_port()')"

say "the console: psql -h 127.0.0.1 -p $PORT -U postgres pgbouncer  (SHOW SWITCHOVER; SHOW POOLS; ...)"
if [ -n "${DEMO_SECONDS:-}" ]; then
	sleep "$DEMO_SECONDS"
else
	say "pgswitch keeps serving: psql -h 127.0.0.1 -p $PORT -U postgres demo   (Ctrl-C stops everything)"
	wait "$sw_pid"
fi
