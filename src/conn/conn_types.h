/* SPDX-License-Identifier: MIT */
/*
 * conn_types.h - client and server connection objects and their states.
 *
 * Each object is on exactly one state list of its pool (or of the context
 * while it has no pool); the state enum says which. The only way to move
 * is pool_client_state() / pool_server_state().
 *
 * Client states:
 *   CL_LOGIN         startup packet and authentication
 *   CL_WAITING_AUTH  login paused: its pool is the auth pool (auth_user
 *                    on auth_dbname) until a server ran auth_query for it
 *   CL_WAITING_LOGIN authenticated, waiting for a first server login so
 *                    the pool knows the server's ParameterStatus set
 *   CL_WAITING       has a request but no server (queue is FIFO)
 *   CL_ACTIVE        logged in: idle, or linked to a server
 *   CL_WAITING_CANCEL a CancelRequest waiting for a connection to send
 *                    it on (its pool is the target's)
 *   CL_ACTIVE_CANCEL a CancelRequest on its way; closed when the server
 *                    has taken it (libpq waits for that close)
 *   CL_JUSTFREE      closed, freed after this loop iteration
 *
 * Server states:
 *   SV_LOGIN    connecting / startup / auth / connect_query
 *   SV_IDLE     ready, unlinked
 *   SV_ACTIVE   linked to a client
 *   SV_USED     released, needs server_check_query before reuse
 *   SV_TESTED   running server_reset_query or server_check_query
 *   SV_CANCEL   a short-lived connection carrying one CancelRequest
 *   SV_BEING_CANCELED released while cancel requests for it are on their
 *               way: not handed out until they are done, so a late cancel
 *               cannot hit the next client's query
 *   SV_JUSTFREE closed, freed after this loop iteration
 *   SV_PARKED_LOGIN a switchover's pre-warm to its target, logging in
 *   SV_PARKED   pre-warmed and logged in, handed out to nobody, not
 *               counted in the pool's servers, until the switch adopts
 *               it (SV_IDLE; SV_LOGIN if still logging in) or an abort
 *               closes it. Both parked states are the parked list.
 */
#ifndef PGSWITCH_CONN_TYPES_H
#define PGSWITCH_CONN_TYPES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "auth/auth_types.h"
#include "conn/prep_types.h"
#include "util/buf.h"
#include "util/list.h"

typedef struct client client_t;
typedef struct server server_t;
typedef struct pool pool_t;
typedef struct pgs_ctx pgs_ctx_t;

/*
 * A sampler of results (the blue/green's shadow reads): offered each
 * autocommit simple Query of its database; a non-zero token asks the
 * server connection to digest the reply as it streams to the client
 * (each DataRow message hashed, the hashes summed so row order does not
 * matter), handed to done() at ReadyForQuery. The connection layer knows
 * no more of it than these two calls.
 */
typedef struct conn_tap {
	uint64_t (*want)(void *arg, const char *sql, size_t len);
	void (*done)(void *arg, uint64_t token, uint64_t digest, uint64_t rows,
		     bool error);
	void *arg;
} conn_tap_t;

/*
 * A service that answers a client's queries itself instead of a server
 * pool: the console. main.c hands it to the connection layer (ctx->hooks),
 * and a login to its database gets it as c->handler, so conn/ reaches the
 * console only through these (after Redis's ConnectionType).
 */
typedef struct conn_handler {
	const char *dbname; /* logins to this database are its clients */
	/* One simple-protocol query; the reply goes to the client's obuf. */
	void (*query)(client_t *c, const char *sql);
	/* A command of C's is still running: stop reading its input. */
	bool (*parked)(const client_t *c);
	/* C is closing: drop what the handler holds for it. */
	void (*gone)(client_t *c);
} conn_handler_t;

typedef enum client_state {
	CL_FREE = 0,
	CL_JUSTFREE,
	CL_LOGIN,
	CL_WAITING_AUTH,
	CL_WAITING_LOGIN,
	CL_WAITING,
	CL_ACTIVE,
	CL_WAITING_CANCEL,
	CL_ACTIVE_CANCEL,
} client_state_t;

