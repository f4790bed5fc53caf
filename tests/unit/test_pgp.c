/* SPDX-License-Identifier: MIT */
/*
 * test_pgp.c - the v3 wire protocol codec: framing of a split stream,
 * startup packets, bounds-checked readers, ErrorResponse fields, the
 * message builders (round trip through pgp_frame + readers) and the
 * builders' "no half message" guarantee on a bounded buf_t.
 *
 * Inputs handed to the codec are copied into heap blocks of exactly the
 * declared size, so AddressSanitizer catches any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/pgp.h"

#define MIB (1024u * 1024u)

/* ---- helpers ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* A heap copy of exactly N bytes, so ASan reports any read past N. For
 * N == 0 one byte is allocated to keep the pointer non-NULL. */
static uint8_t *dup_exact(const void *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	assert_non_null(q);
	if (n)
		memcpy(q, p, n);
	return q;
}

static uint32_t rng_next(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* Append a typed message to DST, return its wire size. */
static size_t put_msg(uint8_t *dst, uint8_t type, const void *body,
		      uint32_t blen)
{
	dst[0] = type;
	put_be32(dst + 1, blen + 4);
	if (blen)
		memcpy(dst + 5, body, blen);
	return 5 + (size_t)blen;
}

/* ---- framing a stream fed in pieces ---- */

#define MAX_SEEN 16

typedef struct seen {
	uint8_t type;
	uint32_t len;
	size_t body_off; /* offset of the body in the stream */
} seen_t;

typedef struct decoder {
	uint8_t acc[1024];
	size_t acclen;
	size_t pos;
	seen_t seen[MAX_SEEN];
	int nseen;
} decoder_t;

/* Frame as many complete messages as the bytes received so far allow. */
static void dec_feed(decoder_t *d, const uint8_t *p, size_t n)
{
	assert_true(d->acclen + n <= sizeof(d->acc));
	memcpy(d->acc + d->acclen, p, n);
	d->acclen += n;
	for (;;) {
		size_t avail = d->acclen - d->pos;
		uint8_t *h = dup_exact(d->acc + d->pos, avail);
		pgp_msg_t m;
		pgp_status_t st = pgp_frame(h, avail, MIB, &m);
		free(h);
		if (avail < PGP_HDR_LEN) {
			assert_int_equal(st, PGP_MORE);
			return;
		}
		assert_int_equal(st, PGP_OK);
		assert_int_equal(m.total, m.len + 5);
		if (avail < m.total)
			return; /* body still streaming in */
		assert_true(d->nseen < MAX_SEEN);
		d->seen[d->nseen].type = m.type;
		d->seen[d->nseen].len = m.len;
		d->seen[d->nseen].body_off = d->pos + PGP_HDR_LEN;
		d->nseen++;
		d->pos += m.total;
	}
}

typedef struct expect {
	uint8_t type;
	uint32_t len;
} expect_t;

static uint8_t g_stream[600];
static size_t g_stream_len;
static expect_t g_expect[8];
static int g_nexpect;

static void add_msg(uint8_t type, const void *body, uint32_t blen)
{
	g_expect[g_nexpect].type = type;
	g_expect[g_nexpect].len = blen;
	g_nexpect++;
	g_stream_len += put_msg(g_stream + g_stream_len, type, body, blen);
}

static void build_stream(void)
{
	/* DataRow: 2 columns, NULL and "hello". */
	static const uint8_t drow[] = {
		0, 2, 0xff, 0xff, 0xff, 0xff, 0,   0,
		0, 5, 'h',  'e',  'l',	'l',  'o',
	};
	static const char err[] = "SERROR\0C42601\0Mboom\0";
	uint8_t copy[300];

	if (g_nexpect)
		return;
	/* Body bytes that look like headers must not confuse framing. */
	for (size_t i = 0; i < sizeof(copy); i++)
		copy[i] = (uint8_t)(i % 7 == 0 ? 'Q' : i % 5 == 0 ? 0 : i);
	add_msg('Q', "SELECT 1", 9);
	add_msg('X', NULL, 0);
	add_msg('D', drow, sizeof(drow));
	add_msg('E', err, sizeof(err)); /* includes the final NUL */
	add_msg('Z', "I", 1);
	add_msg('d', copy, sizeof(copy));
	add_msg('S', "a\0b", 4);
}

static void check_decoded(const decoder_t *d)
{
	assert_int_equal(d->nseen, g_nexpect);
	assert_int_equal(d->pos, g_stream_len);
	size_t off = 0;
	for (int i = 0; i < d->nseen; i++) {
		assert_int_equal(d->seen[i].type, g_expect[i].type);
		assert_int_equal(d->seen[i].len, g_expect[i].len);
		assert_int_equal(d->seen[i].body_off, off + PGP_HDR_LEN);
		assert_memory_equal(d->acc + d->seen[i].body_off,
				    g_stream + off + PGP_HDR_LEN,
				    g_expect[i].len ? g_expect[i].len : 1);
		off += PGP_HDR_LEN + g_expect[i].len;
	}
}

static void test_frame_whole(void **state)
{
	decoder_t d = {0};
	(void)state;

	build_stream();
	dec_feed(&d, g_stream, g_stream_len);
	check_decoded(&d);
}

static void test_frame_byte_at_a_time(void **state)
{
	decoder_t d = {0};
	(void)state;

	build_stream();
	for (size_t i = 0; i < g_stream_len; i++)
		dec_feed(&d, g_stream + i, 1);
	check_decoded(&d);
}

static void test_frame_every_split(void **state)
{
	(void)state;

	build_stream();
	/* Every split in two pieces ... */
	for (size_t a = 0; a <= g_stream_len; a++) {
		decoder_t d = {0};
		dec_feed(&d, g_stream, a);
		dec_feed(&d, g_stream + a, g_stream_len - a);
		check_decoded(&d);
	}
	/* ... and every split in three pieces around the message headers
	 * (the interesting cuts), with the second cut anywhere. */
	for (size_t a = 0; a <= 40; a++) {
		for (size_t b = a; b <= g_stream_len; b++) {
			decoder_t d = {0};
			dec_feed(&d, g_stream, a);
			dec_feed(&d, g_stream + a, b - a);
			dec_feed(&d, g_stream + b, g_stream_len - b);
			check_decoded(&d);
		}
	}
}

static void test_frame_random_splits(void **state)
{
	uint32_t seed = 0x9e3779b9u;
	(void)state;

	build_stream();
	for (int iter = 0; iter < 2000; iter++) {
		decoder_t d = {0};
		size_t i = 0;
		uint32_t maxchunk = 1 + iter % 40;
		while (i < g_stream_len) {
			size_t n = 1 + rng_next(&seed) % maxchunk;
			if (rng_next(&seed) % 8 == 0)
				n = 0; /* an empty read */
			if (n > g_stream_len - i)
				n = g_stream_len - i;
			dec_feed(&d, g_stream + i, n);
			i += n;
		}
		check_decoded(&d);
	}
}

static void test_frame_header(void **state)
{
	uint8_t hdr[5] = {'Q', 0, 0, 0, 13};
	pgp_msg_t m;
	(void)state;

	/* Incomplete header: need more, for every prefix. */
	for (size_t n = 0; n < PGP_HDR_LEN; n++) {
		uint8_t *h = dup_exact(hdr, n);
		memset(&m, 0xaa, sizeof(m));
		assert_int_equal(pgp_frame(h, n, MIB, &m), PGP_MORE);
		free(h);
	}
	/* The body need not be there. */
	uint8_t *h = dup_exact(hdr, 5);
	assert_int_equal(pgp_frame(h, 5, MIB, &m), PGP_OK);
	assert_int_equal(m.type, 'Q');
	assert_int_equal(m.len, 9);
	assert_int_equal(m.total, 14);

	/* Length < 4 is malformed. */
	for (uint8_t l = 0; l < 4; l++) {
		h[4] = l;
		assert_int_equal(pgp_frame(h, 5, MIB, &m), PGP_BAD);
	}
	/* Exactly 4: an empty body. */
	h[4] = 4;
	assert_int_equal(pgp_frame(h, 5, MIB, &m), PGP_OK);
	assert_int_equal(m.len, 0);
	assert_int_equal(m.total, 5);
	free(h);
}

static void test_frame_toobig(void **state)
{
	uint8_t hdr[5] = {'D'};
	pgp_msg_t m;
	(void)state;

	/* 1 GB declared, 1 MiB allowed: refused from the 5 bytes alone. */
	put_be32(hdr + 1, 1u << 30);
	uint8_t *h = dup_exact(hdr, 5);
	assert_int_equal(pgp_frame(h, 5, MIB, &m), PGP_TOOBIG);

	/* Every huge value, including ones that would overflow. */
	put_be32(h + 1, 0xffffffffu);
	assert_int_equal(pgp_frame(h, 5, MIB, &m), PGP_TOOBIG);
	put_be32(h + 1, 0x80000000u);
	assert_int_equal(pgp_frame(h, 5, MIB, &m), PGP_TOOBIG);

	/* The boundary: a payload of exactly max is fine, max + 1 is not. */
	put_be32(h + 1, MIB + 4);
	assert_int_equal(pgp_frame(h, 5, MIB, &m), PGP_OK);
	assert_int_equal(m.len, MIB);
	assert_int_equal(m.total, MIB + 5);
	put_be32(h + 1, MIB + 5);
	assert_int_equal(pgp_frame(h, 5, MIB, &m), PGP_TOOBIG);

	/* max 0: only empty bodies. */
	put_be32(h + 1, 4);
	assert_int_equal(pgp_frame(h, 5, 0, &m), PGP_OK);
	put_be32(h + 1, 5);
	assert_int_equal(pgp_frame(h, 5, 0, &m), PGP_TOOBIG);
	free(h);
}

/* ---- startup packets ---- */

/* Build LEN(4) CODE(4) BLOB into OUT; returns the total length. */
static size_t mk_startup(uint8_t *out, uint32_t code, const void *blob,
			 size_t bloblen)
{
	put_be32(out, (uint32_t)(8 + bloblen));
	put_be32(out + 4, code);
	if (bloblen)
		memcpy(out + 8, blob, bloblen);
	return 8 + bloblen;
}

static pgp_status_t parse_copy(const uint8_t *p, size_t len, pgp_startup_t *st,
			       const char **errstr)
{
	/* The strings in ST point into the copy: keep it alive until the
	 * next call. */
	static uint8_t *keep;
	free(keep);
	keep = dup_exact(p, len);
	*errstr = NULL;
	return pgp_parse_startup(keep, len, st, errstr);
}

#define V30 (3u << 16)
#define V32 ((3u << 16) | 2u)

static void test_startup_frame(void **state)
{
	uint8_t pkt[16];
	uint32_t len = 0;
	(void)state;

	put_be32(pkt, 16);
	put_be32(pkt + 4, V30);
	for (size_t n = 0; n < 4; n++) {
		uint8_t *h = dup_exact(pkt, n);
		assert_int_equal(pgp_frame_startup(h, n, &len), PGP_MORE);
		free(h);
	}
	/* Header there, body not yet: more, with the length known. */
	for (size_t n = 4; n < 16; n++) {
		uint8_t *h = dup_exact(pkt, n);
		len = 0;
		assert_int_equal(pgp_frame_startup(h, n, &len), PGP_MORE);
		free(h);
	}
	uint8_t *h = dup_exact(pkt, 16);
	assert_int_equal(pgp_frame_startup(h, 16, &len), PGP_OK);
	assert_int_equal(len, 16);

	/* Length < 8. */
	for (uint32_t l = 0; l < 8; l++) {
		put_be32(h, l);
		assert_int_equal(pgp_frame_startup(h, 16, &len), PGP_BAD);
	}
	/* The maximum, then one more: refused from 4 bytes. */
	put_be32(h, PGP_MAX_STARTUP_LEN);
	assert_int_equal(pgp_frame_startup(h, 16, &len), PGP_MORE);
	assert_int_equal(len, PGP_MAX_STARTUP_LEN);
	put_be32(h, PGP_MAX_STARTUP_LEN + 1);
	assert_int_equal(pgp_frame_startup(h, 4, &len), PGP_TOOBIG);
	put_be32(h, 0xffffffffu);
	assert_int_equal(pgp_frame_startup(h, 4, &len), PGP_TOOBIG);
	free(h);
}

static void test_startup_valid(void **state)
{
	static const char params[] = "user\0alice\0database\0db1\0"
				     "application_name\0\0options\0-c x=1\0";
	uint8_t pkt[128];
	pgp_startup_t st;
	const char *err;
	(void)state;

	/* sizeof includes the final NUL: the terminating empty name. */
	size_t n = mk_startup(pkt, V30, params, sizeof(params));
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_OK);
	assert_int_equal(st.kind, PGP_STARTUP);
	assert_int_equal(st.major, 3);
	assert_int_equal(st.minor, 0);
	assert_int_equal(st.nparams, 4);
	assert_string_equal(st.names[0], "user");
	assert_string_equal(st.values[0], "alice");
	assert_string_equal(pgp_startup_get(&st, "database"), "db1");
	assert_string_equal(pgp_startup_get(&st, "application_name"), "");
	assert_string_equal(pgp_startup_get(&st, "options"), "-c x=1");
	assert_null(pgp_startup_get(&st, "missing"));
	assert_null(pgp_startup_get(&st, "User"));

	/* Only the terminator: no parameters, still well formed. */
	n = mk_startup(pkt, V30, "", 1);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_OK);
	assert_int_equal(st.nparams, 0);

	/* 3.2 gives minor 2 (the caller negotiates). */
	n = mk_startup(pkt, V32, params, sizeof(params));
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_OK);
	assert_int_equal(st.kind, PGP_STARTUP);
	assert_int_equal(st.major, 3);
	assert_int_equal(st.minor, 2);
	assert_int_equal(st.nparams, 4);
}

