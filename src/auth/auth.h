/* SPDX-License-Identifier: MIT */
/*
 * auth.h - password secrets, userlist.txt, md5 and SCRAM-SHA-256.
 *
 * Interface:
 *   auth_file_*      load and query a PgBouncer userlist.txt
 *   auth_secret_kind classify a stored secret (plain / md5 / SCRAM)
 *   auth_md5_*       md5 secrets, verification, server-login responses
 *   scram_server_*   SCRAM-SHA-256 exchange where we are the server (clients)
 *   scram_client_*   SCRAM-SHA-256 exchange where we are the client (servers)
 *
 * Pure crypto/parsing on OpenSSL primitives: no sockets, no logging, no
 * globals. Errors come back as a return code plus a static error string.
 * An unknown user goes through the same code path as a wrong password
 * ("doomed" exchange with a mock salt), so both fail alike and take the
 * same time.
 */
#ifndef PGSWITCH_AUTH_H
#define PGSWITCH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth_types.h"

/* ---- userlist.txt ---- */

/*
 * Load a userlist.txt ("user" "secret" per line, "" escapes a quote, ;
 * comments). Returns a new object owned by the caller, or NULL with
 * *errstr set if the file cannot be read. Malformed lines are skipped and
 * counted in *bad_lines (may be NULL).
 */
auth_file_t *auth_file_load(const char *path, int *bad_lines,
			    const char **errstr);
/* Stored secret for USER, or NULL. Valid until auth_file_free. */
const char *auth_file_lookup(const auth_file_t *af, const char *user);
void auth_file_free(auth_file_t *af);

auth_secret_kind_t auth_secret_kind(const char *secret);

/* ---- md5 ---- */

/* OUT = "md5" + hex(md5(password || user)), NUL-terminated. */
void auth_md5_secret(const char *user, const char *password,
		     char out[AUTH_MD5_LEN + 1]);
/*
 * Build the PasswordMessage payload for an AuthenticationMD5Password
 * request from a server: STORED is a plain password or an "md5..." secret.
 */
void auth_md5_response(const char *stored, const char *user,
		       const uint8_t salt[4], char out[AUTH_MD5_LEN + 1]);
/*
 * Check a client's md5 response. STORED may be plain or md5; NULL means
 * unknown user (always false, same work done). Constant-time compare.
 */
bool auth_md5_verify(const char *stored, const char *user,
		     const uint8_t salt[4], const char *response);

/* Constant-time string equality, for plain passwords. */
bool auth_str_equal(const char *a, const char *b);

/* ---- SCRAM-SHA-256, server side (authenticating a client) ---- */

/*
 * Start an exchange for USER. STORED is a plain password or a SCRAM secret
 * ("SCRAM-SHA-256$iter:salt$StoredKey:ServerKey"); NULL (unknown user) or
 * an md5 secret gives a doomed exchange that fails at the final step.
 * Returns a new state owned by the caller (scram_server_free), or NULL on
 * allocation failure.
 */
scram_server_t *scram_server_new(const char *user, const char *stored);
/*
 * As scram_server_new, but a doomed exchange takes its mock salt from
 * HMAC-SHA-256(MOCK_KEY, user), so an unknown user shows the same salt on
 * every attempt, like a real SCRAM secret would. MOCK_KEY (32 random bytes
 * the caller keeps for the process lifetime) may be NULL: the salt is then
 * random per exchange, like a plain stored password. scram_server_new is
 * this with MOCK_KEY NULL.
 */
scram_server_t *scram_server_new_mock(const char *user, const char *stored,
				      const uint8_t *mock_key);
void scram_server_free(scram_server_t *s);

/*
 * client-first-message (the SASLInitialResponse data) in, server-first-
 * message out (into OUT, at most CAP bytes, length in *OUTLEN).
 * Returns SCRAM_OK, or SCRAM_PROTO for a malformed message (*errstr set).
 */
scram_status_t scram_server_first(scram_server_t *s, const char *msg,
				  size_t len, char *out, size_t cap,
				  size_t *outlen, const char **errstr);
/*
 * client-final-message in, server-final-message out. Returns SCRAM_OK if
 * the proof is right, SCRAM_FAIL if wrong (or doomed), SCRAM_PROTO if
 * malformed.
 */
scram_status_t scram_server_final(scram_server_t *s, const char *msg,
				  size_t len, char *out, size_t cap,
				  size_t *outlen, const char **errstr);
/*
 * After a successful scram_server_final: the client's ClientKey (recovered
 * from the proof) and the ServerKey, so that a server login can reuse them
 * (SCRAM pass-through when userlist.txt holds the same SCRAM secret as the
 * server). Returns false before success.
 */
bool scram_server_keys(const scram_server_t *s, uint8_t client_key[32],
		       uint8_t server_key[32]);

/* ---- SCRAM-SHA-256, client side (logging in to a PostgreSQL server) ---- */

/* With a plain password. NULL on allocation failure. */
scram_client_t *scram_client_new(const char *password);
/* With keys from scram_server_keys() (pass-through). */
scram_client_t *scram_client_new_keys(const uint8_t client_key[32],
				      const uint8_t server_key[32]);
void scram_client_free(scram_client_t *c);

/* client-first-message ("n,,n=,r=<nonce>") into OUT. */
scram_status_t scram_client_first(scram_client_t *c, char *out, size_t cap,
				  size_t *outlen, const char **errstr);
/* server-first-message in, client-final-message out. */
scram_status_t scram_client_final(scram_client_t *c, const char *msg,
				  size_t len, char *out, size_t cap,
				  size_t *outlen, const char **errstr);
/* server-final-message in: SCRAM_OK if the server signature verifies. */
scram_status_t scram_client_verify(scram_client_t *c, const char *msg,
				   size_t len, const char **errstr);

/* Build a SCRAM secret from a plain password (tests, tooling). */
bool scram_make_secret(const char *password, const uint8_t *salt,
		       size_t saltlen, int iterations, char *out, size_t cap);

#endif