typedef enum server_state {
	SV_FREE = 0,
	SV_JUSTFREE,
	SV_LOGIN,
	SV_IDLE,
	SV_ACTIVE,
	SV_USED,
	SV_TESTED,
	SV_CANCEL,
	SV_BEING_CANCELED,
	SV_PARKED_LOGIN,
	SV_PARKED,
} server_state_t;

/* TLS toward a server, during its login. */
typedef enum server_tls_step {
	SV_TLS_NONE,	  /* plain text (disable, a Unix socket, or 'N') */
	SV_TLS_REQUESTED, /* SSLRequest sent, waiting for 'S' or 'N' */
	SV_TLS_HANDSHAKE, /* TLS handshake in progress */
	SV_TLS_ON,	  /* TLS established */
} server_tls_step_t;

/*
 * Where a client's login is (CL_LOGIN and CL_WAITING_AUTH). The password
 * steps say which request we sent and so which reply we expect.
 */
/* A server login's progress past the authentication exchange: an error
 * before the connect_query fails the login; the connect_query's own is
 * logged and ignored, as PgBouncer documents. */
typedef enum server_login_step {
	SV_LOGIN_AUTHENTICATING, /* until AuthenticationOk */
	SV_LOGIN_AUTHENTICATED,	 /* parameters and BackendKeyData come */
	SV_LOGIN_CONNECT_QUERY,	 /* the database's connect_query is out */
} server_login_step_t;

const char *server_login_step_name(server_login_step_t st);

typedef enum client_auth_step {
	AUTH_STEP_STARTUP,   /* waiting for SSLRequest / StartupMessage */
	AUTH_STEP_TLS,	     /* TLS handshake after SSLRequest or direct */
	AUTH_STEP_QUERY,     /* auth_query lookup running (CL_WAITING_AUTH) */
	AUTH_STEP_PLAIN,     /* sent AuthenticationCleartextPassword */
	AUTH_STEP_MD5,	     /* sent AuthenticationMD5Password */
	AUTH_STEP_SASL_INIT, /* sent AuthenticationSASL */
	AUTH_STEP_SASL_CONT, /* sent AuthenticationSASLContinue */
	AUTH_STEP_DONE,	     /* authenticated */
} client_auth_step_t;

/*
 * Tracked session parameters: re-synced with SET when a client gets a
 * server whose values differ, so a client always sees its own values.
 */
typedef enum conn_var {
	VAR_CLIENT_ENCODING,
	VAR_DATESTYLE,
	VAR_TIMEZONE,
	VAR_INTERVALSTYLE,
	VAR_STD_STRINGS,
	VAR_APPNAME,
	VAR_COUNT, /* then track_extra_parameters, up to VAR_EXTRA_MAX */
} conn_var_t;

#define VAR_EXTRA_MAX 8
#define VAR_MAX	      (VAR_COUNT + VAR_EXTRA_MAX)

/* Socket plus buffers. The read buffer is fixed (pkt_buf); large
 * messages stream through it. The output buffer has a hard maximum.
 * Both are lent by the context's pools only while bytes are in flight:
 * rbuf is NULL (and rpos == rlen == 0) whenever no input is waiting, so
 * an idle connection holds neither. */
typedef struct conn_io {
	int fd;
	uint8_t *rbuf;
	uint32_t rcap;
	uint32_t rpos; /* processed up to here */
	uint32_t rlen; /* filled up to here */
	/* Processing frames running on this input: rbuf goes back to
	 * rpool only when the outermost ends (an inner one may not free
	 * bytes an outer one still points at). */
	uint32_t busy;
	struct bufpool *rpool;
	bool rprivate; /* rbuf from malloc, larger than rpool's blocks */
	buf_t obuf;
	struct tls_conn *tls; /* NULL: plain socket */
	bool eof;
	bool want_read;
	bool queued; /* output waits for the end-of-turn batch send */
	/* TLS: the last call wants the socket writable (a handshake step,
	 * or a read that must send first). */
	bool tls_want_write;
	bool rerun_queued; /* decrypted input waits: read again this turn */
	/* tcp_socket_buffer: no send larger than the socket buffer (0: no
	 * limit). One oversize segment would fill it alone, and the peer's
	 * delayed ACK then holds every next send for 40 ms. */
	uint32_t send_max;
	/* SUSPEND: quiet (both buffers empty, at a message boundary), so
	 * no longer read: what comes stays in the kernel for the process
	 * that takes the socket over. */
	bool suspended;
} conn_io_t;

