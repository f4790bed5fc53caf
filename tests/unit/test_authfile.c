/* SPDX-License-Identifier: MIT */
/*
 * test_authfile.c - userlist.txt loading and lookup, PgBouncer's length
 * limits, per-line diagnostics, and long secrets that log in.
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

#include "auth/auth.h"

/* Write LEN bytes to a fresh temp file; returns its malloc'd path. */
static char *write_tmp(const char *data, size_t len)
{
	char *path = strdup("/tmp/pgswitch_authfile_XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static auth_file_t *load_str(const char *data, size_t len, int *bad)
{
	char *path = write_tmp(data, len);
	const char *err = NULL;
	auth_file_t *af = auth_file_load(path, bad, &err);

	unlink(path);
	free(path);
	assert_non_null(af);
	return af;
}

static void test_format(void **state)
{
	static const char text[] =
		"; a comment\n"
		"# another comment\n"
		"\"alice\" \"secret\"\n"
		"  \"bob\"\t\"md553f48b7c4b76a86ce72276c5755f217d\"  extra "
		"\"fields\" here\n"
		"\"car\"\"ol\" \"pa\"\"ss\"\n"
		"\"dave\" \"\"\n"
		"\"\" \"nouser\"\n"
		"\"eve\" \"unterminated\n"
		"\"frank\"\n"
		"\"greg\" nopw\n"
		"not quoted\n"
		"\"heidi\" \"x\"\r\n"
		"\n"
		"   \t \n"
		"\"judy\"\"x\"\n"
		"\"alice\" \"second\"\n"
		"\"with space\" \"semi;colon # hash\"\n"
		"\"ivan\" \"pw\"";
	int bad = -1;
	auth_file_t *af = load_str(text, sizeof(text) - 1, &bad);
	(void)state;

	/* "" user, unterminated, one field, unquoted pw, no quotes, judy */
	assert_int_equal(bad, 6);
	assert_string_equal(auth_file_lookup(af, "alice"), "second");
	assert_string_equal(auth_file_lookup(af, "bob"),
			    "md553f48b7c4b76a86ce72276c5755f217d");
	assert_string_equal(auth_file_lookup(af, "car\"ol"), "pa\"ss");
	assert_string_equal(auth_file_lookup(af, "dave"), "");
	assert_string_equal(auth_file_lookup(af, "heidi"), "x");
	assert_string_equal(auth_file_lookup(af, "ivan"), "pw");
	assert_string_equal(auth_file_lookup(af, "with space"),
			    "semi;colon # hash");

	assert_null(auth_file_lookup(af, "carol"));
	assert_null(auth_file_lookup(af, "eve"));
	assert_null(auth_file_lookup(af, "frank"));
	assert_null(auth_file_lookup(af, "greg"));
	assert_null(auth_file_lookup(af, "judy"));
	assert_null(auth_file_lookup(af, ""));
	assert_null(auth_file_lookup(af, "ALICE"));
	assert_null(auth_file_lookup(af, "alice "));
	assert_null(auth_file_lookup(af, NULL));
	assert_null(auth_file_lookup(NULL, "alice"));
	auth_file_free(af);
	auth_file_free(NULL);
}

static void test_nul_and_limits(void **state)
{
	char big[3000];
	size_t n = 0;
	int bad = -1;
	auth_file_t *af;
	static const char nul[] = "\"a\0b\" \"x\"\n\"ok\" \"y\0z\"\n\"c\" "
				  "\"d\"\n";
	(void)state;

	af = load_str(nul, sizeof(nul) - 1, &bad);
	assert_int_equal(bad, 2);
	assert_string_equal(auth_file_lookup(af, "c"), "d");
	assert_null(auth_file_lookup(af, "ok"));
	assert_null(auth_file_lookup(af, "a"));
	auth_file_free(af);

	/* user names over the limit are malformed lines */
	big[n++] = '"';
	memset(big + n, 'u', 1100);
	n += 1100;
	memcpy(big + n, "\" \"x\"\n\"v\" \"w\"\n", 14);
	n += 14;
	af = load_str(big, n, NULL);
	assert_string_equal(auth_file_lookup(af, "v"), "w");
	auth_file_free(af);
	af = load_str(big, n, &bad);
	assert_int_equal(bad, 1);
	auth_file_free(af);
}

static void test_missing_and_empty(void **state)
{
	const char *err = NULL;
	int bad = -1;
	auth_file_t *af;
	(void)state;

	af = auth_file_load("/nonexistent/pgswitch/userlist.txt", &bad, &err);
	assert_null(af);
	assert_non_null(err);
	assert_int_equal(bad, 0);

	err = NULL;
	af = auth_file_load("/tmp", &bad, &err);
	assert_null(af);
	assert_non_null(err);

	af = auth_file_load(NULL, NULL, NULL);
	assert_null(af);

	af = load_str("", 0, &bad);
	assert_int_equal(bad, 0);
	assert_null(auth_file_lookup(af, "x"));
	auth_file_free(af);
}

static void test_many_users(void **state)
{
	enum { N = 100000 };
	size_t cap = (size_t)N * 48;
	char *text = malloc(cap);
	size_t n = 0;
	int bad = -1;
	auth_file_t *af;
	char user[32], pw[32];
	(void)state;

	assert_non_null(text);
	for (int i = 0; i < N; i++)
		n += (size_t)snprintf(text + n, cap - n,
				      "\"user%d\" \"pw%d\"\n", i, i);
	af = load_str(text, n, &bad);
	free(text);
	assert_int_equal(bad, 0);
	for (int i = 0; i < N; i++) {
		const char *s;

		snprintf(user, sizeof(user), "user%d", i);
		snprintf(pw, sizeof(pw), "pw%d", i);
		s = auth_file_lookup(af, user);
		assert_non_null(s);
		assert_string_equal(s, pw);
	}
	for (int i = N; i < N + 1000; i++) {
		snprintf(user, sizeof(user), "user%d", i);
		assert_null(auth_file_lookup(af, user));
	}
	auth_file_free(af);
}

static void test_secret_kinds(void **state)
{
	static const char text[] =
		"\"p\" \"plain\"\n"
		"\"m\" \"md553f48b7c4b76a86ce72276c5755f217d\"\n"
		"\"s\" \"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3"
		"OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiW"
		"GPlZqQxSrmfPwDl2dU=\"\n"
		"\"x\" \"SCRAM-SHA-256$4096:broken\"\n";
	auth_file_t *af = load_str(text, sizeof(text) - 1, NULL);
	(void)state;

	assert_int_equal(auth_secret_kind(auth_file_lookup(af, "p")),
			 AUTH_SECRET_PLAIN);
	assert_int_equal(auth_secret_kind(auth_file_lookup(af, "m")),
			 AUTH_SECRET_MD5);
	assert_int_equal(auth_secret_kind(auth_file_lookup(af, "s")),
			 AUTH_SECRET_SCRAM);
	assert_int_equal(auth_secret_kind(auth_file_lookup(af, "x")),
			 AUTH_SECRET_PLAIN);
	auth_file_free(af);
}

/* ---- PgBouncer's limits and per-line diagnostics ---- */

struct diag {
	int n;
	int line[32];
	const char *reason[32];
};

static void collect(void *arg, int line, const char *reason)
{
	struct diag *d = arg;

	assert_non_null(reason);
	if (d->n < 32) {
		d->line[d->n] = line;
		d->reason[d->n] = reason;
	}
	d->n++;
}

static auth_file_t *load_diag(const char *data, size_t len, struct diag *d)
{
	char *path = write_tmp(data, len);
	const char *err = NULL;
	auth_file_t *af;

	memset(d, 0, sizeof(*d));
	af = auth_file_load_diag(path, collect, d, &err);
	unlink(path);
	free(path);
	assert_non_null(af);
	return af;
}

/* Growable text for building test files. */
struct text {
	char *p;
	size_t n;
};

static void put(struct text *t, const char *s, size_t n)
{
	t->p = realloc(t->p, t->n + n + 1);
	assert_non_null(t->p);
	memcpy(t->p + t->n, s, n);
	t->n += n;
	t->p[t->n] = '\0';
}

static void puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

static void put_rep(struct text *t, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put(t, &c, 1);
}

/* "user" "<C x n>" on a line of its own */
static void put_entry(struct text *t, const char *user, char c, size_t n)
{
	puts_(t, "\"");
	puts_(t, user);
	puts_(t, "\" \"");
	put_rep(t, c, n);
	puts_(t, "\"\n");
}

static void test_pgbouncer_limits(void **state)
{
	struct text t = {NULL, 0};
	struct diag d;
	auth_file_t *af;
	const char *s;
	char u127[128], u128[129];
	(void)state;

	put_entry(&t, "s2046", 'x', 2046); /* line 1 */
	put_entry(&t, "s2047", 'x', 2047); /* line 2 */
	put_entry(&t, "s2048", 'x', 2048); /* line 3 */
	put_entry(&t, "s2049", 'x', 2049); /* line 4 */
	/* raw length counts "" as 2, as PgBouncer measures before unquoting */
	puts_(&t, "\"q2047\" \""); /* line 5 */
	put_rep(&t, 'x', 2045);
	puts_(&t, "\"\"\"\n");
	puts_(&t, "\"q2048\" \""); /* line 6 */
	put_rep(&t, 'x', 2046);
	puts_(&t, "\"\"\"\n");
	memset(u127, 'u', 127);
	u127[127] = '\0';
	memset(u128, 'v', 128);
	u128[128] = '\0';
	put_entry(&t, u127, 'p', 1); /* line 7 */
	put_entry(&t, u128, 'p', 1); /* line 8 */
	/* both too long: the user name is reported, as PgBouncer checks it
	 * first */
	puts_(&t, "\""); /* line 9 */
	puts_(&t, u128);
	puts_(&t, "\" \"");
	put_rep(&t, 'x', 3000);
	puts_(&t, "\"\n");
	put_entry(&t, "after", 'y', 3); /* line 10 */

	af = load_diag(t.p, t.n, &d);
	assert_int_equal(d.n, 5);
	assert_int_equal(d.line[0], 3);
	assert_string_equal(d.reason[0], "secret longer than 2047 bytes");
	assert_int_equal(d.line[1], 4);
	assert_string_equal(d.reason[1], "secret longer than 2047 bytes");
	assert_int_equal(d.line[2], 6);
	assert_string_equal(d.reason[2], "secret longer than 2047 bytes");
	assert_int_equal(d.line[3], 8);
	assert_string_equal(d.reason[3], "user name longer than 127 bytes");
	assert_int_equal(d.line[4], 9);
	assert_string_equal(d.reason[4], "user name longer than 127 bytes");

	s = auth_file_lookup(af, "s2046");
	assert_non_null(s);
	assert_int_equal(strlen(s), 2046);
	s = auth_file_lookup(af, "s2047");
	assert_non_null(s);
	assert_int_equal(strlen(s), 2047);
	assert_null(auth_file_lookup(af, "s2048"));
	assert_null(auth_file_lookup(af, "s2049"));
	s = auth_file_lookup(af, "q2047");
	assert_non_null(s);
	assert_int_equal(strlen(s), 2046);
	assert_int_equal(s[2045], '"');
	assert_null(auth_file_lookup(af, "q2048"));
	assert_string_equal(auth_file_lookup(af, u127), "p");
	assert_null(auth_file_lookup(af, u128));
	assert_string_equal(auth_file_lookup(af, "after"), "yyy");
	auth_file_free(af);

	/* the counting wrapper sees the same lines */
	{
		int bad = -1;

		af = load_str(t.p, t.n, &bad);
		assert_int_equal(bad, 5);
		auth_file_free(af);
	}
	free(t.p);
}

static void test_diag(void **state)
{
	static const char text[] = "; comment\n"			/* 1 */
				   "\"alice\" \"secret\"\n"		/* 2 */
				   "\"eve\" \"unterminated\n"		/* 3 */
				   "\"frank\"\n"			/* 4 */
				   "\"greg\" nopw\n"			/* 5 */
				   "not quoted\n"			/* 6 */
				   "\n"					/* 7 */
				   "\"\" \"nouser\"\r\n"		/* 8 */
				   "\"a\0b\" \"x\"\n"			/* 9 */
				   "\"ok\" \"y\0z\"\n"			/* 10 */
				   "   # indented comment\r\n"		/* 11 */
				   "\"unterminated user\n"		/* 12 */
				   "\"carol\" \"pw\" trailing \"junk\n" /* 13 */
				   "\"dave\" \"last\""; /* 14, no newline */
	struct diag d;
	auth_file_t *af = load_diag(text, sizeof(text) - 1, &d);
	static const struct {
		int line;
		const char *reason;
	} want[] = {
		{3, "unterminated quote"},
		{4, "expected a quoted secret after the user name"},
		{5, "expected a quoted secret after the user name"},
		{6, "expected a quoted user name"},
		{8, "empty user name"},
		{9, "NUL byte in line"},
		{10, "NUL byte in line"},
		{12, "unterminated quote"},
	};
	(void)state;

	assert_int_equal(d.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(d.line[i], want[i].line);
		assert_string_equal(d.reason[i], want[i].reason);
	}
	assert_string_equal(auth_file_lookup(af, "alice"), "secret");
	assert_string_equal(auth_file_lookup(af, "carol"), "pw");
	assert_string_equal(auth_file_lookup(af, "dave"), "last");
	auth_file_free(af);

	/* no callback: loads the same, reports nothing */
	{
		char *path = write_tmp(text, sizeof(text) - 1);
		const char *err = NULL;

		af = auth_file_load_diag(path, NULL, NULL, &err);
		assert_non_null(af);
		assert_string_equal(auth_file_lookup(af, "dave"), "last");
		auth_file_free(af);
		unlink(path);
		free(path);
	}
	/* a missing file is an error, not a diagnostic */
	{
		const char *err = NULL;

		memset(&d, 0, sizeof(d));
		assert_null(auth_file_load_diag("/nonexistent/pgswitch/u.txt",
						collect, &d, &err));
		assert_non_null(err);
		assert_int_equal(d.n, 0);
	}
}

/* One SCRAM exchange, client PASSWORD against stored STORED. */
static scram_status_t scram_login(const char *password, const char *stored)
{
	enum { CAP = SCRAM_MAX_MESSAGE };
	static char m1[CAP], m2[CAP], m3[CAP], m4[CAP];
	size_t l1, l2, l3, l4;
	const char *err;
	scram_client_t *c = scram_client_new(password);
	scram_server_t *s = scram_server_new("longpass", stored);
	scram_status_t st;

	assert_non_null(c);
	assert_non_null(s);
	assert_int_equal(scram_client_first(c, m1, CAP, &l1, &err), SCRAM_OK);
	assert_int_equal(scram_server_first(s, m1, l1, m2, CAP, &l2, &err),
			 SCRAM_OK);
	assert_int_equal(scram_client_final(c, m2, l2, m3, CAP, &l3, &err),
			 SCRAM_OK);
	st = scram_server_final(s, m3, l3, m4, CAP, &l4, &err);
	if (st == SCRAM_OK)
		assert_int_equal(scram_client_verify(c, m4, l4, &err),
				 SCRAM_OK);
	scram_client_free(c);
	scram_server_free(s);
	return st;
}

/* The longest secrets userlist.txt takes log in through SCRAM. */
static void test_long_secret_login(void **state)
{
	struct text t = {NULL, 0};
	char pw[AUTH_MAX_SECRET + 1];
	char secret[512];
	auth_file_t *af;
	struct diag d;
	const char *s;
	(void)state;

	for (size_t i = 0; i < AUTH_MAX_SECRET; i++)
		pw[i] = (char)('a' + (i * 7) % 26);
	pw[AUTH_MAX_SECRET] = '\0';
	assert_true(scram_make_secret(pw, NULL, 0, 0, secret, sizeof(secret)));

	puts_(&t, "\"longpass\" \"");
	puts_(&t, pw);
	puts_(&t, "\"\n\"longscram\" \"");
	puts_(&t, secret);
	puts_(&t, "\"\n");
	af = load_diag(t.p, t.n, &d);
	assert_int_equal(d.n, 0);

	s = auth_file_lookup(af, "longpass");
	assert_non_null(s);
	assert_int_equal(strlen(s), AUTH_MAX_SECRET);
	assert_int_equal(auth_secret_kind(s), AUTH_SECRET_PLAIN);
	assert_int_equal(scram_login(pw, s), SCRAM_OK);
	s = auth_file_lookup(af, "longscram");
	assert_non_null(s);
	assert_int_equal(auth_secret_kind(s), AUTH_SECRET_SCRAM);
	assert_int_equal(scram_login(pw, s), SCRAM_OK);
	/* a 2048-byte password is another password */
	{
		char more[AUTH_MAX_SECRET + 2];

		memcpy(more, pw, AUTH_MAX_SECRET);
		more[AUTH_MAX_SECRET] = 'X';
		more[AUTH_MAX_SECRET + 1] = '\0';
		assert_int_equal(scram_login(more, s), SCRAM_FAIL);
		assert_int_equal(
			scram_login(more, auth_file_lookup(af, "longpass")),
			SCRAM_FAIL);
	}
	auth_file_free(af);
	free(t.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_nul_and_limits),
		cmocka_unit_test(test_missing_and_empty),
		cmocka_unit_test(test_many_users),
		cmocka_unit_test(test_secret_kinds),
		cmocka_unit_test(test_pgbouncer_limits),
		cmocka_unit_test(test_diag),
		cmocka_unit_test(test_long_secret_login),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
