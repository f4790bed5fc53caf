// clang-format off
// FUZZ_SOURCES: src/auth/scram_server.c src/auth/scram_client.c src/auth/scram_common.c src/auth/md5.c
// clang-format on
/* SPDX-License-Identifier: MIT */
/*
 * fuzz_scram.c - libFuzzer target for the SCRAM parsers.
 *
 * The first byte picks a mode, the next two give the split point between
 * two messages taken from the rest:
 *   0  server: A as client-first, then B as client-final
 *   1  server after a valid client-first ("n,," or "y,," by a bit of the
 *      mode byte), the whole rest as client-final; the server nonce is
 *      fixed, so a right nonce is reachable
 *   2  as 0, doomed exchange (unknown user, mock key)
 *   3  pass-through client with a fixed nonce: A as server-first, then B
 *      as server-final
 *   4  as 3 with a password (iteration counts above 4096 are skipped so
 *      one input cannot take seconds)
 *   5  as 0 with channel binding data set (PLUS offered); the client chose
 *      SCRAM-SHA-256-PLUS or SCRAM-SHA-256 by a bit of the mode byte
 *   6  as 1 after a valid "p=tls-server-end-point,," client-first, so the
 *      c= check against the binding data is reachable
 *   7  as 3 with the client bound to a certificate hash
 *   8  mechanism selection: the rest as an AuthenticationSASL list, the
 *      mode byte's high bits as channel_binding mode, TLS and hash known
 *
 * Build with clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc
 * over the FUZZ_SOURCES above (the rest of src/auth is not needed) plus
 * this one, linked with -lcrypto.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/auth_internal.h"

#define SECRET                                                                 \
	"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"                         \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"                        \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
#define OUTCAP (SCRAM_MAX_MESSAGE + 64)

static const uint8_t CB[32] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void server_two(scram_server_t *s, const char *a, size_t alen,
		       const char *b, size_t blen)
{
	char out[OUTCAP];
	size_t n;
	const char *err;
	uint8_t ck[32], sk[32];

	if (s == NULL)
		return;
	if (scram_server_first(s, a, alen, out, sizeof(out), &n, &err) ==
	    SCRAM_OK)
		(void)scram_server_final(s, b, blen, out, sizeof(out), &n,
					 &err);
	(void)scram_server_keys(s, ck, sk);
	(void)scram_server_channel_bound(s);
	scram_server_free(s);
}

/* A server offering PLUS; the client chose PLUS or not. */
static scram_server_t *bound_server(bool plus)
{
	scram_server_t *s = scram_server_new("user", SECRET);
	const char *err;

	if (s == NULL)
		return NULL;
	if (!scram_server_set_channel_binding(s, CB, sizeof(CB)) ||
	    scram_server_set_mechanism(
		    s, plus ? SCRAM_MECH_PLUS_NAME : SCRAM_MECH_NAME, &err) !=
		    SCRAM_OK) {
		scram_server_free(s);
		return NULL;
	}
	return s;
}

/* Server at the final step after FIRST, with a fixed server nonce. */
static void server_final_only(scram_server_t *s, const char *first,
			      const char *a, size_t alen)
{
	char out[OUTCAP];
	size_t n;
	const char *err;

	if (s == NULL)
		return;
	if (scram_server_set_nonce(s, "SNONCE", 6) &&
	    scram_server_first(s, first, strlen(first), out, sizeof(out), &n,
			       &err) == SCRAM_OK)
		(void)scram_server_final(s, a, alen, out, sizeof(out), &n,
					 &err);
	(void)scram_server_channel_bound(s);
	scram_server_free(s);
}

static void select_one(uint8_t mode, const char *a, size_t alen)
{
	scram_mech_choice_t ch;
	const char *err;
	const char *mech;
	scram_cb_mode_t cbm = (scram_cb_mode_t)((mode >> 6) % 3);
	bool tls = mode & 0x20;
	bool have_cb = mode & 0x10;
	scram_client_t *c;
	char out[OUTCAP];
	size_t n;

	(void)scram_select_mechanism(a, alen, cbm, tls, have_cb, &ch, &err);
	c = scram_client_new("pencil");
	if (c == NULL)
		return;
	if (scram_client_choose(c, a, alen, cbm, tls, have_cb ? CB : NULL,
				sizeof(CB), &mech, &err) == SCRAM_OK)
		(void)scram_client_first(c, out, sizeof(out), &n, &err);
	scram_client_free(c);
}

static void client_two(scram_client_t *c, bool bound, const char *a,
		       size_t alen, const char *b, size_t blen)
{
	char out[OUTCAP];
	size_t n;
	const char *err;

	if (c == NULL)
		return;
	if (scram_client_set_nonce(c, "abc", 3) &&
	    (!bound || scram_client_set_channel_binding(c, CB, sizeof(CB))) &&
	    scram_client_first(c, out, sizeof(out), &n, &err) == SCRAM_OK &&
	    scram_client_final(c, a, alen, out, sizeof(out), &n, &err) ==
		    SCRAM_OK)
		(void)scram_client_verify(c, b, blen, &err);
	(void)scram_client_channel_bound(c);
	scram_client_free(c);
}

/* Any "i=" with a number over 4096 in it: too slow to be worth it. */
static bool costly(const char *a, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (a[i] != 'i' || a[i + 1] != '=')
			continue;
		long v = 0;
		for (size_t k = i + 2; k < n && a[k] >= '0' && a[k] <= '9';
		     k++) {
			v = v * 10 + (a[k] - '0');
			if (v > 4096)
				return true;
		}
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = {1, 2, 3};
	const char *a;
	const char *b;
	size_t alen;
	size_t blen;
	size_t rest;
	uint8_t mode;

	if (size < 3)
		return 0;
	mode = data[0];
	rest = size - 3;
	alen = ((size_t)data[1] | (size_t)data[2] << 8) % (rest + 1);
	a = (const char *)data + 3;
	b = a + alen;
	blen = rest - alen;

	switch (mode % 9) {
	case 0:
		server_two(scram_server_new("user", SECRET), a, alen, b, blen);
		break;
	case 1:
		server_final_only(scram_server_new("user", SECRET),
				  mode & 0x80 ? "y,,n=,r=abc" : "n,,n=,r=abc",
				  a, rest);
		break;
	case 2:
		server_two(scram_server_new_mock("ghost", NULL, key), a, alen,
			   b, blen);
		break;
	case 3: {
		uint8_t ck[32] = {4}, sk[32] = {5};

		client_two(scram_client_new_keys(ck, sk), false, a, alen, b,
			   blen);
		break;
	}
	case 4:
		if (!costly(a, alen))
			client_two(scram_client_new("pencil"), false, a, alen,
				   b, blen);
		break;
	case 5:
		server_two(bound_server(mode & 0x40), a, alen, b, blen);
		break;
	case 6:
		server_final_only(bound_server(true),
				  "p=tls-server-end-point,,n=,r=abc", a, rest);
		break;
	case 7: {
		uint8_t ck[32] = {4}, sk[32] = {5};

		client_two(scram_client_new_keys(ck, sk), true, a, alen, b,
			   blen);
		break;
	}
	case 8:
		select_one(mode, a, rest);
		break;
	}
	return 0;
}
