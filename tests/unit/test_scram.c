/* SPDX-License-Identifier: MIT */
/*
 * test_scram.c - SCRAM-SHA-256 server and client: RFC 7677 vector, round
 * trips, doomed exchanges, pass-through keys, malformed input. Channel
 * binding, mechanism selection and length limits: test_scram_cb.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "auth/auth_internal.h"

/* RFC 7677 section 3 */
#define RFC_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SALT   "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_CFIRST "n,,n=user,r=" RFC_CNONCE
#define RFC_SFIRST "r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=4096"
/*
 * The proof as printed in RFC 7677 (and reproduced independently with
 * Python's hashlib/hmac while writing this test).
 */
#define RFC_CFINAL                                                             \
	"c=biws,r=" RFC_CNONCE RFC_SNONCE                                      \
	",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SFINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
/*
 * SCRAM secret for "pencil" with the RFC salt and 4096 iterations, as
 * PostgreSQL would store it; computed outside this code base (Python,
 * following RFC 5802 section 3) to cross-check scram_make_secret.
 */
#define RFC_SECRET                                                             \
	"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"                         \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"                        \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

#include "scram_test_util.h"

/* ---- base64 ---- */

static void test_b64(void **state)
{
	uint8_t out[16];
	size_t n;
	char enc[32];
	(void)state;

	assert_int_equal(scram_b64_encode((const uint8_t *)"n,,", 3, enc), 4);
	assert_memory_equal(enc, "biws", 4);
	assert_int_equal(scram_b64_encode((const uint8_t *)"ab", 2, enc), 4);
	assert_memory_equal(enc, "YWI=", 4);
	assert_int_equal(scram_b64_encode((const uint8_t *)"a", 1, enc), 4);
	assert_memory_equal(enc, "YQ==", 4);
	assert_int_equal(scram_b64_len(32), 44);

	assert_true(scram_b64_decode("biws", 4, out, sizeof(out), &n));
	assert_int_equal(n, 3);
	assert_memory_equal(out, "n,,", 3);
	assert_true(scram_b64_decode("YWI=", 4, out, sizeof(out), &n));
	assert_int_equal(n, 2);
	assert_true(scram_b64_decode("YQ==", 4, out, sizeof(out), &n));
	assert_int_equal(n, 1);
	assert_true(scram_b64_decode("", 0, out, sizeof(out), &n));
	assert_int_equal(n, 0);

	assert_false(scram_b64_decode("biw", 3, out, sizeof(out), &n));
	assert_false(scram_b64_decode("bi*s", 4, out, sizeof(out), &n));
	assert_false(scram_b64_decode("b===", 4, out, sizeof(out), &n));
	assert_false(scram_b64_decode("=iws", 4, out, sizeof(out), &n));
	assert_false(scram_b64_decode("YQ=a", 4, out, sizeof(out), &n));
	assert_false(scram_b64_decode("YQ==biws", 8, out, sizeof(out), &n));
	assert_false(scram_b64_decode("YR==", 4, out, sizeof(out), &n));
	assert_false(scram_b64_decode("YWJ=", 4, out, sizeof(out), &n));
	assert_false(scram_b64_decode("bi ws", 5, out, sizeof(out), &n));
	assert_false(scram_b64_decode("biws", 4, out, 2, &n));
	/* a NUL inside the given length is not base64 */
	assert_false(scram_b64_decode("bi\0s", 4, out, sizeof(out), &n));
}

/* ---- RFC 7677 vector ---- */

static void test_rfc7677_client(void **state)
{
	scram_client_t *c = scram_client_new("pencil");
	char out[BUF];
	size_t n;
	const char *err = NULL;
	(void)state;

	assert_non_null(c);
	assert_true(scram_client_set_user(c, "user", 4));
	assert_true(scram_client_set_nonce(c, RFC_CNONCE, strlen(RFC_CNONCE)));
	assert_int_equal(scram_client_first(c, out, sizeof(out), &n, &err),
			 SCRAM_OK);
	assert_mem(RFC_CFIRST, out, n);
	assert_int_equal(scram_client_final(c, RFC_SFIRST, strlen(RFC_SFIRST),
					    out, sizeof(out), &n, &err),
			 SCRAM_OK);
	assert_mem(RFC_CFINAL, out, n);
	assert_int_equal(
		scram_client_verify(c, RFC_SFINAL, strlen(RFC_SFINAL), &err),
		SCRAM_OK);
	scram_client_free(c);
}

