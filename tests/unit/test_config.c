/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/config: pgbouncer.ini loading, the key table,
 * SET/SHOW CONFIG, precedence helpers, and every error path with its
 * file:line.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/cfg.h"
#include "config/cfg_internal.h"

#ifndef TEST_DATA_DIR
#error "TEST_DATA_DIR must be defined"
#endif
#define DATA(name) TEST_DATA_DIR "/config/" name

/* ---- helpers ---------------------------------------------------------- */

static char tmpdir[256];
static char created[256][PATH_MAX];
static int ncreated;

static int group_setup(void **state)
{
	char tmpl[] = "/tmp/pgswitch_cfg_XXXXXX";
	char *real;

	(void)state;
	if (!mkdtemp(tmpl))
		return -1;
	/* /tmp may be a symlink: compare against canonical paths. */
	real = realpath(tmpl, NULL);
	if (!real)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "%s", real);
	free(real);
	return 0;
}

static int group_teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < ncreated; i++)
		unlink(created[i]);
	rmdir(tmpdir);
	return 0;
}

/* Write CONTENT to tmpdir/NAME; returns the (static per slot) path. */
static const char *write_file(const char *name, const char *content)
{
	char *path;
	FILE *f;

	assert_true(ncreated < 256);
	path = created[ncreated++];
	snprintf(path, PATH_MAX, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, strlen(content), f),
			 strlen(content));
	fclose(f);
	return path;
}

static const cfg_diag_item_t *find_diag(const cfg_diags_t *d, cfg_sev_t sev,
					const char *needle)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		if (d->items[i].sev == sev && strstr(d->items[i].msg, needle))
			return &d->items[i];
	}
	return NULL;
}

static void dump_diags(const cfg_diags_t *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		print_message("  %s %s:%d: %s\n",
			      d->items[i].sev == CFG_ERROR ? "ERROR" : "WARN",
			      d->items[i].file, d->items[i].line,
			      d->items[i].msg);
}

/* Expect an error NEEDLE at PATH:LINE, and that the load failed. */
static void expect_error_at(const char *content, const char *needle, int line)
{
	static int seq;
	const cfg_diag_item_t *it;
	char name[64];
	const char *path;
	cfg_diags_t d;
	cfg_t *cfg;

	snprintf(name, sizeof(name), "err%d.ini", seq++);
	path = write_file(name, content);
	cfg_diags_init(&d);
	cfg = cfg_load(path, &d);
	if (cfg || !find_diag(&d, CFG_ERROR, needle))
		dump_diags(&d);
	assert_null(cfg);
	assert_true(d.nerrors >= 1);
	it = find_diag(&d, CFG_ERROR, needle);
	assert_non_null(it);
	assert_string_equal(it->file, path);
	assert_int_equal(it->line, line);
	cfg_diags_free(&d);
}

static cfg_t *load_ok(const char *name, const char *content, cfg_diags_t *d)
{
	const char *path = write_file(name, content);
	cfg_t *cfg;

	cfg_diags_init(d);
	cfg = cfg_load(path, d);
	if (!cfg)
		dump_diags(d);
	assert_non_null(cfg);
	assert_int_equal(d->nerrors, 0);
	return cfg;
}

static void show_value(const cfg_t *cfg, const char *key, char *out, size_t len)
{
	cfg_show_row_t row;
	size_t i;

	for (i = 0; cfg_show(cfg, i, &row); i++) {
		if (strcmp(row.key, key) == 0) {
			snprintf(out, len, "%s", row.value);
			return;
		}
	}
	fail_msg("no SHOW CONFIG row for %s", key);
}

/* ---- defaults and a full file ----------------------------------------- */

static void test_defaults(void **state)
{
	const char *path;
	cfg_diags_t d;
	char *real;
	cfg_t *cfg;

	(void)state;
	path = write_file("defaults.ini", "[pgbouncer]\n");
	cfg_diags_init(&d);
	cfg = cfg_load(path, &d);
	assert_non_null(cfg);
	assert_int_equal(d.nerrors, 0);
	/* md5 without auth_file/auth_user: warned, not fatal. */
	assert_non_null(find_diag(&d, CFG_WARNING, "needs auth_file"));

	real = realpath(path, NULL);
	assert_string_equal(cfg->config_file, real);
	free(real);
	assert_string_equal(cfg->listen_addr, "");
	assert_int_equal(cfg->listen_port, 6432);
	assert_string_equal(cfg->unix_socket_dir, "/tmp");
	assert_int_equal(cfg->unix_socket_mode, 0777);
	assert_string_equal(cfg->unix_socket_group, "");
	assert_string_equal(cfg->logfile, "");
	assert_string_equal(cfg->pidfile, "");
	assert_int_equal(cfg->pool_mode, CFG_POOL_SESSION);
	assert_int_equal(cfg->max_client_conn, 100);
	assert_int_equal(cfg->default_pool_size, 20);
	assert_int_equal(cfg->min_pool_size, 0);
	assert_int_equal(cfg->reserve_pool_size, 0);
	assert_int_equal(cfg->reserve_pool_timeout, 5000);
	assert_int_equal(cfg->max_db_connections, 0);
	assert_int_equal(cfg->max_user_connections, 0);
	assert_string_equal(cfg->server_reset_query, "DISCARD ALL");
	assert_int_equal(cfg->server_reset_query_always, 0);
	assert_string_equal(cfg->server_check_query, "<empty>");
	assert_int_equal(cfg->server_check_delay, 30000);
	assert_int_equal(cfg->server_lifetime, 3600000);
	assert_int_equal(cfg->server_idle_timeout, 600000);
	assert_int_equal(cfg->server_connect_timeout, 15000);
	assert_int_equal(cfg->server_login_retry, 15000);
	assert_int_equal(cfg->client_login_timeout, 60000);
	assert_int_equal(cfg->autodb_idle_timeout, 3600000);
	assert_int_equal(cfg->dns_max_ttl, 15000);
	assert_int_equal(cfg->dns_nxdomain_ttl, 15000);
	assert_int_equal(cfg->query_timeout, 0);
	assert_int_equal(cfg->query_wait_timeout, 120000);
	assert_int_equal(cfg->cancel_wait_timeout, 10000);
	assert_int_equal(cfg->suspend_timeout, 10000);
	assert_int_equal(cfg->pkt_buf, 4096);
	assert_int_equal(cfg->max_packet_size, INT_MAX);
	assert_int_equal(cfg->listen_backlog, 128);
	assert_int_equal(cfg->sbuf_loopcnt, 5);
	assert_int_equal(cfg->stats_period, 60000);
	assert_int_equal(cfg->log_connections, 1);
	assert_int_equal(cfg->log_disconnections, 1);
	assert_int_equal(cfg->log_pooler_errors, 1);
	assert_int_equal(cfg->log_stats, 1);
	assert_int_equal(cfg->auth_type, CFG_AUTH_MD5);
	assert_true(strstr(cfg->auth_query, "pg_authid") != NULL);
	assert_int_equal(cfg->tcp_keepalive, 1);
	assert_int_equal(cfg->tcp_defer_accept, 1);
	assert_string_equal(cfg->track_extra_parameters, "IntervalStyle");
	assert_int_equal(cfg->max_prepared_statements, 200);
	assert_string_equal(cfg->syslog_ident, "pgbouncer");
	assert_string_equal(cfg->syslog_facility, "daemon");
	assert_string_equal(cfg->client_tls_sslmode, "disable");
	assert_string_equal(cfg->server_tls_sslmode, "prefer");
	assert_int_equal(cfg->workers, 1);
	assert_string_equal(cfg->switchover_state_file, "");
	assert_int_equal(cfg->ndbs, 0);
	assert_int_equal(cfg->nusers, 0);
	cfg_free(cfg);
	cfg_diags_free(&d);
}

