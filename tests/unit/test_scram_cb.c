/* SPDX-License-Identifier: MIT */
/*
 * test_scram_cb.c - SCRAM-SHA-256-PLUS channel binding (tls-server-end-point)
 * on both sides, mechanism selection for our server logins, and messages,
 * salts and passwords at the length limits. Split from test_scram.c, whose
 * helpers the first part of this file repeats, to keep files short.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "auth/auth_internal.h"

/*
 * SCRAM secret for "pencil" with the RFC 7677 salt and 4096 iterations,
 * as PostgreSQL would store it (cross-checked in test_scram.c).
 */
#define RFC_SECRET                                                             \
	"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"                         \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"                        \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

#include "scram_test_util.h"

/* ---- channel binding (SCRAM-SHA-256-PLUS, tls-server-end-point) ---- */

/* Two stand-ins for certificate hashes: SHA-256 sized and SHA-512 sized. */
static const uint8_t CB_A[32] = {1,  2,	 3,  4,	 5,  6,	 7,  8,	 9,  10, 11,
				 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
				 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static uint8_t cb_b[32];
static uint8_t cb_64[SCRAM_MAX_CB_DATA];

static void init_cb(void)
{
	memcpy(cb_b, CB_A, 32);
	cb_b[31] ^= 0x80;
	for (size_t i = 0; i < sizeof(cb_64); i++)
		cb_64[i] = (uint8_t)(0xa0 + i);
}

/* A server for STORED that offers PLUS with CB (NULL: no binding data). */
static scram_server_t *cb_server(const char *stored, const uint8_t *cb,
				 size_t cblen, const char *mech)
{
	scram_server_t *s = scram_server_new("alice", stored);
	const char *err = NULL;

	assert_non_null(s);
	if (cb != NULL)
		assert_true(scram_server_set_channel_binding(s, cb, cblen));
	if (mech != NULL)
		assert_int_equal(scram_server_set_mechanism(s, mech, &err),
				 SCRAM_OK);
	return s;
}

static scram_client_t *cb_client(const char *password, const uint8_t *cb,
				 size_t cblen)
{
	scram_client_t *c = scram_client_new(password);

	assert_non_null(c);
	if (cb != NULL)
		assert_true(scram_client_set_channel_binding(c, cb, cblen));
	return c;
}

/* Full exchange that may fail at the final step with any status. */
static scram_status_t exchange_err(scram_client_t *c, scram_server_t *s,
				   const char **errp)
{
	char m1[BUF], m2[BUF], m3[BUF], m4[BUF];
	size_t l1, l2, l3, l4;
	const char *err = NULL;
	scram_status_t st;

	assert_int_equal(scram_client_first(c, m1, BUF, &l1, &err), SCRAM_OK);
	st = scram_server_first(s, m1, l1, m2, BUF, &l2, &err);
	if (st != SCRAM_OK)
		goto out;
	assert_int_equal(scram_client_final(c, m2, l2, m3, BUF, &l3, &err),
			 SCRAM_OK);
	st = scram_server_final(s, m3, l3, m4, BUF, &l4, &err);
	if (st == SCRAM_OK)
		assert_int_equal(scram_client_verify(c, m4, l4, &err),
				 SCRAM_OK);
	else
		assert_int_equal(l4, 0);
out:
	if (errp != NULL)
		*errp = err;
	return st;
}

static void test_cb_roundtrip(void **state)
{
	char secret[256];
	char m1[BUF], m2[BUF], m3[BUF], m4[BUF];
	size_t l1, l2, l3, l4;
	const char *err;
	scram_client_t *c;
	scram_server_t *s;
	static const char want_c[] =
		"c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsAQIDBAUGBwgJCgsMDQ4PEBESExQV"
		"FhcYGRobHB0eHyA=,r=";
	(void)state;
	init_cb();

	/* the messages, step by step: p= header, c= carries the hash */
	c = cb_client("pencil", CB_A, 32);
	s = cb_server(RFC_SECRET, CB_A, 32, SCRAM_MECH_PLUS_NAME);
	assert_true(scram_client_set_nonce(c, "abc", 3));
	assert_int_equal(scram_client_first(c, m1, BUF, &l1, &err), SCRAM_OK);
	assert_mem("p=tls-server-end-point,,n=,r=abc", m1, l1);
	assert_int_equal(scram_server_first(s, m1, l1, m2, BUF, &l2, &err),
			 SCRAM_OK);
	assert_int_equal(scram_client_final(c, m2, l2, m3, BUF, &l3, &err),
			 SCRAM_OK);
	assert_true(l3 > sizeof(want_c) - 1);
	assert_memory_equal(m3, want_c, sizeof(want_c) - 1);
	assert_int_equal(scram_server_final(s, m3, l3, m4, BUF, &l4, &err),
			 SCRAM_OK);
	assert_true(scram_server_channel_bound(s));
	assert_false(scram_client_channel_bound(c));
	assert_int_equal(scram_client_verify(c, m4, l4, &err), SCRAM_OK);
	assert_true(scram_client_channel_bound(c));
	scram_client_free(c);
	scram_server_free(s);

	/* plain stored password, a 64-byte (SHA-512) hash */
	c = cb_client("secret", cb_64, sizeof(cb_64));
	s = cb_server("secret", cb_64, sizeof(cb_64), SCRAM_MECH_PLUS_NAME);
	assert_int_equal(exchange(c, s), SCRAM_OK);
	assert_true(scram_server_channel_bound(s));
	scram_client_free(c);
	scram_server_free(s);

	/* the binding does not replace the password */
	assert_true(scram_make_secret("hunter2", NULL, 0, 0, secret,
				      sizeof(secret)));
	c = cb_client("hunter3", CB_A, 32);
	s = cb_server(secret, CB_A, 32, SCRAM_MECH_PLUS_NAME);
	assert_int_equal(exchange_err(c, s, &err), SCRAM_FAIL);
	assert_false(scram_server_channel_bound(s));
	scram_client_free(c);
	scram_server_free(s);

	/* PLUS offered, the client picks plain SCRAM with "n": fine */
	c = cb_client("hunter2", NULL, 0);
	s = cb_server(secret, CB_A, 32, SCRAM_MECH_NAME);
	assert_int_equal(exchange(c, s), SCRAM_OK);
	assert_false(scram_server_channel_bound(s));
	assert_false(scram_client_channel_bound(c));
	scram_client_free(c);
	scram_server_free(s);

	/* no PLUS offered, a client that could bind says "y": fine */
	c = cb_client("hunter2", NULL, 0);
	assert_true(scram_client_set_cb_unused(c));
	assert_true(scram_client_set_nonce(c, "abc", 3));
	s = cb_server(secret, NULL, 0, SCRAM_MECH_NAME);
	assert_int_equal(scram_client_first(c, m1, BUF, &l1, &err), SCRAM_OK);
	assert_mem("y,,n=,r=abc", m1, l1);
	assert_int_equal(scram_server_first(s, m1, l1, m2, BUF, &l2, &err),
			 SCRAM_OK);
	assert_int_equal(scram_client_final(c, m2, l2, m3, BUF, &l3, &err),
			 SCRAM_OK);
	assert_memory_equal(m3, "c=eSws,r=", 9);
	assert_int_equal(scram_server_final(s, m3, l3, m4, BUF, &l4, &err),
			 SCRAM_OK);
	assert_int_equal(scram_client_verify(c, m4, l4, &err), SCRAM_OK);
	assert_false(scram_client_channel_bound(c));
	scram_client_free(c);
	scram_server_free(s);
}

static void test_cb_mismatch(void **state)
{
	const char *err = NULL;
	scram_client_t *c;
	scram_server_t *s;
	uint8_t ck[32], sk[32];
	(void)state;
	init_cb();

	/* one bit off: another certificate (a man in the middle) */
	c = cb_client("pencil", cb_b, 32);
	s = cb_server(RFC_SECRET, CB_A, 32, SCRAM_MECH_PLUS_NAME);
	assert_int_equal(exchange_err(c, s, &err), SCRAM_CB_FAIL);
	assert_string_equal(err, "SCRAM channel binding check failed");
	assert_false(scram_server_keys(s, ck, sk));
	assert_false(scram_server_channel_bound(s));
	scram_client_free(c);
	scram_server_free(s);

	/* a hash of another length (SHA-512 vs SHA-256) */
	c = cb_client("pencil", cb_64, sizeof(cb_64));
	s = cb_server(RFC_SECRET, CB_A, 32, SCRAM_MECH_PLUS_NAME);
	assert_int_equal(exchange_err(c, s, &err), SCRAM_CB_FAIL);
	scram_client_free(c);
	scram_server_free(s);

	/* checked before the proof: a wrong password still gets CB_FAIL */
	c = cb_client("wrong", cb_b, 32);
	s = cb_server(RFC_SECRET, CB_A, 32, SCRAM_MECH_PLUS_NAME);
	assert_int_equal(exchange_err(c, s, &err), SCRAM_CB_FAIL);
	scram_client_free(c);
	scram_server_free(s);

	/* and so does a doomed exchange, like a real user */
	c = cb_client("x", cb_b, 32);
	s = scram_server_new("ghost", NULL);
	assert_true(scram_server_set_channel_binding(s, CB_A, 32));
	assert_int_equal(
		scram_server_set_mechanism(s, SCRAM_MECH_PLUS_NAME, &err),
		SCRAM_OK);
	assert_int_equal(exchange_err(c, s, &err), SCRAM_CB_FAIL);
	scram_client_free(c);
	scram_server_free(s);
	c = cb_client("x", CB_A, 32);
	s = scram_server_new("ghost", NULL);
	assert_true(scram_server_set_channel_binding(s, CB_A, 32));
	assert_int_equal(
		scram_server_set_mechanism(s, SCRAM_MECH_PLUS_NAME, &err),
		SCRAM_OK);
	assert_int_equal(exchange_err(c, s, &err), SCRAM_FAIL);
	scram_client_free(c);
	scram_server_free(s);
}

/* Server past a PLUS client-first with a fixed nonce. */
static scram_server_t *plus_at_final(const uint8_t *cb, size_t cblen,
				     const char *cfirst, char *sfirst,
				     size_t *sl)
{
	scram_server_t *s = cb_server(RFC_SECRET, cb, cblen, NULL);
	const char *err;

	assert_int_equal(
		scram_server_set_mechanism(s, SCRAM_MECH_PLUS_NAME, &err),
		SCRAM_OK);
	assert_true(scram_server_set_nonce(s, "SNONCE", 6));
	assert_int_equal(server_first_str(s, cfirst, sfirst, sl), SCRAM_OK);
	return s;
}

static void test_cb_final_variants(void **state)
{
	char sfirst[BUF], msg[BUF], out[BUF], cfwp[BUF];
	char b64[256];
	uint8_t in[128];
	size_t sl, n;
	const char *err;
	scram_server_t *s;
	(void)state;
	init_cb();

	/* a hand-made right proof over the PLUS c= value */
	memcpy(in, SCRAM_GS2_PLUS, 24);
	memcpy(in + 24, CB_A, 32);
	b64[scram_b64_encode(in, 56, b64)] = '\0';
	s = plus_at_final(CB_A, 32, "p=tls-server-end-point,,n=,r=abc", sfirst,
			  &sl);
	snprintf(cfwp, sizeof(cfwp), "c=%s,r=abcSNONCE", b64);
	make_final("pencil", "n=,r=abc", sfirst, sl, cfwp, msg);
	assert_int_equal(server_final_str(s, msg, out, &n), SCRAM_OK);
	scram_server_free(s);

	/* c=biws (no binding data) in a PLUS exchange: binding check fails */
	s = plus_at_final(CB_A, 32, "p=tls-server-end-point,,n=,r=abc", sfirst,
			  &sl);
	make_final("pencil", "n=,r=abc", sfirst, sl, "c=biws,r=abcSNONCE", msg);
	assert_int_equal(
		scram_server_final(s, msg, strlen(msg), out, BUF, &n, &err),
		SCRAM_CB_FAIL);
	assert_string_equal(err, "SCRAM channel binding check failed");
	scram_server_free(s);

	/* the header alone, or with trailing bytes, is no match either */
	{
		size_t lens[] = {24, 55, 57};

		for (size_t i = 0; i < 3; i++) {
			in[56] = 0;
			b64[scram_b64_encode(in, lens[i], b64)] = '\0';
			s = plus_at_final(CB_A, 32,
					  "p=tls-server-end-point,,n=,r=abc",
					  sfirst, &sl);
			snprintf(cfwp, sizeof(cfwp), "c=%s,r=abcSNONCE", b64);
			make_final("pencil", "n=,r=abc", sfirst, sl, cfwp, msg);
			assert_int_equal(server_final_str(s, msg, out, &n),
					 SCRAM_CB_FAIL);
			scram_server_free(s);
		}
	}

	/* plain exchange while binding data is set: c= must be "biws" */
	b64[scram_b64_encode(in, 56, b64)] = '\0';
	s = cb_server(RFC_SECRET, CB_A, 32, SCRAM_MECH_NAME);
	assert_true(scram_server_set_nonce(s, "SNONCE", 6));
	assert_int_equal(server_first_str(s, "n,,n=,r=abc", sfirst, &sl),
			 SCRAM_OK);
	snprintf(cfwp, sizeof(cfwp), "c=%s,r=abcSNONCE", b64);
	make_final("pencil", "n=,r=abc", sfirst, sl, cfwp, msg);
	assert_int_equal(
		scram_server_final(s, msg, strlen(msg), out, BUF, &n, &err),
		SCRAM_PROTO);
	assert_string_equal(err, "unexpected SCRAM channel-binding attribute "
				 "in client-final-message");
	scram_server_free(s);
}

static void test_cb_first_errors(void **state)
{
	static const struct {
		const char *mech; /* NULL: no set_mechanism call */
		bool cb;	  /* binding data set */
		const char *msg;
		scram_status_t want;
		const char *err; /* NULL: any */
	} cases[] = {
		/* downgrade: we offered PLUS, the client thinks we did not */
		{SCRAM_MECH_NAME, true, "y,,n=,r=abc", SCRAM_CB_FAIL,
		 "SCRAM channel binding negotiation error"},
		{NULL, true, "y,,n=,r=abc", SCRAM_CB_FAIL, NULL},
		{SCRAM_MECH_NAME, true, "n,,n=,r=abc", SCRAM_OK, NULL},
		{SCRAM_MECH_NAME, false, "y,,n=,r=abc", SCRAM_OK, NULL},
		/* p= needs the PLUS mechanism */
		{SCRAM_MECH_NAME, true, "p=tls-server-end-point,,n=,r=abc",
		 SCRAM_PROTO, NULL},
		{NULL, true, "p=tls-server-end-point,,n=,r=abc", SCRAM_PROTO,
		 NULL},
		{SCRAM_MECH_NAME, false, "p=tls-server-end-point,,n=,r=abc",
		 SCRAM_PROTO, NULL},
		/* PLUS needs p= */
		{SCRAM_MECH_PLUS_NAME, true, "n,,n=,r=abc", SCRAM_PROTO, NULL},
		{SCRAM_MECH_PLUS_NAME, true, "y,,n=,r=abc", SCRAM_PROTO, NULL},
		/* only tls-server-end-point */
		{SCRAM_MECH_PLUS_NAME, true, "p=tls-unique,,n=,r=abc",
		 SCRAM_PROTO, "unsupported SCRAM channel-binding type"},
		{SCRAM_MECH_PLUS_NAME, true, "p=tls-exporter,,n=,r=abc",
		 SCRAM_PROTO, "unsupported SCRAM channel-binding type"},
		{SCRAM_MECH_PLUS_NAME, true,
		 "p=tls-server-end-pointx,,n=,r=abc", SCRAM_PROTO,
		 "unsupported SCRAM channel-binding type"},
		{SCRAM_MECH_PLUS_NAME, true, "p=tls-server-end-poin,,n=,r=abc",
		 SCRAM_PROTO, "unsupported SCRAM channel-binding type"},
		{SCRAM_MECH_PLUS_NAME, true, "p=,,n=,r=abc", SCRAM_PROTO,
		 "unsupported SCRAM channel-binding type"},
		{SCRAM_MECH_PLUS_NAME, true, "p=tls-server-end-point",
		 SCRAM_PROTO, NULL},
		/* malformed around it */
		{SCRAM_MECH_PLUS_NAME, true, "p,,n=,r=abc", SCRAM_PROTO, NULL},
		{SCRAM_MECH_PLUS_NAME, true, "p", SCRAM_PROTO, NULL},
		{SCRAM_MECH_PLUS_NAME, true, "p=tls-server-end-point,",
		 SCRAM_PROTO, NULL},
		{SCRAM_MECH_PLUS_NAME, true,
		 "p=tls-server-end-point,a=u,n=,r=abc", SCRAM_PROTO, NULL},
		{SCRAM_MECH_PLUS_NAME, true,
		 "p=tls-server-end-point,,n=,r=", SCRAM_PROTO, NULL},
		{SCRAM_MECH_PLUS_NAME, true, "p=tls-server-end-point,,n=,r=abc",
		 SCRAM_OK, NULL},
	};
	char out[BUF];
	size_t n;
	const char *err;
	(void)state;
	init_cb();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		scram_server_t *s = scram_server_new("u", RFC_SECRET);
		scram_status_t st;

		if (cases[i].cb)
			assert_true(
				scram_server_set_channel_binding(s, CB_A, 32));
		if (cases[i].mech != NULL)
			assert_int_equal(scram_server_set_mechanism(
						 s, cases[i].mech, &err),
					 SCRAM_OK);
		err = NULL;
		st = scram_server_first(s, cases[i].msg, strlen(cases[i].msg),
					out, BUF, &n, &err);
		if (st != cases[i].want ||
		    (cases[i].err != NULL &&
		     (err == NULL || strcmp(err, cases[i].err) != 0))) {
			print_error("case %zu '%s': got %d (%s)\n", i,
				    cases[i].msg, st, err ? err : "-");
			fail();
		}
		if (st != SCRAM_OK) {
			assert_int_equal(n, 0);
			/* a dead exchange stays dead */
			assert_int_equal(server_final_str(s, "c=biws", out, &n),
					 SCRAM_PROTO);
		}
		scram_server_free(s);
	}
}

