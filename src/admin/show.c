/* SPDX-License-Identifier: MIT */
/*
 * show.c - SHOW commands. Column names, order and types match PgBouncer
 * 1.25 (docs/internals/pgbouncer-compat.md) so dashboards and exporters
 * keep working; pgswitch additions go at the end, never renamed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "admin/admin_int.h"
#include "admin/takeover.h"
#include "auth/auth.h"
#include "config/cfg.h"
#include "conn/conn.h"
#include "metrics/stats.h"
#include "net/dns.h"
#include "net/sock.h"
#include "pool/peer.h"
#include "pool/pool.h"
#include "proto/pgp.h"
#include "tls/tls.h"

#define T   PGP_OID_TEXT, -1
#define I4  PGP_OID_INT4, 4
#define I8  PGP_OID_INT8, 8
#define NUM PGP_OID_NUMERIC, -1

/* One result row: values are formatted into a per-row arena. */
typedef struct row {
	char arena[8192];
	size_t used;
	const char *vals[32];
	int n;
} row_t;

static void row_init(row_t *r)
{
	r->n = 0;
	r->used = 0;
}

static char *cell(row_t *r)
{
	return r->arena + r->used;
}

/* Finish the cell just written with snprintf (result N). */
static void cell_done(row_t *r, int n)
{
	size_t room = sizeof(r->arena) - r->used;
	size_t len = n < 0 ? 0 : (size_t)n >= room ? room - 1 : (size_t)n;
	r->vals[r->n++] = r->arena + r->used;
	r->used += len + 1;
}

static void put_s(row_t *r, const char *s)
{
	if (!s) {
		r->vals[r->n++] = NULL;
		return;
	}
	cell_done(r, snprintf(cell(r), sizeof(r->arena) - r->used, "%s", s));
}

static void put_i(row_t *r, long long v)
{
	cell_done(r, snprintf(cell(r), sizeof(r->arena) - r->used, "%lld", v));
}

static void put_u(row_t *r, uint64_t v)
{
	cell_done(r,
		  snprintf(cell(r), sizeof(r->arena) - r->used, "%" PRIu64, v));
}

/* Monotonic microseconds -> "2026-11-23 13:42:50 UTC". */
static void put_time(row_t *r, int64_t mono_us)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	int64_t wall = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec -
		       (ev_time_us() - mono_us);
	time_t t = (time_t)(wall / 1000000);
	struct tm tm;
	char tmp[64];
	gmtime_r(&t, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%d %H:%M:%S UTC", &tm);
	put_s(r, tmp);
}

static void emit(client_t *c, row_t *r)
{
	admin_row(c, r->vals, r->n);
}

/* PgBouncer keeps its databases and pools sorted by name; listings in
 * that order read the same in both. The console's own database and pool
 * ("pgbouncer") take their place among them. */
static int db_cmp(const void *a, const void *b)
{
	const pool_db_t *x = *(pool_db_t *const *)a;
	const pool_db_t *y = *(pool_db_t *const *)b;
	return strcmp(x->name, y->name);
}

static int pool_cmp(const void *a, const void *b)
{
	const pool_t *x = *(pool_t *const *)a;
	const pool_t *y = *(pool_t *const *)b;
	int d = strcmp(x->db->name, y->db->name);
	if (d)
		return d;
	d = strcmp(x->user->name, y->user->name);
	return d ? d : (int)x->replication - (int)y->replication;
}

/* Databases (not removed) sorted; free() the result. NULL when empty. */
static pool_db_t **sorted_dbs(pgs_ctx_t *ctx, size_t *n)
{
	size_t cap = 0;
	list_node_t *it;
	for (it = ctx->dbs.next; it != &ctx->dbs; it = it->next)
		cap++;
	*n = 0;
	pool_db_t **v = cap ? malloc(cap * sizeof(*v)) : NULL;
	if (!v)
		return NULL;
	for (it = ctx->dbs.next; it != &ctx->dbs; it = it->next) {
		pool_db_t *db = list_entry(it, pool_db_t, node);
		if (!db->removed)
			v[(*n)++] = db;
	}
	qsort(v, *n, sizeof(*v), db_cmp);
	return v;
}

static pool_t **sorted_pools(pgs_ctx_t *ctx, size_t *n)
{
	size_t cap = 0;
	list_node_t *it;
	for (it = ctx->pools.next; it != &ctx->pools; it = it->next)
		cap++;
	*n = 0;
	pool_t **v = cap ? malloc(cap * sizeof(*v)) : NULL;
	if (!v)
		return NULL;
	for (it = ctx->pools.next; it != &ctx->pools; it = it->next)
		v[(*n)++] = list_entry(it, pool_t, node);
	qsort(v, *n, sizeof(*v), pool_cmp);
	return v;
}

/* Whether the console's entry goes before NAME (and has not gone yet). */
static bool admin_first(bool *done, const char *name)
{
	if (*done || strcmp(name, "pgbouncer") < 0)
		return false;
	*done = true;
	return true;
}

/* The load_balance_hosts column: set only for a host list. */
static const char *lb_hosts(const pool_db_t *db)
{
	if (!db->host || !strchr(db->host, ','))
		return NULL;
	return db->load_balance_hosts ? "round-robin" : "disable";
}

