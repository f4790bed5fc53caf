/* SPDX-License-Identifier: MIT */
/*
 * server.c - the server state machine: connect, log in (md5, SCRAM,
 * cleartext), run reset/check queries, and forward server messages to
 * the linked client.
 *
 * Messages the pooler itself caused (parameter re-sync SETs, reset and
 * check queries, connect_query) are answered to us, not to a client: we
 * count the ReadyForQuery messages we are owed (swallow_rfq) and eat
 * everything up to them, keeping only the ParameterStatus values.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth/auth.h"
#include "config/cfg.h"
#include "conn/conn_int.h"
#include "conn/conn.h"
#include "conn/tap.h"
#include "net/dns.h"
#include "net/sock.h"
#include "pool/pool.h"
#include "proto/pgp.h"
#include "tls/tls.h"

static void server_on_io(ev_loop_t *loop, int fd, void *data, int mask);
static void connect_fail(server_t *s, const char *msg);

void server_log(server_t *s, int lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conn_vlog(&s->ctx->log, lvl, 'S', s, s->pool ? s->pool->db->name : NULL,
		  s->pool ? s->pool->user->name : NULL, &s->addr, fmt, ap);
	va_end(ap);
}

/* Out of line: the plain-text path, every transaction, stays as lean as
 * before TLS existed. */
__attribute__((noinline)) static int tls_interest(server_t *s, int mask)
{
	if (s->io.tls_want_write)
		mask |= EV_WRITE;
	if (s->io.want_read && s->io.rlen < s->io.rcap &&
	    s->tls_step == SV_TLS_ON && tls_pending(s->io.tls) > 0)
		conn_rerun_add(s->ctx, &s->io, s, true);
	return mask;
}

void server_update_io(server_t *s)
{
	if (s->state == SV_JUSTFREE || s->io.fd < 0)
		return;
	int mask = 0;
	if (s->io.want_read && !s->io.suspended)
		mask |= EV_READ;
	if ((buf_pending(&s->io.obuf) > 0 && !s->io.queued) || !s->connected)
		mask |= EV_WRITE;
	if (__builtin_expect(s->io.tls != NULL, 0))
		mask = tls_interest(s, mask);
	ev_io_set(s->ctx->loop, s->io.fd, mask, server_on_io, s);
}

bool server_flush(server_t *s)
{
	if (buf_pending(&s->io.obuf) == 0)
		return true;
	if (!s->connected)
		return true;
	if (conn_io_flush(&s->io) < 0) {
		server_close(s, "server conn crashed?");
		return false;
	}
	return true;
}

static void server_sock_opts(const cfg_t *cfg, sock_opts_t *so)
{
	*so = (sock_opts_t){.keepalive = cfg->tcp_keepalive,
			    .keepcnt = cfg->tcp_keepcnt,
			    .keepidle = cfg->tcp_keepidle,
			    .keepintvl = cfg->tcp_keepintvl,
			    .user_timeout_ms = cfg->tcp_user_timeout,
			    .sndbuf = cfg->tcp_socket_buffer};
}

/* The socket toward HOST, tuned before its connect: connected (>= 0), -1
 * on failure (ERR), -2 while its name is being resolved (conn_dns.c
 * calls server_resolved), -3 when the name does not resolve. */
static int open_socket(pgs_ctx_t *ctx, const char *host, int port,
		       conn_addr_t *addr, char *err, size_t errlen)
{
	sock_opts_t so;
	server_sock_opts(ctx->cfg, &so);
	memset(addr, 0, sizeof(*addr));
	if (dns_is_literal(host))
		return sock_connect(host, port, ctx->cfg->unix_socket_dir, &so,
				    addr, err, errlen);
	struct sockaddr_storage ss;
	socklen_t sl;
	switch (conn_dns_lookup(ctx, host, port, &ss, &sl, err, errlen)) {
	case DNS_FOUND:
		return sock_connect_sa(&ss, sl, &so, addr, err, errlen);
	case DNS_PENDING:
		return -2;
	default:
		return -3;
	}
}

/* No server object exists for a name that did not resolve; its line is
 * the one PgBouncer logs for the server it closes. */
static void log_unresolved(pool_t *p, const char *host, int port)
{
	log_msg(&p->ctx->log, LOG_LOG,
		"S-(nil): %s/%s@%s:%d closing because: server DNS lookup "
		"failed (age=0s)",
		p->db->name, p->user->name, host ? host : "", port);
}

static server_t *server_new(pgs_ctx_t *ctx, pool_t *p, const char *host,
			    int port, server_state_t st)
{
	const cfg_t *cfg = ctx->cfg;
	char err[256] = "";
	conn_addr_t addr;
	int fd = open_socket(ctx, host, port, &addr, err, sizeof(err));
	if (fd == -1 || fd == -3) {
		log_msg(&ctx->log, LOG_WARNING, "%s", err);
		if (p && fd == -3)
			log_unresolved(p, host, port);
		/* As a connect that failed later: queued clients keep
		 * waiting and the next try is after server_login_retry (on
		 * the next host of a list), as in PgBouncer. */
		if (p && st == SV_LOGIN) {
			pool_db_host_failed(p->db);
			pool_login_unreachable(p, fd == -3
							  ? "server DNS lookup "
							    "failed"
							  : err);
		}
		return NULL;
	}
	server_t *s = calloc(1, sizeof(*s));
	if (!s) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	conn_io_init(&s->io, fd, &ctx->mem.large, CONN_OBUF_MAX,
		     &ctx->mem.small);
	if (!addr.unix_sock && cfg->tcp_socket_buffer > 0)
		s->io.send_max = (uint32_t)cfg->tcp_socket_buffer;
	s->ctx = ctx;
	s->pool = p;
	s->addr = addr;
	snprintf(s->target_host, sizeof(s->target_host), "%s",
		 host ? host : "");
	s->target_port = port;
	s->id = ++ctx->next_id;
	s->connect_us = s->request_us = ev_now_us(ctx->loop);
	s->tx_status = 'I';
	s->io.want_read = true;
	s->resolving = fd == -2;
	if (s->resolving)
		s->io.fd = -1;
	list_init(&s->node);
	pool_server_state(s, st);
	server_update_io(s);
	return s;
}

