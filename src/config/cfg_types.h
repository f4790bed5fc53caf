/* SPDX-License-Identifier: MIT */
/*
 * cfg_types.h - types of the configuration object.
 *
 * A cfg_t is immutable once loaded (except for reloadable keys changed by the
 * admin SET command through cfg_set()). A reload builds a new cfg_t and the
 * caller swaps it in only if it loaded without errors, the nginx way, so no
 * module ever sees a half-applied config.
 */
#ifndef PGSWITCH_CFG_TYPES_H
#define PGSWITCH_CFG_TYPES_H

#include <stdbool.h>
#include <stddef.h>

typedef enum cfg_pool_mode {
	CFG_POOL_UNSET = -1, /* per-db / per-user: inherit */
	CFG_POOL_SESSION = 0,
	CFG_POOL_TRANSACTION = 1,
	CFG_POOL_STATEMENT = 2,
} cfg_pool_mode_t;

typedef enum cfg_auth_type {
	CFG_AUTH_ANY,	 /* "any": no auth, any user name */
	CFG_AUTH_TRUST,	 /* "trust" */
	CFG_AUTH_PLAIN,	 /* "plain" */
	CFG_AUTH_MD5,	 /* "md5" */
	CFG_AUTH_SCRAM,	 /* "scram-sha-256" */
	CFG_AUTH_CERT,	 /* "cert": TLS client certificate CN */
	CFG_AUTH_HBA,	 /* "hba": per connection from auth_hba_file */
	CFG_AUTH_PAM,	 /* accepted, not supported */
	CFG_AUTH_LDAP,	 /* accepted, not supported */
	CFG_AUTH_PEER,	 /* "peer": Unix socket peer credentials */
	CFG_AUTH_REJECT, /* an hba rule's "reject"; not an auth_type value */
} cfg_auth_type_t;

/* libpq's channel_binding, for pgswitch's own server logins; the same
 * values as scram_cb_mode_t. */
typedef enum cfg_chanbind {
	CFG_CHANBIND_DISABLE = 0,
	CFG_CHANBIND_PREFER = 1,
	CFG_CHANBIND_REQUIRE = 2,
} cfg_chanbind_t;

typedef enum cfg_sev { CFG_WARNING, CFG_ERROR } cfg_sev_t;

/* One located diagnostic: "file:line: message". line 0 = no line. */
typedef struct cfg_diag_item {
	cfg_sev_t sev;
	int line;
	char file[256];
	char msg[256];
} cfg_diag_item_t;

/* Diagnostics collected by a load; the caller logs them (cfg never logs). */
typedef struct cfg_diags {
	cfg_diag_item_t *items;
	size_t n, cap;
	int nerrors;
} cfg_diags_t;

/* One [databases] entry. Integer fields use -1 for "not set: inherit". */
typedef struct cfg_db {
	char *name;    /* entry name, "*" for the fallback entry */
	char *connstr; /* the raw right-hand side, for SHOW and rewriting */
	char *host;    /* NULL or "" = unix socket in unix_socket_dir */
	int port;      /* default 5432 */
	char *dbname;  /* NULL = same as name */
	char *user;    /* forced server user, or NULL */
	char *password;
	char *auth_user;
	char *auth_query;
	char *auth_dbname;
	int pool_size;
	int min_pool_size;
	int reserve_pool_size;
	int max_db_connections;
	int max_db_client_connections;
	int server_lifetime;	/* in ms, like cfg_t.server_lifetime */
	int channel_binding;	/* cfg_chanbind_t */
	int load_balance_hosts; /* 1 round-robin (default), 0 disable */
	cfg_pool_mode_t pool_mode;
	char *connect_query;
	char *client_encoding;
	char *datestyle;
	char *timezone;
	char *application_name;
	/* Where the entry was defined: a switchover rewrites this line. */
	char *file;
	int line;
	/* host/port came from switchover_state_file: what the file says. */
	bool overlaid;
	char *file_host;
	int file_port;
} cfg_db_t;

/* One [users] entry. */
typedef struct cfg_user {
	char *name;
	cfg_pool_mode_t pool_mode;
	int max_user_connections;
	int max_user_client_connections;
	int pool_size;
	int reserve_pool_size;
	/* Per-user overrides of the global timeouts, in ms; -1 = inherit. */
	long query_timeout;
	long idle_transaction_timeout;
	long transaction_timeout;
	long client_idle_timeout;
	char *file;
	int line;
} cfg_user_t;

/* One [peers] entry: another pooler of a so_reuseport group, where a
 * CancelRequest whose key names this id is forwarded. */
typedef struct cfg_peer {
	int id;	       /* 1..65535: the two bytes a cancel key has for it */
	char *host;    /* required; "/dir" = unix socket in that dir */
	int port;      /* default 6432 */
	int pool_size; /* cancels in flight at once; -1 = default_pool_size */
	char *file;
	int line;
} cfg_peer_t;

