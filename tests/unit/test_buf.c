/* SPDX-License-Identifier: MIT */
/*
 * test_buf.c - the bounded growable buffer: growth, the hard maximum,
 * consuming from the front and reclaiming that space, printf, and the
 * zero-initialised buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"

#define DEFAULT_MAX (1u << 20) /* buf.h: max 0 means 1 MiB */

static void fill_pattern(uint8_t *p, size_t n, size_t from)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((from + i) * 31 + 7);
}

static void check_pattern(const buf_t *b, size_t from)
{
	const uint8_t *h = buf_head(b);
	for (size_t i = 0; i < buf_pending(b); i++)
		if (h[i] != (uint8_t)((from + i) * 31 + 7))
			fail_msg("byte %zu differs", i);
}

static void test_zero_initialised(void **state)
{
	buf_t b = {0};
	(void)state;

	assert_int_equal(buf_pending(&b), 0);
	assert_false(b.toobig);
	/* Consuming nothing and resetting an empty buffer are fine. */
	buf_consume(&b, 0);
	buf_reset(&b);
	assert_int_equal(buf_pending(&b), 0);
	/* Appending nothing allocates nothing and does not fail. */
	assert_true(buf_append(&b, "", 0));
	assert_int_equal(buf_pending(&b), 0);

	assert_true(buf_append(&b, "abc", 3));
	assert_int_equal(buf_pending(&b), 3);
	assert_memory_equal(buf_head(&b), "abc", 3);
	buf_free(&b);
	assert_int_equal(buf_pending(&b), 0);
	assert_null(b.data);
	/* Freeing twice, and freeing a never-used buffer. */
	buf_free(&b);
	buf_t z = {0};
	buf_free(&z);

	/* max 0 is the 1 MiB default: exactly 1 MiB fits, one more not. */
	buf_t d = {0};
	uint8_t *big = calloc(1, DEFAULT_MAX + 1);
	assert_non_null(big);
	assert_true(buf_append(&d, big, DEFAULT_MAX));
	assert_int_equal(buf_pending(&d), DEFAULT_MAX);
	assert_false(buf_append(&d, big, 1));
	assert_true(d.toobig);
	assert_int_equal(buf_pending(&d), DEFAULT_MAX);
	buf_free(&d);
	buf_t e = {0};
	assert_false(buf_append(&e, big, DEFAULT_MAX + 1));
	assert_true(e.toobig);
	assert_int_equal(buf_pending(&e), 0);
	buf_free(&e);
	free(big);
}

static void test_init(void **state)
{
	buf_t b;
	(void)state;

	memset(&b, 0x5a, sizeof(b));
	buf_init(&b, 123);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.off, 0);
	assert_int_equal(b.cap, 0);
	assert_int_equal(b.max, 123);
	assert_false(b.toobig);
	buf_free(&b);
}

static void test_growth(void **state)
{
	uint8_t chunk[1000];
	buf_t b;
	(void)state;

	buf_init(&b, 0);
	/* One byte at a time across several doublings. */
	for (size_t i = 0; i < 5000; i++) {
		uint8_t c;
		fill_pattern(&c, 1, i);
		assert_true(buf_append(&b, &c, 1));
		assert_true(b.cap >= b.len);
	}
	assert_int_equal(buf_pending(&b), 5000);
	check_pattern(&b, 0);
	buf_free(&b);

	/* Big chunks at once: one reserve grows by several doublings. */
	buf_init(&b, 0);
	size_t total = 0;
	for (int i = 0; i < 20; i++) {
		fill_pattern(chunk, sizeof(chunk), total);
		assert_true(buf_append(&b, chunk, sizeof(chunk)));
		total += sizeof(chunk);
		assert_true(b.cap >= b.len);
	}
	assert_int_equal(buf_pending(&b), total);
	check_pattern(&b, 0);
	assert_false(b.toobig);
	buf_free(&b);

	/* buf_append_str includes the NUL. */
	buf_init(&b, 0);
	assert_true(buf_append_str(&b, "hi"));
	assert_true(buf_append_str(&b, ""));
	assert_int_equal(buf_pending(&b), 4);
	assert_memory_equal(buf_head(&b), "hi\0\0", 4);
	buf_free(&b);
}

