/* SPDX-License-Identifier: MIT */
/*
 * pgp.h - PostgreSQL v3 wire protocol codec. No I/O, no allocation except
 * into a caller's bounded buf_t, no logging: it can be fuzzed alone.
 *
 * Interface:
 *   pgp_frame()          split a byte stream into messages (checks length)
 *   pgp_frame_startup()  the same for the untyped startup packet
 *   pgp_parse_startup()  StartupMessage / SSLRequest / GSSENC / Cancel
 *   pgp_rd_*()           bounded reads from one payload
 *   pgp_wr_*()           append complete messages to a buf_t
 * Writers return false when the buffer's hard maximum is hit.
 */
#ifndef PGSWITCH_PGP_H
#define PGSWITCH_PGP_H

#include "proto/pgp_types.h"
#include "util/buf.h"

/*
 * Frame the message at BUF (AVAIL bytes). PGP_OK fills M; PGP_MORE if the
 * 5-byte header is incomplete (the body need not be complete: callers
 * stream large bodies); PGP_BAD for a length < 4; PGP_TOOBIG when the
 * payload would exceed MAX_LEN, decided before anything is buffered.
 */
pgp_status_t pgp_frame(const uint8_t *buf, size_t avail, uint32_t max_len,
		       pgp_msg_t *m);

/* Frame a startup packet: *LEN gets its total length when PGP_OK. */
pgp_status_t pgp_frame_startup(const uint8_t *buf, size_t avail, uint32_t *len);

/* Parse a complete startup packet of LEN bytes (BUF is modified: no). */
pgp_status_t pgp_parse_startup(const uint8_t *buf, size_t len,
			       pgp_startup_t *out, const char **errstr);
/* Value of a startup parameter, or NULL. */
const char *pgp_startup_get(const pgp_startup_t *st, const char *name);

static inline void pgp_rd_init(pgp_reader_t *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
	r->err = false;
}
uint8_t pgp_rd_byte(pgp_reader_t *r);
int16_t pgp_rd_int16(pgp_reader_t *r);
int32_t pgp_rd_int32(pgp_reader_t *r);
/* A NUL-terminated string inside the payload, or "" with err set. */
const char *pgp_rd_string(pgp_reader_t *r);
const uint8_t *pgp_rd_bytes(pgp_reader_t *r, size_t n);
static inline size_t pgp_rd_left(const pgp_reader_t *r)
{
	return r->len - r->pos;
}

/* Find field CODE ('M', 'C', 'S', ...) in an ErrorResponse/Notice body. */
const char *pgp_error_field(const uint8_t *body, size_t len, char code);

/* Message builders. */
size_t pgp_wr_begin(buf_t *b, uint8_t type);
void pgp_wr_end(buf_t *b, size_t start);
bool pgp_wr_error(buf_t *b, const char *severity, const char *sqlstate,
		  const char *msg);
/* ErrorResponse with a DETAIL field (D). */
bool pgp_wr_error_detail(buf_t *b, const char *severity, const char *sqlstate,
			 const char *msg, const char *detail);
bool pgp_wr_notice(buf_t *b, const char *severity, const char *sqlstate,
		   const char *msg);
bool pgp_wr_auth(buf_t *b, uint32_t code, const void *data, size_t len);
bool pgp_wr_auth_sasl(buf_t *b, const char *mechanism);
bool pgp_wr_param_status(buf_t *b, const char *name, const char *value);
bool pgp_wr_backend_key(buf_t *b, uint32_t pid, uint32_t key);
bool pgp_wr_ready(buf_t *b, char status);
bool pgp_wr_query(buf_t *b, const char *sql);
bool pgp_wr_terminate(buf_t *b);
/* Extended protocol, for the pooler's own queries: parameters and
 * results in text format. TYPES are parameter type OIDs (0 = infer). */
bool pgp_wr_parse(buf_t *b, const char *stmt, const char *sql,
		  const uint32_t *types, int ntypes);
bool pgp_wr_bind(buf_t *b, const char *portal, const char *stmt,
		 const char *const *params, int nparams);
bool pgp_wr_execute(buf_t *b, const char *portal, uint32_t max_rows);
bool pgp_wr_sync(buf_t *b);
/* AuthenticationSASL with several mechanisms, preferred first. */
bool pgp_wr_auth_sasl_list(buf_t *b, const char *const *mechs, int n);
bool pgp_wr_password(buf_t *b, const char *pw);
bool pgp_wr_sasl_initial(buf_t *b, const char *mech, const void *data,
			 size_t len);
bool pgp_wr_sasl_response(buf_t *b, const void *data, size_t len);
bool pgp_wr_startup(buf_t *b, const char *const *names,
		    const char *const *values, int n);
bool pgp_wr_cancel(buf_t *b, uint32_t pid, const uint8_t *key, size_t keylen);
bool pgp_wr_negotiate(buf_t *b, int minor, const char *const *opts, int n);
bool pgp_wr_row_desc(buf_t *b, const pgp_field_t *f, int n);
/* DataRow with N text values; NULL pointer = SQL NULL. */
bool pgp_wr_data_row(buf_t *b, const char *const *vals, int n);
bool pgp_wr_command_complete(buf_t *b, const char *tag);
bool pgp_wr_empty_query(buf_t *b);

#endif
