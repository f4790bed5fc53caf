#!/bin/sh
# SPDX-License-Identifier: MIT
#
# pgswitch container entrypoint: writes pgbouncer.ini and userlist.txt from
# environment variables (the names the edoburu/pgbouncer and
# bitnami/pgbouncer images read), then execs pgswitch on them.
# docs/container.md has the variable table.
#
#   entrypoint.sh                  render, then exec pgswitch CONFIG
#   entrypoint.sh -v ...           render, then exec pgswitch -v ... CONFIG
#   entrypoint.sh pgswitch [ARGS]  render, then exec pgswitch ARGS (or CONFIG)
#                                  ("pgbouncer [ARGS]" means the same)
#   entrypoint.sh render           render only (PGSWITCH_RENDER_ONLY=1 too)
#   entrypoint.sh CMD [ARGS]       render, then exec CMD ARGS
#
# Files: PGSWITCH_CONFIG (default $PGSWITCH_CONFIG_DIR/pgbouncer.ini,
# PGSWITCH_CONFIG_DIR default /etc/pgbouncer) and the auth_file (AUTH_FILE,
# default userlist.txt next to the ini). An existing ini is left alone
# (PGSWITCH_OVERWRITE_CONFIG=1 writes both files anew); users missing from
# an existing userlist are appended. Passwords are never printed.
#
# POSIX sh only (dash, busybox ash); needs sed, awk, md5sum.

set -eu
umask 077

ME=pgswitch-entrypoint
say() { printf '%s: %s\n' "$ME" "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

NL='
'

# -- environment access -------------------------------------------------------

# getv NAME: the value of $NAME ("" when unset). NAME is always one of ours.
getv() {
	case $1 in
	'' | [0-9]* | *[!A-Za-z0-9_]*) die "internal: bad variable name '$1'" ;;
	esac
	eval "printf '%s' \"\${$1-}\""
}

# first NAME...: the first non-empty value among the variables NAME...
first() {
	for _n in "$@"; do
		_v=$(getv "$_n")
		if [ -n "$_v" ]; then
			printf '%s' "$_v"
			return 0
		fi
	done
	return 0
}

# NAME_FILE (Docker/Kubernetes secrets): read NAME from a file when NAME
# itself is unset or empty. The trailing newline is dropped.
for _n in DB_PASSWORD DATABASE_URL DATABASE_URLS AUTH_PASSWORD \
	PGBOUNCER_AUTH_PASSWORD ADMIN_PASSWORD ADMIN_PASSWORDS STATS_PASSWORDS \
	POSTGRESQL_PASSWORD PGBOUNCER_USERLIST; do
	_f=$(getv "${_n}_FILE")
	if [ -n "$_f" ] && [ -z "$(getv "$_n")" ]; then
		[ -r "$_f" ] || die "${_n}_FILE: cannot read $_f"
		_v=$(cat "$_f")
		eval "$_n=\$_v"
	fi
done

CONFIG_DIR=${PGSWITCH_CONFIG_DIR:-/etc/pgbouncer}
CONFIG=${PGSWITCH_CONFIG:-$CONFIG_DIR/pgbouncer.ini}
BIN=${PGSWITCH_BIN:-pgswitch}
OVERWRITE=${PGSWITCH_OVERWRITE_CONFIG:-0}
case $OVERWRITE in 1 | yes | true | on) OVERWRITE=1 ;; *) OVERWRITE=0 ;; esac

# ini_get FILE KEY: the last value of KEY in FILE's [pgbouncer] section
ini_get() {
	PGSW_K=$2 awk 'BEGIN { want = ENVIRON["PGSW_K"] }
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
		if (tolower(k) == want) val = v
	}
	END { printf "%s", val }' "$1"
}