static void test_startup_bad_layout(void **state)
{
	static const struct {
		const char *blob;
		size_t len;
	} bad[] = {
		{"", 0},		     /* no terminator at all */
		{"user\0alice\0", 11},	     /* missing terminator */
		{"user\0alice", 10},	     /* value without NUL */
		{"user\0", 5},		     /* name without value */
		{"user", 4},		     /* name without NUL */
		{"user\0alice\0\0x", 13},    /* bytes after terminator */
		{"user\0alice\0\0\0", 13},   /* two terminators */
		{"\0user\0alice\0\0", 13},   /* terminator first */
		{"user\0alice\0db\0", 14},   /* odd count, no term. */
		{"user\0alice\0db\0\0", 15}, /* name, empty value, no term */
	};
	uint8_t pkt[64];
	pgp_startup_t st;
	const char *err;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = mk_startup(pkt, V30, bad[i].blob, bad[i].len);
		pgp_status_t rc = parse_copy(pkt, n, &st, &err);
		if (rc != PGP_BAD)
			fail_msg("layout %zu accepted", i);
		assert_non_null(err);
	}
	/* "db\0\0" is name "db" with an empty value, then the terminator
	 * is still missing; with one more NUL it is fine. */
	size_t n = mk_startup(pkt, V30, "user\0alice\0db\0\0\0", 16);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_OK);
	assert_int_equal(st.nparams, 2);
	assert_string_equal(pgp_startup_get(&st, "db"), "");
}

