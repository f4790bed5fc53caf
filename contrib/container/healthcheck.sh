#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Container health check for pgswitch: pg_isready against the address and
# port the running config listens on (read from the ini, so a mounted
# pgbouncer.ini is checked where it really listens, not where the
# environment variables say). pg_isready needs no password: a pooler that
# answers the startup packet with an authentication request is healthy.
#
# PGSWITCH_CONFIG / PGSWITCH_CONFIG_DIR as for entrypoint.sh;
# HEALTHCHECK_TIMEOUT (seconds, default 3); PG_ISREADY (default pg_isready).
# Exit 0 healthy, 1 not.

set -eu

CONFIG=${PGSWITCH_CONFIG:-${PGSWITCH_CONFIG_DIR:-/etc/pgbouncer}/pgbouncer.ini}

# ini_get KEY: the last value of KEY in [pgbouncer] (keys are
# case-insensitive; %include files are not followed)
ini_get() {
	awk -v want="$1" '
	/^[ \t]*[;#]/ { next }
	/^[ \t]*\[/ {
		s = $0
		gsub(/[][ \t\r]/, "", s)
		insect = (tolower(s) == "pgbouncer")
		next
	}
	insect && index($0, "=") > 0 {
		k = substr($0, 1, index($0, "=") - 1)
		v = substr($0, index($0, "=") + 1)
		gsub(/^[ \t]+|[ \t\r]+$/, "", k)
		gsub(/^[ \t]+|[ \t\r]+$/, "", v)
		if (tolower(k) == want) { val = v; found = 1 }
	}
	END { if (found) print val }' "$CONFIG"
}

[ -r "$CONFIG" ] || {
	echo "healthcheck: cannot read $CONFIG" >&2
	exit 1
}

port=$(ini_get listen_port)
port=${port:-6432}
addr=$(ini_get listen_addr)
addr=${addr%%,*}
case $addr in
'')
	# no TCP listener: the Unix socket
	addr=$(ini_get unix_socket_dir)
	if [ -z "$addr" ]; then
		# unix_socket_dir absent means /tmp; present but empty means none
		grep -qiE '^[[:space:]]*unix_socket_dir[[:space:]]*=' "$CONFIG" || addr=/tmp
	fi
	;;
'*' | 0.0.0.0) addr=127.0.0.1 ;;
'::' | '[::]') addr=::1 ;;
esac
[ -n "$addr" ] || {
	echo "healthcheck: $CONFIG listens nowhere" >&2
	exit 1
}

exec "${PG_ISREADY:-pg_isready}" -q -h "$addr" -p "$port" -t "${HEALTHCHECK_TIMEOUT:-3}"
