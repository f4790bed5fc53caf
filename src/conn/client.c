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

#include "auth/auth.h"
#include "config/cfg.h"
#include "conn/conn_int.h"
#include "conn/conn.h"
#include "conn/tap.h"
#include "net/sock.h"
#include "pool/peer.h"
#include "pool/pool.h"
#include "proto/pgp.h"
#include "tls/tls.h"

static const char *const var_names[VAR_COUNT] = {
	"client_encoding",
	"DateStyle",
	"TimeZone",
	"IntervalStyle",
	"standard_conforming_strings",
	"application_name",
};

const char *conn_var_name(const pgs_ctx_t *ctx, int v)
{
	if (v < VAR_COUNT)
		return var_names[v];
	return v < ctx->nvars ? ctx->extra_vars[v - VAR_COUNT] : "";
}

int conn_var_index(const pgs_ctx_t *ctx, const char *name)
{
	int n = ctx->nvars > VAR_COUNT ? ctx->nvars : VAR_COUNT;
	for (int i = 0; i < n; i++)
		if (strcasecmp(conn_var_name(ctx, i), name) == 0)
			return i;
	return -1;
}

void conn_vars_init(pgs_ctx_t *ctx, const char *list)
{
	ctx->nvars = VAR_COUNT;
	char *copy = strdup(list ? list : "");
	char *save = NULL;
	for (char *w = copy ? strtok_r(copy, ", \t", &save) : NULL; w;
	     w = strtok_r(NULL, ", \t", &save)) {
		if (conn_var_index(ctx, w) >= 0 ||
		    ctx->nvars >= VAR_COUNT + VAR_EXTRA_MAX)
			continue;
		ctx->extra_vars[ctx->nvars - VAR_COUNT] = strdup(w);
		ctx->nvars++;
	}
	free(copy);
}

void conn_vars_free(pgs_ctx_t *ctx)
{
	for (int i = 0; i < VAR_EXTRA_MAX; i++) {
		free(ctx->extra_vars[i]);
		ctx->extra_vars[i] = NULL;
	}
	ctx->nvars = VAR_COUNT;
}

static void client_on_io(ev_loop_t *loop, int fd, void *data, int mask);

void client_log(client_t *c, int lvl, const char *fmt, ...)
{
	va_list ap;
	if (c->peer) {
		/* Forwarded to a peer: PgBouncer's "peer-2@addr". */
		char msg[1024];
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		peer_log(c->ctx, lvl, 'C', c, c->peer->id, &c->addr, "%s", msg);
		return;
	}
	va_start(ap, fmt);
	/* A cancel request has no startup names: its target's pool. */
	const char *db = c->dbname ? c->dbname
			 : c->pool ? c->pool->db->name
				   : NULL;
	conn_vlog(&c->ctx->log, lvl, 'C', c, db, c->user, &c->addr, fmt, ap);
	va_end(ap);
}

/* Out of line: the plain-text path, every transaction, stays as lean as
 * before TLS existed. */
__attribute__((noinline)) static int tls_interest(client_t *c, int mask)
{
	if (c->io.tls_want_write)
		mask |= EV_WRITE;
	if (c->io.want_read && c->io.rlen < c->io.rcap &&
	    tls_pending(c->io.tls) > 0)
		conn_rerun_add(c->ctx, &c->io, c, false);
	return mask;
}

