/* SPDX-License-Identifier: MIT */
/*
 * client.c - the client state machine: accept, startup, authentication,
 * and forwarding client messages to the linked server.
 *
 * Forwarding streams: a message's header is inspected and its bytes are
 * copied to the server's output as they arrive, so a 1 GB COPY never
 * needs more than pkt_buf of memory here. Only login messages and
 * console queries must fit whole in the read buffer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin.h"
#include "auth/auth.h"
#include "config/cfg.h"
#include "conn/conn.h"
#include "net/sock.h"
#include "pool/pool.h"
#include "proto/pgp.h"

static const char *const var_names[VAR_COUNT] = {
	"client_encoding",
	"DateStyle",
	"TimeZone",
	"IntervalStyle",
	"standard_conforming_strings",
	"application_name",
};

const char *client_var_name(conn_var_t v)
{
	return var_names[v];
}

static int var_index(const char *name)
{
	for (int i = 0; i < VAR_COUNT; i++)
		if (strcasecmp(var_names[i], name) == 0)
			return i;
	return -1;
}

static void client_on_io(ev_loop_t *loop, int fd, void *data, int mask);

void client_log(client_t *c, int lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conn_vlog(&c->ctx->log, lvl, 'C', c, c->dbname, c->user, &c->addr, fmt,
		  ap);
	va_end(ap);
}

void client_update_io(client_t *c)
{
	if (c->state == CL_JUSTFREE)
		return;
	int mask = 0;
	if (c->io.want_read)
		mask |= EV_READ;
	if (buf_pending(&c->io.obuf) > 0 && !c->io.queued)
		mask |= EV_WRITE;
	ev_io_set(c->ctx->loop, c->io.fd, mask, client_on_io, c);
}

bool client_flush(client_t *c)
{
	if (buf_pending(&c->io.obuf) == 0)
		return true;
	int r = conn_io_flush(&c->io);
	if (r < 0) {
		client_close(c, NULL, "client unexpected eof");
		return false;
	}
	return true;
}

void client_accept(pgs_ctx_t *ctx, int lfd)
{
	const cfg_t *cfg = ctx->cfg;
	for (int i = 0; i < 64; i++) {
		conn_addr_t peer;
		int fd = sock_accept(lfd, &peer);
		if (fd < 0)
			return;
		client_t *c = calloc(1, sizeof(*c));
		uint32_t rcap =
			(uint32_t)(cfg->pkt_buf > 8192 ? cfg->pkt_buf : 8192);
		if (!c || conn_io_init(&c->io, fd, rcap, CONN_OBUF_MAX) < 0) {
			free(c);
			close(fd);
			continue;
		}
		sock_opts_t so = {.keepalive = cfg->tcp_keepalive,
				  .keepcnt = cfg->tcp_keepcnt,
				  .keepidle = cfg->tcp_keepidle,
				  .keepintvl = cfg->tcp_keepintvl,
				  .user_timeout_ms = cfg->tcp_user_timeout,
				  .sndbuf = cfg->tcp_socket_buffer};
		sock_tune(fd, &so, !peer.unix_sock);
		c->ctx = ctx;
		c->addr = peer;
		sock_local(fd, &c->local);
		c->id = ++ctx->next_id;
		c->connect_us = c->request_us = ev_now_us(ctx->loop);
		list_init(&c->node);
		ctx->client_count++;
		pool_client_state(c, CL_LOGIN);
		client_update_io(c);
	}
}

/* ---- closing: the one exit ---- */

