/* SPDX-License-Identifier: MIT */
/*
 * auth.h - password secrets, userlist.txt, md5 and SCRAM-SHA-256.
 *
 * Interface:
 *   auth_file_*      load and query a PgBouncer userlist.txt
 *   auth_secret_kind classify a stored secret (plain / md5 / SCRAM)
 *   auth_md5_*       md5 secrets, verification, server-login responses
 *   scram_server_*   SCRAM-SHA-256(-PLUS) exchange where we are the server
 *                    (clients log in to us)
 *   scram_client_*   SCRAM-SHA-256(-PLUS) exchange where we are the client
 *                    (we log in to servers)
 *   scram_select_mechanism  pick a mechanism from a server's offer
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
 * *errstr set if the file cannot be read. Malformed lines (including a
 * user name over AUTH_MAX_USER or a secret over AUTH_MAX_SECRET bytes)
 * are skipped, and CB (may be NULL) is called for each with its line
 * number and a reason, in file order, before this returns.
 */
auth_file_t *auth_file_load_diag(const char *path, auth_file_diag_fn cb,
				 void *arg, const char **errstr);
/* auth_file_load_diag that only counts malformed lines in *bad_lines. */
auth_file_t *auth_file_load(const char *path, int *bad_lines,
			    const char **errstr);
/* Stored secret for USER, or NULL. Valid until auth_file_free. */
const char *auth_file_lookup(const auth_file_t *af, const char *user);
/* The users in file order: auth_file_user(af, i) for i < count (SHOW
 * USERS lists them, as PgBouncer does). */
size_t auth_file_count(const auth_file_t *af);
const char *auth_file_user(const auth_file_t *af, size_t i);
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

/* ---- SCRAM status and settings ---- */

/* "ok", "fail", "proto", "cb_fail". */
const char *scram_status_name(scram_status_t st);
/*
 * SQLSTATE for a failed status, as PostgreSQL reports it: SCRAM_FAIL
 * 28P01, SCRAM_PROTO 08P01, SCRAM_CB_FAIL 28000; "00000" for SCRAM_OK.
 */
const char *scram_status_sqlstate(scram_status_t st);
/* "disable", "prefer", "require". */
const char *scram_cb_mode_name(scram_cb_mode_t mode);
/* Parse one of the names above (libpq's channel_binding values). */
bool scram_cb_mode_parse(const char *s, scram_cb_mode_t *out);

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
 * Channel binding (TLS connections only): CB_DATA is the
 * tls-server-end-point hash of our own certificate (1..SCRAM_MAX_CB_DATA
 * bytes, copied). Call before scram_server_mechanisms and
 * scram_server_first. From then on SCRAM-SHA-256-PLUS is offered, and a
 * client that says it could bind but thinks we cannot (gs2 "y") is
 * refused as a downgrade. False if already started or LEN is out of range.
 */
bool scram_server_set_channel_binding(scram_server_t *s, const uint8_t *cb_data,
				      size_t len);
/*
 * The body of our AuthenticationSASL message: the mechanism names, each
 * NUL-terminated, then the empty name that ends the list ("SCRAM-SHA-256-
 * PLUS" first when channel binding data is set, as PostgreSQL orders
 * them). Static storage; *LEN gets the byte count, terminators included.
 */
const char *scram_server_mechanisms(const scram_server_t *s, size_t *len);
/*
 * The mechanism name from the client's SASLInitialResponse; call before
 * scram_server_first (without the call, SCRAM-SHA-256 is assumed).
 * SCRAM-SHA-256-PLUS is valid only with channel binding data set.
 * SCRAM_PROTO for any other name ("client selected an invalid SASL
 * authentication mechanism"), which kills the exchange.
 */
scram_status_t scram_server_set_mechanism(scram_server_t *s, const char *mech,
					  const char **errstr);

/*
 * client-first-message (the SASLInitialResponse data) in, server-first-
 * message out (into OUT, at most CAP bytes, length in *OUTLEN).
 * Returns SCRAM_OK, SCRAM_PROTO for a malformed message or a gs2 header
 * that does not fit the mechanism, or SCRAM_CB_FAIL for a client that
 * could bind the channel but thinks we cannot while we offered PLUS
 * ("SCRAM channel binding negotiation error"). *errstr set on failure.
 */
