/* SPDX-License-Identifier: MIT */
/*
 * scram_test_util.h - the in-process SCRAM exchange helpers that
 * test_scram.c and test_scram_cb.c share (cmocka assertions inside).
 * Include after <cmocka.h> and auth/auth.h.
 */
#ifndef PGSWITCH_SCRAM_TEST_UTIL_H
#define PGSWITCH_SCRAM_TEST_UTIL_H

#define BUF (SCRAM_MAX_MESSAGE + 64)

static inline void assert_mem(const char *want, const char *got, size_t gotlen)
{
	size_t wl = strlen(want);

	if (wl != gotlen || memcmp(want, got, wl) != 0) {
		print_error("want: %s\n got: %.*s\n", want, (int)gotlen, got);
		fail();
	}
}

static inline scram_status_t
server_first_str(scram_server_t *s, const char *msg, char *out, size_t *outlen)
{
	const char *err = NULL;
	scram_status_t st =
		scram_server_first(s, msg, strlen(msg), out, BUF, outlen, &err);

	if (st != SCRAM_OK)
		assert_non_null(err);
	return st;
}

static inline scram_status_t
server_final_str(scram_server_t *s, const char *msg, char *out, size_t *outlen)
{
	const char *err = NULL;
	scram_status_t st =
		scram_server_final(s, msg, strlen(msg), out, BUF, outlen, &err);

	if (st != SCRAM_OK)
		assert_non_null(err);
	return st;
}

/*
 * Full in-process exchange. Returns the server's verdict on the proof;
 * on success also checks the client accepts the server signature.
 */
static inline scram_status_t exchange(scram_client_t *c, scram_server_t *s)
{
	char m1[BUF], m2[BUF], m3[BUF], m4[BUF];
	size_t l1, l2, l3, l4;
	const char *err = NULL;
	scram_status_t st;

	assert_int_equal(scram_client_first(c, m1, sizeof(m1), &l1, &err),
			 SCRAM_OK);
	assert_int_equal(
		scram_server_first(s, m1, l1, m2, sizeof(m2), &l2, &err),
		SCRAM_OK);
	assert_int_equal(
		scram_client_final(c, m2, l2, m3, sizeof(m3), &l3, &err),
		SCRAM_OK);
	st = scram_server_final(s, m3, l3, m4, sizeof(m4), &l4, &err);
	if (st == SCRAM_OK)
		assert_int_equal(scram_client_verify(c, m4, l4, &err),
				 SCRAM_OK);
	else
		assert_int_equal(l4, 0);
	return st;
}

static inline scram_status_t run(const char *password, const char *stored)
{
	scram_client_t *c = scram_client_new(password);
	scram_server_t *s = scram_server_new("alice", stored);
	scram_status_t st;

	assert_non_null(c);
	assert_non_null(s);
	st = exchange(c, s);
	scram_client_free(c);
	scram_server_free(s);
	return st;
}

/* Parse a server-first message into salt and iterations. */
static inline void parse_sfirst(const char *m, size_t n, uint8_t *salt,
				size_t *saltlen, int *iter)
{
	scram_cursor_t cur = {m, m + n};
	const char *v;
	size_t vl;
	char name;

	assert_true(scram_next_attr(&cur, &name, &v, &vl));
	assert_int_equal(name, 'r');
	assert_true(scram_next_attr(&cur, &name, &v, &vl));
	assert_int_equal(name, 's');
	assert_true(scram_b64_decode(v, vl, salt, 64, saltlen));
	assert_true(scram_next_attr(&cur, &name, &v, &vl));
	assert_int_equal(name, 'i');
	assert_true(scram_parse_iterations(v, vl, iter));
	assert_true(cur.p == cur.end);
}

/* A proof computed by hand, so the tests can vary the client-final. */
static inline void make_final(const char *password, const char *bare,
			      const char *sfirst, size_t sfirst_len,
			      const char *cfwp, char *out)
{
	uint8_t salt[64];
	size_t saltlen;
	int iter;
	uint8_t ck[32], stored[32], sig[32], proof[32];
	char b64[64];

	parse_sfirst(sfirst, sfirst_len, salt, &saltlen, &iter);
	assert_true(scram_derive_keys(password, salt, saltlen, iter, ck, NULL));
	assert_true(scram_sha256(ck, 32, stored));
	assert_true(scram_hmac_auth(stored, bare, strlen(bare), sfirst,
				    sfirst_len, cfwp, strlen(cfwp), sig));
	scram_xor(proof, ck, sig, 32);
	b64[scram_b64_encode(proof, 32, b64)] = '\0';
	sprintf(out, "%s,p=%s", cfwp, b64);
}

#endif