static void test_cb_server_setup(void **state)
{
	scram_server_t *s;
	const char *err = NULL;
	const char *m;
	size_t n;
	char out[BUF];
	static const char both[] = "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0";
	static const char plain[] = "SCRAM-SHA-256\0";
	(void)state;
	init_cb();

	/* the advertised list: PLUS first, only with binding data */
	s = scram_server_new("u", "pw");
	m = scram_server_mechanisms(s, &n);
	assert_int_equal(n, sizeof(plain));
	assert_memory_equal(m, plain, sizeof(plain));
	assert_true(scram_server_set_channel_binding(s, CB_A, 32));
	m = scram_server_mechanisms(s, &n);
	assert_int_equal(n, sizeof(both));
	assert_memory_equal(m, both, sizeof(both));
	m = scram_server_mechanisms(NULL, &n);
	assert_int_equal(n, sizeof(plain));
	scram_server_free(s);

	/* binding data: 1..64 bytes, before the exchange starts */
	s = scram_server_new("u", "pw");
	assert_false(scram_server_set_channel_binding(s, CB_A, 0));
	assert_false(scram_server_set_channel_binding(s, NULL, 32));
	assert_false(scram_server_set_channel_binding(s, cb_64, 65));
	assert_false(scram_server_set_channel_binding(NULL, CB_A, 32));
	assert_true(scram_server_set_channel_binding(s, cb_64, 64));
	assert_true(scram_server_set_channel_binding(s, CB_A, 1));
	assert_int_equal(server_first_str(s, "n,,n=,r=abc", out, &n), SCRAM_OK);
	assert_false(scram_server_set_channel_binding(s, CB_A, 32));
	assert_int_equal(scram_server_set_mechanism(s, SCRAM_MECH_NAME, &err),
			 SCRAM_PROTO);
	scram_server_free(s);

	/* PLUS without binding data was never offered */
	s = scram_server_new("u", "pw");
	assert_int_equal(
		scram_server_set_mechanism(s, SCRAM_MECH_PLUS_NAME, &err),
		SCRAM_PROTO);
	assert_string_equal(
		err,
		"client selected an invalid SASL authentication mechanism");
	assert_int_equal(server_first_str(s, "n,,n=,r=abc", out, &n),
			 SCRAM_PROTO);
	scram_server_free(s);
	{
		static const char *bad[] = {"", "SCRAM-SHA-1", "scram-sha-256",
					    "SCRAM-SHA-256-PLUS ",
					    "SCRAM-SHA-256 "};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			s = scram_server_new("u", "pw");
			assert_true(
				scram_server_set_channel_binding(s, CB_A, 32));
			assert_int_equal(
				scram_server_set_mechanism(s, bad[i], &err),
				SCRAM_PROTO);
			scram_server_free(s);
		}
	}
	assert_int_equal(scram_server_set_mechanism(NULL, "x", &err),
			 SCRAM_PROTO);
	s = scram_server_new("u", "pw");
	assert_int_equal(scram_server_set_mechanism(s, NULL, &err),
			 SCRAM_PROTO);
	scram_server_free(s);
	assert_false(scram_server_channel_bound(NULL));
}

