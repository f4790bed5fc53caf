/* SPDX-License-Identifier: MIT */
/*
 * auth_internal.h - helpers shared by the auth module's .c files, plus
 * test-only hooks. Not part of the public interface: only the auth .c files,
 * the unit tests and the fuzzer include it.
 */
#ifndef PGSWITCH_AUTH_INTERNAL_H
#define PGSWITCH_AUTH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"

#define SCRAM_KEY_LEN		 32   /* SHA-256 output */
#define SCRAM_DEFAULT_ITERATIONS 4096 /* PostgreSQL's scram_iterations */
#define SCRAM_DEFAULT_SALT_LEN	 16   /* PostgreSQL's SCRAM_DEFAULT_SALT_LEN */
/*
 * Raw salt bytes we accept anywhere; PostgreSQL makes 16. Any salt whose
 * base64 fits in a SCRAM message fits here, so a long salt is refused by
 * the message cap, never silently: a SCRAM secret whose salt did not
 * parse would be taken for a plain password.
 */
#define SCRAM_MAX_SALT_LEN (SCRAM_MAX_MESSAGE / 4 * 3)
/* Raw nonce bytes; base64 gives 24 printable chars, as PostgreSQL. */
#define SCRAM_NONCE_RAW_LEN 18
/* Longest nonce the test hooks accept. */
#define SCRAM_MAX_NONCE_LEN 128
/*
 * Ceiling on the iteration count a server may ask us (as client) to run.
 * PBKDF2 runs on the caller's thread, so an unbounded count lets a rogue
 * server stall it; 1M is above any sane setting (OWASP suggests 600k).
 */
#define SCRAM_MAX_ITERATIONS 1000000
#define SCRAM_SECRET_PREFIX  "SCRAM-SHA-256$"
/* gs2 header of a binding exchange (no authzid: we never send or take one) */
#define SCRAM_GS2_PLUS "p=" SCRAM_CB_TYPE ",,"
/* Longest cbind-input: gs2 header then the certificate hash. */
#define SCRAM_CBIND_MAX (sizeof(SCRAM_GS2_PLUS) - 1 + SCRAM_MAX_CB_DATA)

/* A parsed "SCRAM-SHA-256$iter:salt$StoredKey:ServerKey" secret. */
typedef struct scram_secret {
	int iterations;
	size_t saltlen;
	uint8_t salt[SCRAM_MAX_SALT_LEN];
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
} scram_secret_t;

/* Cursor over a message that is not NUL-terminated. */
typedef struct scram_cursor {
	const char *p;
	const char *end;
} scram_cursor_t;

/* ---- scram_common.c ---- */

/* Encoded length of N bytes (no NUL); the macro is for array sizes. */
#define SCRAM_B64_LEN(n) ((((size_t)(n)) + 2) / 3 * 4)
size_t scram_b64_len(size_t n);
/* Standard base64 with padding; writes scram_b64_len(n) chars, no NUL. */
size_t scram_b64_encode(const uint8_t *in, size_t n, char *out);
/*
 * Strict base64 decode: length a multiple of 4, only the standard alphabet,
 * at most two '=' and only at the end, unused bits zero. False if invalid
 * or if the result does not fit in CAP.
 */
bool scram_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap,
		      size_t *outlen);
/*
 * The c= value of a client-final-message: base64(GS2 || CB), where CB
 * (CBLEN <= SCRAM_MAX_CB_DATA, may be 0) is the channel binding data.
 * OUT holds SCRAM_B64_LEN(SCRAM_CBIND_MAX); returns the length, no NUL.
 */
size_t scram_cbind_b64(const char *gs2, size_t gs2len, const uint8_t *cb,
		       size_t cblen, char *out);

bool scram_sha256(const void *data, size_t len, uint8_t out[SCRAM_KEY_LEN]);
bool scram_hmac(const uint8_t *key, size_t keylen, const void *data, size_t len,
		uint8_t out[SCRAM_KEY_LEN]);
/* HMAC(key, a "," b "," c): the SCRAM AuthMessage signature. */
bool scram_hmac_auth(const uint8_t key[SCRAM_KEY_LEN], const char *a,
		     size_t alen, const char *b, size_t blen, const char *c,
		     size_t clen, uint8_t out[SCRAM_KEY_LEN]);
/* SaltedPassword, then ClientKey and ServerKey (either may be NULL). */
bool scram_derive_keys(const char *password, const uint8_t *salt,
		       size_t saltlen, int iterations,
		       uint8_t client_key[SCRAM_KEY_LEN],
		       uint8_t server_key[SCRAM_KEY_LEN]);
bool scram_parse_secret(const char *secret, scram_secret_t *out);
/* "1".."2147483647", digits only. */
bool scram_parse_iterations(const char *s, size_t n, int *out);
/* RFC 5802 "printable": %x21-2B / %x2D-7E, at least one char. */
bool scram_printable(const char *s, size_t n);
void scram_xor(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t n);

/*
 * Read "<name>=<value>" at the cursor; value runs to the next ',' or the
 * end. A separating ',' is consumed, but must be followed by more input
 * (no trailing comma). NAME must be an ASCII letter. False if malformed.
 */
bool scram_next_attr(scram_cursor_t *cur, char *name, const char **val,
		     size_t *vlen);

/* ---- test-only hooks (tests and fuzzer; never called by pgswitch) ---- */

/* Fix the server nonce suffix; before scram_server_first. */
bool scram_server_set_nonce(scram_server_t *s, const char *nonce, size_t len);
/* Fix the client nonce; before scram_client_first. */
bool scram_client_set_nonce(scram_client_t *c, const char *nonce, size_t len);
/*
 * Send USER in the client-first n= attribute instead of the empty name
 * libpq sends (PostgreSQL ignores it; RFC 7677's example needs "user").
 */
bool scram_client_set_user(scram_client_t *c, const char *user, size_t len);

#endif
