/* SPDX-License-Identifier: MIT */
/*
 * test_pool_states.c - the pool's state lists around a switchover, on a
 * real context without a PostgreSQL: the "server" is a local listening
 * socket nobody accepts on, so a launch is real (a connecting socket in
 * SV_LOGIN) and what is asserted is only where objects sit and what the
 * pool counts. Logins never finish here: a test that needs a logged-in
 * server moves it to its next state as login_done() would.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/cfg.h"
#include "conn/conn.h"
#include "pool/janitor.h"
#include "pool/pool.h"
#include "pool/pool_freeze.h"

typedef struct fixture {
	pgs_ctx_t ctx;
	int lfd; /* the "server": connects succeed, nothing answers */
	int port;
	char path[64];
	pool_db_t *db;
	pool_t *pool;
} fixture_t;

static int listen_local(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->lfd = listen_local(&f->port);
	snprintf(f->path, sizeof(f->path), "/tmp/pgs-pool-states-%d.ini",
		 (int)getpid());
	FILE *fp = fopen(f->path, "w");
	assert_non_null(fp);
	fprintf(fp,
		"[databases]\n"
		"db1 = host=127.0.0.1 port=%d\n"
		"[pgbouncer]\n"
		"auth_type = trust\n"
		"default_pool_size = 4\n",
		f->port);
	fclose(fp);

	pgs_ctx_t *ctx = &f->ctx;
	log_init(&ctx->log);
	ctx->log.quiet = true;
	cfg_diags_t d;
	cfg_diags_init(&d);
	ctx->cfg = cfg_load(f->path, &d);
	cfg_diags_free(&d);
	assert_non_null(ctx->cfg);
	list_init(&ctx->dbs);
	list_init(&ctx->users);
	list_init(&ctx->pools);
	statlist_init(&ctx->login_clients);
	statlist_init(&ctx->admin_clients);
	statlist_init(&ctx->cancel_servers);
	statlist_init(&ctx->justfree_clients);
	statlist_init(&ctx->justfree_servers);
	ctx->loop = ev_create();
	assert_non_null(ctx->loop);
	conn_mem_init(ctx);
	conn_vars_init(ctx, ctx->cfg->track_extra_parameters);

	f->db = pool_db_lookup(ctx, "db1");
	assert_non_null(f->db);
	pool_user_t *u = pool_user_get(ctx, "u1");
	assert_non_null(u);
	f->pool = pool_get(ctx, f->db, u);
	assert_non_null(f->pool);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	pool_free_all(&f->ctx);
	conn_vars_free(&f->ctx);
	conn_mem_free(&f->ctx);
	ev_destroy(f->ctx.loop);
	cfg_free(f->ctx.cfg);
	close(f->lfd);
	unlink(f->path);
	free(f);
	return 0;
}

/* A logged-in client of P with no server: what a login leaves. */
static client_t *new_client(fixture_t *f)
{
	client_t *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->ctx = &f->ctx;
	c->pool = f->pool;
	c->io.fd = -1;
	c->id = ++f->ctx.next_id;
	list_init(&c->node);
	pool_client_state(c, CL_ACTIVE);
	return c;
}

static server_t *first(statlist_t *l)
{
	list_node_t *n = statlist_first(l);
	assert_non_null(n);
	return list_entry(n, server_t, node);
}

/* The switchover's pre-warm of DB, toward the same local "server". */
static int prewarm(fixture_t *f)
{
	return pool_prewarm(&f->ctx, f->db, "127.0.0.1", f->port);
}

/* An unfrozen pool launches for a queued client. */
static void test_request_launches(void **state)
{
	fixture_t *f = *state;
	client_t *c = new_client(f);
	pool_request_server(c);
	assert_int_equal(c->state, CL_WAITING);
	assert_int_equal(f->pool->login_servers.count, 1);
	assert_int_equal(f->db->server_count, 1);
	assert_int_equal(first(&f->pool->login_servers)->state, SV_LOGIN);
}

static void count_hold(void *arg, int64_t since_us)
{
	(void)since_us;
	(*(int *)arg)++;
}

/* The bug: the janitor's kick (and min_pool_size's launch) opened a
 * server to the old primary in the middle of a freeze. The thaw, not
 * the janitor's next tick, launches for the queue. */
static void test_freeze_holds_launches(void **state)
{
	fixture_t *f = *state;
	client_t *c = new_client(f);
	pool_db_freeze(f->db);
	pool_request_server(c);
	assert_int_equal(c->state, CL_WAITING);
	pool_kick(f->pool);
	pool_launch(f->pool);
	assert_int_equal(f->pool->login_servers.count, 0);
	assert_int_equal(f->db->server_count, 0);

	int held = 0;
	pool_db_thaw(&f->ctx, f->db, count_hold, &held);
	assert_int_equal(held, 1);
	assert_false(f->db->frozen);
	assert_int_equal(f->pool->login_servers.count, 1);
	assert_int_equal(c->state, CL_WAITING);
}

/* A pre-warm goes around the freeze, sits on the parked list in either
 * parked state, and is not the pool's: not counted, not handed out. */