/* ---- mechanism selection (our logins to servers) ---- */

#define L_BOTH	"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0"
#define L_PLAIN "SCRAM-SHA-256\0"
#define L_PLUS	"SCRAM-SHA-256-PLUS\0"
#define L_REV	"SCRAM-SHA-256\0SCRAM-SHA-256-PLUS\0"
#define L_OTHER "OAUTHBEARER\0SCRAM-SHA-1\0"
#define LIST(x) x, sizeof(x)

static void test_select_mechanism(void **state)
{
	static const struct {
		const char *list;
		size_t len;
		scram_cb_mode_t mode;
		bool tls, have_cb;
		scram_status_t want;
		const char *mech; /* on success */
		bool plus, unused;
		const char *err; /* on failure */
	} cases[] = {
		/* prefer: PLUS when possible, "y" when TLS and not offered */
		{LIST(L_BOTH), SCRAM_CB_PREFER, true, true, SCRAM_OK,
		 SCRAM_MECH_PLUS_NAME, true, false, NULL},
		{LIST(L_REV), SCRAM_CB_PREFER, true, true, SCRAM_OK,
		 SCRAM_MECH_PLUS_NAME, true, false, NULL},
		{LIST(L_PLUS), SCRAM_CB_PREFER, true, true, SCRAM_OK,
		 SCRAM_MECH_PLUS_NAME, true, false, NULL},
		{LIST(L_PLAIN), SCRAM_CB_PREFER, true, true, SCRAM_OK,
		 SCRAM_MECH_NAME, false, true, NULL},
		{LIST(L_PLAIN), SCRAM_CB_PREFER, false, false, SCRAM_OK,
		 SCRAM_MECH_NAME, false, false, NULL},
		/* hash unknown: plain with "n", since "y" would be refused */
		{LIST(L_BOTH), SCRAM_CB_PREFER, true, false, SCRAM_OK,
		 SCRAM_MECH_NAME, false, false, NULL},
		{LIST(L_PLUS), SCRAM_CB_PREFER, true, false, SCRAM_PROTO, NULL,
		 false, false,
		 "none of the server's SASL authentication mechanisms are "
		 "supported"},
		/* disable: never PLUS, always "n" */
		{LIST(L_BOTH), SCRAM_CB_DISABLE, true, true, SCRAM_OK,
		 SCRAM_MECH_NAME, false, false, NULL},
		{LIST(L_PLAIN), SCRAM_CB_DISABLE, true, true, SCRAM_OK,
		 SCRAM_MECH_NAME, false, false, NULL},
		{LIST(L_PLUS), SCRAM_CB_DISABLE, true, true, SCRAM_PROTO, NULL,
		 false, false, NULL},
		/* require */
		{LIST(L_BOTH), SCRAM_CB_REQUIRE, true, true, SCRAM_OK,
		 SCRAM_MECH_PLUS_NAME, true, false, NULL},
		{LIST(L_PLAIN), SCRAM_CB_REQUIRE, true, true, SCRAM_CB_FAIL,
		 NULL, false, false,
		 "channel binding is required, but server did not offer an "
		 "authentication method that supports channel binding"},
		{LIST(L_BOTH), SCRAM_CB_REQUIRE, true, false, SCRAM_CB_FAIL,
		 NULL, false, false,
		 "channel binding is required, but client does not support "
		 "it"},
		{LIST(L_BOTH), SCRAM_CB_REQUIRE, false, true, SCRAM_CB_FAIL,
		 NULL, false, false,
		 "channel binding required, but SSL not in use"},
		{LIST(L_PLAIN), SCRAM_CB_REQUIRE, false, false, SCRAM_CB_FAIL,
		 NULL, false, false, NULL},
		/* PLUS offered without TLS: stripped on the way */
		{LIST(L_BOTH), SCRAM_CB_PREFER, false, false, SCRAM_PROTO, NULL,
		 false, false,
		 "server offered SCRAM-SHA-256-PLUS authentication over a "
		 "non-SSL connection"},
		{LIST(L_BOTH), SCRAM_CB_DISABLE, false, false, SCRAM_PROTO,
		 NULL, false, false, NULL},
		/* unknown mechanisms are skipped, not errors */
		{LIST("OAUTHBEARER\0" L_PLAIN), SCRAM_CB_PREFER, false, false,
		 SCRAM_OK, SCRAM_MECH_NAME, false, false, NULL},
		{LIST(L_OTHER), SCRAM_CB_PREFER, false, false, SCRAM_PROTO,
		 NULL, false, false,
		 "none of the server's SASL authentication mechanisms are "
		 "supported"},
		{LIST(""), SCRAM_CB_PREFER, false, false, SCRAM_PROTO, NULL,
		 false, false, NULL},
		/* malformed lists */
		{"SCRAM-SHA-256", 13, SCRAM_CB_PREFER, false, false,
		 SCRAM_PROTO, NULL, false, false,
		 "invalid list of authentication mechanisms"},
		{L_PLAIN, sizeof(L_PLAIN) - 1, SCRAM_CB_PREFER, false, false,
		 SCRAM_PROTO, NULL, false, false, NULL},
		{L_PLAIN "x", sizeof(L_PLAIN "x"), SCRAM_CB_PREFER, false,
		 false, SCRAM_PROTO, NULL, false, false, NULL},
		{"", 0, SCRAM_CB_PREFER, false, false, SCRAM_PROTO, NULL, false,
		 false, NULL},
		{NULL, 0, SCRAM_CB_PREFER, false, false, SCRAM_PROTO, NULL,
		 false, false, NULL},
		/* near-miss names are unknown */
		{LIST("SCRAM-SHA-256-PLUSX\0scram-sha-256\0"), SCRAM_CB_PREFER,
		 true, true, SCRAM_PROTO, NULL, false, false, NULL},
	};
	scram_mech_choice_t ch;
	const char *err;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		scram_status_t st;

		err = NULL;
		st = scram_select_mechanism(cases[i].list, cases[i].len,
					    cases[i].mode, cases[i].tls,
					    cases[i].have_cb, &ch, &err);
		if (st != cases[i].want) {
			print_error("case %zu: got %d (%s)\n", i, st,
				    err ? err : "-");
			fail();
		}
		if (st != SCRAM_OK) {
			assert_non_null(err);
			if (cases[i].err != NULL)
				assert_string_equal(err, cases[i].err);
			assert_null(ch.mech);
			continue;
		}
		assert_string_equal(ch.mech, cases[i].mech);
		assert_int_equal(ch.plus, cases[i].plus);
		assert_int_equal(ch.cb_unused, cases[i].unused);
	}
	assert_int_equal(scram_select_mechanism(LIST(L_PLAIN), SCRAM_CB_PREFER,
						false, false, NULL, &err),
			 SCRAM_PROTO);
}