void server_resolved(server_t *s)
{
	char err[256] = "";
	conn_addr_t addr;
	int fd = open_socket(s->ctx, s->target_host, s->target_port, &addr, err,
			     sizeof(err));
	if (fd == -2)
		return; /* expired again meanwhile: another lookup runs */
	s->resolving = false;
	if (fd == -3) {
		/* As PgBouncer words it; clients keep waiting, the next try
		 * (the next host of a list) after server_login_retry. */
		server_log(s, LOG_WARNING, "%s", err);
		pool_db_host_failed(s->pool->db);
		if (!server_parked(s))
			pool_login_unreachable(s->pool,
					       "server DNS lookup failed");
		server_close(s, "server DNS lookup failed");
		return;
	}
	if (fd < 0) {
		connect_fail(s, err);
		return;
	}
	s->io.fd = fd;
	s->addr = addr;
	server_update_io(s);
}

server_t *server_launch(pool_t *p)
{
	pgs_ctx_t *ctx = p->ctx;
	char host[256];
	pool_db_t *db = p->db;
	/* host=a,b: each new connection takes the next host, so a host that
	 * is down is skipped by the next attempt (load_balance_hosts). */
	const char *h = pool_db_next_host(db, host, sizeof(host));
	server_t *s = server_new(ctx, p, h, db->port, SV_LOGIN);
	if (!s)
		return NULL;
	s->generation = p->db->generation;
	p->db->server_count++;
	p->user->server_count++;
	return s;
}

server_t *server_launch_repl(pool_t *p, client_t *c)
{
	server_t *s = server_launch(p);
	if (!s)
		return NULL;
	s->repl_client = c;
	c->repl_server = s;
	return s;
}

server_t *server_prewarm(pool_t *p, const char *host, int port)
{
	return server_new(p->ctx, p, host, port, SV_PARKED_LOGIN);
}

server_t *server_launch_cancel(pool_t *p, client_t *req, server_t *target)
{
	/* The address the target connected to: on a host list (or a name
	 * with several addresses) another one would not know the backend,
	 * and no lookup is needed. */
	const char *host = target->addr.unix_sock ? target->target_host
						  : target->addr.host;
	server_t *s =
		server_new(p->ctx, p, host, target->target_port, SV_CANCEL);
	if (!s)
		return NULL;
	s->cancel_req = req;
	req->cancel_conn = s;
	return s;
}

void server_cancel(pgs_ctx_t *ctx, server_t *target)
{
	/* The address the target connected to: no lookup, and the same
	 * host of a list or of a name with several addresses. */
	const char *host = target->addr.unix_sock ? target->target_host
						  : target->addr.host;
	server_t *s =
		server_new(ctx, NULL, host, target->target_port, SV_CANCEL);
	if (!s)
		return;
	s->cancel_pid = target->be_pid;
	s->cancel_key = target->be_key;
}

static void free_login_params(server_t *s)
{
	for (int i = 0; i < s->nparams; i++) {
		free(s->pnames[i]);
		free(s->pvalues[i]);
	}
	s->nparams = 0;
}

static void note_close(server_t *s, const char *reason)
{
	pgs_ctx_t *ctx = s->ctx;
	if ((s->state != SV_CANCEL || s->pool) &&
	    ctx->cfg->log_disconnections) {
		int64_t age = (ev_now_us(ctx->loop) - s->connect_us) / 1000000;
		server_log(s, LOG_LOG, "closing because: %s (age=%llds)",
			   reason, (long long)age);
	}
}

static void close_logged(server_t *s, const char *reason);

void server_close(server_t *s, const char *fmt, ...)
{
	if (s->state == SV_JUSTFREE)
		return;
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	note_close(s, reason);
	close_logged(s, reason);
}

/* server_close() once its line is in the log. */
static void close_logged(server_t *s, const char *reason)
{
	pgs_ctx_t *ctx = s->ctx;
	client_t *req = s->cancel_req;
	if (req) {
		/* Its socket closes now: libpq's cancel returns on that. */
		s->cancel_req = NULL;
		req->cancel_conn = NULL;
		client_close(req, NULL, "%s", reason);
	}
	client_t *c = s->link;
	if (c) {
		s->link = NULL;
		c->link = NULL;
		client_close(c, "08P01", "server conn crashed?");
	}
	if (s->repl_client) {
		s->repl_client->repl_server = NULL;
		s->repl_client = NULL;
	}
	server_state_t old = s->state;
	bool parked = server_parked(s);
	if (s->pool && old != SV_CANCEL && !parked) {
		s->pool->db->server_count--;
		s->pool->user->server_count--;
	}
	if (s->connected && old != SV_CANCEL) {
		/* Be polite: a Terminate lets the backend exit cleanly. */
		buf_reset(&s->io.obuf);
		pgp_wr_terminate(&s->io.obuf);
		conn_io_flush(&s->io);
	}
	if (s->io.fd >= 0) {
		ev_io_forget(ctx->loop, s->io.fd);
		if (s->io.tls)
			tls_close_notify(s->io.tls);
		close(s->io.fd);
	}
	s->io.fd = -1;
	free_login_params(s);
	pool_server_state(s, SV_JUSTFREE);
	/* Clients may be waiting for a replacement, in this pool or (the
	 * size is shared) its replication pools; a frozen pool launches
	 * when it thaws (its pre-warmed servers may cover them). */
	if (s->pool && old == SV_CANCEL) {
		pool_cancel_done(s->pool, s->cancel_of);
		return;
	}
	if (s->pool && !parked && !s->pool->db->frozen &&
	    s->pool->waiting_cancel_clients.count > 0)
		pool_cancel_launch(s->pool);
	if (s->pool && !parked)
		pool_group_freed(s->pool);
}

/* ---- login ---- */

static const char *server_user(const server_t *s)
{
	const pool_db_t *db = s->pool->db;
	return db->forced_user ? db->forced_user : s->pool->user->name;
}

/* The password to log in with: the [databases] entry's, else the user's
 * userlist.txt secret. NULL if we only have SCRAM keys or nothing. */
static const char *server_password(const server_t *s)
{
	const pool_db_t *db = s->pool->db;
	if (db->password && *db->password)
		return db->password;
	/* A forced user's password comes from auth_file too (PgBouncer). */
	auth_file_t *af = s->ctx->authfile;
	const char *pw = af ? auth_file_lookup(af, server_user(s)) : NULL;
	if (pw || db->forced_user)
		return pw;
	return pool_creds(s->pool)->auth_secret;
}

