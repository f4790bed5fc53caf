/* SPDX-License-Identifier: MIT */
/*
 * pgp.c - PostgreSQL v3 protocol framing, parsing and building.
 *
 * Length fields are attacker-controlled: every one is checked against the
 * bytes present and against a caller's maximum before it is trusted, and
 * a too-large length is reported before any byte of its body is buffered.
 */
#include "proto/pgp.h"

#include <arpa/inet.h>
#include <string.h>

static uint32_t get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

pgp_status_t pgp_frame(const uint8_t *buf, size_t avail, uint32_t max_len,
		       pgp_msg_t *m)
{
	if (avail < PGP_HDR_LEN)
		return PGP_MORE;
	uint32_t l = get_u32(buf + 1);
	if (l < 4)
		return PGP_BAD;
	/* PostgreSQL's own limit is 1 GB; past INT32_MAX total would wrap. */
	if (l - 4 > max_len || l > 0x7ffffffeu)
		return PGP_TOOBIG;
	m->type = buf[0];
	m->len = l - 4;
	m->total = l + 1;
	return PGP_OK;
}

pgp_status_t pgp_frame_startup(const uint8_t *buf, size_t avail, uint32_t *len)
{
	if (avail < 4)
		return PGP_MORE;
	uint32_t l = get_u32(buf);
	if (l < 8)
		return PGP_BAD;
	if (l > PGP_MAX_STARTUP_LEN)
		return PGP_TOOBIG;
	*len = l;
	return avail >= l ? PGP_OK : PGP_MORE;
}

static pgp_status_t parse_params(const uint8_t *p, size_t len,
				 pgp_startup_t *out, const char **errstr)
{
	size_t pos = 0;
	while (pos < len) {
		if (p[pos] == 0) /* terminating empty name */
			return pos + 1 == len ? PGP_OK : PGP_BAD;
		const uint8_t *nend = memchr(p + pos, 0, len - pos);
		if (!nend)
			break;
		size_t vpos = (size_t)(nend - p) + 1;
		if (vpos >= len)
			break;
		const uint8_t *vend = memchr(p + vpos, 0, len - vpos);
		if (!vend)
			break;
		if (out->nparams >= PGP_MAX_STARTUP_PARAMS) {
			*errstr = "too many startup parameters";
			return PGP_BAD;
		}
		out->names[out->nparams] = (const char *)p + pos;
		out->values[out->nparams] = (const char *)p + vpos;
		out->nparams++;
		pos = (size_t)(vend - p) + 1;
	}
	*errstr = "invalid startup packet layout: expected terminator as "
		  "last byte";
	return PGP_BAD;
}

pgp_status_t pgp_parse_startup(const uint8_t *buf, size_t len,
			       pgp_startup_t *out, const char **errstr)
{
	memset(out, 0, sizeof(*out));
	*errstr = "invalid startup packet";
	if (len < 8 || get_u32(buf) != len)
		return PGP_BAD;
	uint32_t code = get_u32(buf + 4);
	if (code == PGP_CODE_SSL || code == PGP_CODE_GSSENC) {
		if (len != 8)
			return PGP_BAD;
		out->kind = code == PGP_CODE_SSL ? PGP_SSL_REQUEST
						 : PGP_GSSENC_REQUEST;
		return PGP_OK;
	}
	if (code == PGP_CODE_CANCEL) {
		/* 3.0: 4-byte key; 3.2: up to 256 bytes. */
		if (len < 16 || len - 12 > PGP_MAX_CANCEL_KEY)
			return PGP_BAD;
		out->kind = PGP_CANCEL_REQUEST;
		out->cancel_pid = get_u32(buf + 8);
		out->cancel_key_len = len - 12;
		memcpy(out->cancel_key, buf + 12, out->cancel_key_len);
		return PGP_OK;
	}
	out->kind = PGP_STARTUP;
	out->major = (int)(code >> 16);
	out->minor = (int)(code & 0xffff);
	if (out->major != PGP_PROTO_MAJOR) {
		*errstr = "unsupported frontend protocol";
		return PGP_BAD;
	}
	return parse_params(buf + 8, len - 8, out, errstr);
}