static const pgp_field_t sock_fields[] = {
	{"type", T},
	{"user", T},
	{"database", T},
	{"replication", T},
	{"state", T},
	{"addr", T},
	{"port", I4},
	{"local_addr", T},
	{"local_port", I4},
	{"connect_time", T},
	{"request_time", T},
	{"wait", I4},
	{"wait_us", I4},
	{"close_needed", I4},
	{"ptr", T},
	{"link", T},
	{"remote_pid", I4},
	{"tls", T},
	{"application_name", T},
	{"prepared_statements", I4},
	{"id", I4},
};

/* SHOW CLIENTS/SERVERS' replication column, PgBouncer's words. */
static const char *repl_name(int repl)
{
	return repl == POOL_REPL_LOGICAL    ? "logical"
	       : repl == POOL_REPL_PHYSICAL ? "physical"
					    : "none";
}

/* The tls column: "" for plain text, else version/cipher. */
static const char *tls_info(conn_io_t *io, char *buf, size_t cap)
{
	if (!io->tls)
		return "";
	snprintf(buf, cap, "%s/%s", tls_version(io->tls), tls_cipher(io->tls));
	return buf;
}

/* SHOW SOCKETS' 7 buffer columns (PgBouncer's sbuf fields, as near as
 * our buffers come: send_remain is always 0 there too). */
static void put_sock_cols(row_t *r, const conn_io_t *io, uint32_t fwd_left)
{
	put_i(r, io->rpos);			     /* recv_pos */
	put_i(r, io->rpos);			     /* pkt_pos */
	put_i(r, fwd_left);			     /* pkt_remain */
	put_i(r, 0);				     /* send_pos */
	put_i(r, 0);				     /* send_remain */
	put_i(r, io->rlen - io->rpos);		     /* pkt_avail */
	put_i(r, (long long)buf_pending(&io->obuf)); /* send_avail */
}

static void client_row(client_t *c, client_t *x, int64_t now,
		       const char *sock_state)
{
	row_t r;
	char ptr[32], link[32], tlsbuf[128];
	row_init(&r);
	put_s(&r, "C");
	put_s(&r, x->user ? x->user : "(nouser)");
	put_s(&r, x->dbname ? x->dbname
		  : x->pool ? x->pool->db->name
			    : "(nodb)");
	put_s(&r, repl_name(x->replication));
	const char *st = x->state == CL_ACTIVE ? (x->link ? "active" : "idle")
			 : x->state == CL_ACTIVE_CANCEL	 ? "active_cancel_req"
			 : x->state == CL_WAITING_CANCEL ? "waiting_cancel_req"
							 : "waiting";
	put_s(&r, sock_state ? sock_state : st);
	put_s(&r, x->addr.host);
	put_i(&r, x->addr.port);
	if (!x->local.port && !x->local.host[0] && x->io.fd >= 0)
		sock_local(x->io.fd, &x->local);
	put_s(&r, x->local.host);
	put_i(&r, x->local.port);
	put_time(&r, x->connect_us);
	put_time(&r, x->request_us);
	int64_t w = x->state == CL_WAITING ? now - x->wait_us : 0;
	put_i(&r, w / 1000000);
	put_i(&r, w % 1000000);
	put_i(&r, 0);
	snprintf(ptr, sizeof(ptr), "%p", (void *)x);
	snprintf(link, sizeof(link), "%p", (void *)x->link);
	put_s(&r, ptr);
	put_s(&r, x->link ? link : "");
	put_i(&r, 0);
	put_s(&r, tls_info(&x->io, tlsbuf, sizeof(tlsbuf)));
	put_s(&r, x->vars[VAR_APPNAME] ? x->vars[VAR_APPNAME] : "");
	put_i(&r, x->prep ? (long long)x->prep->count : 0);
	put_i(&r, (long long)x->id);
	if (sock_state)
		put_sock_cols(&r, &x->io, x->fwd_left);
	emit(c, &r);
}

static void server_row(client_t *c, server_t *s, const char *sock_state)
{
	row_t r;
	char ptr[32], link[32], tlsbuf[128];
	static const char *const names[] = {
		[SV_FREE] = "",
		[SV_JUSTFREE] = "",
		[SV_LOGIN] = "new",
		[SV_IDLE] = "idle",
		[SV_ACTIVE] = "active",
		[SV_USED] = "used",
		[SV_TESTED] = "tested",
		[SV_CANCEL] = "active_cancel",
		[SV_BEING_CANCELED] = "being_canceled",
		[SV_PARKED_LOGIN] = "parked",
		[SV_PARKED] = "parked",
	};
	row_init(&r);
	put_s(&r, "S");
	put_s(&r, s->pool->user->name);
	put_s(&r, s->pool->db->name);
	put_s(&r, repl_name((int)s->pool->replication));
	put_s(&r, sock_state ? sock_state : names[s->state]);
	put_s(&r, s->addr.host);
	put_i(&r, s->addr.port);
	put_s(&r, s->local.host);
	put_i(&r, s->local.port);
	put_time(&r, s->connect_us);
	put_time(&r, s->request_us);
	put_i(&r, 0);
	put_i(&r, 0);
	put_i(&r,
	      !server_parked(s) &&
		      (s->dirty || s->generation != s->pool->db->generation));
	snprintf(ptr, sizeof(ptr), "%p", (void *)s);
	snprintf(link, sizeof(link), "%p", (void *)s->link);
	put_s(&r, ptr);
	put_s(&r, s->link ? link : "");
	put_i(&r, (long long)s->be_pid);
	put_s(&r, tls_info(&s->io, tlsbuf, sizeof(tlsbuf)));
	put_s(&r, s->vars[VAR_APPNAME] ? s->vars[VAR_APPNAME] : "");
	put_i(&r, s->prep ? (long long)s->prep->count : 0);
	put_i(&r, (long long)s->id);
	if (sock_state)
		put_sock_cols(&r, &s->io, s->fwd_left);
	emit(c, &r);
}