static void test_client_choose(void **state)
{
	char out[BUF];
	size_t n;
	const char *err;
	const char *mech;
	scram_client_t *c;
	(void)state;
	init_cb();

	/* PLUS over TLS with the hash: "p=" */
	c = scram_client_new("pw");
	assert_true(scram_client_set_nonce(c, "abc", 3));
	assert_int_equal(scram_client_choose(c, LIST(L_BOTH), SCRAM_CB_PREFER,
					     true, CB_A, 32, &mech, &err),
			 SCRAM_OK);
	assert_string_equal(mech, SCRAM_MECH_PLUS_NAME);
	assert_int_equal(scram_client_first(c, out, BUF, &n, &err), SCRAM_OK);
	assert_mem("p=tls-server-end-point,,n=,r=abc", out, n);
	/* too late to change anything */
	assert_false(scram_client_set_channel_binding(c, CB_A, 32));
	assert_false(scram_client_set_cb_unused(c));
	assert_int_equal(scram_client_choose(c, LIST(L_BOTH), SCRAM_CB_PREFER,
					     true, CB_A, 32, &mech, &err),
			 SCRAM_PROTO);
	assert_null(mech);
	scram_client_free(c);

	/* TLS, PLUS not offered: "y" */
	c = scram_client_new("pw");
	assert_true(scram_client_set_nonce(c, "abc", 3));
	assert_int_equal(scram_client_choose(c, LIST(L_PLAIN), SCRAM_CB_PREFER,
					     true, CB_A, 32, &mech, &err),
			 SCRAM_OK);
	assert_string_equal(mech, SCRAM_MECH_NAME);
	assert_int_equal(scram_client_first(c, out, BUF, &n, &err), SCRAM_OK);
	assert_mem("y,,n=,r=abc", out, n);
	scram_client_free(c);

	/* disable over TLS: "n"; no TLS: "n" */
	c = scram_client_new("pw");
	assert_true(scram_client_set_nonce(c, "abc", 3));
	assert_int_equal(scram_client_choose(c, LIST(L_BOTH), SCRAM_CB_DISABLE,
					     true, CB_A, 32, &mech, &err),
			 SCRAM_OK);
	assert_int_equal(scram_client_first(c, out, BUF, &n, &err), SCRAM_OK);
	assert_mem("n,,n=,r=abc", out, n);
	scram_client_free(c);
	c = scram_client_new("pw");
	assert_true(scram_client_set_nonce(c, "abc", 3));
	assert_int_equal(scram_client_choose(c, LIST(L_PLAIN), SCRAM_CB_PREFER,
					     false, NULL, 0, &mech, &err),
			 SCRAM_OK);
	assert_int_equal(scram_client_first(c, out, BUF, &n, &err), SCRAM_OK);
	assert_mem("n,,n=,r=abc", out, n);
	scram_client_free(c);

	/* require without PLUS: refused before anything is sent */
	c = scram_client_new("pw");
	assert_int_equal(scram_client_choose(c, LIST(L_PLAIN), SCRAM_CB_REQUIRE,
					     true, CB_A, 32, &mech, &err),
			 SCRAM_CB_FAIL);
	assert_null(mech);
	scram_client_free(c);
	/* an oversized hash counts as unknown */
	c = scram_client_new("pw");
	assert_int_equal(scram_client_choose(c, LIST(L_BOTH), SCRAM_CB_REQUIRE,
					     true, cb_64, 65, &mech, &err),
			 SCRAM_CB_FAIL);
	scram_client_free(c);

	/* the setters' own checks */
	c = scram_client_new("pw");
	assert_false(scram_client_set_channel_binding(c, CB_A, 0));
	assert_false(scram_client_set_channel_binding(c, NULL, 32));
	assert_false(scram_client_set_channel_binding(c, cb_64, 65));
	assert_true(scram_client_set_cb_unused(c));
	assert_true(scram_client_set_channel_binding(c, cb_64, 64));
	assert_false(scram_client_set_cb_unused(c));
	scram_client_free(c);
	assert_false(scram_client_set_channel_binding(NULL, CB_A, 32));
	assert_false(scram_client_set_cb_unused(NULL));
	assert_false(scram_client_channel_bound(NULL));
	assert_int_equal(scram_client_choose(NULL, LIST(L_BOTH),
					     SCRAM_CB_PREFER, true, CB_A, 32,
					     &mech, &err),
			 SCRAM_PROTO);
}