static void test_rfc7677_server(void **state)
{
	uint8_t salt[16];
	size_t saltlen;
	char secret[256];
	char out[BUF];
	size_t n;
	uint8_t ck[32], sk[32], h[32], want[32];
	scram_server_t *s;
	(void)state;

	assert_true(scram_b64_decode(RFC_SALT, strlen(RFC_SALT), salt,
				     sizeof(salt), &saltlen));
	assert_true(scram_make_secret("pencil", salt, saltlen, 4096, secret,
				      sizeof(secret)));
	assert_string_equal(secret, RFC_SECRET);

	s = scram_server_new("user", secret);
	assert_non_null(s);
	assert_false(scram_server_keys(s, ck, sk));
	assert_true(scram_server_set_nonce(s, RFC_SNONCE, strlen(RFC_SNONCE)));
	assert_int_equal(server_first_str(s, RFC_CFIRST, out, &n), SCRAM_OK);
	assert_mem(RFC_SFIRST, out, n);
	assert_int_equal(server_final_str(s, RFC_CFINAL, out, &n), SCRAM_OK);
	assert_mem(RFC_SFINAL, out, n);

	/* recovered ClientKey hashes to StoredKey; ServerKey is the secret's */
	assert_true(scram_server_keys(s, ck, sk));
	assert_true(scram_sha256(ck, 32, h));
	assert_true(
		scram_b64_decode("WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY"
				 "=",
				 44, want, sizeof(want), &n));
	assert_memory_equal(h, want, 32);
	assert_true(
		scram_b64_decode("wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU"
				 "=",
				 44, want, sizeof(want), &n));
	assert_memory_equal(sk, want, 32);
	scram_server_free(s);
}

/* ---- secrets ---- */

static void test_make_secret(void **state)
{
	char secret[256];
	scram_secret_t sec;
	uint8_t salt[4] = {1, 2, 3, 4};
	(void)state;

	/* random salt, default length and iterations */
	assert_true(
		scram_make_secret("pw", NULL, 0, 0, secret, sizeof(secret)));
	assert_true(strncmp(secret, "SCRAM-SHA-256$4096:", 19) == 0);
	assert_int_equal(strlen(secret), 19 + 24 + 1 + 44 + 1 + 44);
	assert_int_equal(auth_secret_kind(secret), AUTH_SECRET_SCRAM);
	assert_true(scram_parse_secret(secret, &sec));
	assert_int_equal(sec.iterations, 4096);
	assert_int_equal(sec.saltlen, 16);

	assert_true(
		scram_make_secret("pw", salt, 4, 10, secret, sizeof(secret)));
	assert_true(strncmp(secret, "SCRAM-SHA-256$10:AQIDBA==$", 26) == 0);
	assert_true(scram_parse_secret(secret, &sec));
	assert_int_equal(sec.iterations, 10);
	assert_int_equal(sec.saltlen, 4);

	/* output too small: refused, never truncated */
	assert_false(scram_make_secret("pw", salt, 4, 10, secret, 60));
	assert_false(
		scram_make_secret("pw", salt, 0, 10, secret, sizeof(secret)));
}

static void test_parse_secret_strict(void **state)
{
	static const char *bad[] = {
		"SCRAM-SHA-256$",
		"SCRAM-SHA-256$4096",
		"SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7Bk"
		"eZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU"
		"=",
		"SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo7B"
		"keZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2d"
		"U=",
		"SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPn"
		"kdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSr"
		"mfPwDl2dU=",
		/* empty salt */
		"SCRAM-SHA-256$4096:$"
		"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
		":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		/* StoredKey 31 bytes */
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo"
		"7BkeZkBFzpcXkuLmtbsT4g==:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl"
		"2dU=",
		/* missing ServerKey */
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo"
		"7BkeZkBFzpcXkuLmtbsT4qY=",
		/* trailing junk */
		RFC_SECRET " ",
		RFC_SECRET ":x",
		/* wrong case prefix */
		"scram-sha-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		"WG5d8oPm3OtcPnkdi4Uo"
		"7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl"
		"2dU=",
	};
	scram_secret_t sec;
	(void)state;

	assert_true(scram_parse_secret(RFC_SECRET, &sec));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (scram_parse_secret(bad[i], &sec)) {
			print_error("accepted: %s\n", bad[i]);
			fail();
		}
		assert_int_equal(auth_secret_kind(bad[i]), AUTH_SECRET_PLAIN);
	}
}

