/* SPDX-License-Identifier: MIT */
/*
 * test_bufpool.c - the I/O block pool (reuse, the hard maximum of kept
 * blocks, the once-a-second trim), output buffers that borrow from it
 * only while they hold bytes, and interned strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/bufpool.h"
#include "util/istr.h"

static void test_reuse(void **state)
{
	bufpool_t p;
	(void)state;
	assert_int_equal(bufpool_init(&p, 4096, 4), 0);
	void *a = bufpool_get(&p);
	assert_non_null(a);
	memset(a, 1, 4096);
	assert_int_equal(bufpool_used(&p), 1);
	bufpool_put(&p, a);
	assert_int_equal(bufpool_used(&p), 0);
	assert_int_equal(p.nfree, 1);
	/* The same block comes back: no malloc per transaction. */
	assert_ptr_equal(bufpool_get(&p), a);
	bufpool_put(&p, a);
	bufpool_destroy(&p);
	assert_int_equal(p.alive, 0);
}

static void test_keep_max(void **state)
{
	bufpool_t p;
	void *b[10];
	(void)state;
	assert_int_equal(bufpool_init(&p, 512, 3), 0);
	for (int i = 0; i < 10; i++)
		assert_non_null(b[i] = bufpool_get(&p));
	assert_int_equal(bufpool_used(&p), 10);
	for (int i = 0; i < 10; i++)
		bufpool_put(&p, b[i]);
	/* Past the hard maximum, blocks go straight back to malloc. */
	assert_int_equal(p.nfree, 3);
	assert_int_equal(p.alive, 3);
	assert_int_equal(p.freed, 7);
	assert_int_equal(bufpool_used(&p), 0);
	bufpool_destroy(&p);
}

static void test_trim(void **state)
{
	bufpool_t p;
	void *b[64];
	(void)state;
	assert_int_equal(bufpool_init(&p, 256, 64), 0);
	for (int i = 0; i < 64; i++)
		b[i] = bufpool_get(&p);
	for (int i = 0; i < 64; i++)
		bufpool_put(&p, b[i]);
	/* The burst's own period: the stack was empty at its low, so
	 * nothing sat unused and nothing goes. */
	assert_int_equal(bufpool_trim(&p, 4), 0);
	assert_int_equal(p.nfree, 64);
	/* A quiet period: half of the untouched blocks go, each time. */
	assert_int_equal(bufpool_trim(&p, 4), 32);
	assert_int_equal(bufpool_trim(&p, 4), 16);
	/* A load that takes 10 at a time keeps what it uses. */
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 10; i++)
			b[i] = bufpool_get(&p);
		for (int i = 0; i < 10; i++)
			bufpool_put(&p, b[i]);
	}
	assert_int_equal(bufpool_trim(&p, 4), 3); /* 6 untouched: half */
	assert_int_equal(p.nfree, 13);
	for (int i = 0; i < 10; i++)
		bufpool_trim(&p, 4);
	assert_int_equal(p.nfree, 4); /* never below min_keep */
	assert_int_equal(p.alive, 4);
	bufpool_destroy(&p);
}

static void test_no_stack(void **state)
{
	bufpool_t p;
	(void)state;
	/* keep_max 0: a plain malloc/free allocator. */
	assert_int_equal(bufpool_init(&p, 128, 0), 0);
	void *a = bufpool_get(&p);
	assert_non_null(a);
	bufpool_put(&p, a);
	assert_int_equal(p.alive, 0);
	bufpool_destroy(&p);
}

