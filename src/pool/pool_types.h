/* SPDX-License-Identifier: MIT */
/*
 * pool_types.h - databases, users, pools and the per-loop context.
 *
 * A pool is one (database, user) pair. Its database's target (host, port,
 * dbname) can change at run time (RELOAD, switchover): the target carries
 * a generation number and a server connected under an older generation is
 * closed when it is released, never in the middle of a transaction.
 */
#ifndef PGSWITCH_POOL_TYPES_H
#define PGSWITCH_POOL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth_types.h"
#include "auth/hba_types.h"
#include "config/cfg_types.h"
#include "conn/conn_types.h"
#include "ev/ev.h"
#include "metrics/stats_types.h"
#include "net/sock.h"
#include "util/buf.h"
#include "util/istr.h"
#include "util/list.h"
#include "util/log.h"

typedef struct pool_db pool_db_t;
typedef struct pool_user pool_user_t;

struct pool_db {
	list_node_t node;
	char *name;
	char *host; /* NULL or "/dir" = unix socket; "a,b" = a host list */
	unsigned next_host;	 /* round robin over a host list */
	bool load_balance_hosts; /* false: stay on a host until it fails */
	int port;
	char *dbname;
	char *forced_user;
	char *password;
	char *connect_query;
	/* auth_query overrides of the [databases] entry, or NULL */
	char *auth_user;
	char *auth_query;
	char *auth_dbname;
	int channel_binding; /* cfg_chanbind_t for server logins */
	int pool_size;
	int min_pool_size;
	int reserve_pool;
	int max_db_connections;
	int max_db_client_connections; /* -1: the global one */
	int pool_mode;	     /* cfg_pool_mode_t, CFG_POOL_UNSET = global */
	int server_lifetime; /* ms; -1: the global */
	uint32_t generation;
	bool paused;
	bool frozen; /* switchover freeze: queue new transactions */
	bool disabled;
	bool auto_db; /* created from the "*" entry */
	bool removed; /* gone from the config after a RELOAD */
	bool admin;   /* the "pgbouncer" console pseudo-database */
	int server_count;
	int client_count;
	uint64_t client_errors; /* ErrorResponses pgswitch itself sent */
	const conn_tap_t *tap;	/* shadow reads, or NULL */
	stats_t stats;
};

struct pool_user {
	list_node_t node;
	char *name;
	int pool_mode;
	int max_user_connections;
	int max_user_client_connections; /* -1: the global one */
	int pool_size;			 /* [users] pool_size, -1: unset */
	int reserve_pool_size;		 /* [users] reserve_pool_size */
	/* [users] overrides of the global timeouts, ms; -1: the global */
	long query_timeout;
	long idle_transaction_timeout;
	long transaction_timeout;
	long client_idle_timeout;
	int client_count; /* logged-in clients, console ones included */
	int server_count;
	/* SCRAM pass-through keys captured at a client's login, for a
	 * secret from auth_file (the same everywhere). */
	bool has_scram_keys;
	uint8_t client_key[32];
	uint8_t server_key[32];
};

/* A pool's kind of server connection: replication connections
 * (replication=database or true) are never shared. */
typedef enum pool_repl {
	POOL_REPL_NONE,
	POOL_REPL_LOGICAL,  /* replication=database */
	POOL_REPL_PHYSICAL, /* replication=true */
} pool_repl_t;

struct pool {
	list_node_t node;
	pgs_ctx_t *ctx;
	pool_db_t *db;
	pool_user_t *user;
	pool_repl_t replication;
	/* Replication connections count against their plain pool's size,
	 * as in PgBouncer, where they live in the same pool: a replication
	 * pool's plain pool, and a plain pool's replication pools
	 * ([kind - 1], NULL until used). Pools are never freed at run
	 * time, so the links stay valid. */
	struct pool *plain;
	struct pool *repl[2];
	bool launching; /* pool_launch() of this group is under way */

	statlist_t active_clients;  /* CL_ACTIVE */
	statlist_t waiting_clients; /* CL_WAITING and CL_WAITING_LOGIN */
	statlist_t active_servers;  /* SV_ACTIVE */
	statlist_t idle_servers;    /* SV_IDLE */
	statlist_t used_servers;    /* SV_USED */
	statlist_t tested_servers;  /* SV_TESTED */
	statlist_t login_servers;   /* SV_LOGIN */
	/* Pre-warmed for a switchover target (SV_PARKED_LOGIN, SV_PARKED):
	 * not handed out, not counted, until adopted. */
	statlist_t parked_servers;
	/* CancelRequests for this pool's clients (PgBouncer's lists): the
	 * requests, the connections carrying them (SV_CANCEL), and servers
	 * released while a sent cancel is not done (SV_BEING_CANCELED). */
	statlist_t waiting_cancel_clients;
	statlist_t active_cancel_clients;
	statlist_t cancel_servers;
	statlist_t canceled_servers;

	/* The server's ParameterStatus set at login: what clients are told. */
	bool welcome_ready;
	char *welcome_names[32];
	char *welcome_values[32];
	int welcome_var[32]; /* tracked variable index, -1 if not tracked */
	int nwelcome;
	/* The ParameterStatus messages on the wire, built once: a login
	 * copies them whole, except the values its client set itself. */
	uint8_t *welcome_wire;
	uint32_t welcome_off[33]; /* message i is [off[i], off[i + 1]) */

	/* PgBouncer's dynamic credentials, per database and user: the
	 * secret auth_query returned at the last login, and the SCRAM keys
	 * of that login; server logins use them when auth_file has none.
	 * Kept on the pool (not the user): the same role has another secret
	 * on another cluster. Replication pools use their plain pool's. */
	char *auth_secret;
	bool has_scram_keys;
	uint8_t client_key[32];
	uint8_t server_key[32];