/* ---- round trips ---- */

static void test_roundtrip_plain(void **state)
{
	(void)state;
	assert_int_equal(run("secret", "secret"), SCRAM_OK);
	assert_int_equal(run("", ""), SCRAM_OK);
	/* non-ASCII: raw bytes on both sides */
	assert_int_equal(
		run("p\xc3\xa4ss\xe2\x80\x8b", "p\xc3\xa4ss\xe2\x80\x8b"),
		SCRAM_OK);
	assert_int_equal(run("p\xff", "p\xff"), SCRAM_OK);
}

static void test_roundtrip_scram(void **state)
{
	char secret[256];
	(void)state;

	assert_true(scram_make_secret("hunter2", NULL, 0, 0, secret,
				      sizeof(secret)));
	assert_int_equal(run("hunter2", secret), SCRAM_OK);
	assert_int_equal(run("pencil", RFC_SECRET), SCRAM_OK);
}

static void test_wrong_password(void **state)
{
	(void)state;
	assert_int_equal(run("wrong", "secret"), SCRAM_FAIL);
	assert_int_equal(run("Pencil", RFC_SECRET), SCRAM_FAIL);
	assert_int_equal(run("", "x"), SCRAM_FAIL);
}

static void sfirst_of(scram_server_t *s, uint8_t *salt, size_t *saltlen,
		      int *iter)
{
	char out[BUF];
	size_t n;

	assert_int_equal(server_first_str(s, "n,,n=,r=abcdef", out, &n),
			 SCRAM_OK);
	parse_sfirst(out, n, salt, saltlen, iter);
}

static void test_doomed(void **state)
{
	uint8_t key[32];
	uint8_t salt1[64], salt2[64], salt3[64];
	size_t l1, l2, l3;
	int it;
	scram_server_t *s;
	char md5[AUTH_MD5_LEN + 1];
	(void)state;

	/* unknown user, md5 secret: same flow, fail at the end */
	assert_int_equal(run("anything", NULL), SCRAM_FAIL);
	auth_md5_secret("alice", "secret", md5);
	assert_int_equal(run("secret", md5), SCRAM_FAIL);

	/* looks like a real exchange: 16-byte salt, 4096 iterations */
	s = scram_server_new("ghost", NULL);
	assert_non_null(s);
	sfirst_of(s, salt1, &l1, &it);
	assert_int_equal(l1, 16);
	assert_int_equal(it, 4096);
	scram_server_free(s);

	/* with a mock key: same salt for the same user, other for others */
	memset(key, 7, sizeof(key));
	s = scram_server_new_mock("ghost", NULL, key);
	assert_non_null(s);
	sfirst_of(s, salt1, &l1, &it);
	scram_server_free(s);
	s = scram_server_new_mock("ghost", NULL, key);
	sfirst_of(s, salt2, &l2, &it);
	scram_server_free(s);
	s = scram_server_new_mock("ghost2", NULL, key);
	sfirst_of(s, salt3, &l3, &it);
	scram_server_free(s);
	assert_int_equal(l1, 16);
	assert_int_equal(it, 4096);
	assert_memory_equal(salt1, salt2, 16);
	assert_memory_not_equal(salt1, salt3, 16);

	/* a doomed exchange with the mock key still fails at the final */
	{
		scram_client_t *c = scram_client_new("x");
		s = scram_server_new_mock(NULL, NULL, key);
		assert_int_equal(exchange(c, s), SCRAM_FAIL);
		assert_false(scram_server_keys(s, salt1, salt2));
		scram_client_free(c);
		scram_server_free(s);
	}
	/* a real user with the mock key variant is unaffected */
	{
		scram_client_t *c = scram_client_new("pencil");
		s = scram_server_new_mock("user", RFC_SECRET, key);
		assert_int_equal(exchange(c, s), SCRAM_OK);
		scram_client_free(c);
		scram_server_free(s);
	}
}