static void each_list(client_t *c, statlist_t *l, bool servers, int64_t now)
{
	list_node_t *n;
	for (n = l->head.next; n != &l->head; n = n->next) {
		if (servers)
			server_row(c, list_entry(n, server_t, node), NULL);
		else
			client_row(c, list_entry(n, client_t, node), now, NULL);
	}
}

static bool sock_busy(const conn_io_t *io)
{
	return io->rpos < io->rlen || buf_pending(&io->obuf) > 0;
}

/* SOCKETS: every client and server, named by the list it is on;
 * ACTIVE_SOCKETS: only those with bytes in their buffers. */
static void each_sock(client_t *c, statlist_t *l, bool servers, int64_t now,
		      const char *state, bool active)
{
	list_node_t *n;
	for (n = l->head.next; n != &l->head; n = n->next) {
		if (servers) {
			server_t *s = list_entry(n, server_t, node);
			if (!active || sock_busy(&s->io))
				server_row(c, s, state);
		} else {
			client_t *x = list_entry(n, client_t, node);
			if (x->state == CL_LOGIN && !x->pool && !x->user)
				continue;
			if (!active || sock_busy(&x->io))
				client_row(c, x, now, state);
		}
	}
}

static void show_sockets(client_t *c, bool active)
{
	static pgp_field_t f[28];
	static const char *const extra[] = {
		"recv_pos",    "pkt_pos",   "pkt_remain", "send_pos",
		"send_remain", "pkt_avail", "send_avail"};
	pgs_ctx_t *ctx = c->ctx;
	int64_t now = ev_now_us(ctx->loop);
	for (int i = 0; i < 21; i++)
		f[i] = sock_fields[i];
	for (int i = 0; i < 7; i++)
		f[21 + i] = (pgp_field_t){extra[i], I4};
	admin_row_desc(c, f, 28);
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		each_sock(c, &p->active_clients, false, now, "cl_active",
			  active);
		each_sock(c, &p->waiting_clients, false, now, "cl_waiting",
			  active);
		each_sock(c, &p->active_servers, true, now, "sv_active",
			  active);
		each_sock(c, &p->idle_servers, true, now, "sv_idle", active);
		each_sock(c, &p->used_servers, true, now, "sv_used", active);
		each_sock(c, &p->tested_servers, true, now, "sv_tested",
			  active);
		each_sock(c, &p->login_servers, true, now, "sv_login", active);
	}
	each_sock(c, &ctx->admin_clients, false, now, "cl_active", active);
	each_sock(c, &ctx->login_clients, false, now, "cl_login", active);
	admin_ok(c, "SHOW");
}

/* SHOW DNS_ZONES: PgBouncer's columns, no rows (zones need c-ares' SOA
 * lookups, as in a PgBouncer built without). */
static void show_empty(client_t *c, const pgp_field_t *f, int n)
{
	admin_row_desc(c, f, n);
	admin_ok(c, "SHOW");
}

/* Every [peers] entry, the own id's too, by id (PgBouncer lists it). */
static void show_peers(client_t *c)
{
	static const pgp_field_t f[] = {
		{"peer_id", I4}, {"host", T}, {"port", I4}, {"pool_size", I4}};
	const cfg_t *cfg = c->ctx->cfg;
	admin_row_desc(c, f, 4);
	for (size_t i = 0; i < cfg->npeers; i++) {
		const cfg_peer_t *e = &cfg->peers[i];
		row_t r;
		row_init(&r);
		put_i(&r, e->id);
		put_s(&r, e->host);
		put_i(&r, e->port);
		put_i(&r, e->pool_size >= 0 ? e->pool_size
					    : cfg->default_pool_size);
		emit(c, &r);
	}
	admin_ok(c, "SHOW");
}

/* The peers a CancelRequest went to since the start, as PgBouncer makes
 * a peer's pool at its first forward. */
static void show_peer_pools(client_t *c)
{
	static const pgp_field_t f[] = {{"peer_id", I4},
					{"cl_active_cancel_req", I4},
					{"cl_waiting_cancel_req", I4},
					{"sv_active_cancel", I4},
					{"sv_login", I4}};
	admin_row_desc(c, f, 5);
	for (const peer_t *p = c->ctx->peers; p; p = p->next) {
		row_t r;
		row_init(&r);
		put_i(&r, p->id);
		put_i(&r, p->active_clients.count);
		put_i(&r, p->waiting_clients.count);
		put_i(&r, p->active_conns.count);
		put_i(&r, p->login_conns.count);
		emit(c, &r);
	}
	admin_ok(c, "SHOW");
}

static void dns_host_row(void *arg, const char *name, long ttl_s,
			 const char *addrs)
{
	row_t r;
	row_init(&r);
	put_s(&r, name);
	put_i(&r, ttl_s);
	put_s(&r, addrs);
	emit(arg, &r);
}

/* The names pgswitch resolved (net/dns.c), PgBouncer's columns. */
static void show_dns_hosts(client_t *c)
{
	static const pgp_field_t f[] = {
		{"hostname", T}, {"ttl", I8}, {"addrs", T}};
	admin_row_desc(c, f, 3);
	if (c->ctx->dns)
		dns_each(c->ctx->dns, ev_now_us(c->ctx->loop), dns_host_row, c);
	admin_ok(c, "SHOW");
}

