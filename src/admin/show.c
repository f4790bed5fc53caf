/* SPDX-License-Identifier: MIT */
/*
 * show.c - SHOW commands. Column names, order and types match PgBouncer
 * 1.25 (docs/internals/pgbouncer-compat.md) so dashboards and exporters
 * keep working; pgswitch additions go at the end, never renamed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "admin/admin_int.h"
#include "config/cfg.h"
#include "conn/conn.h"
#include "metrics/stats.h"
#include "pool/pool.h"
#include "proto/pgp.h"
#include "tls/tls.h"
#include "switch/sw_admin.h"

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
	put_s(&r, x->user);
	put_s(&r, x->dbname);
	put_s(&r, repl_name(x->replication));
	const char *st = x->state == CL_ACTIVE ? (x->link ? "active" : "idle")
					       : "waiting";
	put_s(&r, sock_state ? sock_state : st);
	put_s(&r, x->addr.host);
	put_i(&r, x->addr.port);
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
		"",	  "",	  "new",    "idle",
		"active", "used", "tested", "active_cancel"};
	row_init(&r);
	put_s(&r, "S");
	put_s(&r, s->pool->user->name);
	put_s(&r, s->pool->db->name);
	put_s(&r, repl_name((int)s->pool->replication));
	put_s(&r, sock_state  ? sock_state
		  : s->parked ? "parked"
			      : names[s->state]);
	put_s(&r, s->addr.host);
	put_i(&r, s->addr.port);
	put_s(&r, s->local.host);
	put_i(&r, s->local.port);
	put_time(&r, s->connect_us);
	put_time(&r, s->request_us);
	put_i(&r, 0);
	put_i(&r, 0);
	put_i(&r, !s->parked && (s->dirty ||
				 s->generation != s->pool->db->generation));
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

/* SHOW PEERS / PEER_POOLS / DNS_HOSTS / DNS_ZONES: PgBouncer's columns.
 * pgswitch has no [peers] and resolves names with the libc resolver, so
 * they have no rows yet. */
static void show_empty(client_t *c, const pgp_field_t *f, int n)
{
	admin_row_desc(c, f, n);
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
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		if (servers) {
			each_list(c, &p->active_servers, true, now);
			each_list(c, &p->idle_servers, true, now);
			each_list(c, &p->used_servers, true, now);
			each_list(c, &p->tested_servers, true, now);
			each_list(c, &p->login_servers, true, now);
			each_list(c, &p->parked_servers, true, now);
		} else {
			each_list(c, &p->active_clients, false, now);
			each_list(c, &p->waiting_clients, false, now);
		}
	}
	if (!servers)
		each_list(c, &ctx->admin_clients, false, now);
	admin_ok(c, "SHOW");
}

static void show_pools(client_t *c)
{
	static const pgp_field_t f[] = {
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
	pgs_ctx_t *ctx = c->ctx;
	int64_t now = ev_now_us(ctx->loop);
	admin_row_desc(c, f, 17);
	list_node_t *n;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		row_t r;
		row_init(&r);
		put_s(&r, p->db->name);
		put_s(&r, p->user->name);
		put_i(&r, p->active_clients.count);
		put_i(&r, p->waiting_clients.count);
		put_i(&r, 0);
		put_i(&r, 0);
		put_i(&r, p->active_servers.count);
		put_i(&r, 0);
		put_i(&r, 0);
		put_i(&r, p->idle_servers.count);
		put_i(&r, p->used_servers.count);
		put_i(&r, p->tested_servers.count);
		put_i(&r, p->login_servers.count);
		int64_t w = 0;
		list_node_t *first = statlist_first(&p->waiting_clients);
		if (first)
			w = now - list_entry(first, client_t, node)->wait_us;
		put_i(&r, w / 1000000);
		put_i(&r, w % 1000000);
		put_s(&r, cfg_pool_mode_name((cfg_pool_mode_t)pool_mode(p)));
		put_s(&r, NULL);
		emit(c, &r);
	}
	admin_ok(c, "SHOW");
}