static void test_passthrough(void **state)
{
	char secret[256];
	uint8_t ck[32], sk[32];
	scram_client_t *c;
	scram_server_t *s;
	(void)state;

	assert_true(scram_make_secret("hunter2", NULL, 0, 0, secret,
				      sizeof(secret)));
	/* a client logs in to us */
	c = scram_client_new("hunter2");
	s = scram_server_new("bob", secret);
	assert_int_equal(exchange(c, s), SCRAM_OK);
	assert_true(scram_server_keys(s, ck, sk));
	scram_client_free(c);
	scram_server_free(s);

	/* we log in to a "server" holding the same secret with the keys */
	c = scram_client_new_keys(ck, sk);
	s = scram_server_new("bob", secret);
	assert_non_null(c);
	assert_int_equal(exchange(c, s), SCRAM_OK);
	scram_client_free(c);
	scram_server_free(s);

	/* wrong ClientKey: server refuses */
	ck[0] ^= 1;
	c = scram_client_new_keys(ck, sk);
	s = scram_server_new("bob", secret);
	assert_int_equal(exchange(c, s), SCRAM_FAIL);
	scram_client_free(c);
	scram_server_free(s);
	ck[0] ^= 1;

	/* wrong ServerKey: server accepts, but we reject its signature */
	{
		char m1[BUF], m2[BUF], m3[BUF], m4[BUF];
		size_t l1, l2, l3, l4;
		const char *err;

		sk[0] ^= 1;
		c = scram_client_new_keys(ck, sk);
		s = scram_server_new("bob", secret);
		assert_int_equal(scram_client_first(c, m1, BUF, &l1, &err),
				 SCRAM_OK);
		assert_int_equal(
			scram_server_first(s, m1, l1, m2, BUF, &l2, &err),
			SCRAM_OK);
		assert_int_equal(
			scram_client_final(c, m2, l2, m3, BUF, &l3, &err),
			SCRAM_OK);
		assert_int_equal(
			scram_server_final(s, m3, l3, m4, BUF, &l4, &err),
			SCRAM_OK);
		assert_int_equal(scram_client_verify(c, m4, l4, &err),
				 SCRAM_FAIL);
		scram_client_free(c);
		scram_server_free(s);
	}
}

/* ---- malformed client messages (server side) ---- */

