// FUZZ_SOURCES: src/auth/*.c
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
 *
 * Build with clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc
 * over every .c file in src/auth plus this one, linked with -lcrypto.
 */
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
	scram_server_free(s);
}

static void client_two(scram_client_t *c, const char *a, size_t alen,
		       const char *b, size_t blen)
{
	char out[OUTCAP];
	size_t n;
	const char *err;

	if (c == NULL)
		return;
	if (scram_client_set_nonce(c, "abc", 3) &&
	    scram_client_first(c, out, sizeof(out), &n, &err) == SCRAM_OK &&
	    scram_client_final(c, a, alen, out, sizeof(out), &n, &err) ==
		    SCRAM_OK)
		(void)scram_client_verify(c, b, blen, &err);
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

	switch (mode % 5) {
	case 0:
		server_two(scram_server_new("user", SECRET), a, alen, b, blen);
		break;
	case 1: {
		scram_server_t *s = scram_server_new("user", SECRET);
		const char *first = mode & 0x80 ? "y,,n=,r=abc" : "n,,n=,r=abc";
		char out[OUTCAP];
		size_t n;
		const char *err;

		if (s == NULL)
			break;
		if (scram_server_set_nonce(s, "SNONCE", 6) &&
		    scram_server_first(s, first, strlen(first), out,
				       sizeof(out), &n, &err) == SCRAM_OK)
			(void)scram_server_final(s, a, rest, out, sizeof(out),
						 &n, &err);
		scram_server_free(s);
		break;
	}
	case 2:
		server_two(scram_server_new_mock("ghost", NULL, key), a, alen,
			   b, blen);
		break;
	case 3: {
		uint8_t ck[32] = {4}, sk[32] = {5};

		client_two(scram_client_new_keys(ck, sk), a, alen, b, blen);
		break;
	}
	case 4:
		if (!costly(a, alen))
			client_two(scram_client_new("pencil"), a, alen, b,
				   blen);
		break;
	}
	return 0;
}