static void test_full_ini(void **state)
{
	const cfg_db_t *db;
	const cfg_user_t *u;
	cfg_diags_t d;
	cfg_t *cfg;

	(void)state;
	cfg_diags_init(&d);
	cfg = cfg_load(DATA("full.ini"), &d);
	if (!cfg || d.n)
		dump_diags(&d);
	assert_non_null(cfg);
	assert_int_equal(d.nerrors, 0);
	/* A clean file: the only warnings name keys that do nothing yet
	 * (never silently ignored). */
	for (size_t i = 0; i < d.n; i++) {
		assert_int_equal(d.items[i].sev, CFG_WARNING);
		assert_non_null(strstr(d.items[i].msg, "not yet supported"));
	}
	assert_true(d.n <= 5);

	assert_string_equal(cfg->listen_addr, "127.0.0.1,::1");
	assert_int_equal(cfg->listen_port, 6433);
	assert_int_equal(cfg->unix_socket_mode, 0770);
	assert_int_equal(cfg->auth_type, CFG_AUTH_SCRAM);
	assert_int_equal(cfg->pool_mode, CFG_POOL_TRANSACTION);
	assert_int_equal(cfg->reserve_pool_timeout, 500);
	assert_int_equal(cfg->stats_period, 30000);
	assert_int_equal(cfg->pkt_buf, 8192);
	assert_int_equal(cfg->max_packet_size, 1073741824);
	assert_int_equal(cfg->log_connections, 0);
	assert_int_equal(cfg->verbose, 1);
	assert_int_equal(cfg->tcp_keepidle, 60);
	assert_int_equal(cfg->tcp_user_timeout, 30000);
	assert_string_equal(cfg->server_check_query, "select 1");
	assert_string_equal(cfg->track_extra_parameters,
			    "IntervalStyle, search_path");
	assert_string_equal(cfg->switchover_state_file,
			    "/var/lib/pgswitch/state.json");
	assert_true(cfg_list_contains(cfg->admin_users, "postgres"));
	assert_true(cfg_list_contains(cfg->stats_users, "monitor"));

	assert_int_equal(cfg->ndbs, 7);
	db = cfg_find_db(cfg, "foodb");
	assert_non_null(db);
	assert_null(db->host);
	assert_int_equal(db->port, 5432);
	assert_string_equal(db->connstr, "");
	db = cfg_find_db(cfg, "bardb");
	assert_string_equal(db->host, "localhost");
	assert_string_equal(db->dbname, "bazdb");
	db = cfg_find_db(cfg, "forcedb");
	assert_int_equal(db->port, 300);
	assert_string_equal(db->user, "baz");
	assert_string_equal(db->password, "foo");
	assert_string_equal(db->client_encoding, "UNICODE");
	assert_string_equal(db->datestyle, "ISO");
	assert_string_equal(db->connect_query, "SELECT 1");
	assert_int_equal(db->line, 9);
	db = cfg_find_db(cfg, "nondefaultdb");
	assert_int_equal(db->pool_size, 50);
	assert_int_equal(db->reserve_pool_size, 10);
	assert_int_equal(db->min_pool_size, 5);
	assert_int_equal(db->max_db_connections, 60);
	assert_int_equal(db->pool_mode, CFG_POOL_TRANSACTION);
	db = cfg_find_db(cfg, "appdb");
	assert_string_equal(db->host, "10.0.0.1,10.0.0.2");
	assert_int_equal(db->port, 5433);
	assert_string_equal(db->auth_user, "pgb_auth");
	assert_string_equal(db->application_name, "app");
	assert_int_equal(db->server_lifetime, 1800000);
	assert_string_equal(db->timezone, "UTC");
	assert_int_equal(db->max_db_client_connections, 500);
	assert_int_equal(db->pool_size, -1);
	assert_int_equal(db->pool_mode, CFG_POOL_UNSET);
	assert_non_null(cfg_find_db(cfg, "Weird db"));
	db = cfg_find_db(cfg, "*");
	assert_non_null(db);
	assert_string_equal(db->host, "testserver");
	assert_null(cfg_find_db(cfg, "nosuchdb"));

	assert_int_equal(cfg->nusers, 2);
	u = cfg_find_user(cfg, "user2");
	assert_non_null(u);
	assert_int_equal(u->pool_mode, CFG_POOL_STATEMENT);
	assert_int_equal(u->max_user_connections, 10);
	assert_int_equal(u->pool_size, 7);
	assert_int_equal(u->reserve_pool_size, 2);
	assert_int_equal(u->max_user_client_connections, 50);
	assert_int_equal(u->query_timeout, 30000);
	assert_int_equal(u->transaction_timeout, -1);
	assert_int_equal(cfg_find_user(cfg, "user1")->pool_mode,
			 CFG_POOL_SESSION);
	cfg_free(cfg);
	cfg_diags_free(&d);
}