const char *pgp_startup_get(const pgp_startup_t *st, const char *name)
{
	for (int i = 0; i < st->nparams; i++)
		if (strcmp(st->names[i], name) == 0)
			return st->values[i];
	return NULL;
}

uint8_t pgp_rd_byte(pgp_reader_t *r)
{
	if (r->err || r->len - r->pos < 1) {
		r->err = true;
		return 0;
	}
	return r->p[r->pos++];
}

int16_t pgp_rd_int16(pgp_reader_t *r)
{
	if (r->err || r->len - r->pos < 2) {
		r->err = true;
		return 0;
	}
	uint16_t v = (uint16_t)((r->p[r->pos] << 8) | r->p[r->pos + 1]);
	r->pos += 2;
	return (int16_t)v;
}

int32_t pgp_rd_int32(pgp_reader_t *r)
{
	if (r->err || r->len - r->pos < 4) {
		r->err = true;
		return 0;
	}
	uint32_t v = get_u32(r->p + r->pos);
	r->pos += 4;
	return (int32_t)v;
}

const char *pgp_rd_string(pgp_reader_t *r)
{
	if (r->err)
		return "";
	const uint8_t *e = memchr(r->p + r->pos, 0, r->len - r->pos);
	if (!e) {
		r->err = true;
		return "";
	}
	const char *s = (const char *)r->p + r->pos;
	r->pos = (size_t)(e - r->p) + 1;
	return s;
}