static void test_pooled_buf(void **state)
{
	bufpool_t p;
	buf_t b;
	(void)state;
	assert_int_equal(bufpool_init(&p, 1024, 8), 0);
	buf_init_pooled(&b, 1u << 20, &p);
	assert_null(b.data);
	assert_true(buf_append(&b, "hello", 5));
	assert_true(b.pooled);
	assert_int_equal(b.cap, 1024);
	assert_int_equal(bufpool_used(&p), 1);
	buf_consume(&b, 2);
	assert_true(b.pooled);
	assert_memory_equal(buf_head(&b), "llo", 3);
	/* Drained: the block is back, the buffer holds nothing. */
	buf_consume(&b, 3);
	assert_null(b.data);
	assert_int_equal(bufpool_used(&p), 0);

	/* Outgrowing the block: its bytes move, the block goes back. */
	uint8_t big[3000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	assert_true(buf_append(&b, big, 100));
	assert_true(buf_append(&b, big + 100, sizeof(big) - 100));
	assert_false(b.pooled);
	assert_int_equal(bufpool_used(&p), 0);
	assert_int_equal(buf_pending(&b), sizeof(big));
	assert_memory_equal(buf_head(&b), big, sizeof(big));
	/* A big one is kept through a drain (a stream refills it) until
	 * buf_release(). */
	buf_consume(&b, sizeof(big));
	assert_non_null(b.data);
	assert_true(buf_append(&b, "x", 1));
	buf_release(&b); /* bytes pending: kept */
	assert_non_null(b.data);
	buf_consume(&b, 1);
	buf_release(&b);
	assert_null(b.data);

	/* A first append larger than a block takes no block. */
	assert_true(buf_append(&b, big, 2000));
	assert_false(b.pooled);
	buf_free(&b);
	/* Freeing a pooled buffer gives its block back. */
	assert_true(buf_append(&b, "y", 1));
	assert_int_equal(bufpool_used(&p), 1);
	buf_free(&b);
	assert_int_equal(bufpool_used(&p), 0);
	/* A pool with blocks larger than the maximum is not used. */
	buf_t s;
	buf_init_pooled(&s, 100, &p);
	assert_null(s.pool);
	assert_true(buf_append(&s, "z", 1));
	assert_false(s.pooled);
	buf_free(&s);
	bufpool_destroy(&p);
}

static void test_istr(void **state)
{
	istr_table_t t = {0};
	char v[32];
	(void)state;
	const char *a = istr_get(&t, "UTF8");
	strcpy(v, "UTF8");
	const char *b = istr_get(&t, v);
	assert_non_null(a);
	/* Equal values are one copy: comparing them is comparing pointers. */
	assert_ptr_equal(a, b);
	assert_string_equal(a, "UTF8");
	assert_int_equal(t.n, 1);
	const char *c = istr_get(&t, "ISO, MDY");
	assert_ptr_not_equal(a, c);
	assert_ptr_equal(istr_ref(c), c);
	istr_put(&t, c);
	istr_put(&t, c);
	assert_int_equal(t.n, 1);
	istr_put(&t, a);
	assert_int_equal(t.n, 1); /* b still holds it */
	istr_put(&t, b);
	assert_int_equal(t.n, 0);
	istr_put(&t, NULL);
	assert_null(istr_ref(NULL));
	/* Many values through growth, all still found. */
	const char *keep[500];
	for (int i = 0; i < 500; i++) {
		snprintf(v, sizeof(v), "app-%d", i);
		keep[i] = istr_get(&t, v);
	}
	assert_int_equal(t.n, 500);
	for (int i = 0; i < 500; i++) {
		snprintf(v, sizeof(v), "app-%d", i);
		const char *again = istr_get(&t, v);
		assert_ptr_equal(again, keep[i]);
		istr_put(&t, again);
		istr_put(&t, keep[i]);
	}
	assert_int_equal(t.n, 0);
	char *huge = malloc(ISTR_MAX + 2);
	memset(huge, 'a', ISTR_MAX + 1);
	huge[ISTR_MAX + 1] = 0;
	assert_null(istr_get(&t, huge));
	free(huge);
	istr_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_keep_max),
		cmocka_unit_test(test_trim),
		cmocka_unit_test(test_no_stack),
		cmocka_unit_test(test_pooled_buf),
		cmocka_unit_test(test_istr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
