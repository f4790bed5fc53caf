// clang-format off
// FUZZ_SOURCES: src/auth/hba.c src/auth/hba_ident.c
// clang-format on
/* SPDX-License-Identifier: MIT */
/*
 * fuzz_hba.c - libFuzzer target for the auth_hba_file and auth_ident_file
 * parsers and matchers.
 *
 * Input: byte 0 flags, byte 1 ident length I, byte 2 @file length F, then
 * I bytes of ident file, F bytes that every @file reads as, and the rest
 * is the hba file. Flag bit 0 parses the ident part with HBA_IDENT_REGEX
 * (it is at most 255 bytes, so regcomp stays cheap). At most 16 @file
 * reads per input, so "@x @x @x ..." cannot multiply the work.
 *
 * Besides not crashing, each rule that can match must: a connection built
 * from rule N's own type, address and names must match rule N or an
 * earlier one (first match wins), with that rule's method.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auth/hba.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct mem_file {
	const char *text;
	size_t len;
	int reads;
} mem_file_t;

static bool mem_read(void *arg, const char *path, size_t max, char **out,
		     size_t *len, char *err, size_t errlen)
{
	mem_file_t *f = arg;

	(void)path;
	if (++f->reads > 16 || f->len > max) {
		strncpy(err, "no", errlen);
		return false;
	}
	*out = malloc(f->len + 1);
	if (*out == NULL) {
		strncpy(err, "oom", errlen);
		return false;
	}
	memcpy(*out, f->text, f->len);
	*len = f->len;
	return true;
}

/*
 * Whether rule R can match anything: not with host bits outside its mask,
 * nor with no names in a field (empty @files), nor with only the
 * replication keyword in the user field.
 */
static bool can_match(const hba_rule_t *r)
{
	int i, n = r->addr_kind == HBA_ADDR_IPV4 ? 4 : 16;

	if (r->db.flags == 0 && r->db.count == 0)
		return false;
	if (!(r->user.flags & (HBA_NAME_ALL | HBA_NAME_SAMEUSER)) &&
	    r->user.count == 0)
		return false;
	if (r->addr_kind != HBA_ADDR_IPV4 && r->addr_kind != HBA_ADDR_IPV6)
		return true;
	for (i = 0; i < n; i++)
		if (r->addr[i] & ~r->mask[i])
			return false;
	return true;
}

/* A connection rule R must match (if an earlier rule does not). */
static void conn_for(const hba_rule_t *r, hba_conn_t *c)
{
	memset(c, 0, sizeof(*c));
	c->is_unix = r->type == HBA_LOCAL;
	c->is_tls = r->type == HBA_HOSTSSL;
	c->family = r->addr_kind == HBA_ADDR_IPV6 ? AF_INET6 : AF_INET;
	memcpy(c->addr, r->addr, sizeof(c->addr));
	if (r->db.flags & HBA_NAME_ALL)
		c->database = "x";
	else if (r->db.count > 0)
		c->database = r->db.names[0];
	else if (r->db.flags & HBA_NAME_SAMEUSER)
		c->database = NULL; /* set from the user below */
	else {
		c->is_replication = true;
		c->database = "x";
	}
	if (r->user.flags & HBA_NAME_ALL)
		c->user = c->database != NULL ? "y" : "z";
	else if (r->user.count > 0)
		c->user = r->user.names[0];
	else
		c->user = c->database != NULL ? c->database : "z";
	if (c->database == NULL)
		c->database = c->user;
}

static void check_rules(const hba_t *h, const hba_ident_t *id)
{
	const hba_rule_t *r, *got;
	hba_conn_t c;
	size_t i;

	for (i = 0; i < hba_rule_count(h) && i < 64; i++) {
		r = hba_rule_at(h, i);
		if (r->map != NULL && !hba_ident_has_map(id, r->map))
			__builtin_trap();
		(void)hba_ident_ok(id, r->map, "root", "postgres");
		if (!can_match(r))
			continue;
		conn_for(r, &c);
		if (hba_match(h, &c, &got) != (got ? got->method : HBA_REJECT))
			__builtin_trap();
		if (got == NULL || got > r)
			__builtin_trap();
	}
	if (hba_rule_at(h, hba_rule_count(h)) != NULL)
		__builtin_trap();
}

/* Fixed connections of every kind, to walk all match paths. */
static void match_fixed(const hba_t *h)
{
	static const char *const addrs[] = {"127.0.0.1", "10.1.2.3", "::1",
					    "::ffff:127.0.0.1", "fe80::1"};
	const hba_rule_t *r;
	hba_conn_t c = {0};
	size_t i;
	int k;

	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		for (k = 0; k < 8; k++) {
			memset(&c, 0, sizeof(c));
			c.family = strchr(addrs[i], ':') ? AF_INET6 : AF_INET;
			inet_pton(c.family, addrs[i], c.addr);
			c.is_tls = k & 1;
			c.is_replication = (k & 2) != 0;
			c.is_unix = (k & 4) != 0 && i == 0;
			c.database = (k & 4) ? "postgres" : "all";
			c.user = (k & 2) ? "postgres" : "replication";
			(void)hba_match(h, &c, &r);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	hba_diags_t d = {0};
	mem_file_t mf = {0};
	hba_reader_t rd = {mem_read, &mf};
	const char *p = (const char *)data + 3;
	size_t ilen, flen, rest;
	hba_ident_t *id;
	hba_t *h;
	int i;

	if (size < 3)
		return 0;
	rest = size - 3;
	ilen = data[1] < rest ? data[1] : rest;
	rest -= ilen;
	flen = data[2] < rest ? data[2] : rest;
	rest -= flen;
	id = hba_ident_parse(p, ilen, "ident.conf",
			     (data[0] & 1) ? HBA_IDENT_REGEX : 0, &d);
	mf.text = p + ilen;
	mf.len = flen;
	h = hba_parse(p + ilen + flen, rest, "dir/hba.conf", id, &rd, &d);
	if (h != NULL) {
		check_rules(h, id);
		match_fixed(h);
	}
	(void)hba_ident_ok(id, "m", "root", "postgres");
	(void)hba_ident_ok(id, "m", "a@b", "a");
	for (i = 0; i < d.count; i++)
		if (d.items[i].msg == NULL || d.items[i].file == NULL ||
		    d.items[i].line < 0)
			__builtin_trap();
	if (d.count > HBA_MAX_DIAGS ||
	    d.count + d.dropped != d.errors + d.warnings)
		__builtin_trap();
	hba_free(h);
	hba_ident_free(id);
	hba_diags_free(&d);
	return 0;
}
