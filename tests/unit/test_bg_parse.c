/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/switch/bg_parse.c: BLUEGREEN's WITH options, its
 * table lists (a bare name is public's; anything that would need SQL
 * quoting beyond "..." is refused), default names and the SQL quoting the
 * queries are built with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "switch/bg_parse.h"
#include "switch/bluegreen.h"

static void test_with(void **state)
{
	(void)state;
	bg_opts_t o;
	char err[256] = "";
	bg_opts_default(&o);
	assert_true(o.all_tables && o.copy_data && !o.allow_no_key);
	assert_true(bg_parse_with("", &o, err, sizeof(err)));
	assert_true(bg_parse_with(
		" WITH (tables = 'a.b, c', copy_data = off, allow_no_key = on,"
		" publication = 'p1', subscription = s_1)",
		&o, err, sizeof(err)));
	assert_false(o.all_tables);
	assert_string_equal(o.tables, "a.b, c");
	assert_false(o.copy_data);
	assert_true(o.allow_no_key);
	assert_string_equal(o.publication, "p1");
	assert_string_equal(o.subscription, "s_1");
	assert_true(
		bg_parse_with("WITH (tables = 'all')", &o, err, sizeof(err)));
	assert_true(o.all_tables);

	assert_false(bg_parse_with("WITH (copy_data = maybe)", &o, err,
				   sizeof(err)));
	assert_non_null(strstr(err, "copy_data"));
	assert_false(bg_parse_with("WITH (publication = 'Bad\"')", &o, err,
				   sizeof(err)));
	assert_false(
		bg_parse_with("WITH (colour = 'blue')", &o, err, sizeof(err)));
	assert_non_null(strstr(err, "colour"));
	assert_false(bg_parse_with("WITH (tables = 'x'", &o, err, sizeof(err)));
}

static void test_tables(void **state)
{
	(void)state;
	char t[4][BG_TABLE_NAME_MAX], err[256];
	assert_int_equal(
		bg_split_tables(" s.t1 ,t2,Big.T$3", t, 4, err, sizeof(err)),
		3);
	assert_string_equal(t[0], "s.t1");
	assert_string_equal(t[1], "public.t2");
	assert_string_equal(t[2], "Big.T$3");
	assert_int_equal(bg_split_tables("a;drop", t, 4, err, sizeof(err)), -1);
	assert_int_equal(bg_split_tables("a,b,c,d,e", t, 4, err, sizeof(err)),
			 -1);
	assert_int_equal(bg_split_tables("", t, 4, err, sizeof(err)), -1);
	assert_int_equal(bg_split_tables("a..b", t, 4, err, sizeof(err)), -1);
}

static void test_names_and_quoting(void **state)
{
	(void)state;
	char out[64];
	bg_default_name("My-DB", out, sizeof(out));
	assert_string_equal(out, "pgswitch_my_db");
	size_t o = 0;
	assert_true(bg_lit(out, sizeof(out), &o, "it's"));
	assert_string_equal(out, "'it''s'");
	o = 0;
	assert_true(bg_qualified(out, sizeof(out), &o, "s.t"));
	assert_string_equal(out, "\"s\".\"t\"");
	char small[6];
	o = 0;
	assert_false(bg_lit(small, sizeof(small), &o, "abcdef"));
	o = 0;
	assert_false(bg_cat(small, sizeof(small), &o, "%s", "toolong"));
	assert_string_equal(bg_state_name(BG_COPYING_SCHEMA), "copying schema");
	assert_string_equal(bg_relstate_name(bg_relstate_from('d')), "copying");
	assert_string_equal(bg_relstate_name(bg_relstate_from('?')), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_with),
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_names_and_quoting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