void server_send_startup(server_t *s)
{
	const char *names[4 + VAR_MAX] = {"user", "database"};
	const char *values[4 + VAR_MAX] = {server_user(s), s->pool->db->dbname};
	int n = 2;
	client_t *c = s->repl_client;
	if (c) {
		/* A replication connection takes its client's settings at
		 * startup: a physical one cannot run SET. */
		names[n] = "replication";
		values[n++] = s->pool->replication == POOL_REPL_LOGICAL
				      ? "database"
				      : "true";
		for (int v = 0; v < s->ctx->nvars; v++) {
			if (!c->vars[v])
				continue;
			names[n] = conn_var_name(s->ctx, v);
			values[n++] = c->vars[v];
		}
		if (c->repl_options) {
			names[n] = "options";
			values[n++] = c->repl_options;
		}
	}
	pgp_wr_startup(&s->io.obuf, names, values, n);
	if (s->ctx->cfg->log_connections) {
		char from[80];
		conn_addr_str(&s->local, from, sizeof(from));
		server_log(s, LOG_LOG, "new connection to server (from %s)",
			   from);
	}
}

/* A replication server's login failed: only its own client is told
 * (PgBouncer's words), the pool and its other logins are not touched. */
static void repl_login_fail(server_t *s, const char *msg)
{
	client_t *c = s->repl_client;
	server_log(s, LOG_WARNING, "server login failed: %s", msg);
	/* The server's close line goes to the log before the client hears
	 * (PgBouncer's suite reads the log on the error); the client is
	 * closed before the server, so the place the server frees is not
	 * taken for it again. */
	note_close(s, "login failed");
	if (c) {
		c->repl_server = NULL;
		s->repl_client = NULL;
		client_close(c, "08P01", "login failed");
	}
	close_logged(s, "login failed");
}

/* The server refused our login (an ErrorResponse): every client queued
 * on the pool would get the same answer, so all of them get it now, with
 * the server's SQLSTATE and words, as PgBouncer does, rather than at
 * query_wait_timeout. */
static void login_refused(server_t *s, const char *sev, const char *sqlstate,
			  const char *msg)
{
	pool_t *p = s->pool;
	char copy[512];
	if (p->replication != POOL_REPL_NONE) {
		repl_login_fail(s, msg);
		return;
	}
	snprintf(copy, sizeof(copy), "%s", msg);
	server_log(s, LOG_WARNING, "server login failed: %s %s", sev, copy);
	pool_db_host_failed(p->db);
	if (!server_parked(s))
		pool_login_refused(p, sqlstate, copy);
	server_close(s, "%s", copy);
}

static void connect_fail(server_t *s, const char *msg);

static void login_error(server_t *s, const uint8_t *body, uint32_t len)
{
	const char *msg = pgp_error_field(body, len, 'M');
	const char *sev = pgp_error_field(body, len, 'S');
	const char *code = pgp_error_field(body, len, 'C');
	/* "the database system is starting up": it will take us soon, so
	 * the clients keep waiting as for a server not reachable yet. */
	if (code && strcmp(code, "57P03") == 0) {
		connect_fail(s, msg ? msg : "database system is starting up");
		return;
	}
	login_refused(s, sev ? sev : "FATAL", code ? code : "08P01",
		      msg ? msg : "unknown error");
}

static void login_fail(server_t *s, const char *msg)
{
	pool_t *p = s->pool;
	if (p->replication != POOL_REPL_NONE) {
		repl_login_fail(s, msg);
		return;
	}
	pool_db_host_failed(p->db);
	char copy[512];
	snprintf(copy, sizeof(copy), "%s", msg);
	server_log(s, LOG_WARNING, "server login failed: %s", copy);
	/* Record the failure first so the close does not relaunch. A
	 * pre-warmed connection fails alone: its pool still serves. */
	if (!server_parked(s))
		pool_login_failed(p, copy);
	server_close(s, "server login failed: %s", copy);
}

/* The server could not be reached, or hung up before it answered: the
 * clients waiting keep waiting (query_wait_timeout bounds them) while
 * the pool retries after server_login_retry, as in PgBouncer, so that a
 * PostgreSQL restart costs them latency, not errors. */
static void connect_fail(server_t *s, const char *msg)
{
	pool_t *p = s->pool;
	pool_db_host_failed(p->db);
	server_log(s, LOG_WARNING, "server login failed: %s", msg);
	if (!server_parked(s))
		pool_login_unreachable(p, msg);
	server_close(s, "connect failed");
}

static int server_cb_mode(const server_t *s)
{
	return s->pool ? s->pool->db->channel_binding : CFG_CHANBIND_PREFER;
}

void server_login_failed(server_t *s, const char *msg)
{
	login_fail(s, msg);
}

static void auth_sasl_start(server_t *s, pgp_reader_t *r)
{
	const char *list = (const char *)r->p + r->pos;
	size_t listlen = pgp_rd_left(r);
	const char *pw = server_password(s);
	pool_user_t *u = s->pool->user;
	pool_t *cp = pool_creds(s->pool);
	if (pw && auth_secret_kind(pw) == AUTH_SECRET_PLAIN)
		s->scram = scram_client_new(pw);
	else if (s->pool->db->forced_user)
		s->scram = NULL;
	else if (pw && pw == cp->auth_secret && cp->has_scram_keys)
		s->scram =
			scram_client_new_keys(cp->client_key, cp->server_key);
	else if (u->has_scram_keys)
		s->scram = scram_client_new_keys(u->client_key, u->server_key);
	if (!s->scram && pw) {
		/* PgBouncer's words: an md5 secret cannot answer SCRAM. */
		login_fail(s, "cannot do SCRAM authentication: wrong password "
			      "type");
		return;
	}
	if (!s->scram) {
		login_fail(s, "no password available for SCRAM login");
		return;
	}
	/* SCRAM-SHA-256-PLUS when the server offers it over TLS: the
	 * exchange is bound to the certificate we verified. */
	uint8_t cb[SCRAM_MAX_CB_DATA];
	int cblen = server_tls_cb_data(s, cb, sizeof(cb));
	const char *mech = NULL;
	const char *err = NULL;
	if (scram_client_choose(
		    s->scram, list, listlen, (scram_cb_mode_t)server_cb_mode(s),
		    s->io.tls != NULL, cblen > 0 ? cb : NULL,
		    cblen > 0 ? (size_t)cblen : 0, &mech, &err) != SCRAM_OK) {
		login_fail(s, err ? err : "no supported SASL mechanism");
		return;
	}
	char out[SCRAM_MAX_MESSAGE];
	size_t outlen;
	if (scram_client_first(s->scram, out, sizeof(out), &outlen, &err) !=
	    SCRAM_OK) {
		login_fail(s, err ? err : "SCRAM failure");
		return;
	}
	pgp_wr_sasl_initial(&s->io.obuf, mech, out, outlen);
}