/*
 * The binding is per hop: the client binds to our certificate, we bind to
 * the server's; only the keys pass through.
 */
static void test_cb_passthrough(void **state)
{
	char secret[256];
	uint8_t ck[32], sk[32];
	const char *err;
	scram_client_t *c;
	scram_server_t *s;
	(void)state;
	init_cb();

	assert_true(scram_make_secret("hunter2", NULL, 0, 0, secret,
				      sizeof(secret)));
	/* client -> pgswitch, bound to our certificate A */
	c = cb_client("hunter2", CB_A, 32);
	s = cb_server(secret, CB_A, 32, SCRAM_MECH_PLUS_NAME);
	assert_int_equal(exchange(c, s), SCRAM_OK);
	assert_true(scram_server_keys(s, ck, sk));
	scram_client_free(c);
	scram_server_free(s);

	/* pgswitch -> server, bound to the server's certificate B */
	c = scram_client_new_keys(ck, sk);
	assert_true(scram_client_set_channel_binding(c, cb_b, 32));
	s = cb_server(secret, cb_b, 32, SCRAM_MECH_PLUS_NAME);
	assert_int_equal(exchange(c, s), SCRAM_OK);
	assert_true(scram_client_channel_bound(c));
	scram_client_free(c);
	scram_server_free(s);

	/* keys from a bound hop also work unbound on the next */
	c = scram_client_new_keys(ck, sk);
	s = cb_server(secret, NULL, 0, NULL);
	assert_int_equal(exchange(c, s), SCRAM_OK);
	scram_client_free(c);
	scram_server_free(s);

	/* reusing hop A's hash on hop B fails the check */
	c = scram_client_new_keys(ck, sk);
	assert_true(scram_client_set_channel_binding(c, CB_A, 32));
	s = cb_server(secret, cb_b, 32, SCRAM_MECH_PLUS_NAME);
	assert_int_equal(exchange_err(c, s, &err), SCRAM_CB_FAIL);
	scram_client_free(c);
	scram_server_free(s);
}

