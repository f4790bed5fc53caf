/* SPDX-License-Identifier: MIT */
/*
 * test_prep.c - the prepared-statement maps: identical texts intern to
 * one statement, references free it exactly when the last holder lets
 * go, client names resolve and delete (also only-if-same), a server's
 * statements evict least recently used first, the request ring keeps
 * its order across growth and refuses past its hard maximum, and 10,000
 * names on one client stay one statement each in the registry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conn/prep.h"

static const uint8_t *body(const char *q, uint32_t *len)
{
	static uint8_t b[256];
	size_t n = strlen(q) + 1;
	memcpy(b, q, n);
	b[n] = 0; /* no parameter types */
	b[n + 1] = 0;
	*len = (uint32_t)n + 2;
	return b;
}

static prep_stmt_t *intern(prep_registry_t *r, const char *q)
{
	uint32_t len;
	const uint8_t *b = body(q, &len);
	return prep_intern(r, b, len);
}

static void test_intern_shares_and_frees(void **state)
{
	(void)state;
	prep_registry_t r;
	prep_registry_init(&r);
	prep_stmt_t *a = intern(&r, "SELECT 1");
	prep_stmt_t *b = intern(&r, "SELECT 1");
	prep_stmt_t *c = intern(&r, "SELECT 2");
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, c);
	assert_int_equal(a->refs, 2);
	assert_int_equal(r.count, 2);
	char name[32];
	prep_server_name(c, name, sizeof(name));
	assert_string_equal(name, "PGBOUNCER_2");
	prep_unref(&r, a);
	prep_unref(&r, b);
	assert_int_equal(r.count, 1);
	prep_unref(&r, c);
	assert_int_equal(r.count, 0);
	/* freed: interning again makes a new statement */
	prep_stmt_t *d = intern(&r, "SELECT 1");
	assert_int_equal(d->id, 3);
	prep_unref(&r, d);
	prep_registry_free(&r);
}

static void test_client_names(void **state)
{
	(void)state;
	prep_registry_t r;
	prep_registry_init(&r);
	prep_client_t *c = prep_client_new();
	prep_stmt_t *s1 = intern(&r, "SELECT 1");
	prep_stmt_t *s2 = intern(&r, "SELECT 2");
	assert_true(prep_client_add(&r, c, "S_1", 3, s1));
	assert_true(prep_client_add(&r, c, "S_2", 3, s2));
	assert_ptr_equal(prep_client_get(c, "S_1", 3), s1);
	assert_null(prep_client_get(c, "S_3", 3));
	assert_null(prep_client_get(c, "S_", 2));
	/* only-if-same: a name re-used for another text is kept */
	assert_false(prep_client_del(&r, c, "S_1", 3, s2));
	assert_true(prep_client_del(&r, c, "S_1", 3, s1));
	assert_null(prep_client_get(c, "S_1", 3));
	assert_int_equal(r.count, 1);
	prep_client_clear(&r, c);
	assert_int_equal(c->count, 0);
	assert_int_equal(r.count, 0);
	prep_client_free(&r, c);
	prep_registry_free(&r);
}

static void test_ten_thousand_names(void **state)
{
	(void)state;
	prep_registry_t r;
	prep_registry_init(&r);
	prep_client_t *c = prep_client_new();
	char name[32], q[64];
	for (int i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "__asyncpg_stmt_%d__", i);
		snprintf(q, sizeof(q), "SELECT %d", i % 100);
		prep_stmt_t *st = intern(&r, q);
		assert_true(prep_client_add(&r, c, name, (uint32_t)strlen(name),
					    st));
	}
	assert_int_equal(c->count, 10000);
	assert_int_equal(r.count, 100); /* texts, not names */
	for (int i = 0; i < 10000; i += 997) {
		snprintf(name, sizeof(name), "__asyncpg_stmt_%d__", i);
		assert_non_null(
			prep_client_get(c, name, (uint32_t)strlen(name)));
	}
	prep_client_free(&r, c);
	assert_int_equal(r.count, 0);
	prep_registry_free(&r);
}

static void test_server_lru(void **state)
{
	(void)state;
	prep_registry_t r;
	prep_registry_init(&r);
	prep_server_t *s = prep_server_new();
	prep_stmt_t *st[4];
	for (int i = 0; i < 4; i++) {
		char q[16];
		snprintf(q, sizeof(q), "SELECT %d", i);
		st[i] = intern(&r, q);
		assert_true(prep_server_add(s, st[i]));
	}
	assert_int_equal(s->count, 4);
	assert_ptr_equal(prep_server_oldest(s), st[0]);
	assert_true(prep_server_has(s, st[0])); /* now the newest */
	assert_ptr_equal(prep_server_oldest(s), st[1]);
	assert_true(prep_server_take(s, st[1]));
	prep_unref(&r, st[1]); /* the server's reference */
	assert_false(prep_server_has(s, st[1]));
	assert_ptr_equal(prep_server_oldest(s), st[2]);
	for (int i = 0; i < 4; i++)
		prep_unref(&r, st[i]); /* ours */
	assert_int_equal(r.count, 3);  /* the server still holds three */
	prep_server_free(&r, s);
	assert_int_equal(r.count, 0);
	prep_registry_free(&r);
}

static void test_queue_order_and_limit(void **state)
{
	(void)state;
	prep_queue_t q = {0};
	prep_req_t e = {.type = 'B', .action = PREP_FORWARD};
	/* wrap around, then grow while wrapped */
	for (int i = 0; i < 10; i++)
		assert_true(prep_q_push(&q, &e));
	for (int i = 0; i < 8; i++)
		prep_q_pop(&q);
	for (int i = 0; i < 30; i++) {
		e.type = (uint8_t)('a' + i % 26);
		assert_true(prep_q_push(&q, &e));
	}
	assert_int_equal(q.n, 32);
	assert_int_equal(prep_q_head(&q)->type, 'B');
	prep_q_pop(&q);
	prep_q_pop(&q);
	for (int i = 0; i < 30; i++) {
		assert_int_equal(prep_q_head(&q)->type, 'a' + i % 26);
		prep_q_pop(&q);
	}
	assert_null(prep_q_head(&q));
	while (prep_q_push(&q, &e))
		;
	assert_int_equal(q.n, PREP_QUEUE_MAX);
	prep_registry_t r;
	prep_registry_init(&r);
	prep_q_free(&r, &q);
	assert_int_equal(q.n, 0);
	assert_string_equal(prep_action_str(PREP_FAKE), "fake");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intern_shares_and_frees),
		cmocka_unit_test(test_client_names),
		cmocka_unit_test(test_ten_thousand_names),
		cmocka_unit_test(test_server_lru),
		cmocka_unit_test(test_queue_order_and_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