static void show_totals(client_t *c)
{
	static const pgp_field_t f[] = {{"name", T}, {"value", NUM}};
	static const char *const names[] = {"server_assignment_count",
					    "xact_count",
					    "query_count",
					    "client_bytes",
					    "server_bytes",
					    "xact_time",
					    "query_time",
					    "wait_time",
					    "ps_client_parse_count",
					    "ps_server_parse_count",
					    "ps_bind_count"};
	pgs_ctx_t *ctx = c->ctx;
	stats_counters_t tot, avg;
	memset(&tot, 0, sizeof(tot));
	memset(&avg, 0, sizeof(avg));
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next)
		stats_add(&tot, &list_entry(n, pool_t, node)->stats.total);
	for (n = ctx->dbs.next; n != &ctx->dbs; n = n->next)
		stats_add(&avg, &list_entry(n, pool_db_t, node)->stats.avg);
	stats_add(&tot, &ctx->admin_stats.total);
	stats_add(&avg, &ctx->admin_stats.avg);
	const uint64_t tv[] = {tot.server_assignment_count,
			       tot.xact_count,
			       tot.query_count,
			       tot.bytes_received,
			       tot.bytes_sent,
			       tot.xact_time_us,
			       tot.query_time_us,
			       tot.wait_time_us,
			       tot.client_parse_count,
			       tot.server_parse_count,
			       tot.bind_count};
	const uint64_t av[] = {avg.server_assignment_count,
			       avg.xact_count,
			       avg.query_count,
			       avg.bytes_received,
			       avg.bytes_sent,
			       avg.xact_time_us,
			       avg.query_time_us,
			       avg.wait_time_us,
			       avg.client_parse_count,
			       avg.server_parse_count,
			       avg.bind_count};
	admin_row_desc(c, f, 2);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < 11; i++) {
			char name[64];
			row_t r;
			row_init(&r);
			snprintf(name, sizeof(name), "%s_%s",
				 pass ? "avg" : "total", names[i]);
			put_s(&r, name);
			put_u(&r, pass ? av[i] : tv[i]);
			emit(c, &r);
		}
	}
	admin_ok(c, "SHOW");
}

static void show_clients(client_t *c, bool servers)
{
	pgs_ctx_t *ctx = c->ctx;
	int64_t now = ev_now_us(ctx->loop);
	admin_row_desc(c, sock_fields, 21);
	size_t np;
	pool_t **pv = sorted_pools(ctx, &np);
	bool admin_done = servers;
	for (size_t i = 0; i < np; i++) {
		pool_t *p = pv[i];
		if (admin_first(&admin_done, p->db->name))
			each_list(c, &ctx->admin_clients, false, now);
		if (servers) {
			each_list(c, &p->active_servers, true, now);
			each_list(c, &p->idle_servers, true, now);
			each_list(c, &p->used_servers, true, now);
			each_list(c, &p->tested_servers, true, now);
			each_list(c, &p->login_servers, true, now);
			each_list(c, &p->cancel_servers, true, now);
			each_list(c, &p->canceled_servers, true, now);
			each_list(c, &p->parked_servers, true, now);
		} else {
			each_list(c, &p->active_clients, false, now);
			each_list(c, &p->waiting_clients, false, now);
			each_list(c, &p->active_cancel_clients, false, now);
			each_list(c, &p->waiting_cancel_clients, false, now);
		}
	}
	free(pv);
	if (!admin_done)
		each_list(c, &ctx->admin_clients, false, now);
	admin_ok(c, "SHOW");
}

typedef struct pool_counts {
	int cl_active, cl_waiting, sv_active, sv_idle, sv_used, sv_tested;
	int sv_login;
	int64_t first_wait_us; /* 0: nobody waits */
} pool_counts_t;

static void add_counts(pool_counts_t *k, const pool_t *p)
{
	k->cl_active += p->active_clients.count;
	k->cl_waiting += p->waiting_clients.count;
	k->sv_active += p->active_servers.count;
	k->sv_idle += p->idle_servers.count;
	k->sv_used += p->used_servers.count;
	k->sv_tested += p->tested_servers.count;
	k->sv_login += p->login_servers.count;
	list_node_t *first = statlist_first(&p->waiting_clients);
	int64_t w = first ? list_entry(first, client_t, node)->wait_us : 0;
	if (w && (!k->first_wait_us || w < k->first_wait_us))
		k->first_wait_us = w;
}

static const pgp_field_t pool_fields[] = {
	{"database", T},
	{"user", T},
	{"cl_active", I4},
	{"cl_waiting", I4},
	{"cl_active_cancel_req", I4},
	{"cl_waiting_cancel_req", I4},
	{"sv_active", I4},
	{"sv_active_cancel", I4},
	{"sv_being_canceled", I4},
	{"sv_idle", I4},
	{"sv_used", I4},
	{"sv_tested", I4},
	{"sv_login", I4},
	{"maxwait", I4},
	{"maxwait_us", I4},
	{"pool_mode", T},
	{"load_balance_hosts", T},
};

/* The console's pool: its clients are active, it has no servers. */
static void admin_pool_row(client_t *c)
{
	row_t r;
	row_init(&r);
	put_s(&r, "pgbouncer");
	put_s(&r, "pgbouncer");
	put_i(&r, c->ctx->admin_clients.count);
	for (int i = 0; i < 12; i++)
		put_i(&r, 0);
	put_s(&r, "statement");
	put_s(&r, NULL);
	emit(c, &r);
}

