/* SPDX-License-Identifier: MIT */
/*
 * test_authfile.c - userlist.txt loading and lookup.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_nul_and_limits),
		cmocka_unit_test(test_missing_and_empty),
		cmocka_unit_test(test_many_users),
		cmocka_unit_test(test_secret_kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