static void test_startup_length_mismatch(void **state)
{
	static const char params[] = "user\0bob\0";
	uint8_t pkt[64];
	pgp_startup_t st;
	const char *err;
	(void)state;

	size_t n = mk_startup(pkt, V30, params, sizeof(params));
	/* Declared length one more / one less than the bytes given. */
	put_be32(pkt, (uint32_t)n + 1);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_BAD);
	put_be32(pkt, (uint32_t)n - 1);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_BAD);
	put_be32(pkt, (uint32_t)n);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_OK);
	/* Shorter than a header. */
	for (size_t l = 0; l < 8; l++) {
		put_be32(pkt, (uint32_t)l);
		assert_int_equal(parse_copy(pkt, l < 4 ? 4 : l, &st, &err),
				 PGP_BAD);
	}
}

static void test_startup_too_many_params(void **state)
{
	char blob[2048];
	uint8_t pkt[2100];
	pgp_startup_t st;
	const char *err;
	size_t bl;
	(void)state;

	/* Exactly PGP_MAX_STARTUP_PARAMS is fine. */
	bl = 0;
	for (int i = 0; i < PGP_MAX_STARTUP_PARAMS; i++) {
		bl += (size_t)sprintf(blob + bl, "p%d", i) + 1;
		bl += (size_t)sprintf(blob + bl, "v%d", i) + 1;
	}
	blob[bl++] = 0;
	size_t n = mk_startup(pkt, V30, blob, bl);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_OK);
	assert_int_equal(st.nparams, PGP_MAX_STARTUP_PARAMS);
	assert_string_equal(pgp_startup_get(&st, "p63"), "v63");

	/* One more is refused: replace the terminator by p64=v64. */
	bl--;
	bl += (size_t)sprintf(blob + bl, "p64") + 1;
	bl += (size_t)sprintf(blob + bl, "v64") + 1;
	blob[bl++] = 0;
	n = mk_startup(pkt, V30, blob, bl);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_BAD);
	assert_non_null(err);
	assert_non_null(strstr(err, "too many"));
}

static void test_startup_protocol(void **state)
{
	uint8_t pkt[64];
	pgp_startup_t st;
	const char *err;
	(void)state;

	/* 2.0 is refused. */
	size_t n = mk_startup(pkt, 2u << 16, "user\0x\0", 8);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_BAD);
	assert_non_null(err);
	assert_non_null(strstr(err, "protocol"));
	/* So are 4.0 and 0.0. */
	n = mk_startup(pkt, 4u << 16, "user\0x\0", 8);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_BAD);
	n = mk_startup(pkt, 0, "user\0x\0", 8);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_BAD);
}

static void test_startup_ssl_gss(void **state)
{
	uint8_t pkt[16] = {0};
	pgp_startup_t st;
	const char *err;
	(void)state;

	size_t n = mk_startup(pkt, PGP_CODE_SSL, NULL, 0);
	assert_int_equal(n, 8);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_OK);
	assert_int_equal(st.kind, PGP_SSL_REQUEST);
	n = mk_startup(pkt, PGP_CODE_GSSENC, NULL, 0);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_OK);
	assert_int_equal(st.kind, PGP_GSSENC_REQUEST);

	/* Wrong length: anything but 8. */
	for (size_t extra = 1; extra <= 8; extra++) {
		n = mk_startup(pkt, PGP_CODE_SSL, "\0\0\0\0\0\0\0\0", extra);
		assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_BAD);
		n = mk_startup(pkt, PGP_CODE_GSSENC, "\0\0\0\0\0\0\0\0", extra);
		assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_BAD);
	}
}

static void test_startup_cancel(void **state)
{
	uint8_t pkt[12 + PGP_MAX_CANCEL_KEY + 8];
	uint8_t key[PGP_MAX_CANCEL_KEY + 8];
	pgp_startup_t st;
	const char *err;
	(void)state;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0xa0 + i);

	/* 3.0: pid + 4-byte key. */
	uint8_t body[4 + sizeof(key)];
	put_be32(body, 4242);
	memcpy(body + 4, key, sizeof(key));
	size_t n = mk_startup(pkt, PGP_CODE_CANCEL, body, 8);
	assert_int_equal(n, 16);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_OK);
	assert_int_equal(st.kind, PGP_CANCEL_REQUEST);
	assert_int_equal(st.cancel_pid, 4242);
	assert_int_equal(st.cancel_key_len, 4);
	assert_memory_equal(st.cancel_key, key, 4);

	/* 3.2: a 32-byte key, and the 256-byte maximum. */
	n = mk_startup(pkt, PGP_CODE_CANCEL, body, 4 + 32);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_OK);
	assert_int_equal(st.cancel_key_len, 32);
	assert_memory_equal(st.cancel_key, key, 32);
	n = mk_startup(pkt, PGP_CODE_CANCEL, body, 4 + PGP_MAX_CANCEL_KEY);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_OK);
	assert_int_equal(st.cancel_key_len, PGP_MAX_CANCEL_KEY);
	assert_memory_equal(st.cancel_key, key, PGP_MAX_CANCEL_KEY);

	/* Too long a key. */
	n = mk_startup(pkt, PGP_CODE_CANCEL, body, 4 + PGP_MAX_CANCEL_KEY + 1);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_BAD);
	n = mk_startup(pkt, PGP_CODE_CANCEL, body, 4 + PGP_MAX_CANCEL_KEY + 8);
	assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_BAD);
	/* Too short: no pid, pid only, key shorter than 4. */
	for (size_t bl = 0; bl < 8; bl++) {
		n = mk_startup(pkt, PGP_CODE_CANCEL, body, bl);
		assert_int_equal(parse_copy(pkt, n, &st, &err), PGP_BAD);
	}
}

