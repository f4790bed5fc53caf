/* SPDX-License-Identifier: MIT */
/*
 * takeover.c - the new process's side of an online restart (-R): log in
 * to the running process's console over the Unix socket, SUSPEND, SHOW
 * FDS (each row brings its socket), rebuild listeners, clients and
 * servers from the rows, then SHUTDOWN the old process and wait for it
 * to go. Runs before the event loop starts, so plain blocking I/O with
 * a timeout; the log lines are PgBouncer's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin/takeover.h"
#include "conn/conn.h"
#include "conn/takeover.h"
#include "net/fdpass.h"
#include "pool/pool.h"
#include "proto/pgp.h"

/* A DataRow of SHOW FDS: 15 columns, a password of up to TKO_PW_MAX. */
#define TKO_MSG_MAX (64 * 1024)

typedef struct tko_obj {
	int old_fd;
	int link;
	client_t *client;
	server_t *server;
} tko_obj_t;

typedef struct tko {
	pgs_ctx_t *ctx;
	int sock;
	int port;
	tko_listener_fn add_listener;
	tko_obj_t *objs;
	int nobjs, capobjs;
	uint8_t msg[TKO_MSG_MAX];
	uint32_t len;
	char store[TKO_MSG_MAX]; /* a row's columns, NUL-terminated */
	char type;
	int rx_fd; /* a descriptor that came with the message, or -1 */
	char err[256];
} tko_t;

