/* SPDX-License-Identifier: MIT */
/*
 * test_md5.c - PostgreSQL md5 secrets and challenge responses, and the
 * constant-time string compare.
 *
 * Expected values computed outside this code base:
 *   printf secretpostgres | md5sum  -> 53f48b7c4b76a86ce72276c5755f217d
 *   md5("53f4...217d" || 01 02 03 04) -> bb41a296aab6baccb36ff243a562abff
 *   md5("53f4...217d" || de ad be ef) -> c546d0bbed2af888b328536b45c76348
 *   admin / 1234 -> md545f2603610af569b6155c45067268c6b (PgBouncer docs)
 *   the 2048-byte password of long_password() with user "longpass"
 *     -> md5171934e5e4ae31571d980421d33e3b2b, and with salt 01 02 03 04
 *     -> md5b0879e4d24b3213e0d601b71ab31a111 (Python hashlib)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth.h"

#define PG_SECRET "md553f48b7c4b76a86ce72276c5755f217d"
#define PG_RESP1  "md5bb41a296aab6baccb36ff243a562abff"
#define PG_RESP2  "md5c546d0bbed2af888b328536b45c76348"

static const uint8_t salt1[4] = {1, 2, 3, 4};
static const uint8_t salt2[4] = {0xde, 0xad, 0xbe, 0xef};

static void test_secret(void **state)
{
	char out[AUTH_MD5_LEN + 1];
	(void)state;

	auth_md5_secret("postgres", "secret", out);
	assert_string_equal(out, PG_SECRET);
	auth_md5_secret("admin", "1234", out);
	assert_string_equal(out, "md545f2603610af569b6155c45067268c6b");
	/* NULLs are empty strings: md5("") */
	auth_md5_secret(NULL, NULL, out);
	assert_string_equal(out, "md5d41d8cd98f00b204e9800998ecf8427e");
}

static void test_response(void **state)
{
	char out[AUTH_MD5_LEN + 1];
	(void)state;

	/* from the plain password and from the stored secret alike */
	auth_md5_response("secret", "postgres", salt1, out);
	assert_string_equal(out, PG_RESP1);
	auth_md5_response(PG_SECRET, "postgres", salt1, out);
	assert_string_equal(out, PG_RESP1);
	auth_md5_response(PG_SECRET, "ignored-for-md5-secrets", salt2, out);
	assert_string_equal(out, PG_RESP2);
	/* uppercase hex is not an md5 secret (PostgreSQL agrees): plain */
	auth_md5_response("MD553F48B7C4B76A86CE72276C5755F217D", "postgres",
			  salt1, out);
	assert_string_not_equal(out, PG_RESP1);
}

static void test_verify(void **state)
{
	(void)state;

	/* plain stored */
	assert_true(auth_md5_verify("secret", "postgres", salt1, PG_RESP1));
	assert_true(auth_md5_verify("secret", "postgres", salt2, PG_RESP2));
	/* md5 stored */
	assert_true(auth_md5_verify(PG_SECRET, "postgres", salt1, PG_RESP1));
	/* wrong salt, user, password */
	assert_false(auth_md5_verify(PG_SECRET, "postgres", salt2, PG_RESP1));
	assert_false(auth_md5_verify("secret", "postgre", salt1, PG_RESP1));
	assert_false(auth_md5_verify("secreT", "postgres", salt1, PG_RESP1));
	/* malformed responses */
	assert_false(auth_md5_verify(PG_SECRET, "postgres", salt1, NULL));
	assert_false(auth_md5_verify(PG_SECRET, "postgres", salt1, ""));
	assert_false(
		auth_md5_verify(PG_SECRET, "postgres", salt1, PG_RESP1 "x"));
	assert_false(auth_md5_verify(PG_SECRET, "postgres", salt1,
				     "md5bb41a296aab6baccb36ff243a562abf"));
	assert_false(auth_md5_verify(PG_SECRET, "postgres", salt1,
				     "MD5BB41A296AAB6BACCB36FF243A562ABFF"));
	/* unknown user: never, not even for the empty-password response */
	{
		char empty[AUTH_MD5_LEN + 1];

		auth_md5_response("", "postgres", salt1, empty);
		assert_false(auth_md5_verify(NULL, "postgres", salt1, empty));
		assert_false(
			auth_md5_verify(NULL, "postgres", salt1, PG_RESP1));
	}
	/* a SCRAM secret cannot check an md5 response */
	{
		const char *scram = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ="
				    "=$WG5d8oPm3Otc"
				    "Pnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
				    "wfPLwcE6nTWhTAmQ7tl2Keo"
				    "iWGPlZqQxSrmfPwDl2dU=";
		char resp[AUTH_MD5_LEN + 1];

		auth_md5_response(scram, "user", salt1, resp);
		assert_false(auth_md5_verify(scram, "user", salt1, resp));
	}
}

static void test_str_equal(void **state)
{
	(void)state;

	assert_true(auth_str_equal("", ""));
	assert_true(auth_str_equal("secret", "secret"));
	assert_false(auth_str_equal("secret", "secreT"));
	assert_false(auth_str_equal("secret", "secret2"));
	assert_false(auth_str_equal("secret2", "secret"));
	assert_false(auth_str_equal("secret", ""));
	assert_false(auth_str_equal("", "secret"));
	assert_false(auth_str_equal(NULL, "x"));
	assert_false(auth_str_equal("x", NULL));
	assert_false(auth_str_equal(NULL, NULL));
}

static void test_kind(void **state)
{
	(void)state;

	assert_int_equal(auth_secret_kind(PG_SECRET), AUTH_SECRET_MD5);
	assert_int_equal(auth_secret_kind("md5"), AUTH_SECRET_PLAIN);
	assert_int_equal(auth_secret_kind(PG_SECRET "0"), AUTH_SECRET_PLAIN);
	assert_int_equal(
		auth_secret_kind("md553f48b7c4b76a86ce72276c5755f217g"),
		AUTH_SECRET_PLAIN);
	assert_int_equal(auth_secret_kind("secret"), AUTH_SECRET_PLAIN);
	assert_int_equal(auth_secret_kind(""), AUTH_SECRET_PLAIN);
}

/* 2048 bytes, PgBouncer's MAX_PASSWORD: no buffer in md5.c may cut it. */
static char *long_password(size_t len)
{
	char *pw = malloc(len + 1);

	assert_non_null(pw);
	for (size_t i = 0; i < len; i++)
		pw[i] = (char)('!' + (i * 7) % 90);
	pw[0] = 'a';
	pw[len] = '\0';
	return pw;
}

static void test_long_password(void **state)
{
	char *pw = long_password(2048);
	char out[AUTH_MD5_LEN + 1];
	char resp[AUTH_MD5_LEN + 1];
	(void)state;

	auth_md5_secret("longpass", pw, out);
	assert_string_equal(out, "md5171934e5e4ae31571d980421d33e3b2b");
	auth_md5_response(pw, "longpass", salt1, resp);
	assert_string_equal(resp, "md5b0879e4d24b3213e0d601b71ab31a111");
	assert_true(auth_md5_verify(pw, "longpass", salt1, resp));
	assert_true(auth_md5_verify(out, "longpass", salt1, resp));
	assert_true(auth_str_equal(pw, pw));
	/* the first 2047 bytes are another password */
	pw[2047] = '\0';
	assert_false(auth_md5_verify(pw, "longpass", salt1, resp));
	assert_false(auth_str_equal(pw, out));
	free(pw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_str_equal),
		cmocka_unit_test(test_kind),
		cmocka_unit_test(test_long_password),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