static void test_hard_max(void **state)
{
	uint8_t chunk[200];
	buf_t b;
	(void)state;

	fill_pattern(chunk, sizeof(chunk), 0);
	buf_init(&b, 100);
	assert_true(buf_append(&b, chunk, 60));
	assert_false(buf_append(&b, chunk + 60, 41)); /* 101 > 100 */
	assert_true(b.toobig);
	assert_int_equal(buf_pending(&b), 60); /* nothing of it stored */
	check_pattern(&b, 0);
	/* What still fits is accepted; the block never exceeds max. */
	assert_true(buf_append(&b, chunk + 60, 40));
	assert_int_equal(buf_pending(&b), 100);
	check_pattern(&b, 0);
	assert_true(b.cap <= 100);
	assert_false(buf_append(&b, chunk, 1));
	assert_int_equal(buf_pending(&b), 100);
	/* reserve obeys the same limit. */
	assert_true(buf_reserve(&b, 0));
	assert_false(buf_reserve(&b, 1));
	/* reset empties and clears toobig; the max stays. */
	buf_reset(&b);
	assert_false(b.toobig);
	assert_int_equal(buf_pending(&b), 0);
	assert_int_equal(b.max, 100);
	assert_false(buf_append(&b, chunk, 101));
	assert_int_equal(buf_pending(&b), 0);
	assert_true(buf_append(&b, chunk, 100));
	buf_free(&b);

	/* A single over-max append into an empty buffer. */
	buf_init(&b, 10);
	assert_false(buf_append_str(&b, "0123456789")); /* 11 with NUL */
	assert_true(b.toobig);
	assert_int_equal(buf_pending(&b), 0);
	assert_true(buf_append_str(&b, "012345678"));
	buf_free(&b);

	/* Growth is clipped to max: max 300 never allocates 512. */
	buf_init(&b, 300);
	uint8_t big[300];
	fill_pattern(big, sizeof(big), 0);
	assert_true(buf_append(&b, big, 257));
	assert_true(b.cap >= 257 && b.cap <= 300);
	assert_true(buf_append(&b, big + 257, 43));
	check_pattern(&b, 0);
	buf_free(&b);
}

static void test_reserve_overflow(void **state)
{
	buf_t b;
	bool r1, r2, r3, toobig;
	size_t pending;
	(void)state;

	/* len + n wrapping around SIZE_MAX must not pass as "fits" (the
	 * results are checked after freeing, so a failure does not leak). */
	buf_init(&b, 1024);
	assert_true(buf_append(&b, "0123456789", 10));
	r1 = buf_reserve(&b, SIZE_MAX);
	r2 = buf_reserve(&b, SIZE_MAX - 5);
	r3 = buf_reserve(&b, SIZE_MAX - 9);
	toobig = b.toobig;
	pending = buf_pending(&b);
	buf_free(&b);
	assert_false(r1);
	assert_false(r2);
	assert_false(r3);
	assert_true(toobig);
	assert_int_equal(pending, 10);
}

static void test_consume(void **state)
{
	uint8_t chunk[256];
	buf_t b;
	(void)state;

	fill_pattern(chunk, sizeof(chunk), 0);
	buf_init(&b, 0);
	assert_true(buf_append(&b, chunk, 200));
	buf_consume(&b, 150);
	assert_int_equal(buf_pending(&b), 50);
	check_pattern(&b, 150);
	buf_consume(&b, 0);
	assert_int_equal(buf_pending(&b), 50);

	/* Everything consumed: back to an empty buffer at offset 0. */
	buf_consume(&b, 50);
	assert_int_equal(buf_pending(&b), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.off, 0);

	/* Consuming more than pending also empties. */
	assert_true(buf_append(&b, chunk, 10));
	buf_consume(&b, 11);
	assert_int_equal(buf_pending(&b), 0);
	assert_int_equal(b.off, 0);
	buf_free(&b);
}