static void handle_auth(server_t *s, pgp_reader_t *r)
{
	uint32_t code = (uint32_t)pgp_rd_int32(r);
	char out[SCRAM_MAX_MESSAGE];
	size_t outlen;
	const char *err = NULL;
	const char *pw = server_password(s);

	if ((code == 3 || code == 5) &&
	    server_cb_mode(s) == CFG_CHANBIND_REQUIRE) {
		login_fail(s, "channel binding required but not supported by "
			      "server's authentication request");
		return;
	}
	switch (code) {
	case 0:
		/* libpq's check: require means the server proved it holds
		 * the certificate's key, not merely that TLS is on. */
		if (server_cb_mode(s) == CFG_CHANBIND_REQUIRE && !s->cb_bound) {
			login_fail(s, "channel binding required, but server "
				      "authenticated client without channel "
				      "binding");
			return;
		}
		s->auth_done = SV_LOGIN_AUTHENTICATED;
		return;
	case 3:
		if (!pw || auth_secret_kind(pw) != AUTH_SECRET_PLAIN) {
			login_fail(s, "no plain password for cleartext login");
			return;
		}
		pgp_wr_password(&s->io.obuf, pw);
		return;
	case 5: {
		const uint8_t *salt = pgp_rd_bytes(r, 4);
		if (!salt || !pw || auth_secret_kind(pw) == AUTH_SECRET_SCRAM) {
			login_fail(s, "no password available for md5 login");
			return;
		}
		char resp[AUTH_MD5_LEN + 1];
		auth_md5_response(pw, server_user(s), salt, resp);
		pgp_wr_password(&s->io.obuf, resp);
		return;
	}
	case 10:
		auth_sasl_start(s, r);
		return;
	case 11:
		if (!s->scram ||
		    scram_client_final(s->scram, (const char *)r->p + r->pos,
				       pgp_rd_left(r), out, sizeof(out),
				       &outlen, &err) != SCRAM_OK) {
			login_fail(s, err ? err : "SCRAM exchange failed");
			return;
		}
		pgp_wr_sasl_response(&s->io.obuf, out, outlen);
		return;
	case 12:
		if (!s->scram ||
		    scram_client_verify(s->scram, (const char *)r->p + r->pos,
					pgp_rd_left(r), &err) != SCRAM_OK) {
			login_fail(s, err ? err
					  : "server SCRAM signature invalid");
			return;
		}
		s->cb_bound = scram_client_channel_bound(s->scram);
		scram_client_free(s->scram);
		s->scram = NULL;
		return;
	default: {
		char msg[96];
		snprintf(msg, sizeof(msg),
			 "unsupported authentication method %u", code);
		login_fail(s, msg);
	}
	}
}

/*
 * The re-sync SETs are done. A parameter the server did not report back
 * kept its value (PostgreSQL 14+ reports changes only): the client's
 * value was another spelling of it ("ISO" for "ISO, MDY"), and the
 * client takes the server's, so the next server with that setting needs
 * no SET (PgBouncer's canonical values). A value the server refused
 * never gets here: that closes the server and the client.
 */
static void resync_done(server_t *s)
{
	client_t *c = s->link;
	uint32_t mask = s->resync_mask;
	s->resync_mask = 0;
	s->resyncing = false;
	if (!c)
		return;
	for (int v = 0; mask; v++, mask >>= 1) {
		if (!(mask & 1) || !s->vars[v] || !c->vars[v] ||
		    strcmp(c->vars[v], s->vars[v]) == 0)
			continue;
		if (log_enabled(&s->ctx->log, LOG_DEBUG))
			client_log(c, LOG_DEBUG,
				   "varcache_set_canonical: setting %s to its "
				   "canonical version %s -> %s",
				   conn_var_name(s->ctx, v), c->vars[v],
				   s->vars[v]);
		istr_put(&s->ctx->istr, c->vars[v]);
		c->vars[v] = istr_get(&s->ctx->istr, s->vars[v]);
	}
}

/* Record a ParameterStatus on the server, and on its client when the
 * value changed because of something done on the client's behalf. */
static void note_param(server_t *s, const uint8_t *body, uint32_t len,
		       bool to_client)
{
	pgp_reader_t r;
	pgp_rd_init(&r, body, len);
	const char *name = pgp_rd_string(&r);
	const char *val = pgp_rd_string(&r);
	if (r.err)
		return;
	int v = conn_var_index(s->ctx, name);
	if (v >= 0) {
		istr_put(&s->ctx->istr, s->vars[v]);
		s->vars[v] = istr_get(&s->ctx->istr, val);
		if (v < 32)
			s->resync_mask &= ~(1u << v);
		if (to_client && s->link) {
			istr_put(&s->ctx->istr, s->link->vars[v]);
			s->link->vars[v] = istr_ref(s->vars[v]);
		}
	}
	if (server_logging_in(s) && s->nparams < 32) {
		s->pnames[s->nparams] = strdup(name);
		s->pvalues[s->nparams] = strdup(val);
		s->nparams++;
	}
}

static void login_done(server_t *s)
{
	pool_t *p = s->pool;
	if (p->db->connect_query && *p->db->connect_query &&
	    s->auth_done == SV_LOGIN_AUTHENTICATED) {
		s->auth_done = SV_LOGIN_CONNECT_QUERY;
		pgp_wr_query(&s->io.obuf, p->db->connect_query);
		s->swallow_rfq++;
		return;
	}
	if (s->state == SV_PARKED_LOGIN) {
		/* Pre-warmed: ready, but parked until the switchover adopts
		 * it (its welcome is the target's, not the pool's yet). */
		free_login_params(s);
		pool_server_state(s, SV_PARKED);
		return;
	}
	if (!p->welcome_ready || s->repl_client)
		pool_set_welcome(p, s);
	free_login_params(s);
	free(p->login_error);
	p->login_error = NULL;
	client_t *rc = s->repl_client;
	if (rc) {
		s->repl_client = NULL;
		rc->repl_server = NULL;
		server_link(s, rc);
		client_welcome(rc);
		return;
	}
	pool_server_state(s, SV_IDLE);
	pool_server_ready(s);
}