/* ---- readers ---- */

static void test_readers_values(void **state)
{
	static const uint8_t data[] = {0x7f, 0xff, 0xfe, 0x80, 0x00,
				       0x00, 0x01, 'h',	 'i',  0,
				       0,    0xde, 0xad, 0xbe, 0xef};
	uint8_t *p = dup_exact(data, sizeof(data));
	pgp_reader_t r;
	(void)state;

	pgp_rd_init(&r, p, sizeof(data));
	assert_int_equal(pgp_rd_left(&r), sizeof(data));
	assert_int_equal(pgp_rd_byte(&r), 0x7f);
	assert_int_equal(pgp_rd_int16(&r), -2);
	assert_int_equal(pgp_rd_int32(&r), INT32_MIN + 1);
	assert_string_equal(pgp_rd_string(&r), "hi");
	assert_string_equal(pgp_rd_string(&r), "");
	const uint8_t *b = pgp_rd_bytes(&r, 4);
	assert_ptr_equal(b, p + 11);
	assert_false(r.err);
	assert_int_equal(pgp_rd_left(&r), 0);
	/* Zero bytes at the end is not an overrun. */
	assert_non_null(pgp_rd_bytes(&r, 0));
	assert_false(r.err);

	pgp_rd_init(&r, p + 11, 4);
	assert_int_equal(pgp_rd_int32(&r), (int32_t)0xdeadbeefu);
	free(p);
}

static void test_readers_past_end(void **state)
{
	static const uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	pgp_reader_t r;
	(void)state;

	/* Each reader on every too-short buffer. */
	for (size_t len = 0; len < 4; len++) {
		uint8_t *p = dup_exact(data, len);

		if (len < 1) {
			pgp_rd_init(&r, p, len);
			assert_int_equal(pgp_rd_byte(&r), 0);
			assert_true(r.err);
		}
		if (len < 2) {
			pgp_rd_init(&r, p, len);
			assert_int_equal(pgp_rd_int16(&r), 0);
			assert_true(r.err);
		}
		pgp_rd_init(&r, p, len);
		assert_int_equal(pgp_rd_int32(&r), 0);
		assert_true(r.err);
		assert_true(r.pos <= r.len);

		pgp_rd_init(&r, p, len);
		assert_null(pgp_rd_bytes(&r, len + 1));
		assert_true(r.err);

		pgp_rd_init(&r, p, len);
		assert_null(pgp_rd_bytes(&r, SIZE_MAX));
		assert_true(r.err);

		/* No NUL in the buffer. */
		pgp_rd_init(&r, p, len);
		const char *s = pgp_rd_string(&r);
		assert_non_null(s);
		assert_string_equal(s, "");
		assert_true(r.err);
		free(p);
	}

	/* Reading up to the end exactly, then one more of each kind. */
	uint8_t *p = dup_exact(data, 8);
	pgp_rd_init(&r, p, 8);
	assert_int_equal(pgp_rd_int32(&r), 0x01020304);
	assert_int_equal(pgp_rd_int16(&r), 0x0506);
	assert_int_equal(pgp_rd_byte(&r), 7);
	assert_int_equal(pgp_rd_byte(&r), 8);
	assert_false(r.err);
	assert_int_equal(pgp_rd_left(&r), 0);
	assert_int_equal(pgp_rd_byte(&r), 0);
	assert_true(r.err);

	pgp_rd_init(&r, p, 8);
	pgp_rd_bytes(&r, 7);
	assert_int_equal(pgp_rd_int16(&r), 0);
	assert_true(r.err);

	pgp_rd_init(&r, p, 8);
	pgp_rd_bytes(&r, 5);
	assert_int_equal(pgp_rd_int32(&r), 0);
	assert_true(r.err);

	pgp_rd_init(&r, p, 8);
	pgp_rd_bytes(&r, 3);
	assert_null(pgp_rd_bytes(&r, 6));
	assert_true(r.err);

	/* err is sticky: later reads fail even though bytes remain. */
	pgp_rd_init(&r, p, 8);
	assert_null(pgp_rd_bytes(&r, 9));
	assert_true(r.err);
	assert_int_equal(pgp_rd_byte(&r), 0);
	assert_int_equal(pgp_rd_int16(&r), 0);
	assert_int_equal(pgp_rd_int32(&r), 0);
	assert_null(pgp_rd_bytes(&r, 1));
	assert_string_equal(pgp_rd_string(&r), "");
	assert_true(r.err);
	assert_true(r.pos <= r.len);
	free(p);
}

static void test_readers_strings(void **state)
{
	static const char data[] = {'a', 'b', 0, 'c', 'd', 'e'};
	uint8_t *p = dup_exact(data, sizeof(data));
	pgp_reader_t r;
	(void)state;

	pgp_rd_init(&r, p, sizeof(data));
	assert_string_equal(pgp_rd_string(&r), "ab");
	assert_false(r.err);
	/* "cde" has no NUL before the end. */
	assert_string_equal(pgp_rd_string(&r), "");
	assert_true(r.err);
	free(p);

	/* A string whose NUL is the last byte. */
	p = dup_exact("xyz", 4);
	pgp_rd_init(&r, p, 4);
	assert_string_equal(pgp_rd_string(&r), "xyz");
	assert_false(r.err);
	assert_int_equal(pgp_rd_left(&r), 0);
	assert_string_equal(pgp_rd_string(&r), "");
	assert_true(r.err);
	/* The same bytes but a reader limited to 3: no NUL in range. */
	pgp_rd_init(&r, p, 3);
	assert_string_equal(pgp_rd_string(&r), "");
	assert_true(r.err);
	free(p);
}

/* ---- ErrorResponse fields ---- */