void client_close(client_t *c, const char *sqlstate, const char *fmt, ...)
{
	if (c->state == CL_JUSTFREE)
		return;
	pgs_ctx_t *ctx = c->ctx;
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);

	int64_t age = (ev_now_us(ctx->loop) - c->connect_us) / 1000000;
	if (sqlstate && c->pool)
		c->pool->db->client_errors++;
	if (sqlstate) {
		if (ctx->cfg->log_pooler_errors)
			client_log(c, LOG_WARNING, "pooler error: %s", reason);
		pgp_wr_error(&c->io.obuf, "FATAL", sqlstate, reason);
		conn_io_flush(&c->io);
	}
	if (ctx->cfg->log_disconnections || sqlstate)
		client_log(c, LOG_LOG, "closing because: %s (age=%llds)",
			   reason, (long long)age);

	server_t *s = c->link;
	if (s) {
		c->link = NULL;
		s->link = NULL;
		if (s->state == SV_ACTIVE)
			pool_release_server(s);
	}
	if (c->admin)
		admin_client_gone(c);
	pool_key_unregister(ctx, c);
	if (c->pool && c->state != CL_LOGIN) {
		c->pool->db->client_count--;
		c->pool->user->client_count--;
	}
	ev_io_del(ctx->loop, c->io.fd);
	close(c->io.fd);
	c->io.fd = -1;
	ctx->client_count--;
	pool_client_state(c, CL_JUSTFREE);
}

void client_error(client_t *c, const char *sqlstate, const char *msg)
{
	pgp_wr_error(&c->io.obuf, "ERROR", sqlstate, msg);
	pgp_wr_ready(&c->io.obuf, 'I');
}

/* ---- login ---- */

static const char *const admin_params[][2] = {
	{"server_version", "1.25.0/pgswitch " PGSWITCH_VERSION},
	{"server_encoding", "UTF8"},
	{"client_encoding", "UTF8"},
	{"DateStyle", "ISO"},
	{"TimeZone", "UTC"},
	{"standard_conforming_strings", "on"},
	{"is_superuser", "on"},
	{"integer_datetimes", "on"},
	{"application_name", ""},
};

static void issue_key(client_t *c)
{
	do {
		pool_random(c->ctx, &c->key_pid, sizeof(c->key_pid));
		pool_random(c->ctx, &c->key_secret, sizeof(c->key_secret));
	} while (!pool_key_register(c->ctx, c));
}

static void send_welcome_tail(client_t *c)
{
	issue_key(c);
	pgp_wr_backend_key(&c->io.obuf, c->key_pid, c->key_secret);
	pgp_wr_ready(&c->io.obuf, 'I');
}

static void admin_welcome(client_t *c)
{
	buf_t *o = &c->io.obuf;
	pgp_wr_auth(o, 0, NULL, 0);
	for (size_t i = 0; i < sizeof(admin_params) / sizeof(admin_params[0]);
	     i++)
		pgp_wr_param_status(o, admin_params[i][0], admin_params[i][1]);
	send_welcome_tail(c);
	pool_client_state(c, CL_ACTIVE);
	if (c->ctx->cfg->log_connections)
		client_log(c, LOG_LOG, "login attempt: db=%s user=%s tls=no",
			   c->dbname, c->user);
}

void client_welcome(client_t *c)
{
	pool_t *p = c->pool;
	buf_t *o = &c->io.obuf;

	/* A client sees its own startup values, the server's for the rest. */
	pgp_wr_auth(o, 0, NULL, 0);
	for (int i = 0; i < p->nwelcome; i++) {
		int v = p->welcome_var[i];
		if (v >= 0 && !c->vars[v])
			c->vars[v] = strdup(p->welcome_values[i]);
		const char *val = v >= 0 ? c->vars[v] : p->welcome_values[i];
		pgp_wr_param_status(o, p->welcome_names[i], val);
	}
	send_welcome_tail(c);
	pool_client_state(c, CL_ACTIVE);
	client_flush(c);
	if (c->state != CL_JUSTFREE) {
		client_update_io(c);
		/* A pipelining client may have sent its first query already. */
		client_process(c);
	}
}