void client_update_io(client_t *c)
{
	if (c->state == CL_JUSTFREE)
		return;
	int mask = 0;
	if (c->io.want_read && !c->io.suspended)
		mask |= EV_READ;
	if (buf_pending(&c->io.obuf) > 0 && !c->io.queued)
		mask |= EV_WRITE;
	if (__builtin_expect(c->io.tls != NULL, 0))
		mask = tls_interest(c, mask);
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

static void tune_listeners(pgs_ctx_t *ctx, bool keepalive)
{
	for (int i = 0; i < ctx->nlisteners; i++)
		if (ctx->listeners[i].tcp && ctx->listeners[i].fd >= 0)
			sock_tune_listener(ctx->listeners[i].fd, keepalive);
	ctx->listen_tuned = true;
	ctx->listen_keepalive = keepalive;
}

/* Two system calls less per login: TCP_NODELAY and SO_KEEPALIVE come
 * from the listener. A socket is cloned from the listener when its first
 * bytes arrive, so the ones that arrived before the listener was tuned
 * (at the first accept, or when tcp_keepalive changes by RELOAD or SET)
 * carry none of it. They are accepted in order of arrival: each is tested
 * and tuned in full until one shows the listener's options, which says
 * every later one will; a kernel that never shows them is given up on. */
#define INHERIT_MAX_MISSES 256

static void tune_accepted(pgs_ctx_t *ctx, int fd, const sock_opts_t *so)
{
	if (!ctx->listen_tuned || ctx->listen_keepalive != so->keepalive) {
		tune_listeners(ctx, so->keepalive);
		ctx->accept_inherit = SOCK_INHERIT_UNTESTED;
		ctx->inherit_misses = 0;
	} else if (ctx->accept_inherit == SOCK_INHERIT_UNTESTED) {
		sock_inherit_t seen = SOCK_INHERIT_UNTESTED;
		if (sock_has_listener_tuning(fd, so->keepalive))
			seen = SOCK_INHERIT_YES;
		else if (++ctx->inherit_misses == INHERIT_MAX_MISSES)
			seen = SOCK_INHERIT_NO;
		if (seen != SOCK_INHERIT_UNTESTED) {
			ctx->accept_inherit = seen;
			log_msg(&ctx->log, LOG_DEBUG,
				"accepted sockets inherit TCP_NODELAY and "
				"SO_KEEPALIVE: %s (%d accepted before "
				"without them)",
				sock_inherit_name(seen), ctx->inherit_misses);
		}
	}
	if (ctx->accept_inherit == SOCK_INHERIT_YES) {
		sock_tune_accepted(fd, so);
	} else {
		/* Both ways: it may carry the listener's old keepalive. */
		sock_tune_listener(fd, so->keepalive);
		sock_tune_accepted(fd, so);
	}
}

void client_accept(pgs_ctx_t *ctx, pgs_listener_t *l)
{
	const cfg_t *cfg = ctx->cfg;
	uint64_t turn = ev_turn(ctx->loop);
	if (l->last_turn + 1 != turn || l->burst < 1)
		l->burst = 1;
	else if (l->burst < 64)
		l->burst *= 2;
	l->last_turn = turn;
	for (int i = 0; i < l->burst; i++) {
		conn_addr_t peer;
		int fd = sock_accept(l->fd, &peer);
		if (fd < 0) {
			l->burst = 1;
			return;
		}
		client_t *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		conn_io_init(&c->io, fd, &ctx->mem.small, CONN_OBUF_MAX,
			     &ctx->mem.small);
		sock_opts_t so = {.keepalive = cfg->tcp_keepalive,
				  .keepcnt = cfg->tcp_keepcnt,
				  .keepidle = cfg->tcp_keepidle,
				  .keepintvl = cfg->tcp_keepintvl,
				  .user_timeout_ms = cfg->tcp_user_timeout,
				  .sndbuf = cfg->tcp_socket_buffer};
		if (!peer.unix_sock)
			tune_accepted(ctx, fd, &so);
		if (!peer.unix_sock && cfg->tcp_socket_buffer > 0)
			c->io.send_max = (uint32_t)cfg->tcp_socket_buffer;
		c->ctx = ctx;
		c->addr = peer;
		/* c->local is filled when SHOW CLIENTS asks: one system
		 * call less per login. */
		c->id = ++ctx->next_id;
		c->connect_us = c->request_us = ev_now_us(ctx->loop);
		list_init(&c->node);
		ctx->client_count++;
		pool_client_state(c, CL_LOGIN);
		client_update_io(c);
		/* With tcp_defer_accept the startup packet is already here:
		 * read it now rather than after another epoll_wait. */
		if (cfg->tcp_defer_accept && !peer.unix_sock)
			client_read_more(c);
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
	/* Logged before the client is told: whoever reads the log on the
	 * error (PgBouncer's suite does) must find the line there. */
	if (ctx->cfg->log_disconnections || sqlstate)
		client_log(c, LOG_LOG, "closing because: %s (age=%llds)",
			   reason, (long long)age);
	if (sqlstate) {
		if (ctx->cfg->log_pooler_errors)
			client_log(c, LOG_WARNING, "pooler error: %s", reason);
		pgp_wr_error(&c->io.obuf, "FATAL", sqlstate, reason);
		conn_io_flush(&c->io);
	}

	server_t *s = c->link;
	if (s) {
		c->link = NULL;
		s->link = NULL;
		/* An auth_query in flight may be what is slow: its server is
		 * closed (by the release), so the next lookup gets a fresh
		 * one instead of queueing behind it. */
		if (s->state == SV_ACTIVE)
			pool_release_server(s);
	}
	server_t *rs = c->repl_server;
	if (rs) {
		rs->repl_client = NULL;
		c->repl_server = NULL;
	}
	server_t *cs = c->cancel_conn;
	if (cs) {
		/* A cancel already sent runs to its end: its server stays
		 * held until PostgreSQL has taken it. */
		c->cancel_conn = NULL;
		cs->cancel_req = NULL;
		if (!cs->cancel_of)
			server_close(cs, "client gave up on cancel request, "
					 "so we also give up forwarding to "
					 "server");
	}
	if (c->peer)
		peer_client_gone(c);
	if (c->handler)
		c->handler->gone(c);
	pool_key_unregister(ctx, c);
	if (c->admin_user) {
		c->admin_user->client_count--;
		c->admin_user = NULL;
	}
	if (c->pool && c->state != CL_LOGIN && c->state != CL_WAITING_AUTH &&
	    c->state != CL_WAITING_CANCEL && c->state != CL_ACTIVE_CANCEL) {
		c->pool->db->client_count--;
		if (c->login_user)
			c->login_user->client_count--;
	}
	ev_io_forget(ctx->loop, c->io.fd);
	if (c->io.tls)
		tls_close_notify(c->io.tls);
	close(c->io.fd);
	c->io.fd = -1;
	ctx->client_count--;
	pool_client_state(c, CL_JUSTFREE);
	/* Out of the queue first: the place its server frees must not be
	 * taken for this client again. */
	if (rs)
		server_close(rs, "replication client gone during login");
}

void client_error(client_t *c, const char *sqlstate, const char *msg)
{
	pgp_wr_error(&c->io.obuf, "ERROR", sqlstate, msg);
	pgp_wr_ready(&c->io.obuf, 'I');
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
	if (!c->admin_counted) {
		c->admin_counted = true;
		c->ctx->admin_stats.total.xact_count++;
		c->ctx->admin_stats.total.query_count++;
	}
	c->handler->query(c, (const char *)body);
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
	case 'B':
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

/* Gather a named message too large for the read buffer; false when it
 * is not whole yet and no byte arrived. */
static bool gather_big(client_t *c)
{
	conn_io_t *io = &c->io;
	uint32_t avail = io->rlen - io->rpos;
	uint32_t want = c->prep_big_len - c->prep_big_have;
	uint32_t n = avail < want ? avail : want;
	memcpy(c->prep_big + c->prep_big_have, io->rbuf + io->rpos, n);
	c->prep_big_have += n;
	io->rpos += n;
	return n > 0;
}

static bool start_big(client_t *c, const pgp_msg_t *m)
{
	conn_io_t *io = &c->io;
	c->prep_big = malloc(m->len ? m->len : 1);
	if (!c->prep_big) {
		client_close(c, "53200", "out of memory");
		return false;
	}
	c->prep_big_type = m->type;
	c->prep_big_len = m->len;
	c->prep_big_have = 0;
	io->rpos += PGP_HDR_LEN;
	gather_big(c);
	return true;
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
	if (c->prep_big && c->prep_big_have < c->prep_big_len)
		return gather_big(c);
	pgp_msg_t m;
	const uint8_t *whole = NULL; /* a message to take whole, not stream */
	if (c->prep_big) {
		m.type = c->prep_big_type;
		m.len = c->prep_big_len;
		m.total = m.len + PGP_HDR_LEN;
		whole = c->prep_big;
	} else {
		pgp_status_t st = pgp_frame(
			p, avail, (uint32_t)c->ctx->cfg->max_packet_size, &m);
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
		if ((m.type == 'P' || m.type == 'B' || m.type == 'D' ||
		     m.type == 'C') &&
		    client_prep_on(c)) {
			prep_need_t need =
				client_prep_need(m.type, p + PGP_HDR_LEN,
						 avail - PGP_HDR_LEN, m.len);
			if (need != PREP_NEED_STREAM && avail < m.total) {
				if (m.total <= io->rcap)
					return false; /* wait: it will fit */
				return start_big(c, &m);
			}
			if (need == PREP_NEED_WHOLE)
				whole = p + PGP_HDR_LEN;
		}
	}
	if (c->carry_lost && !c->link) {
		client_close(c, "08006",
			     "pgswitch moved this session to a new primary, "
			     "but %s could not move; reconnect",
			     c->carry_lost);
		return false;
	}
	/* Switchover freeze: hold a session at its transaction boundary. */
	if (s && c->pool->db->frozen && server_at_boundary(s)) {
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
	c->request_us = ev_now_us(c->ctx->loop);
	if (whole) {
		if (buf_pending(&s->io.obuf) > CONN_HIGH_WATER)
			return false;
		if (whole != c->prep_big)
			io->rpos += m.total;
		c->pool->stats.total.bytes_received += m.total;
		bool ok = client_prep_whole(c, s, m.type, whole, m.len);
		if (whole == c->prep_big) {
			free(c->prep_big);
			c->prep_big = NULL;
		}
		return ok;
	}
	note_message(c, s, m.type);
	/* Shadow reads: an autocommit simple query, whole in the buffer. */
	if (m.type == 'Q' && c->pool->db->tap && s->expect_rfq == 1 &&
	    s->tx_status == 'I' && !s->prepq.n && avail >= m.total && m.len)
		conn_tap_offer(s, (const char *)p + PGP_HDR_LEN, m.len - 1);
	if (s->prepq.n || client_prep_on(c)) {
		if (!client_prep_note(c, s, m.type))
			return false;
	}
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
			more = client_login_process(c);
		else if (c->state != CL_ACTIVE)
			more = false;
		else if (c->handler)
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
			  !(c->handler && c->handler->parked(c));
	if (c->link && buf_pending(&c->link->io.obuf) > CONN_HIGH_WATER)
		c->io.want_read = false;
	client_update_io(c);
	return false;
}

void client_process(client_t *c)
{
	c->io.busy++;
	for (int pass = 0; pass < 1024 && process_pass(c); pass++)
		;
	/* All input processed: the buffer goes back until more comes. */
	conn_io_done(&c->io);
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

/* False when the client was closed. */
static bool read_input(client_t *c)
{
	int n = conn_io_read(&c->io);
	if (n == 0) {
		client_close(c, NULL, "client unexpected eof");
		return false;
	}
	if (n == -2) {
		client_close(c, NULL, "client connection error");
		return false;
	}
	return true;
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
	/* The handshake reads and writes the socket itself. */
	if (c->auth_step == AUTH_STEP_TLS) {
		if (client_tls_handshake(c))
			client_process(c);
		else if (c->state != CL_JUSTFREE)
			client_update_io(c);
		return;
	}
	if ((mask & EV_READ) && !read_input(c))
		return;
	client_process(c);
}

void client_read_more(client_t *c)
{
	if (c->state == CL_JUSTFREE || !read_input(c))
		return;
	client_process(c);
}