static void show_databases(client_t *c)
{
	static const pgp_field_t f[] = {
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
	pgs_ctx_t *ctx = c->ctx;
	const cfg_t *cfg = ctx->cfg;
	admin_row_desc(c, f, 17);
	list_node_t *n;
	for (n = ctx->dbs.next; n != &ctx->dbs; n = n->next) {
		pool_db_t *db = list_entry(n, pool_db_t, node);
		if (db->removed)
			continue;
		row_t r;
		row_init(&r);
		put_s(&r, db->name);
		put_s(&r, db->host);
		put_i(&r, db->port);
		put_s(&r, db->dbname);
		put_s(&r, db->forced_user);
		put_i(&r, db->pool_size >= 0 ? db->pool_size
					     : cfg->default_pool_size);
		put_i(&r, db->min_pool_size >= 0 ? db->min_pool_size
						 : cfg->min_pool_size);
		put_i(&r, db->reserve_pool >= 0 ? db->reserve_pool
						: cfg->reserve_pool_size);
		put_i(&r, cfg->server_lifetime / 1000);
		put_s(&r, db->pool_mode == CFG_POOL_UNSET
				  ? NULL
				  : cfg_pool_mode_name(db->pool_mode));
		put_s(&r, NULL);
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
	put_i(&r, 0);
	put_s(&r, "statement");
	put_s(&r, NULL);
	put_i(&r, 0);
	put_i(&r, 0);
	put_i(&r, cfg->max_db_client_connections);
	put_i(&r, ctx->admin_clients.count);
	put_i(&r, 0);
	put_i(&r, 0);
	emit(c, &r);
	admin_ok(c, "SHOW");
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
	list_node_t *n;
	for (n = ctx->users.next; n != &ctx->users; n = n->next) {
		pool_user_t *u = list_entry(n, pool_user_t, node);
		row_t r;
		row_init(&r);
		char ps[16], rs[16];
		snprintf(ps, sizeof(ps), "%d", u->pool_size);
		snprintf(rs, sizeof(rs), "%d", u->reserve_pool_size);
		put_s(&r, u->name);
		put_s(&r, u->pool_size >= 0 ? ps : "");
		put_s(&r, u->reserve_pool_size >= 0 ? rs : "");
		put_s(&r, u->pool_mode == CFG_POOL_UNSET
				  ? NULL
				  : cfg_pool_mode_name(u->pool_mode));
		put_i(&r, u->max_user_connections > 0
				  ? u->max_user_connections
				  : ctx->cfg->max_user_connections);
		put_i(&r, u->server_count);
		put_i(&r, u->max_user_client_connections >= 0
				  ? u->max_user_client_connections
				  : ctx->cfg->max_user_client_connections);
		put_i(&r, u->client_count);
		emit(c, &r);
	}
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
	list_node_t *n, *m;
	for (n = ctx->dbs.next; n != &ctx->dbs; n = n->next) {
		pool_db_t *db = list_entry(n, pool_db_t, node);
		stats_counters_t tot;
		memset(&tot, 0, sizeof(tot));
		for (m = ctx->pools.next; m != &ctx->pools; m = m->next) {
			pool_t *p = list_entry(m, pool_t, node);
			if (p->db == db)
				stats_add(&tot, &p->stats.total);
		}
		row_t r;
		row_init(&r);
		put_s(&r, db->name);
		if (which != 2)
			put_counters(&r, &tot);
		if (which != 1)
			put_avgs(&r, &db->stats);
		emit(c, &r);
	}
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
	int ndb = 1 /* the console */, nuser = 0, npool = 0, used_cl = 0,
	    used_sv = 0;
	list_node_t *n;
	for (n = ctx->dbs.next; n != &ctx->dbs; n = n->next)
		ndb++;
	for (n = ctx->users.next; n != &ctx->users; n = n->next)
		nuser++;
	for (n = ctx->pools.next; n != &ctx->pools; n = n->next) {
		pool_t *p = list_entry(n, pool_t, node);
		npool++;
		used_cl += p->active_clients.count + p->waiting_clients.count;
		used_sv += pool_server_total(p);
	}
	used_cl += ctx->admin_clients.count;
	const char *names[] = {"databases",    "users",		"peers",
			       "pools",	       "peer_pools",	"free_clients",
			       "used_clients", "login_clients", "free_servers",
			       "used_servers", "dns_names",	"dns_zones",
			       "dns_queries",  "dns_pending"};
	int vals[] = {
		ndb, nuser,   0, npool, 0, 0, used_cl, ctx->login_clients.count,
		0,   used_sv, 0, 0,	0, 0};
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
		npool++;
		nsv += pool_server_total(list_entry(n, pool_t, node));
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
		static const pgp_field_t f[] = {{"peer_id", I4},
						{"host", T},
						{"port", I4},
						{"pool_size", I4}};
		show_empty(c, f, 4);
	} else if (strcasecmp(what, "peer_pools") == 0) {
		static const pgp_field_t f[] = {{"peer_id", I4},
						{"cl_active_cancel_req", I4},
						{"cl_waiting_cancel_req", I4},
						{"sv_active_cancel", I4},
						{"sv_login", I4}};
		show_empty(c, f, 5);
	} else if (strcasecmp(what, "dns_hosts") == 0) {
		static const pgp_field_t f[] = {
			{"hostname", T}, {"ttl", I8}, {"addrs", T}};
		show_empty(c, f, 3);
	} else if (strcasecmp(what, "dns_zones") == 0) {
		static const pgp_field_t f[] = {
			{"zonename", T}, {"serial", I8}, {"count", I4}};
		show_empty(c, f, 3);
	} else if (strcasecmp(what, "mem") == 0)
		show_mem(c);
	else if (strcasecmp(what, "state") == 0)
		show_state(c);
	else if (strcasecmp(what, "help") == 0)
		show_help(c);
	else if (strcasecmp(what, "version") == 0)
		show_one(c, "version",
			 "PgBouncer 1.25.0 (pgswitch " PGSWITCH_VERSION ")");
	else
		return false;
	return true;
}