/* ---- long names, nonces, salts and passwords ---- */

static void test_long_messages(void **state)
{
	enum { LONG = 2048 };
	char *msg = malloc(BUF);
	char *sfirst = malloc(BUF);
	char *out = malloc(BUF);
	char *bare = malloc(BUF);
	char *cfwp = malloc(BUF);
	char *fin = malloc(BUF);
	char b64[256];
	uint8_t in[128];
	size_t sl, n;
	const char *err;
	scram_server_t *s;
	(void)state;
	init_cb();
	assert_non_null(fin);

	/* 2048-byte n= name, PLUS header, 64-byte hash: fits */
	memset(bare, 'u', BUF);
	memcpy(bare, "n=", 2);
	memcpy(bare + 2 + LONG, ",r=abc", 7);
	snprintf(msg, BUF, "%s%s", SCRAM_GS2_PLUS, bare);
	s = cb_server(RFC_SECRET, cb_64, 64, SCRAM_MECH_PLUS_NAME);
	assert_true(scram_server_set_nonce(s, "SNONCE", 6));
	assert_int_equal(
		scram_server_first(s, msg, strlen(msg), sfirst, BUF, &sl, &err),
		SCRAM_OK);
	memcpy(in, SCRAM_GS2_PLUS, 24);
	memcpy(in + 24, cb_64, 64);
	b64[scram_b64_encode(in, 88, b64)] = '\0';
	snprintf(cfwp, BUF, "c=%s,r=abcSNONCE", b64);
	make_final("pencil", bare, sfirst, sl, cfwp, fin);
	assert_int_equal(server_final_str(s, fin, out, &n), SCRAM_OK);
	scram_server_free(s);

	/* 2048-byte client nonce: fits every message */
	memset(bare, 'N', BUF);
	memcpy(bare, "n=,r=", 5);
	bare[5 + LONG] = '\0';
	snprintf(msg, BUF, "n,,%s", bare);
	s = scram_server_new("u", RFC_SECRET);
	assert_true(scram_server_set_nonce(s, "SNONCE", 6));
	assert_int_equal(
		scram_server_first(s, msg, strlen(msg), sfirst, BUF, &sl, &err),
		SCRAM_OK);
	snprintf(cfwp, BUF, "c=biws,r=%sSNONCE", bare + 5);
	make_final("pencil", bare, sfirst, sl, cfwp, fin);
	assert_int_equal(server_final_str(s, fin, out, &n), SCRAM_OK);
	scram_server_free(s);

	/* both at once is over the cap: refused, not truncated */
	memset(msg, 'x', BUF);
	n = (size_t)snprintf(msg, BUF, "%sn=", SCRAM_GS2_PLUS);
	memset(msg + n, 'u', LONG);
	n += LONG;
	memcpy(msg + n, ",r=", 3);
	n += 3;
	memset(msg + n, 'N', LONG);
	n += LONG;
	assert_true(n > SCRAM_MAX_MESSAGE);
	s = cb_server(RFC_SECRET, cb_64, 64, SCRAM_MECH_PLUS_NAME);
	assert_int_equal(scram_server_first(s, msg, n, out, BUF, &sl, &err),
			 SCRAM_PROTO);
	scram_server_free(s);

	free(msg);
	free(sfirst);
	free(out);
	free(bare);
	free(cfwp);
	free(fin);
}