/* Connections whose output is sent together at the end of a loop turn
 * (conn/txq.c). */
typedef struct conn_txq_ent {
	void *obj;
	bool server;
} conn_txq_ent_t;

struct net_txb;
typedef struct conn_txq {
	conn_txq_ent_t *v;
	int n, cap;
	/* TLS connections with decrypted input inside OpenSSL and no fd
	 * event to come for it: read again at the end of the turn. */
	conn_txq_ent_t *rr;
	int nrr, caprr;
	struct net_txb *txb; /* NULL: send() one by one */
} conn_txq_t;

/* Memory the connections share (conn/mem.c). */
typedef struct conn_mem {
	bufpool_t small; /* client read buffers, every output buffer */
	bufpool_t large; /* server read buffers */
	/* Bytes given back to malloc since the last malloc_trim(): freed
	 * connection objects and buffers the pools let go. */
	uint64_t freed_bytes;
	uint64_t pool_freed; /* the pools' freed counts at the last tick */
	int64_t tick_us;     /* last conn_mem_tick() */
	int64_t trim_us;     /* last malloc_trim() */
	uint64_t trims;	     /* malloc_trim() calls, for tests */
} conn_mem_t;

typedef struct conn_addr {
	char host[64];
	int port;
	bool unix_sock;
} conn_addr_t;

struct client {
	list_node_t node;
	client_state_t state;
	pgs_ctx_t *ctx;
	pool_t *pool;
	server_t *link;
	conn_io_t io;
	conn_addr_t addr;
	conn_addr_t local;

	char *user;
	char *dbname;
	const char *vars[VAR_MAX]; /* interned (ctx->istr) */
	uint32_t key_pid;	   /* BackendKeyData we issued */
	uint32_t key_secret;
	int proto_minor;
	const conn_handler_t *handler; /* the console's clients */
	bool admin_rw;		       /* admin_users (vs stats_users) */
	/* A console client's user, counted in its client_count. */
	struct pool_user *admin_user;
	/* The user it logged in as, counted in its client_count (its pool's
	 * user is the forced one on a database with a forced user). */
	struct pool_user *login_user;
	bool close_after_flush;

	/* login */
	client_auth_step_t auth_step;
	int auth_method; /* cfg_auth_type_t, after hba */
	uint8_t md5_salt[4];
	scram_server_t *scram;
	char *secret;	 /* stored secret of the user (owned), or NULL */
	bool user_known; /* in auth_file or found by auth_query */
	char *hba_map;	 /* ident map of the matched hba rule (cert, peer) */
	bool tls_direct; /* TLS without SSLRequest (sslnegotiation=direct) */
	/* A failure known before authentication (unknown database) is told
	 * only after it, as PostgreSQL does: nothing leaks to a client that
	 * cannot log in. */
	const char *late_sqlstate;
	char *late_error;
	char *lookup_sql;    /* the auth_query to run for this login */
	bool lookup_done;    /* auth_query ran */
	bool lookup_missing; /* auth_query found no such user */

	/* replication=database|true: a server of its own, logging in */
	int replication; /* pool_repl_t */
	server_t *repl_server;
	/* Its options startup parameter, for its server as given: the
	 * server checks a replication session's settings itself (PgBouncer
	 * passes them through). */
	char *repl_options;

	/* forwarding */
	uint32_t fwd_left; /* bytes of the current message still to pass */
	/* prepared statements (transaction/statement mode): the client's
	 * names, and a named message larger than the read buffer, gathered
	 * whole (at most max_packet_size) before it can be rewritten */
	prep_client_t *prep;
	uint8_t *prep_big;
	uint32_t prep_big_len; /* body length */
	uint32_t prep_big_have;
	uint8_t prep_big_type;

	int64_t connect_us;
	int64_t request_us; /* last activity */
	int64_t wait_us;    /* when it started waiting for a server */
	bool wait_notified; /* told it is queued (query_wait_notify) */
	int64_t query_us;   /* when the current query was sent */
	int64_t xact_us;
	int64_t idle_us; /* the last ReadyForQuery it was sent */
	uint64_t id;