/* A pool's row counts its replication connections too: PgBouncer keeps
 * them in the same pool. */
static void pool_row(client_t *c, pool_t *p, int64_t now)
{
	pool_counts_t k = {0};
	add_counts(&k, p);
	for (int i = 0; i < 2; i++)
		if (p->repl[i])
			add_counts(&k, p->repl[i]);
	row_t r;
	row_init(&r);
	put_s(&r, p->db->name);
	put_s(&r, p->user->name);
	put_i(&r, k.cl_active);
	put_i(&r, k.cl_waiting);
	put_i(&r, p->active_cancel_clients.count);
	put_i(&r, p->waiting_cancel_clients.count);
	put_i(&r, k.sv_active);
	put_i(&r, p->cancel_servers.count);
	put_i(&r, p->canceled_servers.count);
	put_i(&r, k.sv_idle);
	put_i(&r, k.sv_used);
	put_i(&r, k.sv_tested);
	put_i(&r, k.sv_login);
	int64_t w = k.first_wait_us ? now - k.first_wait_us : 0;
	put_i(&r, w / 1000000);
	put_i(&r, w % 1000000);
	put_s(&r, cfg_pool_mode_name((cfg_pool_mode_t)pool_mode(p)));
	put_s(&r, lb_hosts(p->db));
	emit(c, &r);
}

static void show_pools(client_t *c)
{
	pgs_ctx_t *ctx = c->ctx;
	int64_t now = ev_now_us(ctx->loop);
	admin_row_desc(c, pool_fields, 17);
	size_t np;
	pool_t **pv = sorted_pools(ctx, &np);
	bool admin_done = false;
	for (size_t i = 0; i < np; i++) {
		if (pv[i]->plain)
			continue; /* counted in its plain pool's row */
		if (admin_first(&admin_done, pv[i]->db->name))
			admin_pool_row(c);
		pool_row(c, pv[i], now);
	}
	free(pv);
	if (!admin_done)
		admin_pool_row(c);
	admin_ok(c, "SHOW");
}

static const pgp_field_t db_fields[] = {
	{"name", T},
	{"host", T},
	{"port", I4},
	{"database", T},
	{"force_user", T},
	{"pool_size", I4},
	{"min_pool_size", I4},
	{"reserve_pool_size", I4},
	{"server_lifetime", I4},
	{"pool_mode", T},
	{"load_balance_hosts", T},
	{"max_connections", I4},
	{"current_connections", I4},
	{"max_client_connections", I4},
	{"current_client_connections", I4},
	{"paused", I4},
	{"disabled", I4},
};

static void db_row(client_t *c, pool_db_t *db)
{
	pgs_ctx_t *ctx = c->ctx;
	const cfg_t *cfg = ctx->cfg;
	row_t r;
	row_init(&r);
	put_s(&r, db->name);
	/* A Unix socket directory is no host (PgBouncer shows NULL). */
	put_s(&r, db->host && db->host[0] != '/' ? db->host : NULL);
	put_i(&r, db->port);
	put_s(&r, db->dbname);
	put_s(&r, db->forced_user);
	put_i(&r, db->pool_size >= 0 ? db->pool_size : cfg->default_pool_size);
	put_i(&r,
	      db->min_pool_size >= 0 ? db->min_pool_size : cfg->min_pool_size);
	put_i(&r, db->reserve_pool >= 0 ? db->reserve_pool
					: cfg->reserve_pool_size);
	put_i(&r, (db->server_lifetime >= 0 ? db->server_lifetime
					    : cfg->server_lifetime) /
			  1000);
	put_s(&r, db->pool_mode == CFG_POOL_UNSET
			  ? NULL
			  : cfg_pool_mode_name(db->pool_mode));
	put_s(&r, lb_hosts(db));
	put_i(&r, db->max_db_connections > 0 ? db->max_db_connections
					     : cfg->max_db_connections);
	put_i(&r, db->server_count);
	put_i(&r, db->max_db_client_connections >= 0
			  ? db->max_db_client_connections
			  : cfg->max_db_client_connections);
	put_i(&r, db->client_count);
	put_i(&r, db->paused || ctx->paused_all);
	put_i(&r, db->disabled);
	emit(c, &r);
}

/* The console itself, as PgBouncer lists it. */
static void admin_db_row(client_t *c)
{
	const cfg_t *cfg = c->ctx->cfg;
	row_t r;
	row_init(&r);
	put_s(&r, "pgbouncer");
	put_s(&r, NULL);
	put_i(&r, cfg->listen_port);
	put_s(&r, "pgbouncer");
	put_s(&r, "pgbouncer");
	put_i(&r, 2);
	put_i(&r, 0);
	put_i(&r, 0);
	put_i(&r, cfg->server_lifetime / 1000);
	put_s(&r, "statement");
	put_s(&r, NULL);
	put_i(&r, 0);
	put_i(&r, 0);
	put_i(&r, cfg->max_db_client_connections);
	put_i(&r, c->ctx->admin_clients.count);
	put_i(&r, 0);
	put_i(&r, 0);
	emit(c, &r);
}

static void show_databases(client_t *c)
{
	admin_row_desc(c, db_fields, 17);
	size_t n;
	pool_db_t **v = sorted_dbs(c->ctx, &n);
	bool admin_done = false;
	for (size_t i = 0; i < n; i++) {
		if (admin_first(&admin_done, v[i]->name))
			admin_db_row(c);
		db_row(c, v[i]);
	}
	free(v);
	if (!admin_done)
		admin_db_row(c);
	admin_ok(c, "SHOW");
}