/* ---- error paths, each with file:line --------------------------------- */

static void test_invalid_int(void **state)
{
	(void)state;
	expect_error_at("[pgbouncer]\n; comment\nlisten_port = abc\n",
			"invalid value 'abc' for parameter listen_port", 3);
	expect_error_at("[pgbouncer]\nlisten_port = 70000\n",
			"for parameter listen_port", 2);
	expect_error_at("[pgbouncer]\ndefault_pool_size = -5\n",
			"for parameter default_pool_size", 2);
	expect_error_at("[pgbouncer]\nmax_client_conn =\n",
			"invalid value '' for parameter max_client_conn", 2);
	expect_error_at("[pgbouncer]\npkt_buf = 10\n", "for parameter pkt_buf",
			2);
}

static void test_invalid_enum(void **state)
{
	(void)state;
	expect_error_at("[pgbouncer]\n\npool_mode = bogus\n",
			"invalid value 'bogus' for parameter pool_mode: "
			"expected one of: session, transaction, statement",
			3);
	expect_error_at("[pgbouncer]\nauth_type = kerberos\n",
			"for parameter auth_type", 2);
	expect_error_at("[pgbouncer]\nclient_tls_sslmode = maybe\n",
			"for parameter client_tls_sslmode", 2);
}

static void test_invalid_bool(void **state)
{
	(void)state;
	expect_error_at("[pgbouncer]\nlog_connections = maybe\n",
			"invalid value 'maybe' for parameter log_connections",
			2);
	expect_error_at("[pgbouncer]\nso_reuseport = -1\n",
			"for parameter so_reuseport", 2);
}

static void test_invalid_time(void **state)
{
	(void)state;
	expect_error_at("[pgbouncer]\nquery_timeout = 5 parsecs\n",
			"invalid value '5 parsecs' for parameter query_timeout",
			2);
	expect_error_at("[pgbouncer]\nserver_lifetime = -1\n",
			"for parameter server_lifetime", 2);
	expect_error_at("[pgbouncer]\nclient_idle_timeout = 1e40\n",
			"for parameter client_idle_timeout", 2);
	expect_error_at("[pgbouncer]\nquery_wait_timeout = .\n",
			"for parameter query_wait_timeout", 2);
}

static void test_unknown_key_warns(void **state)
{
	const cfg_diag_item_t *it;
	cfg_diags_t d;
	cfg_t *cfg;

	(void)state;
	cfg = load_ok("unknown.ini",
		      "[pgbouncer]\nauth_type = any\n"
		      "no_such_knob = 1\nLISTEN_PORT = 7000\n",
		      &d);
	it = find_diag(&d, CFG_WARNING, "unknown parameter 'no_such_knob'");
	assert_non_null(it);
	assert_int_equal(it->line, 3);
	assert_string_equal(it->file, created[ncreated - 1]);
	assert_string_equal(it->msg,
			    "unknown parameter 'no_such_knob' ignored");
	/* Key names are case-insensitive. */
	assert_int_equal(cfg->listen_port, 7000);
	cfg_free(cfg);
	cfg_diags_free(&d);
}

static void test_unsupported_key_warns(void **state)
{
	const cfg_diag_item_t *it;
	char val[512];
	cfg_diags_t d;
	cfg_t *cfg;

	(void)state;
	cfg = load_ok("unsupported.ini",
		      "[pgbouncer]\nauth_type = any\n"
		      "service_name = other\n"
		      "scram_iterations = 4096\n"
		      "auth_ldap_options = ldapurl=x\n",
		      &d);
	it = find_diag(&d, CFG_WARNING, "service_name");
	assert_non_null(it);
	assert_int_equal(it->line, 3);
	assert_string_equal(it->msg, "key 'service_name' is not yet "
				     "supported by pgswitch, ignored");
	/* Set to its default: nothing to warn about. */
	assert_null(find_diag(&d, CFG_WARNING, "scram_iterations"));
	assert_non_null(find_diag(&d, CFG_WARNING, "auth_ldap_options"));
	/* Still visible in SHOW CONFIG. */
	show_value(cfg, "service_name", val, sizeof(val));
	assert_string_equal(val, "other");
	cfg_free(cfg);
	cfg_diags_free(&d);
}

static void test_missing_file(void **state)
{
	const char *path = "/nonexistent/dir/pgbouncer.ini";
	cfg_diags_t d;

	(void)state;
	cfg_diags_init(&d);
	assert_null(cfg_load(path, &d));
	assert_int_equal(d.nerrors, 1);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.items[0].sev, CFG_ERROR);
	assert_string_equal(d.items[0].file, path);
	assert_int_equal(d.items[0].line, 0);
	assert_non_null(strstr(d.items[0].msg, path));
	assert_non_null(strstr(d.items[0].msg, "No such file"));
	cfg_diags_free(&d);

	/* NULL diags and a NULL path must not crash. */
	assert_null(cfg_load(path, NULL));
	assert_null(cfg_load(NULL, NULL));
}