static void test_error_field(void **state)
{
	static const char body[] = "SERROR\0VERROR\0C42P01\0"
				   "Mrelation \"t\" does not exist\0P15\0";
	/* sizeof includes the terminating NUL of the field list. */
	const size_t blen = sizeof(body);
	(void)state;

	uint8_t *p = dup_exact(body, blen);
	assert_string_equal(pgp_error_field(p, blen, 'S'), "ERROR");
	assert_string_equal(pgp_error_field(p, blen, 'V'), "ERROR");
	assert_string_equal(pgp_error_field(p, blen, 'C'), "42P01");
	assert_string_equal(pgp_error_field(p, blen, 'M'),
			    "relation \"t\" does not exist");
	assert_string_equal(pgp_error_field(p, blen, 'P'), "15");
	assert_null(pgp_error_field(p, blen, 'D'));
	assert_null(pgp_error_field(p, blen, 0));
	free(p);

	/* Empty body, and one holding only the terminator. */
	p = dup_exact("", 1);
	assert_null(pgp_error_field(p, 0, 'M'));
	assert_null(pgp_error_field(p, 1, 'M'));
	free(p);

	/* Every truncation: a field is found only when its NUL made it. */
	const size_t m_end = (size_t)(strchr(body + 22, 0) - body) + 1;
	const size_t c_end = 21;
	for (size_t cut = 0; cut < blen; cut++) {
		p = dup_exact(body, cut);
		const char *m = pgp_error_field(p, cut, 'M');
		const char *c = pgp_error_field(p, cut, 'C');
		if (cut >= m_end)
			assert_string_equal(m, "relation \"t\" does not exist");
		else
			assert_null(m);
		if (cut >= c_end)
			assert_string_equal(c, "42P01");
		else
			assert_null(c);
		assert_null(pgp_error_field(p, cut, 'D'));
		free(p);
	}

	/* A field code with no string after it. */
	p = dup_exact("M", 1);
	assert_null(pgp_error_field(p, 1, 'M'));
	free(p);
}

/* ---- builders: round trip ---- */

/* Frame the next message of the pending bytes of B at *OFF. */
static pgp_reader_t next_msg(const buf_t *b, size_t *off, uint8_t type)
{
	pgp_msg_t m;
	pgp_reader_t r;
	const uint8_t *p = buf_head(b) + *off;
	size_t avail = buf_pending(b) - *off;

	assert_int_equal(pgp_frame(p, avail, MIB, &m), PGP_OK);
	assert_int_equal(m.type, type);
	assert_true(m.total <= avail);
	pgp_rd_init(&r, p + PGP_HDR_LEN, m.len);
	*off += m.total;
	return r;
}

static void done(const pgp_reader_t *r)
{
	assert_false(r->err);
	assert_int_equal(pgp_rd_left(r), 0);
}

static void test_build_round_trip(void **state)
{
	static const pgp_field_t fields[] = {
		{"name", PGP_OID_TEXT, -1},
		{"count", PGP_OID_INT8, 8},
	};
	static const char *const row[] = {"alice", NULL, "", "42"};
	static const char *const opts[] = {"_pq_.foo", "_pq_.bar"};
	static const uint8_t salt[4] = {9, 8, 7, 6};
	buf_t b;
	pgp_reader_t r;
	size_t off = 0;
	(void)state;

	buf_init(&b, 0);
	assert_true(pgp_wr_error(&b, "FATAL", "28P01", "auth failed"));
	assert_true(pgp_wr_notice(&b, "NOTICE", "00000", "hello"));
	assert_true(pgp_wr_error_detail(&b, "ERROR", "F0000", "bad", "why"));
	assert_true(pgp_wr_param_status(&b, "server_version", "16.2"));
	assert_true(pgp_wr_backend_key(&b, 0xfedcba98u, 0x01020304u));
	assert_true(pgp_wr_ready(&b, 'T'));
	assert_true(pgp_wr_query(&b, "SELECT 'x'"));
	assert_true(pgp_wr_row_desc(&b, fields, 2));
	assert_true(pgp_wr_data_row(&b, row, 4));
	assert_true(pgp_wr_command_complete(&b, "SELECT 1"));
	assert_true(pgp_wr_negotiate(&b, (int)V30, opts, 2));
	assert_true(pgp_wr_auth(&b, 5, salt, 4));
	assert_true(pgp_wr_auth(&b, 0, NULL, 0));
	assert_true(pgp_wr_auth_sasl(&b, "SCRAM-SHA-256"));
	assert_true(pgp_wr_password(&b, "md5abc"));
	assert_true(pgp_wr_sasl_initial(&b, "SCRAM-SHA-256", "n,,n=,r=x", 9));
	assert_true(pgp_wr_sasl_response(&b, "c=biws", 6));
	assert_true(pgp_wr_empty_query(&b));
	assert_true(pgp_wr_terminate(&b));
	assert_false(b.toobig);

	/* Copy the stream to an exact heap block, then read it back. */
	buf_t c;
	buf_init(&c, 0);
	assert_true(buf_append(&c, buf_head(&b), buf_pending(&b)));

	r = next_msg(&c, &off, 'E');
	assert_string_equal(pgp_error_field(r.p, r.len, 'S'), "FATAL");
	assert_string_equal(pgp_error_field(r.p, r.len, 'V'), "FATAL");
	assert_string_equal(pgp_error_field(r.p, r.len, 'C'), "28P01");
	assert_string_equal(pgp_error_field(r.p, r.len, 'M'), "auth failed");
	assert_int_equal(r.p[r.len - 1], 0); /* field list terminator */
	for (int i = 0; i < 4; i++) {
		pgp_rd_byte(&r);
		pgp_rd_string(&r);
	}
	assert_int_equal(pgp_rd_byte(&r), 0);
	done(&r);

	r = next_msg(&c, &off, 'N');
	assert_string_equal(pgp_error_field(r.p, r.len, 'S'), "NOTICE");
	assert_string_equal(pgp_error_field(r.p, r.len, 'C'), "00000");
	assert_string_equal(pgp_error_field(r.p, r.len, 'M'), "hello");

	r = next_msg(&c, &off, 'E');
	assert_string_equal(pgp_error_field(r.p, r.len, 'S'), "ERROR");
	assert_string_equal(pgp_error_field(r.p, r.len, 'C'), "F0000");
	assert_string_equal(pgp_error_field(r.p, r.len, 'M'), "bad");
	assert_string_equal(pgp_error_field(r.p, r.len, 'D'), "why");

	r = next_msg(&c, &off, 'S');
	assert_string_equal(pgp_rd_string(&r), "server_version");
	assert_string_equal(pgp_rd_string(&r), "16.2");
	done(&r);

	r = next_msg(&c, &off, 'K');
	assert_int_equal((uint32_t)pgp_rd_int32(&r), 0xfedcba98u);
	assert_int_equal((uint32_t)pgp_rd_int32(&r), 0x01020304u);
	done(&r);

	r = next_msg(&c, &off, 'Z');
	assert_int_equal(pgp_rd_byte(&r), 'T');
	done(&r);

	r = next_msg(&c, &off, 'Q');
	assert_string_equal(pgp_rd_string(&r), "SELECT 'x'");
	done(&r);

	r = next_msg(&c, &off, 'T');
	assert_int_equal(pgp_rd_int16(&r), 2);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(pgp_rd_string(&r), fields[i].name);
		assert_int_equal(pgp_rd_int32(&r), 0); /* table oid */
		assert_int_equal(pgp_rd_int16(&r), 0); /* attnum */
		assert_int_equal(pgp_rd_int32(&r), (int32_t)fields[i].type_oid);
		assert_int_equal(pgp_rd_int16(&r), fields[i].type_len);
		assert_int_equal(pgp_rd_int32(&r), -1); /* typmod */
		assert_int_equal(pgp_rd_int16(&r), 0);	/* text format */
	}
	done(&r);

	r = next_msg(&c, &off, 'D');
	assert_int_equal(pgp_rd_int16(&r), 4);
	for (int i = 0; i < 4; i++) {
		int32_t l = pgp_rd_int32(&r);
		if (!row[i]) {
			assert_int_equal(l, -1);
			continue;
		}
		assert_int_equal(l, (int32_t)strlen(row[i]));
		const uint8_t *v = pgp_rd_bytes(&r, (size_t)l);
		assert_non_null(v);
		if (l)
			assert_memory_equal(v, row[i], (size_t)l);
	}
	done(&r);

	r = next_msg(&c, &off, 'C');
	assert_string_equal(pgp_rd_string(&r), "SELECT 1");
	done(&r);

	r = next_msg(&c, &off, 'v');
	assert_int_equal(pgp_rd_int32(&r), (int32_t)V30);
	assert_int_equal(pgp_rd_int32(&r), 2);
	assert_string_equal(pgp_rd_string(&r), "_pq_.foo");
	assert_string_equal(pgp_rd_string(&r), "_pq_.bar");
	done(&r);

	r = next_msg(&c, &off, 'R');
	assert_int_equal(pgp_rd_int32(&r), 5);
	assert_memory_equal(pgp_rd_bytes(&r, 4), salt, 4);
	done(&r);

	r = next_msg(&c, &off, 'R');
	assert_int_equal(pgp_rd_int32(&r), 0);
	done(&r);

	r = next_msg(&c, &off, 'R');
	assert_int_equal(pgp_rd_int32(&r), 10);
	assert_string_equal(pgp_rd_string(&r), "SCRAM-SHA-256");
	assert_string_equal(pgp_rd_string(&r), ""); /* end of the list */
	done(&r);

	r = next_msg(&c, &off, 'p');
	assert_string_equal(pgp_rd_string(&r), "md5abc");
	done(&r);

	r = next_msg(&c, &off, 'p');
	assert_string_equal(pgp_rd_string(&r), "SCRAM-SHA-256");
	assert_int_equal(pgp_rd_int32(&r), 9);
	assert_memory_equal(pgp_rd_bytes(&r, 9), "n,,n=,r=x", 9);
	done(&r);

	r = next_msg(&c, &off, 'p');
	assert_memory_equal(pgp_rd_bytes(&r, 6), "c=biws", 6);
	done(&r);

	r = next_msg(&c, &off, 'I');
	done(&r);
	r = next_msg(&c, &off, 'X');
	done(&r);
	assert_int_equal(off, buf_pending(&c));

	buf_free(&b);
	buf_free(&c);
}