/* Password of LEN bytes, not one repeated character. */
static char *long_password(size_t len, char first)
{
	char *pw = malloc(len + 1);

	assert_non_null(pw);
	for (size_t i = 0; i < len; i++)
		pw[i] = (char)('!' + (i * 7) % 90);
	pw[0] = first;
	pw[len] = '\0';
	return pw;
}

static void test_long_password(void **state)
{
	char *pw = long_password(2048, 'a');
	char *other = long_password(2048, 'b');
	char secret[512];
	scram_client_t *c;
	scram_server_t *s;
	(void)state;
	init_cb();

	/* plain stored password */
	assert_int_equal(run(pw, pw), SCRAM_OK);
	assert_int_equal(run(other, pw), SCRAM_FAIL);
	/* one byte shorter is another password */
	other[0] = 'a';
	other[2047] = '\0';
	assert_int_equal(run(other, pw), SCRAM_FAIL);
	/* a SCRAM secret made from it */
	assert_true(scram_make_secret(pw, NULL, 0, 0, secret, sizeof(secret)));
	assert_int_equal(auth_secret_kind(secret), AUTH_SECRET_SCRAM);
	assert_int_equal(run(pw, secret), SCRAM_OK);
	assert_int_equal(run(other, secret), SCRAM_FAIL);
	/* and bound */
	c = cb_client(pw, CB_A, 32);
	s = cb_server(secret, CB_A, 32, SCRAM_MECH_PLUS_NAME);
	assert_int_equal(exchange(c, s), SCRAM_OK);
	scram_client_free(c);
	scram_server_free(s);
	free(pw);
	free(other);
}