static void test_include_missing(void **state)
{
	(void)state;
	expect_error_at("[pgbouncer]\nauth_type = any\n"
			"%include no_such_file.ini\n",
			"cannot open include file 'no_such_file.ini'", 3);
	expect_error_at("[pgbouncer]\n%include\n", "without a file name", 2);
	/* Not regular files: must neither hang nor be read. */
	expect_error_at("[pgbouncer]\nauth_type = any\n%include /dev/null\n"
			"%include /dev/stdin\n",
			"'/dev/null': not a regular file", 3);
	expect_error_at("[pgbouncer]\n\n%include /\n", "Is a directory", 3);
}

static void test_include_loop(void **state)
{
	const cfg_diag_item_t *it;
	const char *a, *b;
	cfg_diags_t d;

	(void)state;
	a = write_file("loop_a.ini", "[pgbouncer]\n%include loop_b.ini\n");
	b = write_file("loop_b.ini",
		       "auth_type = any\n\n%include loop_a.ini\n");
	cfg_diags_init(&d);
	assert_null(cfg_load(a, &d));
	it = find_diag(&d, CFG_ERROR, "include loop");
	assert_non_null(it);
	assert_string_equal(it->file, b);
	assert_int_equal(it->line, 3);
	cfg_diags_free(&d);

	/* A file including itself. */
	a = write_file("self.ini", "[pgbouncer]\n%include self.ini\n");
	cfg_diags_init(&d);
	assert_null(cfg_load(a, &d));
	it = find_diag(&d, CFG_ERROR, "include loop");
	assert_non_null(it);
	assert_string_equal(it->file, a);
	assert_int_equal(it->line, 2);
	cfg_diags_free(&d);
}

static void test_include_depth(void **state)
{
	char name[32], body[64];
	const char *first = NULL;
	const cfg_diag_item_t *it;
	cfg_diags_t d;
	int i;

	(void)state;
	/* deep0 includes deep1 ... includes deep12: deeper than 10. */
	for (i = 0; i <= 12; i++) {
		snprintf(name, sizeof(name), "deep%d.ini", i);
		if (i == 12)
			snprintf(body, sizeof(body), "auth_type = any\n");
		else
			snprintf(body, sizeof(body), "%s%%include deep%d.ini\n",
				 i == 0 ? "[pgbouncer]\n" : "", i + 1);
		if (i == 0)
			first = write_file(name, body);
		else
			write_file(name, body);
	}
	cfg_diags_init(&d);
	assert_null(cfg_load(first, &d));
	it = find_diag(&d, CFG_ERROR, "nested more than 10 deep");
	assert_non_null(it);
	assert_non_null(strstr(it->file, "deep10.ini"));
	assert_int_equal(it->line, 1);
	cfg_diags_free(&d);
}

static void test_bad_database_line(void **state)
{
	(void)state;
	expect_error_at("[pgbouncer]\n[databases]\nok = host=a\n"
			"bad = host=a frobnicate=1\n",
			"database 'bad': unrecognized parameter 'frobnicate'",
			4);
	expect_error_at("[databases]\nq = password='unterminated\n"
			"[pgbouncer]\n",
			"database 'q': syntax error in settings: unterminated "
			"quoted value",
			2);
	expect_error_at("[databases]\np = host=a port=0\n[pgbouncer]\n",
			"invalid value '0' for port", 2);
	expect_error_at("[databases]\nm = pool_mode=sometimes\n[pgbouncer]\n",
			"invalid value 'sometimes' for pool_mode", 2);
	expect_error_at("[databases]\ne = host=\n[pgbouncer]\n", "empty value",
			2);
	expect_error_at("[databases]\nx = host\n[pgbouncer]\n",
			"expected key=value", 2);
	expect_error_at("[databases]\npgbouncer = host=a\n[pgbouncer]\n",
			"reserved", 2);
	expect_error_at("[users]\nu = pool_size=big\n[pgbouncer]\n",
			"user 'u': invalid value 'big' for pool_size", 2);
	expect_error_at("[users]\nu = color=blue\n[pgbouncer]\n",
			"user 'u': unrecognized parameter 'color'", 2);
}

static void test_line_too_long(void **state)
{
	size_t n = CFG_MAX_LINE + 100;
	char *content;

	(void)state;
	content = malloc(n + 64);
	assert_non_null(content);
	strcpy(content, "[pgbouncer]\nauth_query = ");
	memset(content + strlen(content), 'x', n);
	content[strlen("[pgbouncer]\nauth_query = ") + n] = '\0';
	strcat(content, "\nlisten_port = 1\n");
	expect_error_at(content, "line too long", 2);
	free(content);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	expect_error_at("[pgbouncer]\njust some words\n",
			"syntax error: expected 'name = value'", 2);
	expect_error_at("[pgbouncer\n", "missing ']'", 1);
	expect_error_at("[pgbouncer] trailing\n", "unexpected text", 1);
	expect_error_at("[pgbouncer]\n[databse]\nfoo = host=x\n",
			"unknown section [databse]", 2);
	expect_error_at("listen_port = 1\n[pgbouncer]\n",
			"'listen_port' is outside of any section", 1);
	expect_error_at("[databases]\nfoo = host=x\n",
			"section [pgbouncer] is missing", 0);
	expect_error_at("[pgbouncer]\n= 5\n", "syntax error", 2);
	expect_error_at("[pgbouncer]\n%includes x\n", "syntax error", 2);
	expect_error_at("[pgbouncer]\nauth_type = any\nlisten_port = \"6432\n",
			"for parameter listen_port", 3);
}

/* ---- includes, quoting, sections -------------------------------------- */