static void finish_login(client_t *c)
{
	pgs_ctx_t *ctx = c->ctx;
	if (c->admin) {
		admin_welcome(c);
		return;
	}
	pool_db_t *db = pool_db_lookup(ctx, c->dbname);
	if (!db) {
		client_close(c, "3D000", "no such database: %s", c->dbname);
		return;
	}
	pool_user_t *u = pool_user_get(ctx, c->user);
	pool_t *p = u ? pool_get(ctx, db, u) : NULL;
	if (!p) {
		client_close(c, "53200", "out of memory");
		return;
	}
	c->pool = p;
	db->client_count++;
	u->client_count++;
	if (ctx->cfg->log_connections)
		client_log(c, LOG_LOG, "login attempt: db=%s user=%s tls=no",
			   c->dbname, c->user);
	if (p->welcome_ready) {
		client_welcome(c);
		return;
	}
	if (p->login_error && ev_now_us(ctx->loop) - p->last_login_fail_us <
				      ctx->cfg->server_login_retry * 1000) {
		client_close(c, "08P01", "%s", p->login_error);
		return;
	}
	c->wait_us = ev_now_us(ctx->loop);
	pool_client_state(c, CL_WAITING_LOGIN);
	pool_launch(p);
}

static void auth_failed(client_t *c)
{
	client_close(c, "28P01",
		     "password authentication failed for user \"%s\"", c->user);
}

static void check_password(client_t *c, const char *given)
{
	const char *stored = c->secret;
	bool ok = false;
	if (stored && auth_secret_kind(stored) == AUTH_SECRET_MD5) {
		char tmp[AUTH_MD5_LEN + 1];
		auth_md5_secret(c->user, given, tmp);
		ok = auth_str_equal(tmp, stored);
	} else if (stored && auth_secret_kind(stored) == AUTH_SECRET_PLAIN) {
		ok = auth_str_equal(given, stored);
	} else {
		/* Unknown user or SCRAM-only secret: same failure. */
		(void)auth_str_equal(given, "");
	}
	if (ok)
		finish_login(c);
	else
		auth_failed(c);
}

static void start_scram(client_t *c)
{
	/* Doomed exchanges for unknown users use a per-process mock key:
	 * the same salt every time, as PostgreSQL does. */
	c->scram = scram_server_new_mock(c->user, c->secret, c->ctx->mock_key);
	if (!c->scram) {
		client_close(c, "53200", "out of memory");
		return;
	}
	pgp_wr_auth_sasl(&c->io.obuf, "SCRAM-SHA-256");
	c->auth_step = 2;
}

static void start_auth(client_t *c)
{
	const cfg_t *cfg = c->ctx->cfg;
	auth_file_t *af = c->ctx->authfile;
	c->secret = af ? auth_file_lookup(af, c->user) : NULL;
	/* An empty password never authenticates (PgBouncer, PostgreSQL). */
	if (c->secret && !*c->secret && cfg->auth_type != CFG_AUTH_TRUST &&
	    cfg->auth_type != CFG_AUTH_ANY)
		c->secret = NULL;

	switch (cfg->auth_type) {
	case CFG_AUTH_ANY:
		finish_login(c);
		return;
	case CFG_AUTH_TRUST:
		/* PgBouncer: the user must still exist in auth_file. */
		if (af && !c->secret && !c->admin) {
			auth_failed(c);
			return;
		}
		finish_login(c);
		return;
	case CFG_AUTH_PLAIN:
		pgp_wr_auth(&c->io.obuf, 3, NULL, 0);
		c->auth_step = 1;
		return;
	case CFG_AUTH_MD5:
		if (c->secret &&
		    auth_secret_kind(c->secret) == AUTH_SECRET_SCRAM) {
			start_scram(c);
			return;
		}
		pool_random(c->ctx, c->md5_salt, 4);
		pgp_wr_auth(&c->io.obuf, 5, c->md5_salt, 4);
		c->auth_step = 5;
		return;
	case CFG_AUTH_SCRAM:
		start_scram(c);
		return;
	default:
		client_close(
			c, "28000", "auth_type %s is not supported yet",
			cfg_auth_type_name((cfg_auth_type_t)cfg->auth_type));
	}
}