const uint8_t *pgp_rd_bytes(pgp_reader_t *r, size_t n)
{
	if (r->err || r->len - r->pos < n) {
		r->err = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->pos;
	r->pos += n;
	return p;
}

const char *pgp_error_field(const uint8_t *body, size_t len, char code)
{
	pgp_reader_t r;
	pgp_rd_init(&r, body, len);
	for (;;) {
		uint8_t f = pgp_rd_byte(&r);
		if (r.err || f == 0)
			return NULL;
		const char *v = pgp_rd_string(&r);
		if (r.err)
			return NULL;
		if (f == (uint8_t)code)
			return v;
	}
}

/* ---- builders ---- */

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static bool wr_u32(buf_t *b, uint32_t v)
{
	uint8_t t[4];
	put_u32(t, v);
	return buf_append(b, t, 4);
}

static bool wr_u16(buf_t *b, uint16_t v)
{
	uint8_t t[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	return buf_append(b, t, 2);
}

/*
 * Start a message; returns its offset. Compacting first keeps the offset
 * valid for the whole message (buf_reserve compacts only while off > 0).
 * A failed append anywhere in the message sets toobig; finish() then cuts
 * the buffer back to the offset, so no half message is ever left.
 */
size_t pgp_wr_begin(buf_t *b, uint8_t type)
{
	uint8_t hdr[5] = {type, 0, 0, 0, 0};
	buf_compact(b);
	b->toobig = false;
	size_t start = b->len;
	buf_append(b, hdr, sizeof(hdr));
	return start;
}

void pgp_wr_end(buf_t *b, size_t start)
{
	if (b->toobig)
		return;
	put_u32(b->data + start + 1, (uint32_t)(b->len - start - 1));
}

static bool finish(buf_t *b, size_t start)
{
	if (b->toobig) {
		b->len = start;
		return false;
	}
	pgp_wr_end(b, start);
	return true;
}

static bool wr_err_notice(buf_t *b, uint8_t type, const char *severity,
			  const char *sqlstate, const char *msg)
{
	size_t s = pgp_wr_begin(b, type);
	buf_append(b, "S", 1);
	buf_append_str(b, severity);
	buf_append(b, "V", 1);
	buf_append_str(b, severity);
	buf_append(b, "C", 1);
	buf_append_str(b, sqlstate);
	buf_append(b, "M", 1);
	buf_append_str(b, msg);
	buf_append(b, "", 1);
	return finish(b, s);
}

bool pgp_wr_error(buf_t *b, const char *severity, const char *sqlstate,
		  const char *msg)
{
	return wr_err_notice(b, 'E', severity, sqlstate, msg);
}

bool pgp_wr_error_detail(buf_t *b, const char *severity, const char *sqlstate,
			 const char *msg, const char *detail)
{
	size_t s = pgp_wr_begin(b, 'E');
	buf_append(b, "S", 1);
	buf_append_str(b, severity);
	buf_append(b, "C", 1);
	buf_append_str(b, sqlstate);
	buf_append(b, "M", 1);
	buf_append_str(b, msg);
	buf_append(b, "D", 1);
	buf_append_str(b, detail);
	buf_append(b, "", 1);
	return finish(b, s);
}

bool pgp_wr_notice(buf_t *b, const char *severity, const char *sqlstate,
		   const char *msg)
{
	return wr_err_notice(b, 'N', severity, sqlstate, msg);
}

bool pgp_wr_auth(buf_t *b, uint32_t code, const void *data, size_t len)
{
	size_t s = pgp_wr_begin(b, 'R');
	wr_u32(b, code);
	buf_append(b, data, len);
	return finish(b, s);
}

bool pgp_wr_auth_sasl(buf_t *b, const char *mechanism)
{
	size_t s = pgp_wr_begin(b, 'R');
	wr_u32(b, 10);
	buf_append_str(b, mechanism);
	buf_append(b, "", 1);
	return finish(b, s);
}

bool pgp_wr_param_status(buf_t *b, const char *name, const char *value)
{
	size_t s = pgp_wr_begin(b, 'S');
	buf_append_str(b, name);
	buf_append_str(b, value);
	return finish(b, s);
}

bool pgp_wr_backend_key(buf_t *b, uint32_t pid, uint32_t key)
{
	size_t s = pgp_wr_begin(b, 'K');
	wr_u32(b, pid);
	wr_u32(b, key);
	return finish(b, s);
}

bool pgp_wr_ready(buf_t *b, char status)
{
	uint8_t m[6] = {'Z', 0, 0, 0, 5, (uint8_t)status};
	return buf_append(b, m, sizeof(m));
}

bool pgp_wr_query(buf_t *b, const char *sql)
{
	size_t s = pgp_wr_begin(b, 'Q');
	buf_append_str(b, sql);
	return finish(b, s);
}

bool pgp_wr_parse(buf_t *b, const char *stmt, const char *sql,
		  const uint32_t *types, int ntypes)
{
	size_t s = pgp_wr_begin(b, 'P');
	buf_append_str(b, stmt);
	buf_append_str(b, sql);
	wr_u16(b, (uint16_t)ntypes);
	for (int i = 0; i < ntypes; i++)
		wr_u32(b, types[i]);
	return finish(b, s);
}

bool pgp_wr_bind(buf_t *b, const char *portal, const char *stmt,
		 const char *const *params, int nparams)
{
	size_t s = pgp_wr_begin(b, 'B');
	buf_append_str(b, portal);
	buf_append_str(b, stmt);
	wr_u16(b, 0); /* every parameter in text format */
	wr_u16(b, (uint16_t)nparams);
	for (int i = 0; i < nparams; i++) {
		size_t n = strlen(params[i]);
		wr_u32(b, (uint32_t)n);
		buf_append(b, params[i], n);
	}
	wr_u16(b, 0); /* every result column in text format */
	return finish(b, s);
}

bool pgp_wr_execute(buf_t *b, const char *portal, uint32_t max_rows)
{
	size_t s = pgp_wr_begin(b, 'E');
	buf_append_str(b, portal);
	wr_u32(b, max_rows);
	return finish(b, s);
}

bool pgp_wr_sync(buf_t *b)
{
	static const uint8_t m[5] = {'S', 0, 0, 0, 4};
	return buf_append(b, m, sizeof(m));
}

bool pgp_wr_auth_sasl_list(buf_t *b, const char *const *mechs, int n)
{
	size_t s = pgp_wr_begin(b, 'R');
	wr_u32(b, 10);
	for (int i = 0; i < n; i++)
		buf_append_str(b, mechs[i]);
	buf_append(b, "", 1);
	return finish(b, s);
}

bool pgp_wr_terminate(buf_t *b)
{
	static const uint8_t m[5] = {'X', 0, 0, 0, 4};
	return buf_append(b, m, sizeof(m));
}

bool pgp_wr_password(buf_t *b, const char *pw)
{
	size_t s = pgp_wr_begin(b, 'p');
	buf_append_str(b, pw);
	return finish(b, s);
}

bool pgp_wr_sasl_initial(buf_t *b, const char *mech, const void *data,
			 size_t len)
{
	size_t s = pgp_wr_begin(b, 'p');
	buf_append_str(b, mech);
	wr_u32(b, (uint32_t)len);
	buf_append(b, data, len);
	return finish(b, s);
}

bool pgp_wr_sasl_response(buf_t *b, const void *data, size_t len)
{
	size_t s = pgp_wr_begin(b, 'p');
	buf_append(b, data, len);
	return finish(b, s);
}

bool pgp_wr_startup(buf_t *b, const char *const *names,
		    const char *const *values, int n)
{
	buf_compact(b);
	b->toobig = false;
	size_t start = b->len;
	wr_u32(b, 0);
	wr_u32(b, (uint32_t)PGP_PROTO_MAJOR << 16);
	for (int i = 0; i < n; i++) {
		buf_append_str(b, names[i]);
		buf_append_str(b, values[i]);
	}
	buf_append(b, "", 1);
	if (b->toobig) {
		b->len = start;
		return false;
	}
	put_u32(b->data + start, (uint32_t)(b->len - start));
	return true;
}

bool pgp_wr_cancel(buf_t *b, uint32_t pid, const uint8_t *key, size_t keylen)
{
	buf_compact(b);
	b->toobig = false;
	size_t start = b->len;
	wr_u32(b, (uint32_t)(12 + keylen));
	wr_u32(b, PGP_CODE_CANCEL);
	wr_u32(b, pid);
	buf_append(b, key, keylen);
	if (b->toobig) {
		b->len = start;
		return false;
	}
	return true;
}

bool pgp_wr_negotiate(buf_t *b, int minor, const char *const *opts, int n)
{
	size_t s = pgp_wr_begin(b, 'v');
	wr_u32(b, (uint32_t)minor);
	wr_u32(b, (uint32_t)n);
	for (int i = 0; i < n; i++)
		buf_append_str(b, opts[i]);
	return finish(b, s);
}

bool pgp_wr_row_desc(buf_t *b, const pgp_field_t *f, int n)
{
	size_t s = pgp_wr_begin(b, 'T');
	wr_u16(b, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		buf_append_str(b, f[i].name);
		wr_u32(b, 0);
		wr_u16(b, 0);
		wr_u32(b, f[i].type_oid);
		wr_u16(b, (uint16_t)f[i].type_len);
		wr_u32(b, (uint32_t)-1);
		wr_u16(b, 0);
	}
	return finish(b, s);
}

bool pgp_wr_data_row(buf_t *b, const char *const *vals, int n)
{
	size_t s = pgp_wr_begin(b, 'D');
	wr_u16(b, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		if (!vals[i]) {
			wr_u32(b, (uint32_t)-1);
			continue;
		}
		size_t l = strlen(vals[i]);
		wr_u32(b, (uint32_t)l);
		buf_append(b, vals[i], l);
	}
	return finish(b, s);
}

bool pgp_wr_command_complete(buf_t *b, const char *tag)
{
	size_t s = pgp_wr_begin(b, 'C');
	buf_append_str(b, tag);
	return finish(b, s);
}

bool pgp_wr_empty_query(buf_t *b)
{
	static const uint8_t m[5] = {'I', 0, 0, 0, 4};
	return buf_append(b, m, sizeof(m));
}
