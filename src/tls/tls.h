/* SPDX-License-Identifier: MIT */
/*
 * tls.h - TLS over a non-blocking socket for an epoll loop (OpenSSL 3).
 *
 * Two objects. A tls_ctx_t is built from one side's settings (client_tls_*
 * when we are the TLS server facing pooler clients, server_tls_* when we
 * are the TLS client facing PostgreSQL) and is immutable afterwards. A
 * tls_conn_t is one connection on a caller-owned fd.
 *
 * Never logs: failures return an error string (the caller's buffer, or
 * tls_last_error()) for the connection layer to log with its context.
 *
 * Epoll use (level-triggered):
 *   - Each call does as much as the socket allows and returns
 *     TLS_WANT_READ or TLS_WANT_WRITE when it would block. Retry THE SAME
 *     call when the fd has that readiness. TLS can invert the direction:
 *     tls_read() may need to write (TLS 1.3 key update, a pending alert)
 *     and return TLS_WANT_WRITE; arm EV_WRITE and call tls_read() again
 *     when writable. Likewise tls_write() may return TLS_WANT_READ.
 *   - Decrypted bytes can sit inside OpenSSL with nothing left on the
 *     socket, so no EV_READ will come for them. After a read loop stops
 *     for any reason other than TLS_WANT_READ (buffer full, back-pressure),
 *     check tls_pending() and read again before waiting on the fd.
 *   - tls_write() retry rule: after TLS_WANT_*, call again with the same
 *     bytes at the front and a length no smaller than before. The bytes may
 *     have moved (buf_compact is fine) and more may be appended, but those
 *     already offered must not be dropped or changed.
 *   - A tls_conn_t bypasses the io_uring batch (conn/txq.c): its bytes go
 *     through OpenSSL, which calls send() itself.
 *
 * Threads: a tls_ctx_t may be shared by threads (OpenSSL 3 locks what it
 * mutates). A tls_conn_t belongs to one thread at a time. OpenSSL's error
 * queue is per thread; every call here clears it before and after use.
 *
 * Reload: tls_ctx_free() may be called while connections made from it are
 * alive. Each connection holds its own reference to the OpenSSL context
 * (SSL_new takes one) and copies what it needs, so on RELOAD build a new
 * context, and only if that succeeded free the old one and use the new one
 * for new connections; existing connections keep their settings.
 */
#ifndef PGSWITCH_TLS_H
#define PGSWITCH_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tls/tls_types.h"

/* "disable" ... "verify-full"; "unknown" for values outside the enum. */
const char *tls_sslmode_name(tls_sslmode_t m);
/* Case-insensitive. false (OUT untouched) for NULL or an unknown name. */
bool tls_sslmode_parse(const char *s, tls_sslmode_t *out)
	__attribute__((warn_unused_result));
const char *tls_status_name(tls_status_t st);
const char *tls_conn_state_name(tls_conn_state_t st);

/*
 * Parse a PgBouncer protocol list into TLS_PROTO_* bits: names tlsv1.0,
 * tlsv1.1, tlsv1.2, tlsv1.3, tlsv1 (all four), keywords all/legacy (all
 * four) and secure/default (1.2 and 1.3), separated by commas, colons or
 * spaces, case-insensitive. A '-' or '!' prefix removes, '+' or none adds;
 * a list starting with a removal starts from all. NULL or "" = "secure".
 * false with ERR for an unknown word or an empty result.
 * Note: OpenSSL 3 refuses TLS 1.0/1.1 at its default security level.
 */
bool tls_protocols_parse(const char *s, unsigned *mask, char *err,
			 size_t errlen) __attribute__((warn_unused_result));

/*
 * Build a context. SERVER_SIDE true: we accept TLS from pooler clients
 * (client_tls_*): key_file and cert_file are required; ca_file gives the
 * roots for client certificates. sslmode verify-ca/verify-full require a
 * valid client certificate (verify-full also needs ca_file, as in
 * PgBouncer); lower modes ask for one but accept any or none
 * (tls_peer_verified() tells). ALPN: a client offering ALPN without
 * "postgresql" is refused, like PostgreSQL 17.
 * SERVER_SIDE false: we connect to PostgreSQL (server_tls_*): verify-ca
 * and verify-full verify the server certificate against ca_file (the
 * system store when unset), verify-full also the host name; lower modes
 * verify nothing. key_file + cert_file (both or neither) are our client
 * certificate. ALPN "postgresql" is sent.
 * dheparams applies to the server side only: "none", "auto", "legacy"
 * (1024-bit) or a PEM DH parameters file.
 * Returns NULL with ERR (naming the file or value and OpenSSL's reason) on
 * failure. Loads files: call it outside latency-critical paths. The caller
 * owns the result and frees it with tls_ctx_free().
 */
tls_ctx_t *tls_ctx_new(bool server_side, const tls_settings_t *st, char *err,
		       size_t errlen) __attribute__((warn_unused_result));
void tls_ctx_free(tls_ctx_t *ctx); /* NULL is fine; see "Reload" above */
bool tls_ctx_server_side(const tls_ctx_t *ctx);
tls_sslmode_t tls_ctx_sslmode(const tls_ctx_t *ctx);