/* Returns false when the client must be closed for its parameters. */
static bool take_params(client_t *c, const pgp_startup_t *st,
			const char **unsupported, int *nunsup)
{
	const cfg_t *cfg = c->ctx->cfg;
	*nunsup = 0;
	for (int i = 0; i < st->nparams; i++) {
		const char *n = st->names[i], *v = st->values[i];
		int vi;
		if (strcmp(n, "user") == 0) {
			free(c->user);
			c->user = strndup(v, 63);
		} else if (strcmp(n, "database") == 0) {
			free(c->dbname);
			c->dbname = strndup(v, 63);
		} else if ((vi = var_index(n)) >= 0) {
			free(c->vars[vi]);
			c->vars[vi] = strdup(v);
		} else if (strncmp(n, "_pq_.", 5) == 0) {
			if (*nunsup < 16)
				unsupported[(*nunsup)++] = n;
		} else if (cfg_list_contains(cfg->ignore_startup_parameters,
					     n)) {
			continue;
		} else {
			client_close(c, "08P01",
				     "unsupported startup parameter: %s", n);
			return false;
		}
	}
	if (!c->user || !*c->user) {
		client_close(c, "08P01", "no username supplied");
		return false;
	}
	if (!c->dbname || !*c->dbname) {
		free(c->dbname);
		c->dbname = strdup(c->user);
	}
	if (cfg->application_name_add_host) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "%s - %s:%d",
			 c->vars[VAR_APPNAME] ? c->vars[VAR_APPNAME] : "",
			 c->addr.host, c->addr.port);
		free(c->vars[VAR_APPNAME]);
		c->vars[VAR_APPNAME] = strdup(tmp);
	}
	return true;
}

static void handle_cancel(client_t *c, const pgp_startup_t *st)
{
	uint32_t key = 0;
	if (st->cancel_key_len == 4)
		key = ((uint32_t)st->cancel_key[0] << 24) |
		      ((uint32_t)st->cancel_key[1] << 16) |
		      ((uint32_t)st->cancel_key[2] << 8) | st->cancel_key[3];
	client_t *target = pool_key_find(c->ctx, st->cancel_pid, key);
	if (target && target->link)
		server_cancel(c->ctx, target->link);
	/* PostgreSQL closes a cancel connection without a reply. */
	client_close(c, NULL, "client cancel request");
}

static void handle_startup(client_t *c, const uint8_t *p, uint32_t len)
{
	pgs_ctx_t *ctx = c->ctx;
	pgp_startup_t st;
	const char *err;

	if (pgp_parse_startup(p, len, &st, &err) != PGP_OK) {
		client_close(c, "08P01", "%s", err);
		return;
	}
	switch (st.kind) {
	case PGP_SSL_REQUEST:
	case PGP_GSSENC_REQUEST:
		buf_append(&c->io.obuf, "N", 1);
		return;
	case PGP_CANCEL_REQUEST:
		handle_cancel(c, &st);
		return;
	case PGP_STARTUP:
		break;
	}
	const char *unsup[16];
	int nunsup;
	if (!take_params(c, &st, unsup, &nunsup))
		return;
	c->proto_minor = st.minor;
	if (st.minor > 0 || nunsup > 0)
		/* PostgreSQL sends the full version, 3.0 = 196608. */
		pgp_wr_negotiate(&c->io.obuf, PGP_PROTO_MAJOR << 16, unsup,
				 nunsup);
	if (ctx->shutdown != PGS_RUNNING) {
		client_close(c, "57P01", "pooler is shutting down");
		return;
	}
	/* The console stays reachable when the pooler is full. */
	if (ctx->client_count > ctx->cfg->max_client_conn &&
	    !admin_is_db(c->dbname)) {
		client_close(c, "53300",
			     "no more connections allowed (max_client_conn)");
		return;
	}
	if (admin_is_db(c->dbname)) {
		const cfg_t *cfg = ctx->cfg;
		c->admin_rw = cfg_list_contains(cfg->admin_users, c->user);
		if (!c->admin_rw &&
		    !cfg_list_contains(cfg->stats_users, c->user) &&
		    cfg->auth_type != CFG_AUTH_ANY) {
			client_close(c, "28000", "not allowed");
			return;
		}
		if (cfg->auth_type == CFG_AUTH_ANY)
			c->admin_rw = true;
		c->admin = true;
	} else {
		pool_db_t *db = pool_db_lookup(ctx, c->dbname);
		if (!db) {
			client_close(c, "3D000", "no such database: %s",
				     c->dbname);
			return;
		}
		if (db->disabled) {
			client_close(c, "08P01", "database \"%s\" is disabled",
				     c->dbname);
			return;
		}
	}
	c->auth_step = 0;
	start_auth(c);
}