/* The switchover's capture query returns one row: the session's replay
 * script and what cannot move (docs/switchover.md). */
static void capture_row(server_t *s, pgp_reader_t *r)
{
	client_t *c = s->link;
	int n = pgp_rd_int16(r);
	for (int i = 0; i < n && i < 2 && !r->err; i++) {
		int32_t len = pgp_rd_int32(r);
		if (len < 0)
			continue;
		const uint8_t *p = pgp_rd_bytes(r, (size_t)len);
		if (!p || len == 0)
			continue;
		char *v = strndup((const char *)p, (size_t)len);
		if (i == 0) {
			free(c->carry_sql);
			c->carry_sql = v;
		} else {
			free(c->carry_lost);
			c->carry_lost = v;
		}
	}
}

/*
 * The auth_query, with the user name as a bound parameter (never spliced
 * into SQL), in one implicit transaction whose search_path puts
 * pg_catalog first and pg_temp last: nothing a user can create shadows
 * the catalog, and the client's own settings never reach this session.
 */
#define AUTH_SEARCH_PATH                                                       \
	"SELECT pg_catalog.set_config('search_path', "                         \
	"'pg_catalog, \"$user\", public, pg_temp', true)"
#define PG_TYPE_TEXT 25

void server_auth_query(server_t *s, client_t *c)
{
	buf_t *o = &s->io.obuf;
	const char *user = c->user;
	uint32_t text = PG_TYPE_TEXT;
	s->link = c;
	c->link = s;
	pool_server_state(s, SV_ACTIVE);
	s->auth_lookup = true;
	s->auth_rows = 0;
	s->auth_commands = 0;
	s->auth_null = false;
	free(s->auth_secret);
	s->auth_secret = NULL;
	free(s->auth_error);
	s->auth_error = NULL;
	pgp_wr_parse(o, "", AUTH_SEARCH_PATH, NULL, 0);
	pgp_wr_bind(o, "", "", NULL, 0);
	pgp_wr_execute(o, "", 0);
	pgp_wr_parse(o, "", c->lookup_sql ? c->lookup_sql : "", &text, 1);
	pgp_wr_bind(o, "", "", &user, 1);
	pgp_wr_execute(o, "", 0);
	pgp_wr_sync(o);
	s->swallow_rfq++;
	s->request_us = ev_now_us(s->ctx->loop);
	if (server_flush(s))
		server_update_io(s);
}

/* A DataRow of the auth_query proper (the SET's row came first). */
static void auth_row(server_t *s, pgp_reader_t *r)
{
	s->auth_rows++;
	int n = pgp_rd_int16(r);
	if (n < 2) {
		if (!s->auth_error)
			s->auth_error = strdup("auth_query must return two "
					       "columns: user name, password");
		return;
	}
	int32_t len = pgp_rd_int32(r);
	if (len > 0)
		pgp_rd_bytes(r, (size_t)len);
	len = pgp_rd_int32(r);
	if (r->err)
		return;
	free(s->auth_secret);
	s->auth_secret = NULL;
	s->auth_null = len < 0;
	if (len < 0)
		return;
	if (len > AUTH_MAX_SECRET) {
		if (!s->auth_error)
			s->auth_error = strdup("auth_query returned a password "
					       "longer than 2047 bytes");
		return;
	}
	const uint8_t *p = pgp_rd_bytes(r, (size_t)len);
	if (p)
		s->auth_secret = strndup((const char *)p, (size_t)len);
}

/* The lookup's ReadyForQuery: give the server back, then the client
 * goes on with its login. */
static void auth_lookup_done(server_t *s)
{
	client_t *c = s->link;
	client_lookup_t res = {.rows = s->auth_rows,
			       .secret = s->auth_secret,
			       .error = s->auth_error};
	s->auth_secret = NULL;
	s->auth_error = NULL;
	s->auth_lookup = false;
	/* Out of the auth pool's queue first: the release serves that
	 * queue, and must not hand this client a second lookup. */
	bool waiting = c && c->state == CL_WAITING_AUTH;
	if (waiting)
		pool_client_state(c, CL_LOGIN);
	pool_release_server(s);
	if (waiting)
		client_auth_lookup_done(c, &res);
	if (res.secret) {
		OPENSSL_cleanse(res.secret, strlen(res.secret));
		free(res.secret);
	}
	free(res.error);
}

bool server_at_boundary(const server_t *s)
{
	return s->tx_status == 'I' && s->expect_rfq == 0 && !s->in_copy &&
	       !s->unsynced;
}

bool server_quiet(const server_t *s)
{
	return server_at_boundary(s) && s->swallow_rfq == 0 &&
	       s->fwd_left == 0 && !s->prepq.n &&
	       (!s->link || s->link->fwd_left == 0);
}

void server_capture(server_t *s, const char *sql, bool keep)
{
	pgp_wr_query(&s->io.obuf, sql);
	s->swallow_rfq++;
	s->capturing = keep;
	if (server_flush(s))
		server_update_io(s);
}

