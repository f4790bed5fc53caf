/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/switch/shadow_sql.c: which statements shadow reads
 * may sample.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "switch/shadow_sql.h"

static bool ro(const char *s)
{
	return shadow_looks_read_only(s, strlen(s));
}

static void test_reads(void **state)
{
	(void)state;
	assert_true(ro("SELECT 1"));
	assert_true(ro("  select * from t where id = 3;"));
	assert_true(ro("-- a report\n/* multi\n line */ WITH x AS (SELECT 1) "
		       "SELECT * FROM x"));
	assert_true(ro("VALUES (1), (2)"));
	assert_true(ro("TABLE pgbench_branches"));
	assert_true(ro("SELECT updated_at FROM t")); /* a word, not UPDATE */
	assert_true(ro("SELECT 1;  -- done"));
}

static void test_not_reads(void **state)
{
	(void)state;
	assert_false(ro(""));
	assert_false(ro("   "));
	assert_false(ro("UPDATE t SET x = 1"));
	assert_false(ro("INSERT INTO t VALUES (1)"));
	assert_false(ro("SELECT 1; DELETE FROM t"));
	assert_false(ro("SELECT nextval('s')"));
	assert_false(ro("SELECT * INTO t2 FROM t"));
	assert_false(ro("SELECT * FROM t FOR UPDATE"));
	assert_false(ro("SELECT * FROM t FOR SHARE"));
	assert_false(ro("SELECT * FROM t FOR UPDATE SKIP LOCKED"));
	assert_false(
		ro("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"));
	assert_false(ro("SELECT pg_advisory_lock(1)"));
	assert_false(ro("SELECT pg_sleep(10)"));
	assert_false(ro("SELECTX 1"));
	assert_false(ro("/* unterminated"));
	assert_false(ro("BEGIN; SELECT 1"));
	assert_false(ro("SHOW work_mem"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads),
		cmocka_unit_test(test_not_reads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