static void test_bad_client_first(void **state)
{
	static const char *bad[] = {
		"",
		"n",
		"n,",
		"n,,",
		"x,,n=,r=abc",
		"p=tls-server-end-point,,n=,r=abc",
		"n,a=bob,n=,r=abc",
		"n,x,n=,r=abc",
		"n,,m=foo,n=,r=abc",
		"n,,r=abc",
		"n,,n=",
		"n,,n=,",
		"n,,n=,r=",
		"n,,n=,r=ab c",
		"n,,n=,r=ab\x7f",
		"n,,n=,r=abc,",
		"n,,n=,r=abc,1=x",
		"n,,n=,r=abc,xy",
		"n,,n=,x=abc",
		"n,,nn,r=abc",
		" n,,n=,r=abc",
	};
	char out[BUF];
	size_t n;
	const char *err;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		scram_server_t *s = scram_server_new("u", RFC_SECRET);

		assert_non_null(s);
		if (server_first_str(s, bad[i], out, &n) != SCRAM_PROTO) {
			print_error("accepted: '%s'\n", bad[i]);
			fail();
		}
		assert_int_equal(n, 0);
		/* a dead exchange stays dead */
		assert_int_equal(server_final_str(s, "c=biws", out, &n),
				 SCRAM_PROTO);
		scram_server_free(s);
	}

	/* embedded NUL, oversized, tiny output buffer */
	{
		scram_server_t *s = scram_server_new("u", RFC_SECRET);
		assert_int_equal(scram_server_first(s, "n,,n=\0,r=abc", 12, out,
						    BUF, &n, &err),
				 SCRAM_PROTO);
		scram_server_free(s);
	}
	{
		char big[SCRAM_MAX_MESSAGE + 16];
		scram_server_t *s = scram_server_new("u", RFC_SECRET);

		memset(big, 'a', sizeof(big));
		memcpy(big, "n,,n=,r=", 8);
		assert_int_equal(scram_server_first(s, big, sizeof(big), out,
						    BUF, &n, &err),
				 SCRAM_PROTO);
		scram_server_free(s);
		/* a nonce that fits the input cap but not server-first */
		s = scram_server_new("u", RFC_SECRET);
		assert_int_equal(scram_server_first(s, big, SCRAM_MAX_MESSAGE,
						    out, BUF, &n, &err),
				 SCRAM_PROTO);
		scram_server_free(s);
	}
	{
		scram_server_t *s = scram_server_new("u", RFC_SECRET);
		assert_int_equal(scram_server_first(s, "n,,n=,r=abc", 11, out,
						    10, &n, &err),
				 SCRAM_PROTO);
		scram_server_free(s);
	}

	/* acceptable variants */
	{
		static const char *good[] = {
			"n,,n=,r=abc",
			"y,,n=,r=abc",
			"n,,n=someone=2Celse,r=abc",
			"n,,n=,r=abc,x=y",
			"n,,n=,r=abc,x=y,z=",
		};
		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			scram_server_t *s = scram_server_new("u", RFC_SECRET);
			assert_int_equal(server_first_str(s, good[i], out, &n),
					 SCRAM_OK);
			assert_true(n > 0);
			scram_server_free(s);
		}
	}
}

static scram_server_t *server_at_final(const char *cfirst, char *sfirst,
				       size_t *sfirst_len)
{
	scram_server_t *s = scram_server_new("u", RFC_SECRET);

	assert_non_null(s);
	assert_true(scram_server_set_nonce(s, "SNONCE", 6));
	assert_int_equal(server_first_str(s, cfirst, sfirst, sfirst_len),
			 SCRAM_OK);
	return s;
}

static void test_bad_client_final(void **state)
{
	static const char *bad[] = {
		"",
		"c=biws",
		"c=biws,r=abcSNONCE",
		"c=biws,r=abcSNONCE,",
		"c=biws,r=abcSNONCE,p=",
		"c=biws,r=abcSNONCE,p=!!!!",
		"c=biws,r=abcSNONCE,p=dHzbZapWIk4jUhN+"
		"Ute9ytag9zjfMHgsqmmiz7AndVQ",
		/* 31-byte proof */
		"c=biws,r=abcSNONCE,p=dHzbZapWIk4jUhN+"
		"Ute9ytag9zjfMHgsqmmiz7AndQ==",
		/* proof not last */
		"c=biws,r=abcSNONCE,p=dHzbZapWIk4jUhN+"
		"Ute9ytag9zjfMHgsqmmiz7AndVQ="
		",x=y",
		/* wrong nonces */
		"c=biws,r=abcSNONCEx,p=dHzbZapWIk4jUhN+"
		"Ute9ytag9zjfMHgsqmmiz7AndVQ"
		"=",
		"c=biws,r=abc,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=abdSNONCE,p=dHzbZapWIk4jUhN+"
		"Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		/* channel binding: y header for an n client, bad base64, p= */
		"c=eSws,r=abcSNONCE,p=dHzbZapWIk4jUhN+"
		"Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biw,r=abcSNONCE,p=dHzbZapWIk4jUhN+"
		"Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws,r=abcSNONCE,p="
		"dHzbZapWIk4jUhN+"
		"Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		/* order */
		"r=abcSNONCE,c=biws,p=dHzbZapWIk4jUhN+"
		"Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	};
	char sfirst[BUF], out[BUF];
	size_t sl, n;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		scram_server_t *s = server_at_final("n,,n=,r=abc", sfirst, &sl);

		if (server_final_str(s, bad[i], out, &n) != SCRAM_PROTO) {
			print_error("accepted: '%s'\n", bad[i]);
			fail();
		}
		assert_int_equal(n, 0);
		assert_false(scram_server_keys(s, (uint8_t *)out,
					       (uint8_t *)out + 32));
		scram_server_free(s);
	}
}