/*
 * The [pgbouncer] section. Times are in milliseconds (ini values are
 * seconds, fractional allowed, or with a unit: ms, s, min, h, d);
 * sizes in bytes. Every PgBouncer 1.25 key is accepted by the loader; the
 * ones that have a field here are implemented, the others are listed in
 * the key table as "not supported" and warn when set. String fields are
 * never NULL in a loaded cfg_t ("" = not set).
 */
typedef struct cfg {
	char *config_file; /* absolute path of the main file */

	/* generic */
	char *logfile;
	char *pidfile;
	char *listen_addr; /* comma-separated; "*" = all; "" = none */
	int listen_port;
	char *unix_socket_dir;
	int unix_socket_mode;
	char *unix_socket_group;
	char *user;
	int pool_mode; /* cfg_pool_mode_t */
	int max_client_conn;
	int default_pool_size;
	int min_pool_size;
	int reserve_pool_size;
	long reserve_pool_timeout;
	int max_db_connections;
	int max_db_client_connections;
	int max_user_connections;
	int max_user_client_connections;
	int server_round_robin;
	char *ignore_startup_parameters;
	char *track_extra_parameters;
	int disable_pqexec;
	int application_name_add_host;
	int max_prepared_statements;
	int so_reuseport;
	int peer_id;
	int workers;  /* pgswitch: event loops (only 1 implemented) */
	int io_uring; /* pgswitch: batched sends */

	/* auth */
	int auth_type; /* cfg_auth_type_t */
	char *auth_file;
	char *auth_hba_file;
	char *auth_ident_file;
	char *auth_user;
	char *auth_query;
	char *auth_dbname;

	/* logging */
	int syslog;
	char *syslog_ident;
	char *syslog_facility;
	int log_connections;
	int log_disconnections;
	int log_pooler_errors;
	int log_stats;
	long stats_period; /* ms, like the other times */
	int verbose;

	/* console */
	char *admin_users;
	char *stats_users;

	/* connection sanity */
	char *server_reset_query;
	int server_reset_query_always;
	/* "" = no check; "<empty>" (1.25 default) = send an empty query */
	char *server_check_query;
	long server_check_delay;
	int server_fast_close;
	long server_lifetime;
	long server_idle_timeout;
	long server_connect_timeout;
	long server_login_retry;
	long client_login_timeout;
	long autodb_idle_timeout;
	long dns_max_ttl;
	long dns_nxdomain_ttl;
	long dns_zone_check_period;
	char *resolv_conf;

	/* tls: PgBouncer's keys, given to src/tls as they are */
	char *client_tls_sslmode;
	char *client_tls_key_file;
	char *client_tls_cert_file;
	char *client_tls_ca_file;
	char *client_tls_protocols;
	char *client_tls_ciphers;
	char *client_tls13_ciphers;
	char *client_tls_ecdhcurve;
	char *client_tls_dheparams;
	char *server_tls_sslmode;
	char *server_tls_key_file;
	char *server_tls_cert_file;
	char *server_tls_ca_file;
	char *server_tls_protocols;
	char *server_tls_ciphers;
	char *server_tls13_ciphers;

	/* dangerous timeouts */
	long query_timeout;
	long query_wait_timeout;
	long query_wait_notify; /* a NOTICE to a client queued this long */
	long cancel_wait_timeout;
	long client_idle_timeout;
	long idle_transaction_timeout;
	long transaction_timeout;
	long suspend_timeout;

	/* low level */
	int pkt_buf;
	int max_packet_size;
	int listen_backlog;
	int sbuf_loopcnt;
	int so_keepalive_unused; /* placeholder to keep layout stable */
	int tcp_keepalive;
	int tcp_keepcnt;
	int tcp_keepidle;
	int tcp_keepintvl;
	int tcp_user_timeout;
	int tcp_defer_accept;
	int tcp_socket_buffer;

	/* pgswitch additions */
	char *switchover_state_file;

	/*
	 * Values of the keys that have no field above (accepted for
	 * PgBouncer compatibility, not implemented), indexed like the key
	 * table, so that SHOW CONFIG and SET still see them. Owned by cfg.
	 */
	char **extra_values;

	/* sections */
	cfg_db_t *dbs;
	size_t ndbs;
	cfg_user_t *users;
	size_t nusers;
	cfg_peer_t *peers; /* sorted by id, as SHOW PEERS lists them */
	size_t npeers;
} cfg_t;

/* One row of SHOW CONFIG. Strings point into static or cfg-owned memory. */
typedef struct cfg_show_row {
	const char *key;
	char value[512];
	const char *default_value;
	bool changeable;
} cfg_show_row_t;

#endif