/*
 * The longest salt a 2047-byte userlist.txt secret can hold (~1450 raw
 * bytes) must parse as a SCRAM secret, or the secret would be taken for a
 * plain password; and the exchange carrying it must fit the cap.
 */
static void test_long_salt(void **state)
{
	enum { SALT = 1455 };
	uint8_t *salt = malloc(SALT);
	char *secret = malloc(4096);
	scram_secret_t *sec = malloc(sizeof(*sec));
	scram_client_t *c;
	scram_server_t *s;
	(void)state;
	init_cb();
	assert_non_null(sec);

	for (size_t i = 0; i < SALT; i++)
		salt[i] = (uint8_t)(i * 31 + 7);
	assert_true(scram_make_secret("pw", salt, SALT, 1, secret, 4096));
	assert_true(strlen(secret) <= AUTH_MAX_SECRET);
	assert_true(strlen(secret) > AUTH_MAX_SECRET - 8);
	assert_true(scram_parse_secret(secret, sec));
	assert_int_equal(sec->saltlen, SALT);
	assert_int_equal(auth_secret_kind(secret), AUTH_SECRET_SCRAM);
	c = cb_client("pw", cb_64, 64);
	s = cb_server(secret, cb_64, 64, SCRAM_MECH_PLUS_NAME);
	assert_int_equal(exchange(c, s), SCRAM_OK);
	scram_client_free(c);
	scram_server_free(s);
	assert_int_equal(run("pw", secret), SCRAM_OK);
	assert_int_equal(run("px", secret), SCRAM_FAIL);

	/* the biggest salt we take at all, and one byte more */
	free(salt);
	salt = calloc(1, SCRAM_MAX_SALT_LEN + 1);
	assert_non_null(salt);
	free(secret);
	secret = malloc(2 * SCRAM_MAX_MESSAGE);
	assert_non_null(secret);
	assert_true(scram_make_secret("pw", salt, SCRAM_MAX_SALT_LEN, 1, secret,
				      2 * SCRAM_MAX_MESSAGE));
	assert_true(scram_parse_secret(secret, sec));
	assert_false(scram_make_secret("pw", salt, SCRAM_MAX_SALT_LEN + 1, 1,
				       secret, 2 * SCRAM_MAX_MESSAGE));
	/* too long for a server-first-message: refused, not truncated */
	s = scram_server_new("u", secret);
	assert_non_null(s);
	{
		char out[BUF];
		size_t n;

		assert_int_equal(server_first_str(s, "n,,n=,r=abc", out, &n),
				 SCRAM_PROTO);
	}
	scram_server_free(s);
	free(salt);
	free(secret);
	free(sec);
}

static void test_names(void **state)
{
	scram_cb_mode_t m;
	(void)state;

	assert_string_equal(scram_status_sqlstate(SCRAM_OK), "00000");
	assert_string_equal(scram_status_sqlstate(SCRAM_FAIL), "28P01");
	assert_string_equal(scram_status_sqlstate(SCRAM_PROTO), "08P01");
	assert_string_equal(scram_status_sqlstate(SCRAM_CB_FAIL), "28000");
	assert_string_equal(scram_status_sqlstate((scram_status_t)99), "28P01");
	assert_string_equal(scram_status_name(SCRAM_CB_FAIL), "cb_fail");
	assert_string_equal(scram_status_name(SCRAM_OK), "ok");
	assert_string_equal(scram_status_name((scram_status_t)99), "unknown");
	assert_string_equal(scram_cb_mode_name(SCRAM_CB_DISABLE), "disable");
	assert_string_equal(scram_cb_mode_name(SCRAM_CB_PREFER), "prefer");
	assert_string_equal(scram_cb_mode_name(SCRAM_CB_REQUIRE), "require");
	assert_string_equal(scram_cb_mode_name((scram_cb_mode_t)9), "unknown");
	assert_true(scram_cb_mode_parse("require", &m));
	assert_int_equal(m, SCRAM_CB_REQUIRE);
	assert_true(scram_cb_mode_parse("disable", &m));
	assert_int_equal(m, SCRAM_CB_DISABLE);
	assert_true(scram_cb_mode_parse("prefer", &m));
	assert_int_equal(m, SCRAM_CB_PREFER);
	assert_false(scram_cb_mode_parse("Require", &m));
	assert_false(scram_cb_mode_parse("", &m));
	assert_false(scram_cb_mode_parse(NULL, &m));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cb_roundtrip),
		cmocka_unit_test(test_cb_mismatch),
		cmocka_unit_test(test_cb_final_variants),
		cmocka_unit_test(test_cb_first_errors),
		cmocka_unit_test(test_cb_server_setup),
		cmocka_unit_test(test_select_mechanism),
		cmocka_unit_test(test_client_choose),
		cmocka_unit_test(test_cb_passthrough),
		cmocka_unit_test(test_long_messages),
		cmocka_unit_test(test_long_password),
		cmocka_unit_test(test_long_salt),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