typedef struct user_ent {
	const char *name;
	const pool_user_t *u; /* NULL: known from auth_file only */
} user_ent_t;

static int user_cmp(const void *a, const void *b)
{
	const user_ent_t *x = a, *y = b;
	int d = strcmp(x->name, y->name);
	/* With a pool_user first, so the duplicates dropped are bare. */
	return d ? d : (x->u == NULL) - (y->u == NULL);
}

/*
 * Every user PgBouncer knows: those of auth_file, those with a pool or a
 * [users] entry, and the console's "pgbouncer", sorted, each once.
 * free() the result (the names are borrowed).
 */
static user_ent_t *user_list(pgs_ctx_t *ctx, size_t *n)
{
	size_t naf = auth_file_count(ctx->authfile), cap = naf + 1;
	list_node_t *it;
	for (it = ctx->users.next; it != &ctx->users; it = it->next)
		cap++;
	user_ent_t *v = malloc(cap * sizeof(*v));
	*n = 0;
	if (!v)
		return NULL;
	for (it = ctx->users.next; it != &ctx->users; it = it->next) {
		const pool_user_t *u = list_entry(it, pool_user_t, node);
		v[(*n)++] = (user_ent_t){u->name, u};
	}
	for (size_t i = 0; i < naf; i++)
		v[(*n)++] =
			(user_ent_t){auth_file_user(ctx->authfile, i), NULL};
	v[(*n)++] = (user_ent_t){"pgbouncer", NULL};
	qsort(v, *n, sizeof(*v), user_cmp);
	size_t k = 0;
	for (size_t i = 0; i < *n; i++)
		if (k == 0 || strcmp(v[k - 1].name, v[i].name) != 0)
			v[k++] = v[i];
	*n = k;
	return v;
}

static void user_row(client_t *c, const char *name, const pool_user_t *u)
{
	const cfg_t *cfg = c->ctx->cfg;
	row_t r;
	char ps[16], rs[16];
	row_init(&r);
	/* PgBouncer's "%9d": right-aligned, '' when unset. */
	snprintf(ps, sizeof(ps), "%9d", u ? u->pool_size : -1);
	snprintf(rs, sizeof(rs), "%9d", u ? u->reserve_pool_size : -1);
	put_s(&r, name);
	put_s(&r, u && u->pool_size >= 0 ? ps : "");
	put_s(&r, u && u->reserve_pool_size >= 0 ? rs : "");
	put_s(&r, u && u->pool_mode != CFG_POOL_UNSET
			  ? cfg_pool_mode_name(u->pool_mode)
			  : NULL);
	put_i(&r, u && u->max_user_connections > 0 ? u->max_user_connections
						   : cfg->max_user_connections);
	put_i(&r, u ? u->server_count : 0);
	put_i(&r, u && u->max_user_client_connections >= 0
			  ? u->max_user_client_connections
			  : cfg->max_user_client_connections);
	put_i(&r, u ? u->client_count : 0);
	emit(c, &r);
}

static void show_users(client_t *c)
{
	static const pgp_field_t f[] = {
		{"name", T},
		{"pool_size", T},
		{"reserve_pool_size", T},
		{"pool_mode", T},
		{"max_user_connections", I4},
		{"current_connections", I4},
		{"max_user_client_connections", I4},
		{"current_client_connections", I4},
	};
	pgs_ctx_t *ctx = c->ctx;
	admin_row_desc(c, f, 8);
	size_t n;
	user_ent_t *v = user_list(ctx, &n);
	for (size_t i = 0; i < n; i++)
		user_row(c, v[i].name, v[i].u);
	free(v);
	admin_ok(c, "SHOW");
}

static const char *const stat_names[] = {
	"server_assignment_count",
	"xact_count",
	"query_count",
	"bytes_received",
	"bytes_sent",
	"xact_time",
	"query_time",
	"wait_time",
	"client_parse_count",
	"server_parse_count",
	"bind_count",
};

static void put_counters(row_t *r, const stats_counters_t *s)
{
	put_u(r, s->server_assignment_count);
	put_u(r, s->xact_count);
	put_u(r, s->query_count);
	put_u(r, s->bytes_received);
	put_u(r, s->bytes_sent);
	put_u(r, s->xact_time_us);
	put_u(r, s->query_time_us);
	put_u(r, s->wait_time_us);
	put_u(r, s->client_parse_count);
	put_u(r, s->server_parse_count);
	put_u(r, s->bind_count);
}

static void put_avgs(row_t *r, const stats_t *st)
{
	const stats_counters_t *a = &st->avg;
	put_u(r, a->server_assignment_count);
	put_u(r, a->xact_count);
	put_u(r, a->query_count);
	put_u(r, a->bytes_received);
	put_u(r, a->bytes_sent);
	put_u(r, st->avg_xact_time);
	put_u(r, st->avg_query_time);
	put_u(r, st->avg_wait_time);
	put_u(r, a->client_parse_count);
	put_u(r, a->server_parse_count);
	put_u(r, a->bind_count);
}