static void test_build_startup_cancel(void **state)
{
	static const char *const names[] = {"user", "database", "options"};
	static const char *const values[] = {"alice", "db1", ""};
	buf_t b;
	pgp_startup_t st;
	const char *err;
	uint32_t len = 0;
	uint8_t key[32];
	(void)state;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);

	buf_init(&b, 0);
	assert_true(pgp_wr_startup(&b, names, values, 3));
	assert_int_equal(pgp_frame_startup(buf_head(&b), buf_pending(&b), &len),
			 PGP_OK);
	assert_int_equal(len, buf_pending(&b));
	assert_int_equal(parse_copy(buf_head(&b), len, &st, &err), PGP_OK);
	assert_int_equal(st.kind, PGP_STARTUP);
	assert_int_equal(st.major, 3);
	assert_int_equal(st.minor, 0);
	assert_int_equal(st.nparams, 3);
	for (int i = 0; i < 3; i++)
		assert_string_equal(pgp_startup_get(&st, names[i]), values[i]);
	buf_reset(&b);

	/* No parameters at all. */
	assert_true(pgp_wr_startup(&b, NULL, NULL, 0));
	assert_int_equal(buf_pending(&b), 9);
	assert_int_equal(parse_copy(buf_head(&b), 9, &st, &err), PGP_OK);
	assert_int_equal(st.nparams, 0);
	buf_reset(&b);

	/* Cancel with 4- and 32-byte keys. */
	static const size_t klen[] = {4, 32};
	for (size_t k = 0; k < 2; k++) {
		assert_true(pgp_wr_cancel(&b, 0x7fff0001u, key, klen[k]));
		assert_int_equal(
			pgp_frame_startup(buf_head(&b), buf_pending(&b), &len),
			PGP_OK);
		assert_int_equal(len, 12 + klen[k]);
		assert_int_equal(parse_copy(buf_head(&b), len, &st, &err),
				 PGP_OK);
		assert_int_equal(st.kind, PGP_CANCEL_REQUEST);
		assert_int_equal(st.cancel_pid, 0x7fff0001u);
		assert_int_equal(st.cancel_key_len, klen[k]);
		assert_memory_equal(st.cancel_key, key, klen[k]);
		buf_reset(&b);
	}
	buf_free(&b);
}

/* ---- builders on a bounded buffer: all or nothing ---- */

typedef bool (*build_fn)(buf_t *b);