static void test_reclaim(void **state)
{
	uint8_t chunk[512];
	buf_t b;
	(void)state;

	fill_pattern(chunk, sizeof(chunk), 0);
	buf_init(&b, 0);
	assert_true(buf_append(&b, chunk, 200));
	size_t cap = b.cap;
	uint8_t *data = b.data;
	assert_true(cap >= 200 && cap <= sizeof(chunk));
	buf_consume(&b, 150);
	/* 50 pending + (cap - 50) new = cap: reclaimed, not grown. */
	assert_true(buf_append(&b, chunk + 200, cap - 50));
	assert_int_equal(b.cap, cap);
	assert_ptr_equal(b.data, data);
	assert_int_equal(buf_pending(&b), cap);
	check_pattern(&b, 150);
	buf_free(&b);

	/* Reclaiming lets a bounded buffer go on forever. */
	buf_init(&b, 64);
	size_t written = 0, read = 0;
	for (int i = 0; i < 1000; i++) {
		uint8_t part[13];
		fill_pattern(part, sizeof(part), written);
		assert_true(buf_append(&b, part, sizeof(part)));
		written += sizeof(part);
		assert_true(b.cap <= 64);
		size_t take = (i % 3 == 2) ? buf_pending(&b) : 7;
		if (take > buf_pending(&b))
			take = buf_pending(&b);
		check_pattern(&b, read);
		buf_consume(&b, take);
		read += take;
	}
	assert_false(b.toobig);
	check_pattern(&b, read);
	buf_free(&b);

	/* buf_reserve reclaims too: max 300, 290 stored, 200 consumed:
	 * 100 more fit after moving the 90 pending bytes down. */
	buf_init(&b, 300);
	assert_true(buf_append(&b, chunk, 290));
	buf_consume(&b, 200);
	assert_true(buf_reserve(&b, 100));
	assert_false(b.toobig);
	assert_int_equal(buf_pending(&b), 90);
	check_pattern(&b, 200);
	assert_true(b.len + 100 <= b.cap);
	assert_true(buf_append(&b, chunk, 100));
	assert_int_equal(buf_pending(&b), 190);
	/* The max is on pending bytes: 110 more fit, 111 do not. */
	assert_false(buf_reserve(&b, 111));
	assert_int_equal(buf_pending(&b), 190);
	buf_free(&b);
}

static void test_printf(void **state)
{
	buf_t b;
	(void)state;

	buf_init(&b, 0);
	assert_true(buf_printf(&b, "%s=%d;", "a", 42));
	assert_int_equal(buf_pending(&b), 5);
	assert_memory_equal(buf_head(&b), "a=42;", 5);
	assert_true(buf_printf(&b, "%s", ""));
	assert_int_equal(buf_pending(&b), 5);

	/* Longer than the internal 512-byte scratch buffer. */
	char *lng = malloc(3001);
	assert_non_null(lng);
	for (int i = 0; i < 3000; i++)
		lng[i] = (char)('a' + i % 26);
	lng[3000] = 0;
	assert_true(buf_printf(&b, "[%s|%05d]", lng, 7));
	assert_int_equal(buf_pending(&b), 5 + 1 + 3000 + 7);
	assert_memory_equal(buf_head(&b) + 5, "[", 1);
	assert_memory_equal(buf_head(&b) + 6, lng, 3000);
	assert_memory_equal(buf_head(&b) + 3006, "|00007]", 7);
	buf_free(&b);

	/* Exactly around the scratch size. */
	for (int n = 509; n <= 514; n++) {
		buf_init(&b, 0);
		assert_true(buf_printf(&b, "%.*s", n, lng));
		assert_int_equal(buf_pending(&b), (size_t)n);
		assert_memory_equal(buf_head(&b), lng, (size_t)n);
		buf_free(&b);
	}

	/* After consumed bytes, long output lands after the pending ones. */
	buf_init(&b, 4096);
	assert_true(buf_append(&b, "0123456789", 10));
	buf_consume(&b, 8);
	assert_true(buf_printf(&b, "%s", lng));
	assert_int_equal(buf_pending(&b), 2 + 3000);
	assert_memory_equal(buf_head(&b), "89", 2);
	assert_memory_equal(buf_head(&b) + 2, lng, 3000);
	buf_free(&b);

	/* Over the maximum: short and long output both fail cleanly. */
	buf_init(&b, 100);
	assert_true(buf_append(&b, "xx", 2));
	assert_false(buf_printf(&b, "%s", lng));
	assert_true(b.toobig);
	assert_int_equal(buf_pending(&b), 2);
	buf_reset(&b);
	assert_true(buf_append(&b, "xx", 2));
	assert_false(buf_printf(&b, "%.*s", 99, lng));
	assert_true(b.toobig);
	assert_int_equal(buf_pending(&b), 2);
	assert_true(buf_printf(&b, "%.*s", 98, lng));
	assert_int_equal(buf_pending(&b), 100);
	buf_free(&b);
	free(lng);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_initialised),
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_hard_max),
		cmocka_unit_test(test_reserve_overflow),
		cmocka_unit_test(test_consume),
		cmocka_unit_test(test_reclaim),
		cmocka_unit_test(test_printf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