static void handle_auth_msg(client_t *c, const pgp_msg_t *m,
			    const uint8_t *body)
{
	pgp_reader_t r;
	char out[SCRAM_MAX_MESSAGE];
	size_t outlen = 0;
	const char *err = NULL;

	if (m->type != 'p') {
		client_close(c, "08P01",
			     "expected password response, got "
			     "message type %d",
			     m->type);
		return;
	}
	pgp_rd_init(&r, body, m->len);
	switch (c->auth_step) {
	case 1: { /* plain */
		const char *pw = pgp_rd_string(&r);
		if (r.err) {
			client_close(c, "08P01", "invalid password packet");
			return;
		}
		check_password(c, pw);
		return;
	}
	case 5: { /* md5 */
		const char *resp = pgp_rd_string(&r);
		if (r.err) {
			client_close(c, "08P01", "invalid password packet");
			return;
		}
		const char *stored = c->secret;
		if (stored && auth_secret_kind(stored) == AUTH_SECRET_SCRAM)
			stored = NULL;
		if (auth_md5_verify(stored, c->user, c->md5_salt, resp))
			finish_login(c);
		else
			auth_failed(c);
		return;
	}
	case 2: { /* SASLInitialResponse */
		const char *mech = pgp_rd_string(&r);
		int32_t dlen = pgp_rd_int32(&r);
		if (r.err || strcmp(mech, "SCRAM-SHA-256") != 0 || dlen < 0 ||
		    (size_t)dlen != pgp_rd_left(&r)) {
			client_close(c, "08P01",
				     "invalid SASL initial response");
			return;
		}
		const uint8_t *d = pgp_rd_bytes(&r, (size_t)dlen);
		if (scram_server_first(c->scram, (const char *)d, (size_t)dlen,
				       out, sizeof(out), &outlen,
				       &err) != SCRAM_OK) {
			client_close(c, "08P01", "%s",
				     err ? err : "malformed SCRAM message");
			return;
		}
		pgp_wr_auth(&c->io.obuf, 11, out, outlen);
		c->auth_step = 3;
		return;
	}
	case 3: { /* SASLResponse */
		scram_status_t st =
			scram_server_final(c->scram, (const char *)body, m->len,
					   out, sizeof(out), &outlen, &err);
		if (st == SCRAM_PROTO) {
			client_close(c, "08P01", "%s",
				     err ? err : "malformed SCRAM message");
			return;
		}
		if (st != SCRAM_OK) {
			auth_failed(c);
			return;
		}
		pgp_wr_auth(&c->io.obuf, 12, out, outlen);
		pool_user_t *u = pool_user_get(c->ctx, c->user);
		if (u && !u->has_scram_keys &&
		    scram_server_keys(c->scram, u->client_key, u->server_key))
			u->has_scram_keys = true;
		scram_server_free(c->scram);
		c->scram = NULL;
		finish_login(c);
		return;
	}
	default:
		client_close(c, "08P01", "unexpected authentication message");
	}
}

/* Process login-phase input. Returns false when nothing more can be done
 * now. */