static void test_prewarm_parks(void **state)
{
	fixture_t *f = *state;
	pool_request_server(new_client(f)); /* one server to mirror */
	pool_db_freeze(f->db);
	assert_int_equal(prewarm(f), 1);
	int login = -1;
	assert_int_equal(pool_parked_count(&f->ctx, f->db, &login), 1);
	assert_int_equal(login, 1);
	server_t *s = first(&f->pool->parked_servers);
	assert_int_equal(s->state, SV_PARKED_LOGIN);
	assert_true(server_parked(s));
	assert_true(server_logging_in(s));
	assert_int_equal(f->pool->login_servers.count, 1);
	assert_int_equal(f->db->server_count, 1);
	assert_int_equal(pool_server_total(f->pool), 1);
	/* Enough parked already: a second pre-warm adds none. */
	assert_int_equal(prewarm(f), 0);

	pool_server_state(s, SV_PARKED); /* its login ended */
	assert_int_equal(pool_parked_count(&f->ctx, f->db, &login), 1);
	assert_int_equal(login, 0);
	assert_true(server_parked(s));
	assert_false(server_logging_in(s));
	assert_string_equal(server_state_name(s->state), "parked");
	assert_int_equal(f->pool->idle_servers.count, 0);
	pool_db_thaw(&f->ctx, f->db, NULL, NULL);
}

/* Adoption: a logged-in pre-warm becomes an idle server of the pool, one
 * still logging in an ordinary login; both now count. */
static void test_adopt(void **state)
{
	fixture_t *f = *state;
	pool_request_server(new_client(f));
	pool_db_freeze(f->db);
	assert_int_equal(prewarm(f), 1);
	pool_request_server(new_client(f));
	assert_int_equal(prewarm(f), 0);
	server_t *done = first(&f->pool->parked_servers);
	pool_server_state(done, SV_PARKED);
	/* A second pre-warm, still logging in at the switch. */
	assert_non_null(server_prewarm(f->pool, "127.0.0.1", f->port));
	assert_int_equal(pool_parked_count(&f->ctx, f->db, NULL), 2);
	int before = f->db->server_count;

	pool_db_retarget(&f->ctx, f->db, "127.0.0.1", f->port);
	assert_int_equal(f->pool->parked_servers.count, 0);
	assert_int_equal(done->state, SV_IDLE);
	assert_ptr_equal(first(&f->pool->idle_servers), done);
	assert_int_equal(done->generation, f->db->generation);
	assert_int_equal(f->db->server_count, before + 2);
	assert_int_equal(f->pool->user->server_count, before + 2);
	/* The old target's logins were marked for closing, the adopted
	 * one is not. */
	list_node_t *n;
	int fresh = 0;
	for (n = f->pool->login_servers.head.next;
	     n != &f->pool->login_servers.head; n = n->next) {
		server_t *s = list_entry(n, server_t, node);
		assert_int_equal(s->state, SV_LOGIN);
		fresh += !s->dirty;
	}
	assert_int_equal(fresh, 1);

	/* The thaw hands the adopted idle server to the queue at once. */
	client_t *w = list_entry(statlist_first(&f->pool->waiting_clients),
				 client_t, node);
	pool_db_thaw(&f->ctx, f->db, NULL, NULL);
	assert_int_equal(done->state, SV_ACTIVE);
	assert_ptr_equal(done->link, w);
	assert_int_equal(w->state, CL_ACTIVE);
}

/* An aborted switchover closes its pre-warms; the pool's counts do not
 * move, since they never counted. */
static void test_drop(void **state)
{
	fixture_t *f = *state;
	pool_request_server(new_client(f));
	assert_int_equal(prewarm(f), 1);
	server_t *s = first(&f->pool->parked_servers);
	pool_server_state(s, SV_PARKED);
	assert_non_null(server_prewarm(f->pool, "127.0.0.1", f->port));
	pool_drop_parked(&f->ctx, f->db, "switchover did not switch");
	assert_int_equal(f->pool->parked_servers.count, 0);
	assert_int_equal(f->ctx.justfree_servers.count, 2);
	assert_int_equal(f->db->server_count, 1);
	assert_int_equal(f->pool->user->server_count, 1);
	assert_int_equal(f->pool->login_servers.count, 1);
	pool_free_justfree(&f->ctx);
}

/* A pre-warm that cannot connect in server_connect_timeout fails alone:
 * the pool's own launches are not held back by it. */
static void test_parked_connect_timeout(void **state)
{
	fixture_t *f = *state;
	pool_request_server(new_client(f));
	assert_int_equal(prewarm(f), 1);
	server_t *s = first(&f->pool->parked_servers);
	s->connect_us -= (int64_t)3600 * 1000000;
	janitor_run(&f->ctx);
	assert_int_equal(f->pool->parked_servers.count, 0);
	assert_int_equal(f->pool->login_servers.count, 1);
	assert_int_equal(f->pool->last_connect_fail_us, 0);
	assert_int_equal(f->db->server_count, 1);
}

/* Every state has a name (SV_BEING_CANCELED once read past the end). */
static void test_state_names(void **state)
{
	(void)state;
	for (int st = SV_FREE; st <= SV_PARKED; st++)
		assert_non_null(server_state_name((server_state_t)st));
	assert_string_equal(server_state_name(SV_BEING_CANCELED),
			    "being_canceled");
	assert_string_equal(server_state_name(SV_PARKED_LOGIN), "parked_login");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_launches, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_freeze_holds_launches,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_prewarm_parks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_adopt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parked_connect_timeout,
						setup, teardown),
		cmocka_unit_test(test_state_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