static void test_client_final_variants(void **state)
{
	char sfirst[BUF], msg[BUF], out[BUF], cfwp[BUF];
	size_t sl, n;
	scram_server_t *s;
	(void)state;

	/* a right proof with an extension before it */
	s = server_at_final("n,,n=,r=abc", sfirst, &sl);
	make_final("pencil", "n=,r=abc", sfirst, sl, "c=biws,r=abcSNONCE,x=ext",
		   msg);
	assert_int_equal(server_final_str(s, msg, out, &n), SCRAM_OK);
	scram_server_free(s);

	/* gs2 'y': the client-final must repeat "y,," */
	s = server_at_final("y,,n=,r=abc", sfirst, &sl);
	make_final("pencil", "n=,r=abc", sfirst, sl, "c=eSws,r=abcSNONCE", msg);
	assert_int_equal(server_final_str(s, msg, out, &n), SCRAM_OK);
	scram_server_free(s);

	s = server_at_final("y,,n=,r=abc", sfirst, &sl);
	make_final("pencil", "n=,r=abc", sfirst, sl, "c=biws,r=abcSNONCE", msg);
	assert_int_equal(server_final_str(s, msg, out, &n), SCRAM_PROTO);
	scram_server_free(s);

	/* the AuthMessage covers the extension: tampering breaks the proof */
	s = server_at_final("n,,n=,r=abc", sfirst, &sl);
	make_final("pencil", "n=,r=abc", sfirst, sl, "c=biws,r=abcSNONCE,x=ext",
		   msg);
	msg[strlen("c=biws,r=abcSNONCE,x=e")] = 'X';
	assert_int_equal(server_final_str(s, msg, out, &n), SCRAM_FAIL);
	scram_server_free(s);

	/* the ignored n= user name still counts in the AuthMessage */
	s = server_at_final("n,,n=bob,r=abc", sfirst, &sl);
	make_final("pencil", "n=,r=abc", sfirst, sl, "c=biws,r=abcSNONCE", msg);
	assert_int_equal(server_final_str(s, msg, out, &n), SCRAM_FAIL);
	scram_server_free(s);

	/* output buffer too small for v= */
	s = server_at_final("n,,n=,r=abc", sfirst, &sl);
	snprintf(cfwp, sizeof(cfwp), "c=biws,r=abcSNONCE");
	make_final("pencil", "n=,r=abc", sfirst, sl, cfwp, msg);
	{
		const char *err;
		assert_int_equal(scram_server_final(s, msg, strlen(msg), out,
						    20, &n, &err),
				 SCRAM_PROTO);
	}
	scram_server_free(s);
}

static void test_server_state_errors(void **state)
{
	char out[BUF];
	size_t n;
	const char *err;
	scram_server_t *s = scram_server_new("u", "pw");
	(void)state;

	assert_int_equal(server_final_str(s, "c=biws,r=x,p=x", out, &n),
			 SCRAM_PROTO);
	scram_server_free(s);

	s = scram_server_new("u", "pw");
	assert_int_equal(server_first_str(s, "n,,n=,r=abc", out, &n), SCRAM_OK);
	assert_int_equal(server_first_str(s, "n,,n=,r=abc", out, &n),
			 SCRAM_PROTO);
	scram_server_free(s);

	assert_int_equal(
		scram_server_first(NULL, "n,,n=,r=a", 9, out, BUF, &n, &err),
		SCRAM_PROTO);
	s = scram_server_new("u", "pw");
	assert_int_equal(scram_server_first(s, NULL, 9, out, BUF, &n, &err),
			 SCRAM_PROTO);
	scram_server_free(s);
	scram_server_free(NULL);

	/* hook rejects non-printable nonces and late calls */
	s = scram_server_new("u", "pw");
	assert_false(scram_server_set_nonce(s, "a,b", 3));
	assert_false(scram_server_set_nonce(s, "", 0));
	scram_server_free(s);
}

/* ---- malformed server messages (client side) ---- */

