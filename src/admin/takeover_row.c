/* SPDX-License-Identifier: MIT */
/*
 * takeover_row.c - SHOW FDS rows as text columns and back. Pure: no
 * sockets, no logging, so both sides (and the unit tests) share it.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/takeover.h"

static const char *const task_names[] = {"pooler", "client", "server"};

void tko_row_encode(const tko_row_t *r, const char *vals[TKO_NCOLS],
		    char *store)
{
	char *fd = store, *port = store + 16, *cancel = store + 32;
	char *link = store + 56, *ck = store + 72, *sk = store + 160;
	snprintf(fd, 16, "%d", r->fd);
	snprintf(port, 16, "%d", r->port);
	/* bigint in PgBouncer's row: the 8 key bytes as a signed number */
	snprintf(cancel, 24, "%lld", (long long)r->cancel);
	snprintf(link, 16, "%d", r->link);
	bool pooler = r->task == TKO_POOLER;
	vals[0] = fd;
	vals[1] = task_names[r->task];
	vals[2] = pooler ? NULL : r->user;
	vals[3] = pooler ? NULL : r->db;
	vals[4] = r->addr;
	vals[5] = port;
	vals[6] = cancel;
	vals[7] = link;
	vals[8] = pooler ? NULL : r->client_encoding;
	vals[9] = pooler ? NULL : r->std_strings;
	vals[10] = pooler ? NULL : r->datestyle;
	vals[11] = pooler ? NULL : r->timezone;
	vals[12] = pooler || !r->password[0] ? NULL : r->password;
	vals[13] = vals[14] = NULL;
	if (r->has_scram_keys) {
		/* 32 bytes: 44 characters of base64, and the NUL */
		EVP_EncodeBlock((unsigned char *)ck, r->scram_client_key, 32);
		EVP_EncodeBlock((unsigned char *)sk, r->scram_server_key, 32);
		vals[13] = ck;
		vals[14] = sk;
	}
}

static int copy_str(const char *v, char *out, size_t cap)
{
	size_t n = v ? strlen(v) : 0;
	if (n >= cap)
		return -1;
	memcpy(out, v ? v : "", n);
	out[n] = 0;
	return 0;
}

static int parse_ll(const char *v, long long lo, long long hi, long long *out)
{
	if (!v || !*v)
		return -1;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return -1;
	*out = x;
	return 0;
}

static int decode_key(const char *v, uint8_t out[32])
{
	uint8_t tmp[48];
	if (!v || strlen(v) != 44)
		return -1;
	/* EVP_DecodeBlock counts the padding as data: 33 bytes for 44. */
	if (EVP_DecodeBlock(tmp, (const unsigned char *)v, 44) != 33)
		return -1;
	memcpy(out, tmp, 32);
	return 0;
}

int tko_row_decode(const char *const vals[TKO_NCOLS], tko_row_t *r)
{
	long long x;
	memset(r, 0, sizeof(*r));
	if (parse_ll(vals[0], 0, 1 << 30, &x) < 0)
		return -1;
	r->fd = (int)x;
	int t;
	for (t = 0; t < 3; t++)
		if (vals[1] && strcmp(vals[1], task_names[t]) == 0)
			break;
	if (t == 3)
		return -1;
	r->task = (tko_task_t)t;
	if (parse_ll(vals[5], 0, 65535, &x) < 0)
		return -1;
	r->port = (int)x;
	if (parse_ll(vals[6], INT64_MIN, INT64_MAX, &x) < 0)
		return -1;
	r->cancel = (uint64_t)x;
	if (parse_ll(vals[7], 0, 1 << 30, &x) < 0)
		return -1;
	r->link = (int)x;
	if (copy_str(vals[2], r->user, sizeof(r->user)) < 0 ||
	    copy_str(vals[3], r->db, sizeof(r->db)) < 0 ||
	    copy_str(vals[4], r->addr, sizeof(r->addr)) < 0 ||
	    copy_str(vals[8], r->client_encoding, sizeof(r->client_encoding)) <
		    0 ||
	    copy_str(vals[9], r->std_strings, sizeof(r->std_strings)) < 0 ||
	    copy_str(vals[10], r->datestyle, sizeof(r->datestyle)) < 0 ||
	    copy_str(vals[11], r->timezone, sizeof(r->timezone)) < 0 ||
	    copy_str(vals[12], r->password, sizeof(r->password)) < 0)
		return -1;
	if (r->task != TKO_POOLER && (!r->user[0] || !r->db[0]))
		return -1;
	if (vals[13] || vals[14]) {
		if (decode_key(vals[13], r->scram_client_key) < 0 ||
		    decode_key(vals[14], r->scram_server_key) < 0)
			return -1;
		r->has_scram_keys = true;
	}
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

int tko_parse_data_row(const uint8_t *body, size_t len, int n,
		       const char **vals, char *out, size_t cap)
{
	if (len < 2 || (body[0] << 8 | body[1]) != n)
		return -1;
	size_t pos = 2, used = 0;
	for (int i = 0; i < n; i++) {
		if (len - pos < 4)
			return -1;
		uint32_t l = rd32(body + pos);
		pos += 4;
		if (l == 0xffffffffu) {
			vals[i] = NULL;
			continue;
		}
		/* checked by declared length before anything is copied */
		if (l > len - pos || l + 1 > cap - used ||
		    memchr(body + pos, 0, l))
			return -1;
		memcpy(out + used, body + pos, l);
		out[used + l] = 0;
		vals[i] = out + used;
		used += l + 1;
		pos += l;
	}
	return pos == len ? 0 : -1;
}