static void test_include_relative(void **state)
{
	char *inc, *main_real;
	const cfg_db_t *db;
	cfg_diags_t d;
	cfg_t *cfg;

	(void)state;
	/* Run from elsewhere: the path must resolve against the includer. */
	assert_int_equal(chdir("/"), 0);
	cfg_diags_init(&d);
	cfg = cfg_load(DATA("include_main.ini"), &d);
	if (!cfg)
		dump_diags(&d);
	assert_non_null(cfg);
	assert_int_equal(d.nerrors, 0);
	inc = realpath(DATA("conf.d/dbs.ini"), NULL);
	main_real = realpath(DATA("include_main.ini"), NULL);
	assert_non_null(inc);
	assert_non_null(main_real);

	db = cfg_find_db(cfg, "incdb");
	assert_non_null(db);
	assert_string_equal(db->file, inc);
	assert_int_equal(db->line, 3);
	assert_string_equal(db->host, "included.example");
	assert_int_equal(db->port, 5440);
	assert_string_equal(db->connstr, "host=included.example port=5440");
	/* Back in the including file, still in [databases]. */
	db = cfg_find_db(cfg, "afterdb");
	assert_non_null(db);
	assert_string_equal(db->file, main_real);
	assert_int_equal(db->line, 9);
	assert_int_equal(cfg_find_db(cfg, "maindb")->line, 7);
	assert_int_equal(cfg->listen_port, 6500);
	free(inc);
	free(main_real);
	cfg_free(cfg);
	cfg_diags_free(&d);
}

static void test_include_absolute(void **state)
{
	char content[PATH_MAX + 64];
	const char *inc;
	cfg_diags_t d;
	cfg_t *cfg;

	(void)state;
	inc = write_file("abs_inc.ini",
			 "[users]\nbob = pool_mode=transaction\n");
	snprintf(content, sizeof(content),
		 "[pgbouncer]\nauth_type = any\n%%include %s\n", inc);
	cfg = load_ok("abs_main.ini", content, &d);
	assert_int_equal(cfg->nusers, 1);
	assert_string_equal(cfg->users[0].file, inc);
	assert_int_equal(cfg->users[0].line, 2);
	cfg_free(cfg);
	cfg_diags_free(&d);
}

static void test_connstr_quoting(void **state)
{
	const cfg_db_t *db;
	cfg_diags_t d;
	cfg_t *cfg;

	(void)state;
	cfg = load_ok(
		"quote.ini",
		"[pgbouncer]\nauth_type = any\n[databases]\n"
		"q1 = host=db1 password='it''s a secret' "
		"connect_query='SET search_path = a, b'  port=6000\n"
		"q2 = password='back\\slash'\tuser=u2\n"
		"\"odd \"\"name\"\"\" = host=h\n"
		"q3 = auth_query='SELECT p FROM f($1)' reserve_pool_size=3 "
		"load_balance_hosts=disable\n",
		&d);
	db = cfg_find_db(cfg, "q1");
	assert_non_null(db);
	assert_string_equal(db->password, "it's a secret");
	assert_string_equal(db->connect_query, "SET search_path = a, b");
	assert_int_equal(db->port, 6000);
	/* The raw right-hand side is kept for SHOW and rewriting. */
	assert_string_equal(
		db->connstr,
		"host=db1 password='it''s a secret' "
		"connect_query='SET search_path = a, b'  port=6000");
	db = cfg_find_db(cfg, "q2");
	/* No backslash escapes in PgBouncer connection strings. */
	assert_string_equal(db->password, "back\\slash");
	assert_string_equal(db->user, "u2");
	assert_non_null(cfg_find_db(cfg, "odd \"name\""));
	db = cfg_find_db(cfg, "q3");
	assert_string_equal(db->auth_query, "SELECT p FROM f($1)");
	assert_int_equal(db->reserve_pool_size, 3);
	/* load_balance_hosts is implemented: no warning. */
	assert_null(find_diag(&d, CFG_WARNING, "load_balance_hosts"));
	cfg_free(cfg);
	cfg_diags_free(&d);

	expect_error_at("[databases]\nz = password='a'b\n[pgbouncer]\n",
			"space after a quoted value", 2);
}

static void test_users_and_precedence(void **state)
{
	const cfg_user_t *alice, *bob;
	const cfg_db_t *big, *plain;
	cfg_diags_t d;
	cfg_t *cfg;

	(void)state;
	cfg = load_ok("users.ini",
		      "[pgbouncer]\nauth_type = any\n"
		      "pool_mode = session\ndefault_pool_size = 20\n"
		      "[databases]\nbig = pool_size=50 pool_mode=transaction\n"
		      "plain = host=x\n"
		      "[users]\nalice = pool_mode=statement pool_size=5 "
		      "idle_transaction_timeout=1.5 client_idle_timeout=2min\n"
		      "bob = max_user_connections=3\n",
		      &d);
	big = cfg_find_db(cfg, "big");
	plain = cfg_find_db(cfg, "plain");
	alice = cfg_find_user(cfg, "alice");
	bob = cfg_find_user(cfg, "bob");
	assert_non_null(big);
	assert_non_null(plain);
	assert_non_null(alice);
	assert_non_null(bob);
	assert_int_equal(alice->idle_transaction_timeout, 1500);
	assert_int_equal(alice->client_idle_timeout, 120000);
	assert_int_equal(bob->max_user_connections, 3);
	assert_int_equal(bob->pool_mode, CFG_POOL_UNSET);

	/* user > db > global */
	assert_int_equal(cfg_db_pool_size(cfg, big, alice), 5);
	assert_int_equal(cfg_db_pool_size(cfg, big, bob), 50);
	assert_int_equal(cfg_db_pool_size(cfg, plain, bob), 20);
	assert_int_equal(cfg_db_pool_size(cfg, NULL, NULL), 20);
	assert_int_equal(cfg_db_pool_size(cfg, plain, alice), 5);
	assert_int_equal(cfg_pool_mode(cfg, big, alice), CFG_POOL_STATEMENT);
	assert_int_equal(cfg_pool_mode(cfg, big, bob), CFG_POOL_TRANSACTION);
	assert_int_equal(cfg_pool_mode(cfg, plain, bob), CFG_POOL_SESSION);
	assert_int_equal(cfg_pool_mode(cfg, NULL, NULL), CFG_POOL_SESSION);
	assert_int_equal(cfg_pool_mode(cfg, plain, NULL), CFG_POOL_SESSION);
	cfg_free(cfg);
	cfg_diags_free(&d);
}

