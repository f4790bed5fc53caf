#!/usr/bin/env bash
# The pgswitch demo (what `pgswitch` with no config runs): initdb a
# PostgreSQL 15 on a loopback port in a temp dir, start pgswitch in front
# of it in transaction mode, run pgbench through pgswitch, show the
# console's view, then keep serving until Ctrl-C (or DEMO_SECONDS).
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
pg_pid=; sw_pid=
cleanup() {
	[ -n "$sw_pid" ] && kill -INT "$sw_pid" 2>/dev/null
	[ -n "$pg_pid" ] && kill -INT "$pg_pid" 2>/dev/null
	sleep 0.5
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

say "initdb a demo PostgreSQL 15 in $dir (port $PGPORT)"
"${AS[@]}" "$PGBIN/initdb" -D "$dir/pg" -U postgres --auth=trust >/dev/null
cat >>"$dir/pg/postgresql.conf" <<CONF
port = $PGPORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
max_connections = 100
CONF
"${AS[@]}" "$PGBIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w start >/dev/null
pg_pid=$(head -1 "$dir/pg/postmaster.pid")
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres demo
"$PGBIN/pgbench" -i -s 5 -q -h 127.0.0.1 -p "$PGPORT" -U postgres demo 2>/dev/null

say "start pgswitch on 127.0.0.1:$PORT (transaction mode, pool size 10)"
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

say "pgbench: 40 clients through pgswitch for ${DURATION}s"
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -c 40 -j 2 -T "$DURATION" \
	-M extended demo 2>&1 | grep -E 'clients|processed|failed|latency average|tps'

say "the console: psql -h 127.0.0.1 -p $PORT -U postgres pgbouncer"
"$PGBIN/psql" -X -h 127.0.0.1 -p "$PORT" -U postgres pgbouncer -c 'SHOW POOLS' \
	-c 'SHOW STATS_TOTALS'

if [ -n "${DEMO_SECONDS:-}" ]; then
	sleep "$DEMO_SECONDS"
else
	say "pgswitch keeps serving: psql -h 127.0.0.1 -p $PORT -U postgres demo   (Ctrl-C stops everything)"
	wait "$sw_pid"
fi