static bool process_login(client_t *c)
{
	conn_io_t *io = &c->io;
	const uint8_t *p = io->rbuf + io->rpos;
	uint32_t avail = io->rlen - io->rpos;

	if (c->auth_step == 0) {
		uint32_t len;
		pgp_status_t st = pgp_frame_startup(p, avail, &len);
		if (st == PGP_MORE) {
			if (avail >= 4 && len > io->rcap)
				st = PGP_TOOBIG;
			else
				return false;
		}
		if (st != PGP_OK) {
			client_close(c, "08P01", "bad startup packet");
			return false;
		}
		io->rpos += len;
		handle_startup(c, p, len);
		return true;
	}
	pgp_msg_t m;
	pgp_status_t st = pgp_frame(p, avail, io->rcap - PGP_HDR_LEN, &m);
	if (st == PGP_MORE)
		return false;
	if (st != PGP_OK) {
		client_close(c, "08P01", "bad packet header");
		return false;
	}
	if (avail < m.total)
		return false;
	io->rpos += m.total;
	handle_auth_msg(c, &m, p + PGP_HDR_LEN);
	return true;
}

static bool process_admin(client_t *c)
{
	conn_io_t *io = &c->io;
	const uint8_t *p = io->rbuf + io->rpos;
	uint32_t avail = io->rlen - io->rpos;
	pgp_msg_t m;

	if (c->admin_wait)
		return false; /* one command at a time */
	pgp_status_t st = pgp_frame(p, avail, io->rcap - PGP_HDR_LEN, &m);
	if (st == PGP_MORE)
		return false;
	if (st != PGP_OK) {
		client_close(c, "08P01", "admin query too long or malformed");
		return false;
	}
	if (avail < m.total)
		return false;
	io->rpos += m.total;
	if (m.type == 'X') {
		client_close(c, NULL, "client close request");
		return false;
	}
	if (m.type != 'Q') {
		/* The console speaks the simple protocol only; answer once
		 * per Sync so the client's state machine stays in step. */
		if (m.type == 'S') {
			client_error(c, "08P01",
				     "extended query protocol not supported "
				     "by admin console");
		}
		return true;
	}
	const uint8_t *body = p + PGP_HDR_LEN;
	if (m.len == 0 || body[m.len - 1] != 0) {
		client_close(c, "08P01", "invalid query message");
		return false;
	}
	admin_query(c, (const char *)body);
	return true;
}

/* Account a client message about to go to the server. */
static void note_message(client_t *c, server_t *s, uint8_t type)
{
	switch (type) {
	case 'Q':
	case 'F':
	case 'S':
		if (s->expect_rfq == 0)
			s->query_us = c->query_us = ev_now_us(c->ctx->loop);
		s->expect_rfq++;
		s->unsynced = false;
		break;
	case 'P':
		c->pool->stats.total.client_parse_count++;
		s->unsynced = true;
		break;
	case 'B':
		c->pool->stats.total.bind_count++;
		s->unsynced = true;
		break;
	case 'E':
	case 'D':
	case 'C':
	case 'H':
		s->unsynced = true;
		break;
	default:
		break;
	}
}

/*
 * Forward as much buffered client input to the linked server as the
 * server's output allows. Returns false when processing must stop (no
 * server yet, back-pressure, or the client closed).
 */
static bool process_active(client_t *c)
{
	conn_io_t *io = &c->io;
	uint32_t avail = io->rlen - io->rpos;
	const uint8_t *p = io->rbuf + io->rpos;
	server_t *s = c->link;

	if (c->fwd_left > 0) {
		if (!s)
			return false;
		if (buf_pending(&s->io.obuf) > CONN_HIGH_WATER)
			return false;
		uint32_t n = avail < c->fwd_left ? avail : c->fwd_left;
		if (!buf_append(&s->io.obuf, p, n)) {
			server_close(s, "output buffer full");
			return false;
		}
		io->rpos += n;
		c->fwd_left -= n;
		c->pool->stats.total.bytes_received += n;
		return n > 0;
	}
	pgp_msg_t m;
	pgp_status_t st =
		pgp_frame(p, avail, (uint32_t)c->ctx->cfg->max_packet_size, &m);
	if (st == PGP_MORE)
		return false;
	if (st != PGP_OK) {
		client_close(c, "08P01",
			     st == PGP_TOOBIG ? "message too long"
					      : "bad packet header");
		return false;
	}
	if (m.type == 'X') {
		io->rpos += m.total < avail ? m.total : avail;
		client_close(c, NULL, "client close request");
		return false;
	}
	if (c->sw_error && !c->link) {
		client_close(c, "08006",
			     "pgswitch moved this session to a new primary, "
			     "but %s could not move; reconnect",
			     c->sw_error);
		return false;
	}
	/* Switchover freeze: hold a session at its transaction boundary. */
	if (s && c->pool->db->frozen && s->tx_status == 'I' &&
	    s->expect_rfq == 0 && !s->in_copy && !s->unsynced) {
		if (!c->held_us)
			c->held_us = ev_now_us(c->ctx->loop);
		return false;
	}

	if (!s) {
		pool_request_server(c);
		if (!c->link || c->state == CL_JUSTFREE)
			return false;
		s = c->link;
	}
	note_message(c, s, m.type);
	c->request_us = ev_now_us(c->ctx->loop);
	c->fwd_left = m.total;
	return true;
}