static scram_client_t *client_at_final(const char *password)
{
	scram_client_t *c = scram_client_new(password);
	char out[BUF];
	size_t n;
	const char *err;

	assert_non_null(c);
	assert_true(scram_client_set_nonce(c, "abc", 3));
	assert_int_equal(scram_client_first(c, out, BUF, &n, &err), SCRAM_OK);
	assert_mem("n,,n=,r=abc", out, n);
	return c;
}

static void test_bad_server_first(void **state)
{
	static const char *bad[] = {
		"",
		"r=abc,s=QSXCR+Q6sek8bf92,i=4096",
		"r=abd123,s=QSXCR+Q6sek8bf92,i=4096",
		"r=ab,s=QSXCR+Q6sek8bf92,i=4096",
		"r=abc1 2,s=QSXCR+Q6sek8bf92,i=4096",
		"r=abc123,i=4096",
		"r=abc123,s=,i=4096",
		"r=abc123,s=QSXCR+Q6sek8bf9,i=4096",
		"r=abc123,s=QSXCR+Q6sek8bf92",
		"r=abc123,s=QSXCR+Q6sek8bf92,",
		"r=abc123,s=QSXCR+Q6sek8bf92,i=",
		"r=abc123,s=QSXCR+Q6sek8bf92,i=0",
		"r=abc123,s=QSXCR+Q6sek8bf92,i=-1",
		"r=abc123,s=QSXCR+Q6sek8bf92,i=+5",
		"r=abc123,s=QSXCR+Q6sek8bf92,i=4096x",
		"r=abc123,s=QSXCR+Q6sek8bf92,i=99999999999",
		"r=abc123,s=QSXCR+Q6sek8bf92,i=1000001",
		"r=abc123,s=QSXCR+Q6sek8bf92,i=4096,",
		"m=x,r=abc123,s=QSXCR+Q6sek8bf92,i=4096",
		"s=QSXCR+Q6sek8bf92,r=abc123,i=4096",
		"e=other-error",
	};
	char out[BUF];
	size_t n;
	const char *err;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		scram_client_t *c = client_at_final("pw");

		if (scram_client_final(c, bad[i], strlen(bad[i]), out, BUF, &n,
				       &err) != SCRAM_PROTO) {
			print_error("accepted: '%s'\n", bad[i]);
			fail();
		}
		assert_int_equal(n, 0);
		assert_int_equal(scram_client_verify(c, "v=x", 3, &err),
				 SCRAM_PROTO);
		scram_client_free(c);
	}

	/* extensions after i= are allowed; a tiny buffer is not */
	{
		scram_client_t *c = client_at_final("pw");
		const char *m = "r=abc123,s=QSXCR+Q6sek8bf92,i=16,x=y";

		assert_int_equal(
			scram_client_final(c, m, strlen(m), out, BUF, &n, &err),
			SCRAM_OK);
		assert_mem("c=biws,r=abc123,p=", out, 18);
		scram_client_free(c);
		c = client_at_final("pw");
		assert_int_equal(
			scram_client_final(c, m, strlen(m), out, 30, &n, &err),
			SCRAM_PROTO);
		scram_client_free(c);
	}
}