scram_status_t scram_server_first(scram_server_t *s, const char *msg,
				  size_t len, char *out, size_t cap,
				  size_t *outlen, const char **errstr);
/*
 * client-final-message in, server-final-message out. Returns SCRAM_OK if
 * the proof is right, SCRAM_FAIL if wrong (or doomed), SCRAM_PROTO if
 * malformed, SCRAM_CB_FAIL if the client bound the channel to data other
 * than ours ("SCRAM channel binding check failed"; checked before the
 * proof, as PostgreSQL does, doomed or not).
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
/* After a successful scram_server_final: did the client bind the channel? */
bool scram_server_channel_bound(const scram_server_t *s);

/* ---- SCRAM-SHA-256, client side (logging in to a PostgreSQL server) ---- */

/* With a plain password. NULL on allocation failure. */
scram_client_t *scram_client_new(const char *password);
/* With keys from scram_server_keys() (pass-through). */
scram_client_t *scram_client_new_keys(const uint8_t client_key[32],
				      const uint8_t server_key[32]);
void scram_client_free(scram_client_t *c);

/*
 * Pick a mechanism from a server's AuthenticationSASL offer, as libpq
 * does: LIST/LEN are the bytes after the request code (NUL-terminated
 * names ending with an empty one). TLS: the server connection is TLS;
 * HAVE_CB: the server certificate's tls-server-end-point hash is known.
 * PLUS is chosen when offered, TLS, HAVE_CB and MODE is not disable;
 * otherwise SCRAM-SHA-256. Fails with SCRAM_CB_FAIL when MODE is require
 * and PLUS cannot be used, SCRAM_PROTO for a malformed list, PLUS offered
 * over a non-TLS connection, or no mechanism we know. *errstr is set to
 * libpq's text on failure.
 */
scram_status_t scram_select_mechanism(const char *list, size_t len,
				      scram_cb_mode_t mode, bool tls,
				      bool have_cb, scram_mech_choice_t *out,
				      const char **errstr);
/*
 * Bind the exchange to CB_DATA, the tls-server-end-point hash of the
 * server's certificate (1..SCRAM_MAX_CB_DATA bytes, copied): gs2 header
 * "p=tls-server-end-point", mechanism SCRAM-SHA-256-PLUS. Works with
 * pass-through keys too (the binding is per hop, the keys are not). Before
 * scram_client_first; false if too late or LEN is out of range.
 */
bool scram_client_set_channel_binding(scram_client_t *c, const uint8_t *cb_data,
				      size_t len);
/*
 * TLS connection, no binding, and the server did not offer PLUS: send gs2
 * flag "y" instead of "n" (libpq with channel_binding=prefer). Before
 * scram_client_first; false if too late or binding data is set.
 */
bool scram_client_set_cb_unused(scram_client_t *c);
/*
 * scram_select_mechanism, then the matching setter above. CB_DATA may be
 * NULL (hash unknown). *MECH gets the name to put in SASLInitialResponse.
 */
scram_status_t scram_client_choose(scram_client_t *c, const char *list,
				   size_t len, scram_cb_mode_t mode, bool tls,
				   const uint8_t *cb_data, size_t cb_len,
				   const char **mech, const char **errstr);
/*
 * After scram_client_verify succeeded: was the channel bound? For
 * channel_binding=require, an AuthenticationOk without this is an error
 * (libpq: "channel binding required, but server authenticated client
 * without channel binding").
 */
bool scram_client_channel_bound(const scram_client_t *c);

/*
 * client-first-message ("n,,n=,r=<nonce>"; "y,," or
 * "p=tls-server-end-point,," per the settings above) into OUT.
 */
scram_status_t scram_client_first(scram_client_t *c, char *out, size_t cap,
				  size_t *outlen, const char **errstr);
/*
 * server-first-message in, client-final-message out (c= carries the gs2
 * header and, when binding, the certificate hash).
 */
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