	/* A session moved to another server (a switchover): the statements
	 * that rebuild its state there, run ahead of its next query, or
	 * what could not move (FATAL at its next query). */
	char *carry_sql;
	char *carry_lost;
	int64_t held_us; /* when a switchover freeze started holding it */

	/* A CancelRequest socket: the client it cancels (by id: it may be
	 * gone by the time a connection is free) and the connection that
	 * carries it once launched. One forwarded to a peer (pool NULL)
	 * has its peer, and the key to send in cancel_target_id. */
	uint64_t cancel_target_id;
	server_t *cancel_conn;
	struct peer *peer;

	/* admin console: a command waiting to complete (PAUSE, WAIT_CLOSE,
	 * ...): an admin_wait_t of src/admin, opaque here */
	int admin_wait;
	bool admin_counted; /* its query is in the console's stats */
	char *admin_wait_db;
};

struct server {
	list_node_t node;
	server_state_t state;
	pgs_ctx_t *ctx;
	pool_t *pool;
	client_t *link;
	conn_io_t io;
	conn_addr_t addr;  /* where we connected */
	conn_addr_t local; /* our side */

	const char *vars[VAR_MAX]; /* interned (ctx->istr) */
	uint32_t be_pid;
	uint32_t be_key;
	uint32_t generation; /* pool_db generation at connect time */

	char tx_status;	      /* last ReadyForQuery status */
	uint32_t expect_rfq;  /* ReadyForQuery messages still owed to client */
	uint32_t swallow_rfq; /* our own queries whose replies we eat */
	bool connected;
	bool dirty;    /* close instead of reuse (RECONNECT, target change) */
	bool checking; /* SV_TESTED by server_check_query, not a reset */
	/* our re-sync of the client's parameters is running, and the
	 * tracked variables its SETs set (1 << var) */
	bool resyncing;
	uint32_t resync_mask;
	bool in_copy;
	bool ready_pending; /* released idle; serve the queue after flush */
	bool resolving;	    /* its host name is being looked up: no socket */
	/* Extended-protocol messages forwarded since the last Sync: the
	 * server is mid-batch, not between transactions. */
	bool unsynced;
	bool capturing; /* switchover: our capture query is running */
	/* The tap's digest of the reply being forwarded (token 0: none). */
	uint64_t tap_token;
	uint64_t tap_digest;
	uint64_t tap_rows;
	uint64_t tap_row; /* the DataRow being hashed */
	bool tap_in_row;
	bool tap_error;
	/* auth_query: the reply goes to this client's login, not to it */
	bool auth_lookup;
	int auth_rows;	   /* DataRows of the auth_query seen */
	int auth_commands; /* CommandCompletes seen (1st is the SET) */
	char *auth_secret; /* password column of the one row */
	bool auth_null;	   /* the password column was NULL */
	char *auth_error;  /* ErrorResponse message from the lookup */
	bool replaying;	   /* switchover: the session replay is running */

	uint32_t fwd_left;
	uint32_t drop_left; /* bytes of a swallowed message to skip */
	/* prepared statements: those made here, the requests whose replies
	 * are owed, and whether the server is discarding input until Sync
	 * after an error (the client's messages then pass untouched) */
	prep_server_t *prep;
	prep_queue_t prepq;
	bool prep_skip;
	bool prep_fakes_due; /* after the reply streaming now */
	scram_client_t *scram;
	bool cb_bound; /* the SCRAM login was channel-bound */
	server_tls_step_t tls_step;
	server_login_step_t auth_done;

	/* ParameterStatus seen during login, for the pool's welcome. */
	char *pnames[32];
	char *pvalues[32];
	int nparams;

	/* A replication server: the client it logs in for. */
	client_t *repl_client;

	/* The target at connect time, for cancels and logs. */
	char target_host[256];
	int target_port;

	/* cancel connections: whom to cancel; for a client's request, the
	 * request (NULL once it is gone) and the id of the server the sent
	 * cancel is for */
	uint32_t cancel_pid;
	uint32_t cancel_key;
	client_t *cancel_req;
	uint64_t cancel_of;
	int cancels_inflight; /* cancels sent for this server, not done */

	int64_t connect_us;
	int64_t request_us; /* last use */
	int64_t query_us;
	uint64_t id;
};

#endif