/* Exactly LEN bytes; a descriptor coming with them goes to t->rx_fd. */
static int recv_exact(tko_t *t, uint8_t *p, size_t len)
{
	while (len > 0) {
		int fd = -1;
		ssize_t n = net_recv_fd(t->sock, p, len, &fd, NULL);
		if (fd >= 0) {
			if (t->rx_fd >= 0)
				close(fd); /* one per row: more is a bug */
			else
				t->rx_fd = fd;
		}
		if (n <= 0) {
			snprintf(t->err, sizeof(t->err), "%s",
				 n == 0 ? "old process closed the connection"
					: strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_msg(tko_t *t)
{
	uint8_t h[5];
	t->rx_fd = -1;
	if (recv_exact(t, h, 5) < 0)
		return -1;
	uint32_t l = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 |
		     (uint32_t)h[3] << 8 | h[4];
	/* declared length checked before a byte of the body is read */
	if (l < 4 || l - 4 > sizeof(t->msg)) {
		snprintf(t->err, sizeof(t->err), "bad message length %u", l);
		return -1;
	}
	t->type = (char)h[0];
	t->len = l - 4;
	return recv_exact(t, t->msg, t->len);
}

static int send_buf(tko_t *t, buf_t *b)
{
	const uint8_t *p = buf_head(b);
	size_t len = buf_pending(b);
	while (len > 0) {
		ssize_t n = send(t->sock, p, len, MSG_NOSIGNAL);
		if (n <= 0) {
			snprintf(t->err, sizeof(t->err), "send: %s",
				 strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	buf_reset(b);
	return 0;
}

static int send_query(tko_t *t, const char *sql)
{
	buf_t b;
	buf_init(&b, 4096);
	int rc = pgp_wr_query(&b, sql) ? send_buf(t, &b) : -1;
	buf_free(&b);
	return rc;
}

static void msg_error(tko_t *t)
{
	const char *m = pgp_error_field(t->msg, t->len, 'M');
	snprintf(t->err, sizeof(t->err), "old process: %s", m ? m : "error");
}

static int login(tko_t *t)
{
	static const char *const names[] = {"user", "database"};
	static const char *const values[] = {"pgbouncer", "pgbouncer"};
	buf_t b;
	buf_init(&b, 4096);
	int rc = pgp_wr_startup(&b, names, values, 2) ? send_buf(t, &b) : -1;
	buf_free(&b);
	while (rc == 0 && read_msg(t) == 0) {
		if (t->type == 'E') {
			msg_error(t);
			return -1;
		}
		if (t->type == 'R' && (t->len < 4 || t->msg[0] || t->msg[1] ||
				       t->msg[2] || t->msg[3])) {
			snprintf(t->err, sizeof(t->err),
				 "the console asks for a password");
			return -1;
		}
		if (t->type == 'Z')
			return 0;
	}
	return -1;
}

/* Run a command whose reply has no rows we need. */
static int command(tko_t *t, const char *sql)
{
	if (send_query(t, sql) < 0)
		return -1;
	bool failed = false;
	while (read_msg(t) == 0) {
		if (t->type == 'E') {
			msg_error(t);
			failed = true;
		}
		if (t->type == 'Z')
			return failed ? -1 : 0;
	}
	return -1;
}

static int listener_desc(tko_t *t, int fd, char *desc, size_t cap,
			 const tko_row_t *r)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -1;
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const void *)&ss;
		snprintf(desc, cap, "unix:%s", un->sun_path);
		log_msg(&t->ctx->log, LOG_LOG, "got pooler socket: unix:%d",
			r->port);
	} else {
		snprintf(desc, cap, "%s:%d", r->addr, r->port);
		log_msg(&t->ctx->log, LOG_LOG, "got pooler socket: %s", desc);
	}
	return 0;
}

static int keep_obj(tko_t *t, const tko_row_t *r, client_t *c, server_t *s)
{
	if (t->nobjs == t->capobjs) {
		int cap = t->capobjs ? t->capobjs * 2 : 64;
		tko_obj_t *v = realloc(t->objs, sizeof(*v) * (size_t)cap);
		if (!v)
			return -1;
		t->objs = v;
		t->capobjs = cap;
	}
	t->objs[t->nobjs++] = (tko_obj_t){r->fd, r->link, c, s};
	return 0;
}

/* One row and its socket: a listener, a client or a server. */
static int take_row(tko_t *t)
{
	const char *vals[TKO_NCOLS];
	tko_row_t r;
	int fd = t->rx_fd;
	t->rx_fd = -1;
	if (tko_parse_data_row(t->msg, t->len, TKO_NCOLS, vals, t->store,
			       sizeof(t->store)) < 0 ||
	    tko_row_decode(vals, &r) < 0 || fd < 0) {
		snprintf(t->err, sizeof(t->err), "bad SHOW FDS row");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (r.task == TKO_POOLER) {
		char desc[320];
		if (listener_desc(t, fd, desc, sizeof(desc), &r) < 0 ||
		    t->add_listener(t->ctx, fd, desc) < 0)
			close(fd);
		return 0;
	}
	client_t *c = NULL;
	server_t *s = NULL;
	if (r.task == TKO_CLIENT)
		c = client_adopt(t->ctx, &r, fd);
	else
		s = server_adopt(t->ctx, &r, fd);
	if (!c && !s) {
		log_msg(&t->ctx->log, LOG_WARNING,
			"takeover: dropping %s %s/%s: not in this config",
			r.task == TKO_CLIENT ? "client" : "server", r.db,
			r.user);
		close(fd);
		return 0;
	}
	if (keep_obj(t, &r, c, s) < 0) {
		snprintf(t->err, sizeof(t->err), "out of memory");
		return -1;
	}
	return 0;
}

static int show_fds(tko_t *t)
{
	if (send_query(t, "SHOW FDS;") < 0)
		return -1;
	while (read_msg(t) == 0) {
		if (t->type == 'D' && take_row(t) < 0)
			return -1;
		if (t->rx_fd >= 0) {
			close(t->rx_fd); /* with a message that is no row */
			t->rx_fd = -1;
		}
		if (t->type == 'E') {
			msg_error(t);
			return -1;
		}
		if (t->type == 'Z')
			return 0;
	}
	return -1;
}

/* Links as they were: by the old process's fd numbers. A server whose
 * client did not come over is mid-session for nobody: closed. */
static void relink(tko_t *t)
{
	for (int i = 0; i < t->nobjs; i++) {
		tko_obj_t *o = &t->objs[i];
		if (!o->server || !o->link)
			continue;
		client_t *c = NULL;
		for (int j = 0; j < t->nobjs && !c; j++)
			if (t->objs[j].client && t->objs[j].old_fd == o->link)
				c = t->objs[j].client;
		if (c && !c->link)
			conn_adopt_link(c, o->server);
		else
			server_close(o->server, "takeover: its client is gone");
	}
}

/* A pool's ParameterStatus set is not among SHOW FDS's columns: a new
 * client of a pool that came over has to wait for one server login to
 * learn it. Log one in now, in place of an idle server that came over
 * (the pool stays at its size; PgBouncer closes one too). */
static void learn_welcomes(pgs_ctx_t *ctx)
{
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (p->welcome_ready || p->db->admin ||
		    p->replication != POOL_REPL_NONE ||
		    pool_server_total(p) == 0)
			continue;
		list_node_t *first = statlist_first(&p->idle_servers);
		if (first)
			server_close(list_entry(first, server_t, node),
				     "too many servers in the pool");
		server_launch(p);
	}
}

static int connect_old(tko_t *t)
{
	const cfg_t *cfg = t->ctx->cfg;
	struct sockaddr_un un;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	int n = snprintf(un.sun_path, sizeof(un.sun_path), "%s/.s.PGSQL.%d",
			 cfg->unix_socket_dir, cfg->listen_port);
	if (n < 0 || (size_t)n >= sizeof(un.sun_path))
		return -1;
	t->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t->sock < 0)
		return -1;
	/* SUSPEND may wait up to suspend_timeout for buffers to empty. */
	struct timeval tv = {.tv_sec = cfg->suspend_timeout / 1000 + 30};
	setsockopt(t->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(t->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(t->sock, (struct sockaddr *)&un, sizeof(un)) < 0) {
		snprintf(t->err, sizeof(t->err), "%s: %s", un.sun_path,
			 strerror(errno));
		close(t->sock);
		t->sock = -1;
		return -1;
	}
	return 0;
}

/* After SUSPEND: the steps that hand the sockets over. */
static int take_over(tko_t *t, log_t *lg)
{
	log_msg(lg, LOG_LOG,
		"S-%p: pgbouncer/pgbouncer@unix:%d login OK, "
		"sending SUSPEND",
		(void *)t, t->port);
	if (command(t, "SUSPEND;") < 0)
		return -1;
	log_msg(lg, LOG_LOG, "SUSPEND finished, sending SHOW FDS");
	if (show_fds(t) < 0)
		return -1;
	log_msg(lg, LOG_LOG, "SHOW FDS finished");
	relink(t);
	log_msg(lg, LOG_LOG, "sending SHUTDOWN;");
	if (send_query(t, "SHUTDOWN;") < 0)
		return -1;
	/* The old process exits without a reply: its end of the console
	 * connection closing says it is gone. */
	uint8_t junk[512];
	for (;;) {
		ssize_t n = recv(t->sock, junk, sizeof(junk), 0);
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR) {
			log_msg(lg, LOG_WARNING,
				"takeover: waiting for the old process: %s",
				strerror(errno));
			break;
		}
	}
	log_msg(lg, LOG_LOG, "old process killed, resuming work");
	learn_welcomes(t->ctx);
	return 0;
}

int takeover_run(pgs_ctx_t *ctx, tko_listener_fn add_listener)
{
	log_t *lg = &ctx->log;
	const cfg_t *cfg = ctx->cfg;
	log_msg(lg, LOG_WARNING,
		"Online restart is deprecated, use so_reuseport instead");
	if (!cfg->unix_socket_dir || !*cfg->unix_socket_dir) {
		log_msg(lg, LOG_FATAL,
			"online restart needs unix_socket_dir: the old "
			"process is reached through its Unix socket");
		return -1;
	}
	tko_t *t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	t->ctx = ctx;
	t->port = cfg->listen_port;
	t->add_listener = add_listener;
	t->rx_fd = -1;
	log_msg(lg, LOG_LOG, "takeover_init: launching connection");
	int rc;
	if (connect_old(t) < 0) {
		/* PgBouncer: with no process to take over, boot normally. */
		log_msg(lg, LOG_LOG,
			"takeover_init: no old process (%s), booting normally",
			t->err);
		rc = 0;
	} else if (login(t) < 0) {
		log_msg(lg, LOG_FATAL, "takeover: login failed: %s", t->err);
		rc = -1;
	} else if (take_over(t, lg) < 0) {
		log_msg(lg, LOG_FATAL, "takeover failed: %s", t->err);
		/* Best effort: the old process carries on. */
		send_query(t, "RESUME;");
		rc = -1;
	} else {
		rc = 1;
	}
	if (t->sock >= 0)
		close(t->sock);
	free(t->objs);
	free(t);
	return rc;
}