/* A whole message addressed to us (login, swallowed replies, idle). */
static void handle_own_msg(server_t *s, const pgp_msg_t *m, const uint8_t *body)
{
	pgp_reader_t r;
	pgp_rd_init(&r, body, m->len);
	switch (m->type) {
	case 'R':
		if (server_logging_in(s))
			handle_auth(s, &r);
		return;
	case 'S':
		note_param(s, body, m->len, s->state == SV_ACTIVE);
		return;
	case 'K':
		s->be_pid = (uint32_t)pgp_rd_int32(&r);
		s->be_key = (uint32_t)pgp_rd_int32(&r);
		return;
	case 'E': {
		const char *msg = pgp_error_field(body, m->len, 'M');
		const char *sev = pgp_error_field(body, m->len, 'S');
		if (server_logging_in(s) &&
		    s->auth_done != SV_LOGIN_CONNECT_QUERY) {
			login_error(s, body, m->len);
			return;
		}
		if (sev &&
		    (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0)) {
			server_close(s, "server error: %s", msg ? msg : "");
			return;
		}
		if (s->auth_lookup) {
			/* Logged by the client it was for. */
			if (!s->auth_error)
				s->auth_error = strdup(msg ? msg : "error");
			return;
		}
		if (s->resyncing && !s->replaying && s->link) {
			/* The client's values cannot be had here: its query
			 * must not run with the server's (PgBouncer's
			 * words). */
			client_t *c = s->link;
			log_msg(&s->ctx->log, LOG_ERROR,
				"varcache_apply failed: %s: %s",
				sev ? sev : "ERROR", msg ? msg : "");
			s->link = NULL;
			c->link = NULL;
			server_close(s, "invalid server parameter");
			client_close(c, "08P01", "invalid server parameter");
			return;
		}
		s->resync_mask = 0; /* refused: nothing to make canonical */
		server_log(s, LOG_WARNING, "pooler query failed: %s",
			   msg ? msg : "");
		if ((s->replaying || s->capturing) && s->link &&
		    !s->link->carry_lost) {
			char tmp[512];
			snprintf(tmp, sizeof(tmp),
				 "session state could not be %s: %s",
				 s->capturing ? "read" : "restored",
				 msg ? msg : "");
			s->link->carry_lost = strdup(tmp);
		}
		/* A check query's error still proves the connection alive
		 * (PgBouncer keeps such a server); a failed reset does not
		 * leave it clean. */
		if ((s->state == SV_TESTED && !s->checking) ||
		    (server_logging_in(s) &&
		     s->auth_done != SV_LOGIN_CONNECT_QUERY))
			s->dirty = true;
		return;
	}
	case 'Z':
		s->tx_status = (char)pgp_rd_byte(&r);
		if (s->swallow_rfq > 0)
			s->swallow_rfq--;
		if (s->swallow_rfq > 0)
			return;
		if (s->resyncing)
			resync_done(s);
		s->capturing = false;
		s->replaying = false;
		if (s->auth_lookup) {
			auth_lookup_done(s);
			return;
		}
		if (server_logging_in(s)) {
			login_done(s);
		} else if (s->state == SV_TESTED) {
			s->checking = false;
			if (s->dirty || s->tx_status != 'I') {
				server_close(s, "server check failed");
				return;
			}
			pool_server_state(s, SV_IDLE);
			pool_server_ready(s);
		}
		return;
	case 'D':
		if (s->auth_lookup && s->auth_commands == 1)
			auth_row(s, &r);
		else if (s->capturing && s->link)
			capture_row(s, &r);
		return;
	case 'C':
		if (s->auth_lookup)
			s->auth_commands++;
		else if (m->len >= 12 && body[m->len - 1] == 0 &&
			 (strcmp((const char *)body, "DISCARD ALL") == 0 ||
			  strcmp((const char *)body, "DEALLOCATE ALL") == 0))
			server_prep_discarded(s);
		return;
	default:
		/* NoticeResponse, NotificationResponse on an idle server,
		 * CommandComplete of our own queries: nothing to do. */
		return;
	}
}

static void account_rfq(server_t *s, char status)
{
	client_t *c = s->link;
	pool_t *p = s->pool;
	int64_t now = ev_now_us(s->ctx->loop);
	int64_t qstart = s->query_us;
	if (s->expect_rfq > 0)
		s->expect_rfq--;
	p->stats.total.query_count++;
	if (s->query_us)
		p->stats.total.query_time_us += (uint64_t)(now - s->query_us);
	if (s->expect_rfq > 0)
		s->query_us = now;
	if (c)
		c->idle_us = now;
	if (status == 'I') {
		p->stats.total.xact_count++;
		/* An autocommit statement is a transaction of its own. */
		int64_t xstart = c && c->xact_us ? c->xact_us : qstart;
		if (xstart)
			p->stats.total.xact_time_us += (uint64_t)(now - xstart);
		if (c)
			c->xact_us = 0;
	} else if (c && !c->xact_us) {
		c->xact_us = s->query_us ? s->query_us : now;
	}
	s->tx_status = status;
}

/* After a ReadyForQuery went to the client: give the server back? */
static bool maybe_release(server_t *s)
{
	client_t *c = s->link;
	int mode = pool_mode(s->pool);
	if (!c || mode == CFG_POOL_SESSION)
		return false;
	if (s->tx_status != 'I') {
		if (mode == CFG_POOL_STATEMENT) {
			client_close(c, "08P01",
				     "transaction blocks not allowed in "
				     "statement pooling mode");
			return true;
		}
		return false;
	}
	if (s->expect_rfq > 0 || c->fwd_left > 0 || s->in_copy || s->unsynced ||
	    s->prepq.n)
		return false;
	/* The next waiting client is served after this client's reply is
	 * flushed (server_process), so the reply leaves first. */
	s->ready_pending = pool_release_server_idle(s);
	return true;
}

/* A reply that completes a request while prepared statements are
 * tracked: read whole, forwarded or swallowed, then the answers we owe
 * the client that are now due. */
static bool prep_step(server_t *s, const pgp_msg_t *m, const uint8_t *p,
		      uint32_t avail)
{
	conn_io_t *io = &s->io;
	client_t *c = s->link;
	if (m->type == 'C')
		s->in_copy = false;
	if (avail < m->total) {
		if (m->total <= io->rcap)
			return false;
		/* Too large to hold (a huge error or row description): it
		 * streams, and what is owed after it waits for the next
		 * reply. */
		if (server_prep_reply(s, m->type, NULL, 0))
			s->fwd_left = m->total;
		else
			s->drop_left = m->total;
		s->prep_fakes_due = true; /* written once it has passed */
		return true;
	}
	io->rpos += m->total;
	if (server_prep_reply(s, m->type, p + PGP_HDR_LEN, m->len)) {
		if (!buf_append(&c->io.obuf, p, m->total)) {
			client_close(c, NULL, "client output buffer full");
			return false;
		}
		s->pool->stats.total.bytes_sent += m->total;
	}
	server_prep_fakes(s);
	return true;
}