# The userlist: AUTH_FILE, else the auth_file of an ini we keep, else
# userlist.txt next to the ini.
AUTH_FILE_PATH=$(first AUTH_FILE PGBOUNCER_AUTH_FILE)
if [ -z "$AUTH_FILE_PATH" ] && [ -f "$CONFIG" ] && [ "$OVERWRITE" != 1 ]; then
	AUTH_FILE_PATH=$(ini_get "$CONFIG" auth_file 2>/dev/null) || AUTH_FILE_PATH=''
	case $AUTH_FILE_PATH in
	'' | /*) ;;
	*) AUTH_FILE_PATH=$(dirname -- "$CONFIG")/$AUTH_FILE_PATH ;;
	esac
fi
AUTH_FILE_PATH=${AUTH_FILE_PATH:-$(dirname -- "$CONFIG")/userlist.txt}

is_yes() {
	case $1 in 1 | yes | true | on | YES | Yes | TRUE | True | ON) return 0 ;; esac
	return 1
}

# -- small string helpers -----------------------------------------------------

# one_line WHAT VALUE: refuse values that would break a line-based file
one_line() {
	case $2 in *"$NL"* | *"$(printf '\r')"*)
		die "$1 contains a line break"
		;;
	esac
}

# pct_decode: %XX-decode stdin (URL user, password, database name)
pct_decode() {
	LC_ALL=C awk 'BEGIN {
		for (i = 1; i < 256; i++) hex[sprintf("%02x", i)] = sprintf("%c", i)
	}
	{
		if (NR > 1) out = out "\n"
		s = $0
		while ((i = index(s, "%")) > 0) {
			c = tolower(substr(s, i + 1, 2))
			if (c in hex) {
				out = out substr(s, 1, i - 1) hex[c]
				s = substr(s, i + 3)
			} else {
				out = out substr(s, 1, i)
				s = substr(s, i + 1)
			}
		}
		out = out s
	}
	END { printf "%s", out }'
}

# dq VALUE: VALUE in double quotes, "" for a quote (userlist.txt fields,
# [databases] names)
dq() {
	printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"
}

# cs_val VALUE: a connect-string value, single-quoted when it needs it
cs_val() {
	case $1 in
	'' | *[!A-Za-z0-9_.,:/@+*-]*)
		printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
		;;
	*) printf '%s' "$1" ;;
	esac
}

# db_name NAME: a [databases] entry name, quoted unless [0-9A-Za-z_.-] or *
db_name() {
	case $1 in
	'*') printf '*' ;;
	*[!A-Za-z0-9_.-]*) dq "$1" ;;
	*) printf '%s' "$1" ;;
	esac
}

# -- DATABASE_URL -------------------------------------------------------------

# parse_url URL: sets U_USER U_PASS U_HOST U_PORT U_DB U_SSLMODE.
# scheme://[user[:password]@]host[:port][/dbname][?sslmode=...]; user,
# password and dbname may be %-encoded. The last @ ends the user part, so an
# unencoded @ in a password works.
parse_url() {
	_u=$1
	U_USER='' U_PASS='' U_HOST='' U_PORT='' U_DB='' U_SSLMODE=''
	case $_u in *://*) _u=${_u#*://} ;; esac
	case $_u in *@*)
		_ui=${_u%@*}
		_u=${_u##*@}
		case $_ui in
		*:*)
			U_USER=$(printf '%s' "${_ui%%:*}" | pct_decode)
			U_PASS=$(printf '%s' "${_ui#*:}" | pct_decode)
			;;
		*) U_USER=$(printf '%s' "$_ui" | pct_decode) ;;
		esac
		;;
	esac
	_q=''
	case $_u in *\?*)
		_q=${_u#*\?}
		_u=${_u%%\?*}
		;;
	esac
	case $_u in */*)
		U_DB=$(printf '%s' "${_u#*/}" | pct_decode)
		_u=${_u%%/*}
		;;
	esac
	case $_u in
	\[*\]:*)
		U_HOST=${_u%%]*}
		U_HOST=${U_HOST#\[}
		U_PORT=${_u##*]:}
		;;
	\[*\])
		U_HOST=${_u#\[}
		U_HOST=${U_HOST%]}
		;;
	*:*)
		U_HOST=${_u%:*}
		U_PORT=${_u##*:}
		;;
	*) U_HOST=$_u ;;
	esac
	_oldifs=$IFS
	IFS='&'
	for _kv in $_q; do
		case $_kv in sslmode=*) U_SSLMODE=${_kv#sslmode=} ;; esac
	done
	IFS=$_oldifs
	case $U_PORT in *[!0-9]*) die "DATABASE_URL: bad port '$U_PORT'" ;; esac
	return 0
}

# -- which variables ----------------------------------------------------------

# Bitnami style: POSTGRESQL_* / PGBOUNCER_DATABASE and none of the edoburu
# database variables. Only the defaults differ (port 6432, scram-sha-256,
# admin = POSTGRESQL_USERNAME, database alias "postgres").
BITNAMI=0
if [ -z "${DB_HOST-}${DATABASE_URL-}${DATABASE_URLS-}" ] &&
	[ -n "${POSTGRESQL_HOST-}${POSTGRESQL_USERNAME-}${POSTGRESQL_DATABASE-}${PGBOUNCER_DATABASE-}" ]; then
	BITNAMI=1
fi

if [ -n "${DATABASE_URL-}" ]; then
	one_line DATABASE_URL "$DATABASE_URL"
	parse_url "$DATABASE_URL"
	# Explicit DB_* variables win over the URL's parts (edoburu lets the
	# URL win; with `env_file: .env` that silently picks up the
	# application's DATABASE_URL instead of the DB_* given in compose).
	for _p in HOST:U_HOST PORT:U_PORT USER:U_USER PASSWORD:U_PASS NAME:U_DB; do
		_var=DB_${_p%%:*}
		_mine=$(getv "$_var")
		_url=$(getv "${_p#*:}")
		if [ -n "$_mine" ] && [ -n "$_url" ] && [ "$_mine" != "$_url" ]; then
			say "note: $_var is set and overrides DATABASE_URL's value"
		fi
	done
	DB_HOST=${DB_HOST:-$U_HOST}
	DB_PORT=${DB_PORT:-$U_PORT}
	DB_USER=${DB_USER:-$U_USER}
	DB_PASSWORD=${DB_PASSWORD:-$U_PASS}
	DB_NAME=${DB_NAME:-$U_DB}
	URL_SSLMODE=$U_SSLMODE
fi
DB_HOST=$(first DB_HOST POSTGRESQL_HOST)
DB_PORT=$(first DB_PORT POSTGRESQL_PORT)
DB_PORT=${DB_PORT:-5432}
DB_USER=$(first DB_USER POSTGRESQL_USERNAME)
DB_PASSWORD=$(first DB_PASSWORD POSTGRESQL_PASSWORD)
DB_NAME=$(first DB_NAME POSTGRESQL_DATABASE)
if [ "$BITNAMI" = 1 ]; then
	DB_HOST=${DB_HOST:-postgresql}
	DB_USER=${DB_USER:-postgres}
	DB_ALIAS=${PGBOUNCER_DATABASE:-postgres}
	DB_NAME=${DB_NAME:-$DB_ALIAS}
	[ "$DB_ALIAS" = '*' ] && DB_NAME=''
else
	DB_ALIAS=${DB_NAME:-*}
	[ "$DB_ALIAS" = '*' ] && DB_NAME=''
fi
for _n in DB_HOST DB_PORT DB_USER DB_PASSWORD DB_NAME DB_ALIAS; do
	one_line "$_n" "$(getv "$_n")"
done
case $DB_PORT in *[!0-9]*) die "DB_PORT: not a port: $DB_PORT" ;; esac

AUTH_TYPE_V=$(first AUTH_TYPE PGBOUNCER_AUTH_TYPE)
if [ -z "$AUTH_TYPE_V" ]; then
	if [ "$BITNAMI" = 1 ]; then AUTH_TYPE_V=scram-sha-256; else AUTH_TYPE_V=md5; fi
fi
AUTH_USER_V=$(first AUTH_USER PGBOUNCER_AUTH_USER)
ADMINS=$(first ADMIN_USERS PGBOUNCER_ADMIN_USERS)
if [ -z "$ADMINS" ]; then
	if [ "$BITNAMI" = 1 ]; then ADMINS=$DB_USER; else ADMINS=postgres; fi
fi
AUTH_PASSWORD_V=$(first AUTH_PASSWORD PGBOUNCER_AUTH_PASSWORD)

# -- userlist.txt -------------------------------------------------------------

# secret USER PASSWORD: what userlist.txt stores for USER. A SCRAM verifier
# or an md5 hash is stored as given; a plain password is stored as md5 for
# auth_type md5 and as given otherwise (scram-sha-256, plain, hba, ...:
# plain text works for every client method and for the server login).
secret() {
	case $2 in
	SCRAM-SHA-256\$*:*\$*:*)
		printf '%s' "$2"
		return 0
		;;
	md5*)
		_h=${2#md5}
		case $_h in
		*[!0-9a-f]*) ;;
		*) if [ ${#_h} -eq 32 ]; then
			if [ "$AUTH_TYPE_V" = scram-sha-256 ]; then
				say "warning: the password of $1 is an md5 hash: SCRAM logins need a plain password or a SCRAM verifier"
			fi
			printf '%s' "$2"
			return 0
		fi ;;
		esac
		;;
	esac
	if [ "$AUTH_TYPE_V" = md5 ]; then
		_h=$(printf '%s%s' "$2" "$1" | md5sum) || die "md5sum failed"
		printf 'md5%s' "${_h%% *}"
	else
		printf '%s' "$2"
	fi
}

USERLIST_NEW=''
USERLIST_USERS=' '

# in_userlist USER: USER has an entry in the existing auth file
in_userlist() {
	[ -f "$AUTH_FILE_PATH" ] || return 1
	PGSW_Q=$(dq "$1") awk 'BEGIN { q = ENVIRON["PGSW_Q"]; found = 0 }
	{
		sub(/^[ \t]+/, "")
		if (index($0, q " ") == 1 || index($0, q "\t") == 1 || $0 == q) found = 1
	}
	END { exit found ? 0 : 1 }' "$AUTH_FILE_PATH"
}

# add_user USER PASSWORD WHY: queue a userlist entry (unless USER has one)
add_user() {
	[ -n "$1" ] && [ -n "$2" ] || return 0
	one_line "user name" "$1"
	one_line "the password of $1" "$2"
	case $USERLIST_USERS in *" $(dq "$1") "*) return 0 ;; esac
	if [ "$OVERWRITE" != 1 ] && in_userlist "$1"; then
		say "userlist: $1 already in $AUTH_FILE_PATH, kept"
		return 0
	fi
	_sec=$(secret "$1" "$2") || exit 1
	USERLIST_USERS="$USERLIST_USERS$(dq "$1") "
	USERLIST_NEW="$USERLIST_NEW$(dq "$1") $(dq "$_sec")$NL"
	say "userlist: $1 ($3)"
}

# add_pairs USERS PASSWORDS WHY: comma lists, matched by position
add_pairs() {
	[ -n "$1" ] && [ -n "$2" ] || return 0
	_users=$1
	_pws=$2,
	_oldifs=$IFS
	IFS=,
	for _usr in $_users; do
		IFS=$_oldifs
		_pw=${_pws%%,*}
		_pws=${_pws#*,}
		_usr=$(printf '%s' "$_usr" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
		add_user "$_usr" "$_pw" "$3"
		IFS=,
	done
	IFS=$_oldifs
}

# -- [databases] --------------------------------------------------------------

DATABASES=''
URL_SSLMODE=${URL_SSLMODE-}

# db_entry ALIAS HOST PORT DBNAME USER PASSWORD: one [databases] line
db_entry() {
	_cs="host=$(cs_val "$2") port=$3"
	[ "$1" != '*' ] && [ -n "$4" ] && _cs="$_cs dbname=$(cs_val "$4")"
	if is_yes "${PGBOUNCER_SET_DATABASE_USER:-no}" && [ -n "$5" ]; then
		_cs="$_cs user=$(cs_val "$5")"
	fi
	# edoburu: auth_user=DB_USER on the database, so that roles without a
	# userlist entry log in through auth_query run as DB_USER. An AUTH_USER
	# whose password we know (AUTH_PASSWORD, or its userlist entry) is
	# used instead, for every database.
	if [ -n "$5" ] && [ "$AUTH_USER_OK" != 1 ]; then
		_cs="$_cs auth_user=$(cs_val "$5")"
	fi
	for _kv in pool_size:POOL_SIZE client_encoding:CLIENT_ENCODING \
		timezone:TIMEZONE connect_query:CONNECT_QUERY \
		connect_query:PGBOUNCER_CONNECT_QUERY; do
		_v=$(getv "${_kv#*:}")
		if [ -n "$_v" ]; then
			one_line "${_kv#*:}" "$_v"
			_cs="$_cs ${_kv%%:*}=$(cs_val "$_v")"
		fi
	done
	# last, so that the log can mask it up to the end of the line
	if is_yes "${PGBOUNCER_SET_DATABASE_PASSWORD:-no}" && [ -n "$6" ]; then
		_cs="$_cs password=$(cs_val "$6")"
	fi
	DATABASES="$DATABASES$(db_name "$1") = $_cs$NL"
}

AUTH_USER_OK=0
if [ -n "$AUTH_USER_V" ]; then
	if [ -n "$AUTH_PASSWORD_V" ] || { [ "$OVERWRITE" != 1 ] && in_userlist "$AUTH_USER_V"; }; then
		AUTH_USER_OK=1
	elif [ -n "$DB_USER" ]; then
		say "warning: AUTH_USER=$AUTH_USER_V has no password (set AUTH_PASSWORD): auth_query runs as DB_USER=$DB_USER, as edoburu/pgbouncer does"
	else
		say "warning: AUTH_USER=$AUTH_USER_V has no password (set AUTH_PASSWORD): its logins work only where the server trusts it"
	fi
fi

build_databases() {
	if [ -n "$DB_HOST" ]; then
		db_entry "$DB_ALIAS" "$DB_HOST" "$DB_PORT" "$DB_NAME" "$DB_USER" "$DB_PASSWORD"
	fi
	# DATABASE_URLS: several URLs, comma-separated; each is a database named
	# after its dbname (parsed on its own: nothing carries over)
	if [ -n "${DATABASE_URLS-}" ]; then
		one_line DATABASE_URLS "$DATABASE_URLS"
		_oldifs=$IFS
		IFS=,
		for _url in $DATABASE_URLS; do
			IFS=$_oldifs
			parse_url "$_url"
			[ -n "$U_HOST" ] || die "DATABASE_URLS: no host in an entry"
			db_entry "${U_DB:-*}" "$U_HOST" "${U_PORT:-5432}" "$U_DB" "$U_USER" "$U_PASS"
			IFS=,
		done
		IFS=$_oldifs
	fi
	# bitnami: PGBOUNCER_DSN_0, _1, ...: "name=connect string" taken as is
	_i=0
	while :; do
		_dsn=$(getv "PGBOUNCER_DSN_$_i")
		_dsnf=$(getv "PGBOUNCER_DSN_${_i}_FILE")
		if [ -z "$_dsn" ] && [ -n "$_dsnf" ]; then
			[ -r "$_dsnf" ] || die "PGBOUNCER_DSN_${_i}_FILE: cannot read $_dsnf"
			_dsn=$(cat "$_dsnf")
		fi
		[ -n "$_dsn" ] || break
		one_line "PGBOUNCER_DSN_$_i" "$_dsn"
		case $_dsn in *=*) ;; *) die "PGBOUNCER_DSN_$_i: expected name=connect string" ;; esac
		DATABASES="$DATABASES${_dsn%%=*} = ${_dsn#*=}$NL"
		_i=$((_i + 1))
	done
	[ -n "$DATABASES" ] || die "no database: set DB_HOST (with DB_PORT, DB_NAME, ...), DATABASE_URL, DATABASE_URLS, POSTGRESQL_HOST or PGBOUNCER_DSN_0 (or mount a pgbouncer.ini)"
}

# -- [pgbouncer] --------------------------------------------------------------

# Every [pgbouncer] key of PgBouncer 1.25 plus pgswitch's own (io_uring,
# switchover_state_file, workers). The variable is the key in upper case,
# or PGBOUNCER_ + that (bitnami). Not here: conffile (the command line
# gives it), user ($USER is set in most shells), job_name and service_name
# (Windows service names; SERVICE_NAME is common in .env files); listen_addr,
# listen_port, unix_socket_dir, auth_file, auth_type, admin_users and
# ignore_startup_parameters have defaults and are written first.
KEYS='application_name_add_host auth_dbname auth_hba_file auth_ident_file
auth_ldap_options auth_query auth_user autodb_idle_timeout cancel_wait_timeout
client_idle_timeout client_login_timeout client_tls13_ciphers
client_tls_ca_file client_tls_cert_file client_tls_ciphers
client_tls_dheparams client_tls_ecdhcurve client_tls_key_file
client_tls_protocols client_tls_sslmode default_pool_size disable_pqexec
dns_max_ttl dns_nxdomain_ttl dns_zone_check_period idle_transaction_timeout
io_uring listen_backlog log_connections log_disconnections
log_pooler_errors log_stats logfile max_client_conn max_db_client_connections
max_db_connections max_packet_size max_prepared_statements
max_user_client_connections max_user_connections min_pool_size peer_id
pidfile pkt_buf pool_mode query_timeout query_wait_notify query_wait_timeout
reserve_pool_size reserve_pool_timeout resolv_conf sbuf_loopcnt
scram_iterations server_check_delay server_check_query
server_connect_timeout server_fast_close server_idle_timeout server_lifetime
server_login_retry server_reset_query server_reset_query_always
server_round_robin server_tls13_ciphers server_tls_ca_file
server_tls_cert_file server_tls_ciphers server_tls_key_file
server_tls_protocols server_tls_sslmode so_reuseport
stats_period stats_users suspend_timeout switchover_state_file syslog
syslog_facility syslog_ident tcp_defer_accept tcp_keepalive tcp_keepcnt
tcp_keepidle tcp_keepintvl tcp_socket_buffer tcp_user_timeout
track_extra_parameters transaction_timeout unix_socket_group
unix_socket_mode verbose workers'

# key_value KEY [ALIAS...]: the value for KEY from KEY, PGBOUNCER_KEY, ALIAS...
key_value() {
	_k=$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')
	shift
	first "$_k" "PGBOUNCER_$_k" "$@"
}

PGB=''
# setkey KEY VALUE: one "key = value" line (values are taken literally)
setkey() {
	one_line "$1" "$2"
	if [ -n "$2" ]; then PGB="$PGB$1 = $2$NL"; else PGB="$PGB$1 =$NL"; fi
}

build_pgbouncer() {
	_v=$(key_value listen_addr PGBOUNCER_LISTEN_ADDRESS)
	setkey listen_addr "${_v:-0.0.0.0}"
	_v=$(key_value listen_port PGBOUNCER_PORT)
	if [ -z "$_v" ]; then
		if [ "$BITNAMI" = 1 ]; then _v=6432; else _v=5432; fi
	fi
	setkey listen_port "$_v"
	# no Unix socket unless asked for (as edoburu/pgbouncer)
	setkey unix_socket_dir "$(key_value unix_socket_dir PGBOUNCER_SOCKET_DIR)"
	setkey auth_file "$AUTH_FILE_PATH"
	setkey auth_type "$AUTH_TYPE_V"
	setkey admin_users "$ADMINS"
	_v=$(key_value ignore_startup_parameters)
	setkey ignore_startup_parameters "${_v:-extra_float_digits}"
	for _key in $KEYS; do
		case $_key in
		logfile) _v=$(key_value "$_key" PGBOUNCER_LOG_FILE) ;;
		unix_socket_mode) _v=$(key_value "$_key" PGBOUNCER_SOCKET_MODE) ;;
		unix_socket_group) _v=$(key_value "$_key" PGBOUNCER_SOCKET_GROUP) ;;
		server_tls_sslmode) _v=$(key_value "$_key" URL_SSLMODE) ;;
		*) _v=$(key_value "$_key") ;;
		esac
		[ -z "$_v" ] || setkey "$_key" "$_v"
	done
}

# -- writing ------------------------------------------------------------------

# write_file PATH TEXT: write atomically (temp file + rename), mode 0600
write_file() {
	_dir=$(dirname -- "$1")
	mkdir -p -- "$_dir" || die "cannot create $_dir"
	_tmp="$1.tmp.$$"
	printf '%s' "$2" >"$_tmp" || die "cannot write $_tmp"
	chmod 600 "$_tmp"
	mv -f -- "$_tmp" "$1" || die "cannot write $1"
}

render() {
	_stamp=$(date -u '+%Y-%m-%dT%H:%M:%SZ' 2>/dev/null || echo now)

	if [ -f "$CONFIG" ] && [ "$OVERWRITE" != 1 ]; then
		say "$CONFIG exists, left as it is (PGSWITCH_OVERWRITE_CONFIG=1 rewrites it)"
		_write_ini=0
	else
		_write_ini=1
		build_databases
		build_pgbouncer
	fi

	add_user "$DB_USER" "$DB_PASSWORD" "DB_USER"
	if [ -n "$AUTH_USER_V" ]; then
		add_user "$AUTH_USER_V" "$AUTH_PASSWORD_V" "AUTH_USER"
	fi
	add_pairs "$ADMINS" "$(first ADMIN_PASSWORDS ADMIN_PASSWORD)" "ADMIN_USERS"
	add_pairs "$(first STATS_USERS PGBOUNCER_STATS_USERS)" "$(first STATS_PASSWORDS)" "STATS_USERS"
	if [ -n "${DATABASE_URLS-}" ]; then
		_oldifs=$IFS
		IFS=,
		for _url in $DATABASE_URLS; do
			IFS=$_oldifs
			parse_url "$_url"
			add_user "$U_USER" "$U_PASS" "DATABASE_URLS"
			IFS=,
		done
		IFS=$_oldifs
	fi
	_extra=${PGBOUNCER_USERLIST-}
	if [ -n "$_extra" ]; then
		case $_extra in *"$NL") ;; *) _extra="$_extra$NL" ;; esac
		say "userlist: PGBOUNCER_USERLIST lines"
	fi

	if [ ! -f "$AUTH_FILE_PATH" ] || [ "$OVERWRITE" = 1 ]; then
		write_file "$AUTH_FILE_PATH" "; generated by $ME at $_stamp$NL$USERLIST_NEW$_extra"
		say "wrote $AUTH_FILE_PATH"
	elif [ -n "$USERLIST_NEW$_extra" ]; then
		if [ -w "$AUTH_FILE_PATH" ]; then
			# a file without a final newline must not glue two entries
			if [ -n "$(tail -c 1 "$AUTH_FILE_PATH")" ]; then
				printf '\n' >>"$AUTH_FILE_PATH"
			fi
			printf '%s' "$USERLIST_NEW$_extra" >>"$AUTH_FILE_PATH"
			say "added to $AUTH_FILE_PATH"
		else
			say "warning: $AUTH_FILE_PATH is not writable: entries not added"
		fi
	fi

	if [ "$_write_ini" = 1 ]; then
		write_file "$CONFIG" "; generated by $ME at $_stamp from the environment
; (docs/container.md). Mount your own file here to stop this.
[databases]
$DATABASES
[pgbouncer]
$PGB"
		say "wrote $CONFIG"
		if is_yes "${PGSWITCH_PRINT_CONFIG:-1}"; then
			# passwords only appear as password= in connect strings
			sed -e 's/password=.*$/password=****/' -e "s/^/$ME:   /" "$CONFIG" >&2
		fi
	fi
}

# -- main ---------------------------------------------------------------------

MODE=run
if [ "${1-}" = render ] || is_yes "${PGSWITCH_RENDER_ONLY:-0}"; then
	MODE=render
fi

render
[ "$MODE" != render ] || exit 0

# PGBOUNCER_EXTRA_FLAGS (bitnami): more options for the pooler, e.g. "-v"
set -f
case ${1-} in
'' | -*)
	# shellcheck disable=SC2086 # split on purpose
	set -- "$BIN" ${PGBOUNCER_EXTRA_FLAGS-} "$@" "$CONFIG"
	;;
pgswitch | pgbouncer | */pgswitch | */pgbouncer)
	shift
	[ $# -gt 0 ] || set -- "$CONFIG"
	# shellcheck disable=SC2086 # split on purpose
	set -- "$BIN" ${PGBOUNCER_EXTRA_FLAGS-} "$@"
	;;
esac
set +f
say "exec $*"
exec "$@"