static void test_list_contains(void **state)
{
	(void)state;
	assert_true(cfg_list_contains("admin", "admin"));
	assert_true(cfg_list_contains("a, admin ,b", "admin"));
	assert_true(cfg_list_contains("a admin", "admin"));
	assert_true(cfg_list_contains(",,admin,,", "admin"));
	assert_false(cfg_list_contains("administrator", "admin"));
	assert_false(cfg_list_contains("Admin", "admin"));
	assert_false(cfg_list_contains("adm,in", "admin"));
	assert_false(cfg_list_contains("", "admin"));
	assert_false(cfg_list_contains(NULL, "admin"));
	assert_false(cfg_list_contains("a,b", ""));
	assert_false(cfg_list_contains("a,b", NULL));
}

/* ---- value syntax ------------------------------------------------------ */

static void test_time_and_size_syntax(void **state)
{
	char val[512];
	cfg_diags_t d;
	cfg_t *cfg;

	(void)state;
	cfg = load_ok("units.ini",
		      "[pgbouncer]\nauth_type = any\n"
		      "query_timeout = 0.5\n"
		      "query_wait_timeout = 250ms\n"
		      "client_idle_timeout = 2min\n"
		      "server_lifetime = 1h\n"
		      "autodb_idle_timeout = 1d\n"
		      "server_idle_timeout = 1.5 s\n"
		      "cancel_wait_timeout = 1e1\n"
		      "dns_max_ttl = 0.0001\n"
		      "pkt_buf = 8kB\n"
		      "tcp_socket_buffer = 1MB\n"
		      "max_packet_size = 0x100000\n"
		      "unix_socket_mode = 0700\n",
		      &d);
	assert_int_equal(cfg->query_timeout, 500);
	assert_int_equal(cfg->query_wait_timeout, 250);
	assert_int_equal(cfg->client_idle_timeout, 120000);
	assert_int_equal(cfg->server_lifetime, 3600000);
	assert_int_equal(cfg->autodb_idle_timeout, 86400000);
	assert_int_equal(cfg->server_idle_timeout, 1500);
	assert_int_equal(cfg->cancel_wait_timeout, 10000);
	assert_int_equal(cfg->dns_max_ttl, 1); /* rounded up, not 0 */
	assert_int_equal(cfg->pkt_buf, 8192);
	assert_int_equal(cfg->tcp_socket_buffer, 1048576);
	assert_int_equal(cfg->max_packet_size, 1048576);
	assert_int_equal(cfg->unix_socket_mode, 0700);
	/* SHOW CONFIG prints seconds with %g, like PgBouncer. */
	show_value(cfg, "query_timeout", val, sizeof(val));
	assert_string_equal(val, "0.5");
	show_value(cfg, "query_wait_timeout", val, sizeof(val));
	assert_string_equal(val, "0.25");
	show_value(cfg, "server_lifetime", val, sizeof(val));
	assert_string_equal(val, "3600");
	show_value(cfg, "unix_socket_mode", val, sizeof(val));
	assert_string_equal(val, "448");
	cfg_free(cfg);
	cfg_diags_free(&d);

	/* Above INT_MAX: accepted like PgBouncer's unsigned, but clamped. */
	cfg = load_ok("bigpkt.ini",
		      "[pgbouncer]\nauth_type = any\n"
		      "max_packet_size = 4294967295\n",
		      &d);
	assert_int_equal(cfg->max_packet_size, INT_MAX);
	assert_non_null(find_diag(&d, CFG_WARNING, "max_packet_size"));
	cfg_free(cfg);
	cfg_diags_free(&d);
}

static void test_bool_words(void **state)
{
	cfg_diags_t d;
	cfg_t *cfg;

	(void)state;
	cfg = load_ok("bools.ini",
		      "[pgbouncer]\nauth_type = any\n"
		      "log_connections = off\nlog_disconnections = No\n"
		      "log_pooler_errors = false\nlog_stats = 0\n"
		      "syslog = yes\nserver_round_robin = ON\n"
		      "server_fast_close = true\nso_reuseport = 2\n",
		      &d);
	assert_int_equal(cfg->log_connections, 0);
	assert_int_equal(cfg->log_disconnections, 0);
	assert_int_equal(cfg->log_pooler_errors, 0);
	assert_int_equal(cfg->log_stats, 0);
	assert_int_equal(cfg->syslog, 1);
	assert_int_equal(cfg->server_round_robin, 1);
	assert_int_equal(cfg->server_fast_close, 1);
	assert_int_equal(cfg->so_reuseport, 1);
	cfg_free(cfg);
	cfg_diags_free(&d);
}

static void test_file_format_details(void **state)
{
	cfg_diags_t d;
	cfg_t *cfg;

	(void)state;
	/* BOM, CRLF, case-insensitive section, comments, blank lines. */
	cfg = load_ok("crlf.ini",
		      "\xEF\xBB\xBF; leading comment\r\n"
		      "[PgBouncer]\r\n"
		      "   # indented comment\r\n"
		      "\r\n"
		      "auth_type = any\r\n"
		      "listen_addr = *   \r\n"
		      "server_reset_query = SET a = 'b'; ; not a comment\r\n"
		      "[ Databases ]\r\n"
		      "db1=host=h1\r\n",
		      &d);
	assert_string_equal(cfg->listen_addr, "*");
	/* ';' later in a line is part of the value, as in PgBouncer. */
	assert_string_equal(cfg->server_reset_query,
			    "SET a = 'b'; ; not a comment");
	assert_int_equal(cfg->ndbs, 1);
	assert_string_equal(cfg->dbs[0].host, "h1");
	assert_int_equal(cfg->dbs[0].line, 9);
	cfg_free(cfg);
	cfg_diags_free(&d);
}