/* which: 0 = STATS, 1 = STATS_TOTALS, 2 = STATS_AVERAGES */
static void show_stats(client_t *c, int which)
{
	static const char *const avg_names[] = {"avg_server_assignment_count",
						"avg_xact_count",
						"avg_query_count",
						"avg_recv",
						"avg_sent",
						"avg_xact_time",
						"avg_query_time",
						"avg_wait_time",
						"avg_client_parse_count",
						"avg_server_parse_count",
						"avg_bind_count"};
	pgp_field_t f[24];
	char names[24][48];
	int nf = 0;
	f[nf++] = (pgp_field_t){"database", T};
	for (int i = 0; i < 11; i++) {
		if (which == 0)
			/* STATS says total_received/total_sent where
			 * STATS_TOTALS says bytes_received/bytes_sent. */
			snprintf(names[i], sizeof(names[i]), "total_%s",
				 i == 3	  ? "received"
				 : i == 4 ? "sent"
					  : stat_names[i]);
		else if (which == 2 && i >= 8)
			snprintf(names[i], sizeof(names[i]), "avg_%s",
				 stat_names[i]);
		else
			snprintf(names[i], sizeof(names[i]), "%s",
				 stat_names[i]);
		f[nf++] = (pgp_field_t){names[i], NUM};
	}
	if (which == 0)
		for (int i = 0; i < 11; i++)
			f[nf++] = (pgp_field_t){avg_names[i], NUM};
	/* PgBouncer 1.18 named these total_received/total_sent etc. */
	admin_row_desc(c, f, nf);
	pgs_ctx_t *ctx = c->ctx;
	size_t np;
	pool_t **pv = sorted_pools(ctx, &np);
	bool admin_done = false;
	/* One row per database that has pools (PgBouncer's), the console's
	 * among them; the pools are sorted, so a database's are adjacent. */
	for (size_t i = 0; i <= np; i++) {
		pool_db_t *db = i < np ? pv[i]->db : NULL;
		if (admin_first(&admin_done, db ? db->name : "~")) {
			row_t r;
			row_init(&r);
			put_s(&r, "pgbouncer");
			if (which != 2)
				put_counters(&r, &ctx->admin_stats.total);
			if (which != 1)
				put_avgs(&r, &ctx->admin_stats);
			emit(c, &r);
		}
		if (!db || (i > 0 && pv[i - 1]->db == db))
			continue;
		stats_counters_t tot;
		memset(&tot, 0, sizeof(tot));
		for (size_t j = i; j < np && pv[j]->db == db; j++)
			stats_add(&tot, &pv[j]->stats.total);
		row_t r;
		row_init(&r);
		put_s(&r, db->name);
		if (which != 2)
			put_counters(&r, &tot);
		if (which != 1)
			put_avgs(&r, &db->stats);
		emit(c, &r);
	}
	free(pv);
	admin_ok(c, "SHOW");
}

static void show_config(client_t *c)
{
	static const pgp_field_t f[] = {
		{"key", T}, {"value", T}, {"default", T}, {"changeable", T}};
	admin_row_desc(c, f, 4);
	cfg_show_row_t cr;
	for (size_t i = 0; cfg_show(c->ctx->cfg, i, &cr); i++) {
		row_t r;
		row_init(&r);
		put_s(&r, cr.key);
		put_s(&r, cr.value);
		put_s(&r, cr.default_value ? cr.default_value : "");
		put_s(&r, cr.changeable ? "yes" : "no");
		emit(c, &r);
	}
	admin_ok(c, "SHOW");
}

static void show_lists(client_t *c)
{
	static const pgp_field_t f[] = {{"list", T}, {"items", I4}};
	pgs_ctx_t *ctx = c->ctx;
	/* The console counts as a database, a user and a pool. */
	int ndb = 1, npool = 1, used_cl = 0, used_sv = 0;
	size_t nuser;
	free(user_list(ctx, &nuser));
	list_node_t *n;
	for (n = ctx->dbs.next; n != &ctx->dbs; n = n->next)
		ndb += !list_entry(n, pool_db_t, node)->removed;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		npool += p->plain == NULL; /* one pool, as SHOW POOLS */
		used_cl += p->active_clients.count + p->waiting_clients.count;
		used_sv += pool_server_total(p);
	}
	used_cl += ctx->admin_clients.count;
	int npeer_pools = 0;
	for (const peer_t *p = ctx->peers; p; p = p->next) {
		npeer_pools++;
		used_cl += p->active_clients.count + p->waiting_clients.count;
	}
	const char *names[] = {"databases",    "users",		"peers",
			       "pools",	       "peer_pools",	"free_clients",
			       "used_clients", "login_clients", "free_servers",
			       "used_servers", "dns_names",	"dns_zones",
			       "dns_queries",  "dns_pending"};
	int vals[] = {ndb,
		      (int)nuser,
		      (int)ctx->cfg->npeers,
		      npool,
		      npeer_pools,
		      0,
		      used_cl,
		      ctx->login_clients.count,
		      0,
		      used_sv,
		      0,
		      0,
		      0,
		      0};
	admin_row_desc(c, f, 2);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		row_t r;
		row_init(&r);
		put_s(&r, names[i]);
		put_i(&r, vals[i]);
		emit(c, &r);
	}
	admin_ok(c, "SHOW");
}