static void test_bad_server_final(void **state)
{
	static const char *bad[] = {
		"",
		"v=",
		"v=!!!!",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,",
		"x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		"v6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	};
	char out[BUF];
	size_t n;
	const char *err;
	const char *sf = RFC_SFIRST;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		scram_client_t *c = scram_client_new("pencil");

		assert_true(scram_client_set_user(c, "user", 4));
		assert_true(scram_client_set_nonce(c, RFC_CNONCE, 20));
		assert_int_equal(scram_client_first(c, out, BUF, &n, &err),
				 SCRAM_OK);
		assert_int_equal(scram_client_final(c, sf, strlen(sf), out, BUF,
						    &n, &err),
				 SCRAM_OK);
		if (scram_client_verify(c, bad[i], strlen(bad[i]), &err) !=
		    SCRAM_PROTO) {
			print_error("accepted: '%s'\n", bad[i]);
			fail();
		}
		scram_client_free(c);
	}

	/* e= and a wrong signature are authentication failures */
	{
		static const char *fails[] = {
			"e=invalid-proof",
			"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		};
		for (size_t i = 0; i < 2; i++) {
			scram_client_t *c = scram_client_new("pencil");

			assert_true(scram_client_set_user(c, "user", 4));
			assert_true(scram_client_set_nonce(c, RFC_CNONCE, 20));
			assert_int_equal(
				scram_client_first(c, out, BUF, &n, &err),
				SCRAM_OK);
			assert_int_equal(scram_client_final(c, sf, strlen(sf),
							    out, BUF, &n, &err),
					 SCRAM_OK);
			assert_int_equal(scram_client_verify(c, fails[i],
							     strlen(fails[i]),
							     &err),
					 SCRAM_FAIL);
			scram_client_free(c);
		}
	}
	/* extensions after v= are allowed */
	{
		scram_client_t *c = scram_client_new("pencil");
		const char *v = RFC_SFINAL ",x=y";

		assert_true(scram_client_set_user(c, "user", 4));
		assert_true(scram_client_set_nonce(c, RFC_CNONCE, 20));
		assert_int_equal(scram_client_first(c, out, BUF, &n, &err),
				 SCRAM_OK);
		assert_int_equal(scram_client_final(c, sf, strlen(sf), out, BUF,
						    &n, &err),
				 SCRAM_OK);
		assert_int_equal(scram_client_verify(c, v, strlen(v), &err),
				 SCRAM_OK);
		/* and only once */
		assert_int_equal(scram_client_verify(c, v, strlen(v), &err),
				 SCRAM_PROTO);
		scram_client_free(c);
	}
}

static void test_client_misc(void **state)
{
	char out[BUF];
	size_t n;
	const char *err;
	scram_client_t *c;
	(void)state;

	/* default first message: empty name, 24-char printable nonce */
	c = scram_client_new("pw");
	assert_int_equal(scram_client_first(c, out, BUF, &n, &err), SCRAM_OK);
	assert_int_equal(n, 8 + 24);
	assert_memory_equal(out, "n,,n=,r=", 8);
	assert_true(scram_printable(out + 8, 24));
	assert_int_equal(scram_client_first(c, out, BUF, &n, &err),
			 SCRAM_PROTO);
	scram_client_free(c);

	/* too small a buffer */
	c = scram_client_new("pw");
	assert_int_equal(scram_client_first(c, out, 10, &n, &err), SCRAM_PROTO);
	scram_client_free(c);

	/* final before first, verify before final */
	c = scram_client_new("pw");
	assert_int_equal(scram_client_final(c, "r=a", 3, out, BUF, &n, &err),
			 SCRAM_PROTO);
	scram_client_free(c);
	c = scram_client_new(NULL);
	assert_non_null(c);
	assert_int_equal(scram_client_verify(c, "v=a", 3, &err), SCRAM_PROTO);
	scram_client_free(c);
	scram_client_free(NULL);

	/* user name escaping in the hook */
	c = scram_client_new("pw");
	assert_true(scram_client_set_user(c, "a,b=c", 5));
	assert_true(scram_client_set_nonce(c, "xyz", 3));
	assert_int_equal(scram_client_first(c, out, BUF, &n, &err), SCRAM_OK);
	assert_mem("n,,n=a=2Cb=3Dc,r=xyz", out, n);
	scram_client_free(c);

	assert_null(scram_client_new_keys(NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_rfc7677_client),
		cmocka_unit_test(test_rfc7677_server),
		cmocka_unit_test(test_make_secret),
		cmocka_unit_test(test_parse_secret_strict),
		cmocka_unit_test(test_roundtrip_plain),
		cmocka_unit_test(test_roundtrip_scram),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_doomed),
		cmocka_unit_test(test_passthrough),
		cmocka_unit_test(test_bad_client_first),
		cmocka_unit_test(test_bad_client_final),
		cmocka_unit_test(test_client_final_variants),
		cmocka_unit_test(test_server_state_errors),
		cmocka_unit_test(test_bad_server_first),
		cmocka_unit_test(test_bad_server_final),
		cmocka_unit_test(test_client_misc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