static void test_warnings_not_fatal(void **state)
{
	const cfg_diag_item_t *it;
	size_t i, npeers;
	cfg_diags_t d;
	cfg_t *cfg;

	(void)state;
	cfg = load_ok("warn.ini",
		      "[pgbouncer]\nauth_type = pam\n"
		      "client_tls_sslmode = Require\n"
		      "server_tls_sslmode = verify-full\n"
		      "[peers]\n1 = host=/tmp/p1\n2 = host=/tmp/p2\n"
		      "[databases]\nd = host=a\nd = host=b\n",
		      &d);
	assert_non_null(find_diag(&d, CFG_WARNING, "auth_type 'pam'"));
	assert_string_equal(cfg->client_tls_sslmode, "require");
	/* TLS is implemented: its keys say nothing at load. */
	assert_null(find_diag(&d, CFG_WARNING, "client_tls_sslmode"));
	assert_null(find_diag(&d, CFG_WARNING, "server_tls_sslmode"));
	/* [peers] is implemented: its entries load without a word. */
	for (i = 0, npeers = 0; i < d.n; i++)
		npeers += strstr(d.items[i].msg, "peer") != NULL;
	assert_int_equal(npeers, 0);
	assert_int_equal(cfg->npeers, 2);
	assert_int_equal(cfg->peers[1].id, 2);
	assert_string_equal(cfg->peers[1].host, "/tmp/p2");
	/* A later database definition replaces the earlier one. */
	it = find_diag(&d, CFG_WARNING, "redefined");
	assert_non_null(it);
	assert_int_equal(it->line, 10);
	assert_int_equal(cfg->ndbs, 1);
	assert_string_equal(cfg->dbs[0].host, "b");
	cfg_free(cfg);
	cfg_diags_free(&d);
}

static void test_many_errors_bounded(void **state)
{
	size_t n = 5000, i, off;
	cfg_diags_t d;
	char *content;

	(void)state;
	content = malloc(n * 8 + 32);
	assert_non_null(content);
	off = (size_t)sprintf(content, "[pgbouncer]\n");
	for (i = 0; i < n; i++)
		off += (size_t)sprintf(content + off, "junk\n");
	cfg_diags_init(&d);
	assert_null(cfg_load(write_file("many.ini", content), &d));
	assert_int_equal(d.nerrors, (int)n);
	assert_int_equal(d.n, CFG_MAX_DIAGS);
	assert_non_null(strstr(d.items[d.n - 1].msg, "too many"));
	cfg_diags_free(&d);
	free(content);
}

/* ---- SET / SHOW -------------------------------------------------------- */