/* One step of forwarding to the linked client. Returns false to stop. */
static bool forward_step(server_t *s)
{
	conn_io_t *io = &s->io;
	client_t *c = s->link;
	uint32_t avail = io->rlen - io->rpos;
	const uint8_t *p = io->rbuf + io->rpos;

	if (buf_pending(&c->io.obuf) > CONN_HIGH_WATER) {
		io->want_read = false;
		return false;
	}
	if (s->fwd_left > 0) {
		uint32_t n = avail < s->fwd_left ? avail : s->fwd_left;
		if (!buf_append(&c->io.obuf, p, n)) {
			client_close(c, NULL, "client output buffer full");
			return false;
		}
		if (s->tap_in_row)
			conn_tap_bytes(s, p, n, s->fwd_left == n);
		io->rpos += n;
		s->fwd_left -= n;
		s->pool->stats.total.bytes_sent += n;
		if (s->fwd_left == 0 && s->prep_fakes_due) {
			s->prep_fakes_due = false;
			server_prep_fakes(s);
		}
		return n > 0;
	}
	pgp_msg_t m;
	if (pgp_frame(p, avail, 0x7fffffff, &m) != PGP_OK)
		return false;
	if (server_prep_wants(s, m.type))
		return prep_step(s, &m, p, avail);
	switch (m.type) {
	case 'Z':
	case 'S':
		/* Small messages we must read whole before passing on. */
		if (avail < m.total) {
			if (m.total > io->rcap) {
				server_close(s, "ParameterStatus too long");
				return false;
			}
			return false;
		}
		if (m.type == 'S')
			note_param(s, p + PGP_HDR_LEN, m.len, true);
		else if (s->prepq.n) {
			server_prep_fakes(s);
			server_prep_reply(s, 'Z', NULL, 0);
		}
		buf_append(&c->io.obuf, p, m.total);
		io->rpos += m.total;
		s->pool->stats.total.bytes_sent += m.total;
		if (m.type == 'Z') {
			if (s->prepq.n)
				server_prep_fakes(s);
			s->in_copy = false;
			if (s->tap_token)
				conn_tap_finish(s);
			account_rfq(s, m.len ? (char)p[PGP_HDR_LEN] : 'I');
			if (maybe_release(s))
				return false;
		}
		return true;
	case 'G':
		if (s->prepq.n)
			server_prep_copy_in(s);
		s->in_copy = true;
		break;
	case 'H':
	case 'W':
		s->in_copy = true;
		break;
	case 'C':
		s->in_copy = false;
		break;
	default:
		break;
	}
	if (s->tap_token)
		conn_tap_frame(s, m.type);
	s->fwd_left = m.total;
	return true;
}

/* One step of consuming messages addressed to us. */
static bool own_step(server_t *s)
{
	conn_io_t *io = &s->io;
	uint32_t avail = io->rlen - io->rpos;
	const uint8_t *p = io->rbuf + io->rpos;

	if (s->drop_left > 0) {
		uint32_t n = avail < s->drop_left ? avail : s->drop_left;
		io->rpos += n;
		s->drop_left -= n;
		if (s->drop_left == 0 && s->prep_fakes_due) {
			s->prep_fakes_due = false;
			server_prep_fakes(s);
		}
		return n > 0;
	}
	pgp_msg_t m;
	pgp_status_t st = pgp_frame(p, avail, 0x7fffffff, &m);
	if (st == PGP_MORE)
		return false;
	if (st != PGP_OK) {
		server_close(s, "bad packet header from server");
		return false;
	}
	if (m.total > io->rcap) {
		/* Only data rows of our own queries get this big: skip. */
		if (m.type == 'D' || m.type == 'N' || m.type == 'A' ||
		    m.type == 'T') {
			s->drop_left = m.total;
			return true;
		}
		server_close(s, "message from server too long");
		return false;
	}
	if (avail < m.total)
		return false;
	io->rpos += m.total;
	/* A NOTIFY can arrive inside the reply to one of our own queries
	 * (re-sync, switchover capture): it is the client's, never ours. */
	if (m.type == 'A' && s->link && s->state == SV_ACTIVE &&
	    !buf_append(&s->link->io.obuf, p, m.total)) {
		client_close(s->link, NULL, "client output buffer full");
		return false;
	}
	handle_own_msg(s, &m, p + PGP_HDR_LEN);
	return true;
}

/* One pass over buffered input. Returns true when it stopped only
 * because the client's output was over the high-water mark and the
 * flush has since drained it while input is still buffered: with no
 * more bytes arriving from the server, no event would ever resume it. */
static bool process_pass(server_t *s)
{
	client_t *c0 = s->link;
	for (int guard = 0; guard < 100000; guard++) {
		if (s->state == SV_JUSTFREE)
			return false;
		if (s->io.rpos == s->io.rlen) {
			s->io.rpos = s->io.rlen = 0;
			break;
		}
		bool more;
		if (s->tls_step == SV_TLS_REQUESTED)
			more = server_tls_step(s);
		else if (s->state == SV_ACTIVE && s->link &&
			 s->swallow_rfq == 0 && s->drop_left == 0)
			more = forward_step(s);
		else
			more = own_step(s);
		if (!more)
			break;
	}
	bool throttled = s->link && s->io.rpos < s->io.rlen &&
			 buf_pending(&s->link->io.obuf) > CONN_HIGH_WATER;
	/* Flush what we produced for the client we served this turn, even
	 * if the server was closed on release (its reply is complete). */
	client_t *c = c0 ? c0 : s->link;
	if (c && c->state != CL_JUSTFREE && client_flush_soon(c))
		client_update_io(c);
	if (s->state == SV_JUSTFREE)
		return false;
	if (s->ready_pending) {
		s->ready_pending = false;
		if (s->state == SV_IDLE || s->state == SV_USED)
			pool_server_ready(s);
		if (s->state == SV_JUSTFREE)
			return false;
	}
	if (!server_flush_soon(s))
		return false;
	if (s->link && buf_pending(&s->link->io.obuf) > CONN_HIGH_WATER) {
		s->io.want_read = false;
	} else {
		if (throttled && s->link == c0 && c0 &&
		    c0->state != CL_JUSTFREE)
			return true;
		/* Unprocessed bytes less than a full buffer: a read
		 * compacts first, so there is room. */
		s->io.want_read = s->io.rlen - s->io.rpos < s->io.rcap;
	}
	server_update_io(s);
	return false;
}

void server_process(server_t *s)
{
	s->io.busy++;
	for (int pass = 0; pass < 1024 && process_pass(s); pass++)
		;
	conn_io_done(&s->io);
}

void server_check(server_t *s, const char *sql)
{
	s->checking = true;
	server_reset(s, sql);
}

void server_reset(server_t *s, const char *sql)
{
	pgp_wr_query(&s->io.obuf, sql);
	s->swallow_rfq++;
	pool_server_state(s, SV_TESTED);
	if (server_flush(s))
		server_update_io(s);
}