/* One pass over buffered input; true when it should run again (see
 * server.c's process_pass: input left behind by back-pressure that the
 * flush has since relieved, with no event to come for it). */
static bool process_pass(client_t *c)
{
	for (int guard = 0; guard < 100000; guard++) {
		if (c->state == CL_JUSTFREE)
			return false;
		if (c->io.rpos == c->io.rlen) {
			c->io.rpos = c->io.rlen = 0;
			break;
		}
		bool more;
		if (c->state == CL_LOGIN)
			more = process_login(c);
		else if (c->state != CL_ACTIVE)
			more = false;
		else if (c->admin)
			more = process_admin(c);
		else
			more = process_active(c);
		if (!more)
			break;
	}
	if (c->state == CL_JUSTFREE)
		return false;
	server_t *s0 = c->link;
	bool throttled = s0 && c->io.rpos < c->io.rlen &&
			 buf_pending(&s0->io.obuf) > CONN_HIGH_WATER;
	if (s0) {
		if (!server_flush_soon(s0))
			return false;
		server_update_io(s0);
	}
	if (!client_flush_soon(c))
		return false;
	if (throttled && c->link == s0 &&
	    buf_pending(&s0->io.obuf) <= CONN_HIGH_WATER)
		return true;
	/* Stop reading only while the buffer is full. A client waiting for
	 * a server keeps its read interest: it rarely sends more, and
	 * toggling it cost two epoll_ctl calls per wait (and we see its
	 * disconnect at once). */
	c->io.want_read = c->io.rlen - c->io.rpos < c->io.rcap &&
			  c->state != CL_WAITING_LOGIN &&
			  !(c->admin && c->admin_wait);
	if (c->link && buf_pending(&c->link->io.obuf) > CONN_HIGH_WATER)
		c->io.want_read = false;
	client_update_io(c);
	return false;
}

void client_process(client_t *c)
{
	for (int pass = 0; pass < 1024 && process_pass(c); pass++)
		;
}

void client_drained(client_t *c)
{
	server_t *s = c->link;
	if (s && buf_pending(&c->io.obuf) < CONN_HIGH_WATER &&
	    (s->io.rpos < s->io.rlen || !s->io.want_read)) {
		s->io.want_read = true;
		server_process(s);
	}
}

static void client_on_io(ev_loop_t *loop, int fd, void *data, int mask)
{
	client_t *c = data;
	(void)loop;
	(void)fd;
	if (mask & EV_WRITE) {
		if (!client_flush(c))
			return;
		if (c->close_after_flush && buf_pending(&c->io.obuf) == 0) {
			client_close(c, NULL, "admin command completed");
			return;
		}
		client_drained(c);
		if (c->state == CL_JUSTFREE)
			return;
	}
	if (mask & EV_READ) {
		int n = conn_io_read(&c->io);
		if (n == 0) {
			client_close(c, NULL, "client unexpected eof");
			return;
		}
		if (n == -2) {
			client_close(c, NULL, "client connection error");
			return;
		}
	}
	client_process(c);
}