static void test_cfg_set(void **state)
{
	char err[256], val[512];
	cfg_diags_t d;
	cfg_t *cfg;

	(void)state;
	cfg = load_ok("set.ini", "[pgbouncer]\nauth_type = any\n", &d);

	assert_int_equal(cfg_set(cfg, "query_timeout", "30", err, sizeof(err)),
			 0);
	assert_int_equal(cfg->query_timeout, 30000);
	assert_int_equal(
		cfg_set(cfg, "POOL_MODE", "transaction", err, sizeof(err)), 0);
	assert_int_equal(cfg->pool_mode, CFG_POOL_TRANSACTION);
	assert_int_equal(cfg_set(cfg, "admin_users", "a,b", err, sizeof(err)),
			 0);
	assert_true(cfg_list_contains(cfg->admin_users, "b"));
	assert_int_equal(
		cfg_set(cfg, "server_tls_ca_file", "/ca", err, sizeof(err)), 0);
	show_value(cfg, "server_tls_ca_file", val, sizeof(val));
	assert_string_equal(val, "/ca");

	/* Not changeable online. */
	assert_int_equal(cfg_set(cfg, "listen_port", "7000", err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "listen_port"));
	assert_non_null(strstr(err, "cannot be changed online"));
	assert_int_equal(cfg->listen_port, 6432);
	assert_int_equal(
		cfg_set(cfg, "unix_socket_dir", "/x", err, sizeof(err)), -1);
	assert_string_equal(cfg->unix_socket_dir, "/tmp");

	/* Invalid values leave the old value. */
	assert_int_equal(
		cfg_set(cfg, "query_timeout", "soon", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid value 'soon'"));
	assert_int_equal(cfg->query_timeout, 30000);
	assert_int_equal(cfg_set(cfg, "pool_mode", "x", err, sizeof(err)), -1);
	assert_int_equal(cfg->pool_mode, CFG_POOL_TRANSACTION);

	assert_int_equal(cfg_set(cfg, "no_such", "1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown parameter"));
	assert_int_equal(cfg_set(NULL, "pool_mode", "x", err, sizeof(err)), -1);
	assert_int_equal(cfg_set(cfg, "pool_mode", "session", NULL, 0), 0);
	cfg_free(cfg);
	cfg_diags_free(&d);
}

static void test_cfg_show(void **state)
{
	cfg_show_row_t row, prev;
	cfg_diags_t d;
	cfg_t *cfg;
	size_t i;

	(void)state;
	cfg = load_ok(
		"show.ini",
		"[pgbouncer]\nauth_type = any\nreserve_pool_timeout = 0.5\n"
		"listen_addr = *\n",
		&d);
	for (i = 0; cfg_show(cfg, i, &row); i++) {
		if (i > 0)
			assert_true(strcmp(prev.key, row.key) < 0);
		prev = row;
	}
	assert_int_equal(i, cfg_nkeys);
	/* 99 PgBouncer 1.25 keys plus io_uring, workers and
	 * switchover_state_file. */
	assert_int_equal(i, 102);
	assert_false(cfg_show(cfg, i, &row));
	assert_false(cfg_show(NULL, 0, &row));

	assert_true(cfg_show(cfg, 0, &row));
	assert_string_equal(row.key, "admin_users");

	for (i = 0; cfg_show(cfg, i, &row); i++) {
		if (strcmp(row.key, "listen_port") == 0) {
			assert_string_equal(row.value, "6432");
			assert_string_equal(row.default_value, "6432");
			assert_false(row.changeable);
		} else if (strcmp(row.key, "query_wait_timeout") == 0) {
			assert_string_equal(row.value, "120");
			assert_true(row.changeable);
		} else if (strcmp(row.key, "reserve_pool_timeout") == 0) {
			assert_string_equal(row.value, "0.5");
			assert_string_equal(row.default_value, "5");
		} else if (strcmp(row.key, "unix_socket_mode") == 0) {
			assert_string_equal(row.value, "511");
			assert_string_equal(row.default_value, "0777");
		} else if (strcmp(row.key, "auth_type") == 0) {
			assert_string_equal(row.value, "any");
			assert_string_equal(row.default_value, "md5");
		} else if (strcmp(row.key, "listen_addr") == 0) {
			assert_string_equal(row.value, "*");
			assert_false(row.changeable);
		} else if (strcmp(row.key, "log_stats") == 0) {
			assert_string_equal(row.value, "1");
		} else if (strcmp(row.key, "conffile") == 0) {
			assert_string_equal(row.value, cfg->config_file);
			assert_true(row.changeable);
		} else if (strcmp(row.key, "job_name") == 0) {
			assert_string_equal(row.value, "pgbouncer");
		} else if (strcmp(row.key, "workers") == 0) {
			assert_string_equal(row.value, "1");
			assert_false(row.changeable);
		}
	}
	cfg_free(cfg);
	cfg_diags_free(&d);
}

static void test_keep_fixed(void **state)
{
	char long_addr[400], val[512];
	cfg_t *oldc, *newc;
	cfg_diags_t d, d2;

	(void)state;
	oldc = load_ok("old.ini",
		       "[pgbouncer]\nauth_type = any\nlisten_port = 6000\n"
		       "pool_mode = session\n",
		       &d);
	newc = load_ok("new.ini",
		       "[pgbouncer]\nauth_type = any\nlisten_port = 6001\n"
		       "pool_mode = transaction\nunix_socket_dir = /run\n"
		       "job_name = other\n",
		       &d2);
	/* Long strings survive intact (not through a format buffer). */
	memset(long_addr, 'a', sizeof(long_addr) - 1);
	long_addr[sizeof(long_addr) - 1] = '\0';
	free(oldc->listen_addr);
	oldc->listen_addr = strdup(long_addr);
	assert_non_null(oldc->listen_addr);
	assert_int_equal(cfg_keep_fixed(newc, oldc, &d2), 4);
	assert_int_equal(newc->listen_port, 6000);
	assert_string_equal(newc->unix_socket_dir, "/tmp");
	assert_string_equal(newc->listen_addr, long_addr);
	show_value(newc, "job_name", val, sizeof(val));
	assert_string_equal(val, "pgbouncer");
	/* Reloadable keys take the new value. */
	assert_int_equal(newc->pool_mode, CFG_POOL_TRANSACTION);
	assert_non_null(find_diag(&d2, CFG_WARNING, "listen_port"));
	assert_int_equal(d2.nerrors, 0);
	assert_int_equal(cfg_keep_fixed(newc, oldc, NULL), 0);
	cfg_free(oldc);
	cfg_free(newc);
	cfg_diags_free(&d);
	cfg_diags_free(&d2);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(cfg_pool_mode_name(CFG_POOL_SESSION), "session");
	assert_string_equal(cfg_pool_mode_name(CFG_POOL_TRANSACTION),
			    "transaction");
	assert_string_equal(cfg_pool_mode_name(CFG_POOL_STATEMENT),
			    "statement");
	assert_string_equal(cfg_pool_mode_name(CFG_POOL_UNSET), "inherit");
	assert_string_equal(cfg_auth_type_name(CFG_AUTH_SCRAM),
			    "scram-sha-256");
	assert_string_equal(cfg_auth_type_name(CFG_AUTH_MD5), "md5");
	assert_string_equal(cfg_auth_type_name(CFG_AUTH_ANY), "any");
	cfg_free(NULL);
	cfg_diags_free(NULL);
}

static void test_conffile_key(void **state)
{
	cfg_diags_t d;
	cfg_t *cfg;

	(void)state;
	cfg = load_ok("conffile.ini",
		      "[pgbouncer]\nauth_type = any\n"
		      "conffile = /etc/pgbouncer/other.ini\n",
		      &d);
	assert_string_equal(cfg->config_file, "/etc/pgbouncer/other.ini");
	cfg_free(cfg);
	cfg_diags_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_ini),
		cmocka_unit_test(test_invalid_int),
		cmocka_unit_test(test_invalid_enum),
		cmocka_unit_test(test_invalid_bool),
		cmocka_unit_test(test_invalid_time),
		cmocka_unit_test(test_unknown_key_warns),
		cmocka_unit_test(test_unsupported_key_warns),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_include_missing),
		cmocka_unit_test(test_include_loop),
		cmocka_unit_test(test_include_depth),
		cmocka_unit_test(test_bad_database_line),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_include_relative),
		cmocka_unit_test(test_include_absolute),
		cmocka_unit_test(test_connstr_quoting),
		cmocka_unit_test(test_users_and_precedence),
		cmocka_unit_test(test_list_contains),
		cmocka_unit_test(test_time_and_size_syntax),
		cmocka_unit_test(test_bool_words),
		cmocka_unit_test(test_file_format_details),
		cmocka_unit_test(test_warnings_not_fatal),
		cmocka_unit_test(test_many_errors_bounded),
		cmocka_unit_test(test_cfg_set),
		cmocka_unit_test(test_cfg_show),
		cmocka_unit_test(test_keep_fixed),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_conffile_key),
	};

	return cmocka_run_group_tests_name("config", tests, group_setup,
					   group_teardown);
}