/* Quote a SET value as a string literal. */
static void append_literal(buf_t *b, const char *v)
{
	buf_append(b, "'", 1);
	for (; *v; v++) {
		if (*v == '\'')
			buf_append(b, "'", 1);
		buf_append(b, v, 1);
	}
	buf_append(b, "'", 1);
}

void server_link(server_t *s, client_t *c)
{
	buf_t sql;
	buf_init(&sql, 64 * 1024);
	s->link = c;
	c->link = s;
	pool_server_state(s, SV_ACTIVE);
	/* A replication server got its client's values at startup. */
	int nvars = s->pool->replication ? 0 : s->ctx->nvars;
	for (int v = 0; v < nvars; v++) {
		const char *want = c->vars[v];
		if (!want && v >= VAR_COUNT && s->vars[v]) {
			/* An extra parameter another client set, that this
			 * one did not: back to the server's default. */
			buf_printf(&sql, "RESET %s;", conn_var_name(s->ctx, v));
			istr_put(&s->ctx->istr, s->vars[v]);
			s->vars[v] = NULL;
			continue;
		}
		/* The common case, every transaction: nothing differs (both
		 * interned: equal values are one pointer). */
		if (!want || s->vars[v] == want)
			continue;
		const char *name = conn_var_name(s->ctx, v);
		if (v < VAR_COUNT) {
			buf_printf(&sql, "SET %s=", name);
			s->resync_mask |= 1u << v;
			append_literal(&sql, want);
			buf_append(&sql, ";", 1);
			continue;
		}
		/* set_config() takes the value as a startup packet gives it
		 * (a list stays a list: SET search_path = 'a,b' would name
		 * one schema "a,b"). Not every parameter is reported back
		 * (search_path is not): what we set is what it is. */
		buf_append(&sql, "SELECT pg_catalog.set_config(", 29);
		append_literal(&sql, name);
		buf_append(&sql, ", ", 2);
		append_literal(&sql, want);
		buf_append(&sql, ", false);", 9);
		istr_put(&s->ctx->istr, s->vars[v]);
		s->vars[v] = istr_ref(want);
	}
	s->resyncing = sql.len > 0;
	if (c->carry_sql) {
		/* A session moved by a switchover: restore its state before
		 * anything the client sends. */
		if (sql.len)
			buf_append(&sql, " ", 1);
		buf_append(&sql, c->carry_sql, strlen(c->carry_sql));
		free(c->carry_sql);
		c->carry_sql = NULL;
		s->replaying = true;
	}
	if (sql.len > 0 && buf_append(&sql, "", 1)) {
		/* Pipelined ahead of the client's query: no extra round
		 * trip; the replies are swallowed. */
		if (log_enabled(&s->ctx->log, LOG_DEBUG))
			server_log(s, LOG_DEBUG, "varcache_apply: %s",
				   (const char *)sql.data);
		pgp_wr_query(&s->io.obuf, (const char *)sql.data);
		s->swallow_rfq++;
	}
	buf_free(&sql);
	s->pool->stats.total.server_assignment_count++;
}

/* A client's cancel connection is up: cancel only if its target is
 * still in the query the request was for (PgBouncer's check), and count
 * it on that server until the server closes this connection. */
static bool cancel_target_ok(server_t *s)
{
	client_t *req = s->cancel_req;
	if (!req) {
		server_close(s, "client gave up on cancel request, so we also "
				"give up forwarding to server");
		return false;
	}
	server_t *t = pool_cancel_target(s->pool, req->cancel_target_id);
	if (!t) {
		/* The request's close closes this connection too. */
		client_close(req, NULL,
			     "not sending cancel request for client that is "
			     "now idle");
		return false;
	}
	s->cancel_pid = t->be_pid;
	s->cancel_key = t->be_key;
	s->cancel_of = t->id;
	t->cancels_inflight++;
	if (s->ctx->cfg->log_connections)
		server_log(s, LOG_LOG, "new connection to server (from %s:%d)",
			   s->local.host, s->local.port);
	return true;
}

static void on_connected(server_t *s)
{
	char err[256];
	if (sock_connect_result(s->io.fd, err, sizeof(err)) < 0) {
		if (s->state == SV_CANCEL) {
			server_close(s, "cancel connect failed");
			return;
		}
		connect_fail(s, err);
		return;
	}
	s->connected = true;
	sock_local(s->io.fd, &s->local);
	if (s->state == SV_CANCEL && s->pool && !cancel_target_ok(s))
		return;
	if (s->state == SV_CANCEL) {
		uint8_t key[4] = {(uint8_t)(s->cancel_key >> 24),
				  (uint8_t)(s->cancel_key >> 16),
				  (uint8_t)(s->cancel_key >> 8),
				  (uint8_t)s->cancel_key};
		pgp_wr_cancel(&s->io.obuf, s->cancel_pid, key, 4);
	} else {
		server_tls_start(s);
	}
}

void server_drained(server_t *s)
{
	client_t *c = s->link;
	if (c && buf_pending(&s->io.obuf) < CONN_HIGH_WATER &&
	    (c->io.rpos < c->io.rlen || !c->io.want_read))
		client_process(c);
}

/* False when the server was closed. */
static bool read_input(server_t *s)
{
	int n = conn_io_read(&s->io);
	if (n != 0 && n != -2)
		return true;
	if (s->state == SV_CANCEL)
		server_close(s, "successfully sent cancel request");
	else if (server_logging_in(s))
		connect_fail(s, "server closed the connection during login");
	else
		server_close(s, "server conn crashed?");
	return false;
}

static void server_on_io(ev_loop_t *loop, int fd, void *data, int mask)
{
	server_t *s = data;
	(void)loop;
	(void)fd;
	if (!s->connected) {
		on_connected(s);
		if (s->state == SV_JUSTFREE)
			return;
		mask |= EV_WRITE;
	}
	if (s->tls_step == SV_TLS_HANDSHAKE) {
		/* The handshake reads and writes the socket itself. */
		if (server_tls_step(s))
			server_process(s);
		return;
	}
	if (mask & EV_WRITE) {
		if (!server_flush(s))
			return;
		server_drained(s);
		if (s->state == SV_JUSTFREE)
			return;
	}
	if ((mask & EV_READ) && !read_input(s))
		return;
	server_process(s);
}

void server_read_more(server_t *s)
{
	if (s->state == SV_JUSTFREE || !read_input(s))
		return;
	server_process(s);
}