static void show_mem(client_t *c)
{
	static const pgp_field_t f[] = {{"name", T},
					{"size", I4},
					{"used", I4},
					{"free", I4},
					{"memtotal", I4}};
	pgs_ctx_t *ctx = c->ctx;
	int ncl = ctx->client_count, nsv = 0, npool = 0;
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		npool += p->plain == NULL;
		nsv += pool_server_total(p);
	}
	const bufpool_t *sb = &ctx->mem.small, *lb = &ctx->mem.large;
	/* The buffer pools lend blocks only while bytes are in flight:
	 * used is what connections hold now, free what the pool keeps. */
	struct {
		const char *name;
		long long size, used, free;
	} rows[] = {
		{"user_cache", (int)sizeof(pool_user_t), 0, 0},
		{"db_cache", (int)sizeof(pool_db_t), 0, 0},
		{"pool_cache", (int)sizeof(pool_t), npool, 0},
		{"server_cache", (int)sizeof(server_t), nsv, 0},
		{"client_cache", (int)sizeof(client_t), ncl, 0},
		{"iobuf_cache", (long long)sb->size, bufpool_used(sb),
		 sb->nfree},
		{"server_iobuf_cache", (long long)lb->size, bufpool_used(lb),
		 lb->nfree},
	};
	admin_row_desc(c, f, 5);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		row_t r;
		row_init(&r);
		put_s(&r, rows[i].name);
		put_i(&r, rows[i].size);
		put_i(&r, rows[i].used);
		put_i(&r, rows[i].free);
		put_i(&r, rows[i].size * (rows[i].used + rows[i].free));
		emit(c, &r);
	}
	admin_ok(c, "SHOW");
}

static void show_one(client_t *c, const char *col, const char *val)
{
	pgp_field_t f = {col, T};
	admin_row_desc(c, &f, 1);
	admin_row(c, &val, 1);
	admin_ok(c, "SHOW");
}

static void show_state(client_t *c)
{
	static const pgp_field_t f[] = {{"key", T}, {"value", T}};
	pgs_ctx_t *ctx = c->ctx;
	bool paused = ctx->paused_all, susp = ctx->suspended;
	const char *rows[3][2] = {
		{"active", !paused && !susp ? "yes" : "no"},
		{"paused", paused ? "yes" : "no"},
		{"suspended", susp ? "yes" : "no"},
	};
	admin_row_desc(c, f, 2);
	for (int i = 0; i < 3; i++)
		admin_row(c, rows[i], 2);
	admin_ok(c, "SHOW");
}

static void show_help(client_t *c)
{
	pgp_wr_notice(&c->io.obuf, "NOTICE", "00000",
		      "Console usage\n\tSHOW HELP|CONFIG|DATABASES|POOLS|"
		      "CLIENTS|SERVERS|USERS|VERSION\n\tSHOW PEERS|PEER_POOLS\n"
		      "\tSHOW SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE|TOTALS\n"
		      "\tSHOW DNS_HOSTS|DNS_ZONES\n"
		      "\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES\n"
		      "\tSHOW SWITCHOVER [<db>]\n\tSET key = arg\n\tRELOAD\n"
		      "\tPAUSE [<db>]\n\tRESUME [<db>]\n\tDISABLE <db>\n"
		      "\tENABLE <db>\n\tRECONNECT [<db>]\n\tKILL [<db>]\n"
		      "\tKILL_CLIENT <client_id>\n\tSUSPEND\n\tSHUTDOWN\n"
		      "\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS\n"
		      "\tWAIT_CLOSE [<db>]\n"
		      "\tSWITCHOVER <db> TO '<conninfo>' [WITH (...)]\n"
		      "\tSWITCHOVER <db> ABORT");
	admin_ok(c, "SHOW");
}

bool admin_show(client_t *c, const char *what)
{
	if (strcasecmp(what, "clients") == 0)
		show_clients(c, false);
	else if (strcasecmp(what, "servers") == 0)
		show_clients(c, true);
	else if (strcasecmp(what, "pools") == 0)
		show_pools(c);
	else if (strcasecmp(what, "databases") == 0)
		show_databases(c);
	else if (strcasecmp(what, "users") == 0)
		show_users(c);
	else if (strcasecmp(what, "stats") == 0)
		show_stats(c, 0);
	else if (strcasecmp(what, "stats_totals") == 0)
		show_stats(c, 1);
	else if (strcasecmp(what, "stats_averages") == 0)
		show_stats(c, 2);
	else if (strcasecmp(what, "config") == 0)
		show_config(c);
	else if (strcasecmp(what, "lists") == 0)
		show_lists(c);
	else if (strcasecmp(what, "sockets") == 0)
		show_sockets(c, false);
	else if (strcasecmp(what, "active_sockets") == 0)
		show_sockets(c, true);
	else if (strcasecmp(what, "totals") == 0)
		show_totals(c);
	else if (strcasecmp(what, "peers") == 0) {
		show_peers(c);
	} else if (strcasecmp(what, "peer_pools") == 0) {
		show_peer_pools(c);
	} else if (strcasecmp(what, "dns_hosts") == 0) {
		show_dns_hosts(c);
	} else if (strcasecmp(what, "dns_zones") == 0) {
		static const pgp_field_t f[] = {
			{"zonename", T}, {"serial", I8}, {"count", I4}};
		show_empty(c, f, 3);
	} else if (strcasecmp(what, "mem") == 0)
		show_mem(c);
	else if (strcasecmp(what, "state") == 0)
		show_state(c);
	else if (strcasecmp(what, "fds") == 0)
		admin_show_fds(c);
	else if (strcasecmp(what, "help") == 0)
		show_help(c);
	else if (strcasecmp(what, "version") == 0)
		show_one(c, "version",
			 "PgBouncer 1.25.0 (pgswitch " PGSWITCH_VERSION ")");
	else
		return false;
	return true;
}