static bool b_error(buf_t *b)
{
	return pgp_wr_error(b, "ERROR", "42601", "syntax error");
}
static bool b_error_detail(buf_t *b)
{
	return pgp_wr_error_detail(b, "ERROR", "F0000", "bad", "detail");
}
static bool b_notice(buf_t *b)
{
	return pgp_wr_notice(b, "NOTICE", "00000", "note");
}
static bool b_auth(buf_t *b)
{
	return pgp_wr_auth(b, 5, "salt", 4);
}
static bool b_auth_sasl(buf_t *b)
{
	return pgp_wr_auth_sasl(b, "SCRAM-SHA-256");
}
static bool b_param_status(buf_t *b)
{
	return pgp_wr_param_status(b, "TimeZone", "UTC");
}
static bool b_backend_key(buf_t *b)
{
	return pgp_wr_backend_key(b, 1, 2);
}
static bool b_ready(buf_t *b)
{
	return pgp_wr_ready(b, 'I');
}
static bool b_query(buf_t *b)
{
	return pgp_wr_query(b, "SELECT 1");
}
static bool b_terminate(buf_t *b)
{
	return pgp_wr_terminate(b);
}
static bool b_password(buf_t *b)
{
	return pgp_wr_password(b, "secret");
}
static bool b_sasl_initial(buf_t *b)
{
	return pgp_wr_sasl_initial(b, "SCRAM-SHA-256", "n,,n=,r=abc", 11);
}
static bool b_sasl_response(buf_t *b)
{
	return pgp_wr_sasl_response(b, "c=biws,r=abc", 12);
}
static bool b_startup(buf_t *b)
{
	static const char *const n[] = {"user", "database"};
	static const char *const v[] = {"u", "d"};
	return pgp_wr_startup(b, n, v, 2);
}
static bool b_cancel(buf_t *b)
{
	static const uint8_t key[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	return pgp_wr_cancel(b, 77, key, sizeof(key));
}
static bool b_negotiate(buf_t *b)
{
	static const char *const o[] = {"_pq_.x"};
	return pgp_wr_negotiate(b, (int)V30, o, 1);
}
static bool b_row_desc(buf_t *b)
{
	static const pgp_field_t f[] = {{"a", PGP_OID_INT4, 4},
					{"b", PGP_OID_TEXT, -1}};
	return pgp_wr_row_desc(b, f, 2);
}
static bool b_data_row(buf_t *b)
{
	static const char *const v[] = {"1", NULL, "two"};
	return pgp_wr_data_row(b, v, 3);
}
static bool b_command_complete(buf_t *b)
{
	return pgp_wr_command_complete(b, "UPDATE 3");
}
static bool b_empty_query(buf_t *b)
{
	return pgp_wr_empty_query(b);
}

static const struct {
	const char *name;
	build_fn fn;
} builders[] = {
	{"error", b_error},
	{"error_detail", b_error_detail},
	{"notice", b_notice},
	{"auth", b_auth},
	{"auth_sasl", b_auth_sasl},
	{"param_status", b_param_status},
	{"backend_key", b_backend_key},
	{"ready", b_ready},
	{"query", b_query},
	{"terminate", b_terminate},
	{"password", b_password},
	{"sasl_initial", b_sasl_initial},
	{"sasl_response", b_sasl_response},
	{"startup", b_startup},
	{"cancel", b_cancel},
	{"negotiate", b_negotiate},
	{"row_desc", b_row_desc},
	{"data_row", b_data_row},
	{"command_complete", b_command_complete},
	{"empty_query", b_empty_query},
};
#define NBUILDERS (sizeof(builders) / sizeof(builders[0]))

/* The reference bytes of builder I on an unbounded buffer. */
static size_t reference(size_t i, uint8_t *out, size_t cap)
{
	buf_t b;
	buf_init(&b, 0);
	assert_true(builders[i].fn(&b));
	size_t n = buf_pending(&b);
	assert_true(n <= cap);
	memcpy(out, buf_head(&b), n);
	buf_free(&b);
	return n;
}

/* Violations printed per builder (the first one tells the story). */
static int g_report_budget;

#define REPORT(...)                                                            \
	do {                                                                   \
		if (g_report_budget > 0) {                                     \
			g_report_budget--;                                     \
			print_message(__VA_ARGS__);                            \
		}                                                              \
	} while (0)

/*
 * Call builder I on a buffer of maximum MAX already holding PREFILL
 * bytes (PREFILL - CONSUMED of them still pending). It must either
 * append exactly the reference message, or fail, set toobig and leave
 * the pending bytes as they were; and it must succeed exactly when the
 * message fits. Returns false (after printing) on a violation.
 */
static bool bounded_once(size_t i, size_t max, size_t prefill, size_t consumed,
			 const uint8_t *ref, size_t reflen)
{
	uint8_t fill[64];
	buf_t b;
	bool ok = true;

	assert_true(prefill <= sizeof(fill) && consumed <= prefill);
	for (size_t k = 0; k < prefill; k++)
		fill[k] = (uint8_t)(0xc0 + k);
	buf_init(&b, max);
	if (prefill && !buf_append(&b, fill, prefill)) {
		buf_free(&b);
		return true; /* does not apply */
	}
	buf_consume(&b, consumed);
	size_t pend = buf_pending(&b);
	const uint8_t *old = fill + consumed;

	bool rc = builders[i].fn(&b);
	size_t now = buf_pending(&b);
	if (rc) {
		if (now != pend + reflen ||
		    (pend && memcmp(buf_head(&b), old, pend) != 0) ||
		    memcmp(buf_head(&b) + pend, ref, reflen) != 0) {
			REPORT("pgp_wr_%s: max %zu, prefill %zu, consumed "
			       "%zu: returned true, but the pending bytes are "
			       "not old bytes + the message\n",
			       builders[i].name, max, prefill, consumed);
			ok = false;
		}
	} else {
		if (now != pend ||
		    (pend && memcmp(buf_head(&b), old, pend) != 0)) {
			REPORT("pgp_wr_%s: max %zu, prefill %zu, consumed "
			       "%zu: returned false and left %zu pending "
			       "bytes instead of %zu (half message)\n",
			       builders[i].name, max, prefill, consumed, now,
			       pend);
			ok = false;
		}
		if (!b.toobig) {
			REPORT("pgp_wr_%s: max %zu: false without toobig\n",
			       builders[i].name, max);
			ok = false;
		}
	}
	if (rc != (pend + reflen <= max)) {
		REPORT("pgp_wr_%s: max %zu, %zu pending, message of %zu: "
		       "returned %s\n",
		       builders[i].name, max, pend, reflen,
		       rc ? "true" : "false");
		ok = false;
	}
	buf_free(&b);
	return ok;
}

/* Every builder, every maximum from 1 to "fits with room to spare", on
 * an empty buffer and on one already holding a message. */
static void test_build_bounded(void **state)
{
	uint8_t ref[256];
	bool ok = true;
	(void)state;

	for (size_t i = 0; i < NBUILDERS; i++) {
		size_t reflen = reference(i, ref, sizeof(ref));
		g_report_budget = 1;
		for (size_t pre = 0; pre <= 5; pre += 5)
			for (size_t max = 1; max <= pre + reflen + 2; max++)
				ok &= bounded_once(i, max, pre, 0, ref, reflen);
	}
	if (!ok)
		fail_msg("a builder left a half message or misreported");
}

/* Minimal reproducer: the 5-byte header does not fit, the small fields
 * after it do. Results are checked after freeing, so failures do not
 * leak. */
static void test_build_header_does_not_fit(void **state)
{
	buf_t b;
	bool rc1, rc2, toobig;
	size_t len1, len2;
	(void)state;

	buf_init(&b, 8);
	assert_true(pgp_wr_terminate(&b)); /* 5 of 8 bytes used */
	rc1 = pgp_wr_error(&b, "ERROR", "XX000", "m");
	toobig = b.toobig;
	len1 = buf_pending(&b);
	buf_free(&b);

	/* An empty buffer with room for less than a header. */
	buf_init(&b, 4);
	rc2 = pgp_wr_backend_key(&b, 1, 2);
	len2 = buf_pending(&b);
	buf_free(&b);

	assert_false(rc1);
	assert_true(toobig);
	assert_int_equal(len1, 5);
	assert_false(rc2);
	assert_int_equal(len2, 0);
}

/* Snapshot of a buffer's pending bytes, taken before freeing it. */
typedef struct snap {
	bool rc;
	size_t n;
	uint8_t d[64];
} snap_t;

static void take_snap(snap_t *s, bool rc, buf_t *b)
{
	s->rc = rc;
	s->n = buf_pending(b);
	memcpy(s->d, buf_head(b), s->n < sizeof(s->d) ? s->n : sizeof(s->d));
	buf_free(b);
}

/* A well-formed typed message of TYPE with BODY right after SKIP bytes. */
static void check_snap_msg(const snap_t *s, size_t skip, uint8_t type,
			   const char *body, size_t blen)
{
	pgp_msg_t m;

	assert_true(s->rc);
	assert_int_equal(s->n, skip + 5 + blen);
	assert_int_equal(pgp_frame(s->d + skip, s->n - skip, MIB, &m), PGP_OK);
	assert_int_equal(m.type, type);
	assert_int_equal(m.len, blen);
	assert_memory_equal(s->d + skip + 5, body, blen);
}

/* Consumed bytes at the front: a builder's append that makes
 * buf_reserve() move the pending bytes down must not invalidate the
 * position where the builder later patches the length (or rolls back
 * to). Here the body append moves them: the patch lands inside the
 * block, but in the wrong place. */
static void test_build_after_consume(void **state)
{
	static const char *const n[] = {"user"};
	static const char *const v[] = {"someone"};
	uint8_t junk[250];
	char big[300];
	buf_t b;
	snap_t q, st, fail;
	(void)state;

	memset(junk, 'j', sizeof(junk));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;

	/* max 256 keeps the block at 256 at most, so the 250 + 5 + 9 bytes
	 * cannot fit without moving the 2 pending bytes down. */
	buf_init(&b, 256);
	assert_true(buf_append(&b, junk, sizeof(junk)));
	buf_consume(&b, 248); /* 2 pending */
	take_snap(&q, pgp_wr_query(&b, "SELECT 1"), &b);

	/* Startup packets patch their length at the start too. */
	buf_init(&b, 256);
	assert_true(buf_append(&b, junk, sizeof(junk)));
	buf_consume(&b, 248);
	take_snap(&st, pgp_wr_startup(&b, n, v, 1), &b);

	/* A failing builder after compaction must still roll back. */
	buf_init(&b, 260);
	assert_true(buf_append(&b, junk, sizeof(junk)));
	buf_consume(&b, 248);
	take_snap(&fail, pgp_wr_query(&b, big), &b);

	assert_memory_equal(q.d, "jj", 2);
	check_snap_msg(&q, 2, 'Q', "SELECT 1", 9);

	assert_true(st.rc);
	assert_int_equal(st.n, 2 + 8 + 5 + 8 + 1);
	assert_int_equal(get_be32(st.d + 2), 22);

	assert_false(fail.rc);
	assert_int_equal(fail.n, 2);
}

/* As above, but the header append itself moves the pending bytes, with
 * the block exactly at its maximum: the length patch then lands past the
 * end of the heap block (ASan: heap-buffer-overflow in put_u32). Under
 * ASan this aborts the run, so it comes last but one. */
static void test_build_compact_in_header(void **state)
{
	uint8_t junk[40];
	buf_t b;
	snap_t q;
	(void)state;

	memset(junk, 'j', sizeof(junk));
	buf_init(&b, 44);
	assert_true(buf_append(&b, junk, sizeof(junk))); /* cap 44 (max) */
	buf_consume(&b, 37);				 /* 3 pending */
	take_snap(&q, pgp_wr_query(&b, "x"), &b);
	check_snap_msg(&q, 3, 'Q', "x", 2);
}

/* The bounded sweep again, with consumed bytes at the front. */
static void test_build_bounded_consumed(void **state)
{
	uint8_t ref[256];
	bool ok = true;
	(void)state;

	for (size_t i = 0; i < NBUILDERS; i++) {
		size_t reflen = reference(i, ref, sizeof(ref));
		g_report_budget = 1;
		for (size_t pre = 2; pre <= 40; pre += 3)
			for (size_t cons = 1; cons < pre; cons += 2)
				for (size_t max = pre; max <= pre + reflen + 2;
				     max++)
					ok &= bounded_once(i, max, pre, cons,
							   ref, reflen);
	}
	if (!ok)
		fail_msg("a builder corrupted a buffer with consumed bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_whole),
		cmocka_unit_test(test_frame_byte_at_a_time),
		cmocka_unit_test(test_frame_every_split),
		cmocka_unit_test(test_frame_random_splits),
		cmocka_unit_test(test_frame_header),
		cmocka_unit_test(test_frame_toobig),
		cmocka_unit_test(test_startup_frame),
		cmocka_unit_test(test_startup_valid),
		cmocka_unit_test(test_startup_bad_layout),
		cmocka_unit_test(test_startup_length_mismatch),
		cmocka_unit_test(test_startup_too_many_params),
		cmocka_unit_test(test_startup_protocol),
		cmocka_unit_test(test_startup_ssl_gss),
		cmocka_unit_test(test_startup_cancel),
		cmocka_unit_test(test_readers_values),
		cmocka_unit_test(test_readers_past_end),
		cmocka_unit_test(test_readers_strings),
		cmocka_unit_test(test_error_field),
		cmocka_unit_test(test_build_round_trip),
		cmocka_unit_test(test_build_startup_cancel),
		cmocka_unit_test(test_build_bounded),
		cmocka_unit_test(test_build_header_does_not_fit),
		cmocka_unit_test(test_build_after_consume),
		cmocka_unit_test(test_build_compact_in_header),
		cmocka_unit_test(test_build_bounded_consumed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
