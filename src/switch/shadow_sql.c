/* SPDX-License-Identifier: MIT */
/*
 * shadow_sql.c - which statements shadow reads may sample: by their look
 * (the shadow connection's read-only transactions are what guarantees no
 * write). Pure: no I/O, unit-tested.
 */
#include "switch/shadow_sql.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const char *skip_space_comments(const char *p, const char *end)
{
	for (;;) {
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
			while (p < end && *p != '\n')
				p++;
		} else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
			const char *q = p + 2;
			while (q + 1 < end && !(q[0] == '*' && q[1] == '/'))
				q++;
			p = q + 1 < end ? q + 2 : end;
		} else {
			return p;
		}
	}
}

static bool has_word(const char *sql, size_t len, const char *w)
{
	size_t wl = strlen(w);
	for (size_t i = 0; i + wl <= len; i++)
		if (strncasecmp(sql + i, w, wl) == 0 &&
		    (i == 0 || !isalnum((unsigned char)sql[i - 1])) &&
		    (i + wl == len || !isalnum((unsigned char)sql[i + wl])))
			return true;
	return false;
}

/* A statement that reads only, by its look; the shadow connection's
 * read-only transactions are what guarantees it. */
bool shadow_looks_read_only(const char *sql, size_t len)
{
	const char *end = sql + len;
	const char *p = skip_space_comments(sql, end);
	static const char *const first[] = {"select", "with", "values",
					    "table"};
	bool ok = false;
	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
		size_t n = strlen(first[i]);
		if ((size_t)(end - p) > n && strncasecmp(p, first[i], n) == 0 &&
		    !isalnum((unsigned char)p[n]) && p[n] != '_')
			ok = true;
	}
	if (!ok)
		return false;
	const char *semi = memchr(p, ';', (size_t)(end - p));
	if (semi && skip_space_comments(semi + 1, end) != end)
		return false; /* more than one statement */
	static const char *const never[] = {
		"nextval",
		"setval",
		"lastval",
		"currval",
		"into",
		"update",
		"delete",
		"insert",
		"merge",
		"share",
		"nowait",
		"locked",
		"pg_advisory_lock",
		"pg_advisory_xact_lock",
		"pg_sleep",
	};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (has_word(p, (size_t)(end - p), never[i]))
			return false;
	return true;
}