/*
 * Start a connection on FD (connected, non-blocking; stays the caller's:
 * never closed here). HOST (client side) is the server's name or IP
 * literal as configured: sent as SNI unless it is an IP literal, and
 * checked against the certificate under verify-full (then it is required).
 * PREFIX holds bytes already read from FD that belong to the TLS stream
 * (direct TLS: the start of the ClientHello); they are copied and fed to
 * OpenSSL before anything is read from FD. Never pass bytes that followed
 * an SSLRequest: a client must not send any before the handshake
 * (CVE-2021-23214); reject those instead. With a prefix, call
 * tls_handshake() at once: the socket may hold nothing more, so no
 * EV_READ would come. NULL with ERR on failure.
 * The caller frees the result with tls_conn_free().
 */
tls_conn_t *tls_conn_new(tls_ctx_t *ctx, int fd, const char *host,
			 const uint8_t *prefix, size_t prefix_len, char *err,
			 size_t errlen) __attribute__((warn_unused_result));

/*
 * Advance the handshake: TLS_OK when done (state OPEN), TLS_WANT_READ /
 * TLS_WANT_WRITE to be called again on readiness, TLS_EOF if the peer went
 * away, TLS_ERROR with ERR (OpenSSL's reason, e.g. "certificate verify
 * failed: ...", "no application protocol"). ERR may be NULL; the text is
 * also kept for tls_last_error(). Calling it again once OPEN returns
 * TLS_OK. After TLS_OK call tls_read() at once, without waiting for
 * EV_READ: the peer's first message (StartupMessage, AuthenticationOk)
 * may have come with the handshake and sit inside OpenSSL already.
 * With TLS 1.3 a client may see TLS_OK while the server still refuses
 * its certificate: the refusal then arrives as a tls_read() error.
 */
tls_status_t tls_handshake(tls_conn_t *c, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * recv()-like: > 0 bytes read; 0 = the peer closed (close_notify, or EOF
 * without one: PostgreSQL's protocol frames its own end with Terminate),
 * *ST = TLS_EOF; -1 with *ST = TLS_WANT_READ, TLS_WANT_WRITE or TLS_ERROR
 * (tls_last_error()). *ST = TLS_OK on success. LEN must be > 0. Only in
 * state OPEN; in other states -1 with TLS_ERROR (or 0/TLS_EOF if CLOSED).
 */
ssize_t tls_read(tls_conn_t *c, void *buf, size_t len, tls_status_t *st)
	__attribute__((warn_unused_result));
/*
 * send()-like: > 0 bytes accepted (may be fewer than LEN: partial writes
 * are on, one record of up to 16 KiB at a time; loop), 0 only for LEN 0,
 * -1 with *ST = TLS_WANT_WRITE, TLS_WANT_READ or TLS_ERROR. See the retry
 * rule at the top of this file.
 */
ssize_t tls_write(tls_conn_t *c, const void *buf, size_t len, tls_status_t *st)
	__attribute__((warn_unused_result));
/*
 * Nonzero when tls_read() can return data without the fd becoming
 * readable: decrypted bytes in the current record, buffered records or
 * unread prefix bytes. A lower bound of what is there, not an exact count.
 */
size_t tls_pending(tls_conn_t *c);

/*
 * Best effort, never blocks: send close_notify if the connection is open,
 * then stop touching FD for good (later reads/writes fail). Call it before
 * close(fd) when the TLS object is freed later (deferred free): once the
 * number is reused, a late close_notify would go to a stranger.
 */
void tls_close_notify(tls_conn_t *c);
/* tls_close_notify() if not done yet, then free. NULL is fine. */
void tls_conn_free(tls_conn_t *c);

tls_conn_state_t tls_conn_state(const tls_conn_t *c);
/* Text of the last failure ("" if none). Valid until the next call on C. */
const char *tls_last_error(const tls_conn_t *c);

/* After the handshake: "TLSv1.3" etc. and the cipher; "" before. */
const char *tls_version(tls_conn_t *c);
const char *tls_cipher(tls_conn_t *c);
/* ALPN "postgresql" was negotiated (required for PostgreSQL 17 direct
 * TLS; the caller refuses a direct-TLS client without it). */
bool tls_alpn_ok(tls_conn_t *c);
/* The peer sent a certificate (on the server side: a client cert). */
bool tls_peer_cert_present(tls_conn_t *c);
/*
 * The peer's certificate was verified against the CA with no error. On
 * the server side below verify-ca a certificate is accepted unverified
 * (PgBouncer: "not validated"), so cert authentication must check this
 * before trusting tls_peer_cert_cn().
 */
bool tls_peer_verified(tls_conn_t *c);
/*
 * Copy the peer certificate's subject CN (first one, UTF-8) to OUT, for
 * auth_type=cert. false if there is no certificate or CN, the CN holds a
 * NUL byte, or it does not fit CAP (including the terminator).
 */
bool tls_peer_cert_cn(tls_conn_t *c, char *out, size_t cap);
/*
 * tls-server-end-point channel binding data (RFC 5929 4.1): the hash of
 * the server's certificate (ours on the server side, the peer's on the
 * client side) with its signature hash, MD5 and SHA-1 upgraded to
 * SHA-256. Returns the length (<= TLS_MAX_CB_DATA), or -1 before the
 * handshake, without a certificate, for a signature with no hash
 * (Ed25519), or when CAP is too small.
 */
int tls_server_end_point(tls_conn_t *c, uint8_t *out, size_t cap);

#endif
