/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/switch/sw_persist.c: what a switchover writes to disk.
 * The fence journal round trip (unix-socket hosts included), the rewrite
 * of the one line that defines a database, the switchover_state_file
 * overlay (other databases' entries kept, applied to a loaded config),
 * and a persist that has nowhere to write.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/cfg.h"
#include "switch/sw_persist.h"
#include "switch/switchover.h"

static char dir[256];

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static void write_text(const char *name, const char *text)
{
	char p[512];
	path_of(p, sizeof(p), name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_text(const char *name)
{
	static char buf[8192];
	char p[512];
	path_of(p, sizeof(p), name);
	FILE *f = fopen(p, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static cfg_t *load(const char *name)
{
	char p[512];
	path_of(p, sizeof(p), name);
	cfg_diags_t d;
	cfg_diags_init(&d);
	cfg_t *cfg = cfg_load(p, &d);
	cfg_diags_free(&d);
	assert_non_null(cfg);
	return cfg;
}

static int setup(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/pgswitch_persist_XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	snprintf(dir, sizeof(dir), "%s", tmpl);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_journal_round_trip(void **state)
{
	(void)state;
	write_text("j.ini", "[databases]\napp = host=10.0.0.1 port=5432\n"
			    "[pgbouncer]\nlisten_port = 6432\n");
	cfg_t *cfg = load("j.ini");
	sw_fence_rec_t in[2] = {{.db = "app",
				 .phase = "fence",
				 .old_host = "10.0.0.1",
				 .old_port = 5432,
				 .new_host = "10.0.0.2",
				 .new_port = 5433,
				 .since = 1700000000},
				{.db = "sock",
				 .phase = "promote",
				 .old_host = "",
				 .old_port = 5432,
				 .new_host = "",
				 .new_port = 5433,
				 .since = 1700000001}};
	char err[512];
	assert_int_equal(sw_journal_put(cfg, &in[0], err, sizeof(err)), 0);
	assert_int_equal(sw_journal_put(cfg, &in[1], err, sizeof(err)), 0);
	/* put replaces by database */
	in[0].new_port = 5434;
	assert_int_equal(sw_journal_put(cfg, &in[0], err, sizeof(err)), 0);

	sw_fence_rec_t out[SW_JOURNAL_MAX];
	assert_int_equal(sw_journal_load(cfg, out, SW_JOURNAL_MAX), 2);
	assert_string_equal(out[0].db, "app");
	assert_int_equal(out[0].new_port, 5434);
	assert_string_equal(out[0].new_host, "10.0.0.2");
	assert_string_equal(out[1].db, "sock");
	assert_string_equal(out[1].phase, "promote");
	assert_string_equal(out[1].old_host, ""); /* a unix socket */
	assert_int_equal(out[1].since, 1700000001);

	assert_int_equal(sw_journal_del(cfg, "app", err, sizeof(err)), 0);
	assert_int_equal(sw_journal_load(cfg, out, SW_JOURNAL_MAX), 1);
	assert_int_equal(sw_journal_del(cfg, "sock", err, sizeof(err)), 0);
	assert_int_equal(sw_journal_load(cfg, out, SW_JOURNAL_MAX), 0);
	assert_null(read_text("j.ini.fence")); /* the file is gone */
	cfg_free(cfg);
}

static void test_rewrite_defining_line(void **state)
{
	(void)state;
	write_text("dbs.ini", "; rendered by config management\n"
			      "app = host=10.0.0.1 port=5432 dbname=prod "
			      "pool_size=7\nother = host=10.0.0.9\n");
	write_text("main.ini", "[databases]\n%include dbs.ini\n"
			       "[pgbouncer]\nlisten_port = 6432\n");
	cfg_t *cfg = load("main.ini");
	sw_persist_t w;
	assert_int_equal(sw_persist_init(cfg, "app", "10.0.0.2", 6000, &w), 0);
	sw_persist_run(&w);
	assert_int_equal(w.rc, 0);
	assert_non_null(strstr(w.out, "dbs.ini:2"));
	const char *t = read_text("dbs.ini");
	assert_non_null(t);
	assert_non_null(strstr(t, "; rendered by config management\n"
				  "app = host=10.0.0.2 port=6000 dbname=prod "
				  "pool_size=7\nother = host=10.0.0.9\n"));
	cfg_free(cfg);
	cfg = load("main.ini");
	const cfg_db_t *e = cfg_find_db(cfg, "app");
	assert_string_equal(e->host, "10.0.0.2");
	assert_int_equal(e->port, 6000);
	cfg_free(cfg);
}

static void test_overlay_keeps_other_entries(void **state)
{
	(void)state;
	char ini[1024], state_path[512];
	path_of(state_path, sizeof(state_path), "sw.state");
	write_text("sw.state", "# kept\nother host=10.9.9.9 port=7000\n");
	snprintf(ini, sizeof(ini),
		 "[databases]\napp = host=10.0.0.1 port=5432\n"
		 "other = host=10.0.0.9\n[pgbouncer]\nlisten_port = 6432\n"
		 "switchover_state_file = %s\n",
		 state_path);
	write_text("o.ini", ini);
	cfg_t *cfg = load("o.ini");
	sw_persist_t w;
	assert_int_equal(sw_persist_init(cfg, "app", "10.0.0.2", 5433, &w), 0);
	sw_persist_run(&w);
	assert_int_equal(w.rc, 0);
	assert_non_null(strstr(w.out, "(overlay)"));
	const char *t = read_text("sw.state");
	assert_non_null(strstr(t, "other host=10.9.9.9 port=7000\n"));
	assert_non_null(strstr(t, "app host=10.0.0.2 port=5433\n"));
	/* the ini is untouched */
	assert_non_null(strstr(read_text("o.ini"), "app = host=10.0.0.1"));

	/* applied on load, remembering what the file said */
	sw_overlay_cfg(cfg);
	const cfg_db_t *e = cfg_find_db(cfg, "app");
	assert_string_equal(e->host, "10.0.0.2");
	assert_int_equal(e->port, 5433);
	assert_true(e->overlaid);
	assert_string_equal(e->file_host, "10.0.0.1");
	assert_int_equal(e->file_port, 5432);
	e = cfg_find_db(cfg, "other");
	assert_string_equal(e->host, "10.9.9.9");
	cfg_free(cfg);
}

static void test_nowhere_to_persist(void **state)
{
	(void)state;
	write_text("star.ini", "[databases]\n* = host=10.0.0.1\n"
			       "[pgbouncer]\nlisten_port = 6432\n");
	cfg_t *cfg = load("star.ini");
	sw_persist_t w;
	assert_int_equal(sw_persist_init(cfg, "auto", "10.0.0.2", 5432, &w),
			 -1);
	assert_non_null(strstr(w.out, "no [databases] line for auto"));
	cfg_free(cfg);
}

static void test_persist_on_helper_thread(void **state)
{
	(void)state;
	write_text("t.ini", "[databases]\napp = host=10.0.0.1 port=5432\n"
			    "[pgbouncer]\nlisten_port = 6432\n");
	cfg_t *cfg = load("t.ini");
	sw_persist_t *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	assert_int_equal(sw_persist_init(cfg, "app", "10.0.0.3", 5432, w), 0);
	cfg_free(cfg); /* the request is self-contained */
	assert_int_equal(sw_persist_start(w), 0);
	for (int i = 0; i < 5000 && !sw_persist_done(w); i++)
		usleep(1000);
	assert_true(sw_persist_done(w));
	assert_int_equal(w->rc, 0);
	assert_non_null(strstr(read_text("t.ini"), "app = host=10.0.0.3"));
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_round_trip),
		cmocka_unit_test(test_rewrite_defining_line),
		cmocka_unit_test(test_overlay_keeps_other_entries),
		cmocka_unit_test(test_nowhere_to_persist),
		cmocka_unit_test(test_persist_on_helper_thread),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