	int64_t last_login_fail_us;
	char *login_error; /* message of the last failed server login */
	/* A connect or TLS handshake failed: new launches wait
	 * server_login_retry, queued clients keep waiting (PgBouncer). */
	int64_t last_connect_fail_us;
	int64_t last_launch_us;
	stats_t stats;
};

/* The admin console's pending waits. */
typedef enum pgs_shutdown {
	PGS_RUNNING,
	PGS_SHUTDOWN_WAIT_CLIENTS, /* SIGTERM: stop accepting, wait */
	/* SIGINT: paused too; exit once no server is in use */
	PGS_SHUTDOWN_WAIT_SERVERS,
	PGS_SHUTDOWN_NOW,
} pgs_shutdown_t;

typedef struct pgs_listener {
	int fd;
	bool tcp;
	/* Accepts per readiness: one, so a login at a time costs no
	 * accept() that finds nothing; doubled (to 64) while the listener
	 * stays readable turn after turn, which is a backlog. */
	int burst;
	uint64_t last_turn;
	char desc[320]; /* "unix:" + a socket path */
} pgs_listener_t;

#define PGS_MAX_LISTENERS 16

/*
 * Everything one event loop owns. No module keeps mutable globals: a
 * future `workers = N` runs one context per loop (see
 * docs/architecture.md).
 */
/*
 * What sits above the pool, reached from below only through these: main.c
 * sets them, so conn/ and pool/ include nothing of admin/ or switch/.
 */
typedef struct pgs_hooks {
	const conn_handler_t *console;
	/* RELOAD (console or SIGHUP): read the config into a new object,
	 * let the switchover overlay its targets, swap it in if valid.
	 * Returns 0, or -1 with the first error in ERR. */
	int (*reload)(pgs_ctx_t *ctx, char *err, size_t errlen);
} pgs_hooks_t;

struct pgs_ctx {
	ev_loop_t *loop;
	pgs_hooks_t hooks;
	log_t log;
	cfg_t *cfg;
	char *cfg_path;
	auth_file_t *authfile;
	/* auth_hba_file and auth_ident_file (auth_type = hba); a NULL hba
	 * with auth_type = hba rejects every login, as PgBouncer does. */
	hba_t *hba;
	hba_ident_t *ident;

	pgs_listener_t listeners[PGS_MAX_LISTENERS];
	int nlisteners;
	/* TCP listeners carry TCP_NODELAY and the SO_KEEPALIVE of
	 * listen_keepalive (client.c retunes them when tcp_keepalive
	 * changes, by RELOAD or SET); accept_inherit says whether accepted
	 * sockets are seen to take them, after inherit_misses that were
	 * queued before the listener was tuned. */
	bool listen_tuned, listen_keepalive;
	sock_inherit_t accept_inherit;
	int inherit_misses;
	int signal_fd;

	list_node_t dbs;
	list_node_t users;
	list_node_t pools;
	statlist_t login_clients; /* CL_LOGIN, not yet in a pool */
	statlist_t admin_clients; /* logged-in console clients */
	/* The console's own row of SHOW STATS: PgBouncer counts one
	 * transaction and query per console connection. */
	stats_t admin_stats;
	statlist_t cancel_servers; /* SV_CANCEL */
	statlist_t justfree_clients;
	statlist_t justfree_servers;

	/* Host names looked up off the loop (net/dns.h), made at first use. */
	struct dns *dns;

	/* Prepared statements every client holds (conn/prep.h). */
	prep_registry_t prep;

	/* Peers CancelRequests went to (pool/peer.c), by id. */
	struct peer *peers;

	/* Issued cancel keys -> client (open addressing). */
	client_t **keymap;
	uint32_t keymap_cap;
	uint32_t keymap_used;

	int client_count;
	uint64_t next_id;
	bool paused_all;
	bool suspended;
	/* SUSPEND: when it began (suspend_timeout), and the console that
	 * issued it (its going away resumes) */
	int64_t suspend_us;
	uint64_t suspend_admin_id;
	pgs_shutdown_t shutdown;
	int64_t start_us;
	int64_t last_stats_us;
	uint64_t janitor_timer;
	uint64_t admin_timer; /* the console's, while a command waits */
	uint8_t mock_key[32];
	/* Random bytes fetched from OpenSSL in batches: cancel keys and md5
	 * salts need unpredictability, not a DRBG call per login. */
	uint8_t rand_pool[256];
	uint32_t rand_left;

	conn_txq_t txq;
	conn_mem_t mem;
	/* Tracked parameters' values, shared by every connection. */
	istr_table_t istr;

	/* track_extra_parameters, fixed at start: tracked variables
	 * VAR_COUNT .. nvars-1 (conn_var_name()). */
	char *extra_vars[VAR_EXTRA_MAX];
	int nvars;

	/* TLS contexts for new connections (conn/conn_tls.c); NULL when the
	 * side's sslmode is disable. Live connections hold their own
	 * reference, so a reload may replace these at any time. */
	struct tls_ctx *client_tls;
	struct tls_ctx *server_tls;
	int client_tls_mode; /* tls_sslmode_t */
	int server_tls_mode;
	char *client_tls_sig; /* the settings each was built from */
	char *server_tls_sig;

	void *sw;      /* switchover state (src/switch), opaque here */
	struct bg *bg; /* blue/green switchovers (src/switch), opaque here */
	struct shadow *shadow; /* shadow reads (src/switch), opaque here */
};

#endif
