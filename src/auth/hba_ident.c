/* SPDX-License-Identifier: MIT */
/*
 * hba_ident.c - auth_ident_file: "MAPNAME SYSTEM-USERNAME PG-USERNAME"
 * lines, tokenized like the hba file (hba.c's header comment has the
 * rules). PG-USERNAME may be the keyword all. PgBouncer 1.25.2 has no
 * regular expressions and no groups: "/^(.*)$" and "+group" are compared
 * as plain names, so such lines never match a real user; we warn.
 * HBA_IDENT_REGEX turns on PostgreSQL's rule instead (POSIX ERE here,
 * where PostgreSQL uses its own ARE flavour), minus the constructs that
 * make glibc's engine exponential (regex_unsafe()).
 */
#include <regex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "auth/hba.h"
#include "auth/hba_int.h"

static void ident_entry_free(ident_entry_t *e)
{
	free(e->map);
	free(e->sys);
	free(e->pg);
	if (e->is_regex)
		regfree(&e->re);
}

void hba_ident_free(hba_ident_t *ident)
{
	size_t i;

	if (ident == NULL)
		return;
	for (i = 0; i < ident->count; i++)
		ident_entry_free(&ident->entries[i]);
	free(ident->entries);
	free(ident->file);
	free(ident);
}

/* Skip a bracket expression starting at P[0] == '['; returns its end. */
static const char *skip_bracket(const char *p)
{
	p++;
	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	for (; *p != '\0' && *p != ']'; p++) {
		if (*p == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
			const char *e = strchr(p + 2, p[1]);

			if (e == NULL || e[1] != ']')
				return p + strlen(p); /* regcomp says why */
			p = e + 1;
		}
	}
	return p;
}

/*
 * Refuse the patterns that make glibc's regex take exponential time or
 * memory: a repetition right after another ("a++", "a*{2}"), intervals
 * whose bounds multiply past REGEX_MAX_REPEAT ("((a{99}){99}){99}"
 * compiles to a million nodes), and back-references (exponential
 * matching). PostgreSQL's own engine bounds these differently; ident
 * patterns in practice are "^(.*)@example\.com$". NULL if P is fine.
 */
#define REGEX_MAX_REPEAT 1024
#define STR(x)		 #x
#define XSTR(x)		 STR(x)

static const char *regex_unsafe(const char *p)
{
	unsigned long product = 1, n;
	bool after_rep = false;
	char *end;

	if (strlen(p) > HBA_MAX_REGEX)
		return "longer than " XSTR(HBA_MAX_REGEX) " bytes";
	for (; *p != '\0'; p++) {
		if (*p == '\\') {
			if (p[1] >= '1' && p[1] <= '9')
				return "back-references are not supported";
			if (p[1] != '\0')
				p++;
			after_rep = false;
		} else if (*p == '[') {
			p = skip_bracket(p);
			if (*p == '\0')
				return NULL;
			after_rep = false;
		} else if (*p == '*' || *p == '+' || *p == '?' || *p == '{') {
			if (after_rep)
				return "a repetition right after another is "
				       "not "
				       "supported";
			after_rep = true;
			if (*p != '{')
				continue;
			/* {n}, {n,} and {n,m}: the largest number counts. */
			while (*p != '\0' && *p != '}') {
				p++;
				if (*p < '0' || *p > '9')
					continue;
				n = strtoul(p, &end, 10);
				product *=
					n > 1 ? (n > REGEX_MAX_REPEAT
							 ? REGEX_MAX_REPEAT + 1
							 : n)
					      : 1;
				if (product > REGEX_MAX_REPEAT)
					return "repetition counts multiply "
					       "past "
					       "" XSTR(REGEX_MAX_REPEAT);
				p = end - 1;
			}
			if (*p == '\0')
				return NULL;
		} else {
			after_rep = false;
		}
	}
	return NULL;
}

/* Compile E's system user as a regex, as PostgreSQL does. */
static bool ident_regex(ident_entry_t *e, hba_diags_t *d, const loc_t *at)
{
	const char *why = regex_unsafe(e->sys + 1);
	char msg[256];
	int rc;

	if (why != NULL)
		return hba_report(d, HBA_SEV_ERROR, at,
				  "regular expression refused: %s", why);
	rc = regcomp(&e->re, e->sys + 1, REG_EXTENDED);
	if (rc != 0) {
		regerror(rc, &e->re, msg, sizeof(msg));
		return hba_report(d, HBA_SEV_ERROR, at,
				  "invalid regular expression: %s", msg);
	}
	e->is_regex = true;
	if (e->pg_has_ref && e->re.re_nsub < 1)
		return hba_report(d, HBA_SEV_ERROR, at,
				  "PG-USERNAME uses \\1 but the regular "
				  "expression has no parenthesized capture");
	return true;
}

/*
 * Parse one ident line into E. Fields are copied as they are read, since
 * the lexer reuses its buffer.
 */
static hba_line_res_t ident_line(lexer_t *lx, ident_entry_t *e, unsigned flags,
				 hba_diags_t *d, const loc_t *at)
{
	char *f[3] = {NULL, NULL, NULL};
	bool word[3] = {false, false, false};
	char sb[SHOW_MAX + 4];
	int n;

	if (lx->kind == TK_EOL)
		return HBA_LINE_BLANK;
	memset(e, 0, sizeof(*e));
	e->line = at->line;
	for (n = 0; lx->kind != TK_EOL; n++, hba_lex_next(lx)) {
		if (lx->kind == TK_COMMA || lx->kind == TK_BAD) {
			hba_report(d, HBA_SEV_ERROR, at, "%s in an ident line",
				   hba_tok_kind_name(lx->kind));
			goto bad;
		}
		if (n == 3) {
			hba_report(d, HBA_SEV_ERROR, at,
				   "extra field \"%s\" after PG-USERNAME",
				   hba_show(sb, lx->val));
			goto bad;
		}
		word[n] = lx->kind == TK_WORD;
		f[n] = strdup(lx->val);
		if (f[n] == NULL) {
			hba_report(d, HBA_SEV_ERROR, at, "out of memory");
			goto bad;
		}
	}
	if (n < 3) {
		if (n == 2 && word[0] &&
		    (!strcmp(f[0], "include") ||
		     !strcmp(f[0], "include_if_exists") ||
		     !strcmp(f[0], "include_dir")))
			hba_report(
				d, HBA_SEV_ERROR, at,
				"%s is not supported in auth_ident_file (as in "
				"PgBouncer)",
				f[0]);
		else
			hba_report(
				d, HBA_SEV_ERROR, at,
				"expected MAPNAME SYSTEM-USERNAME PG-USERNAME");
		goto bad;
	}
	e->map = f[0];
	e->sys = f[1];
	e->pg = f[2];
	e->pg_all = word[2] && strcmp(f[2], "all") == 0;
	e->pg_has_ref = strstr(f[2], "\\1") != NULL;
	/* Quoted too, as PostgreSQL does, so a regex may hold a comma. */
	if (f[1][0] == '/') {
		if (flags & HBA_IDENT_REGEX) {
			if (!ident_regex(e, d, at)) {
				ident_entry_free(e);
				return HBA_LINE_BAD;
			}
		} else {
			hba_report(
				d, HBA_SEV_WARNING, at,
				"regular expressions are not supported (as in "
				"PgBouncer): \"%s\" is compared as a name",
				hba_show(sb, f[1]));
		}
	}
	if (word[2] && f[2][0] == '+')
		hba_report(d, HBA_SEV_WARNING, at,
			   "group names are not supported (as in PgBouncer): "
			   "\"%s\" is compared as a name",
			   hba_show(sb, f[2]));
	return HBA_LINE_RULE;
bad:
	free(f[0]);
	free(f[1]);
	free(f[2]);
	return HBA_LINE_BAD;
}

static bool ident_add(hba_ident_t *id, const ident_entry_t *e)
{
	ident_entry_t *ne;
	size_t cap;

	if (id->count == id->cap) {
		cap = id->cap != 0 ? id->cap * 2 : 16;
		ne = realloc(id->entries, cap * sizeof(*ne));
		if (ne == NULL)
			return false;
		id->entries = ne;
		id->cap = cap;
	}
	id->entries[id->count++] = *e;
	return true;
}

hba_ident_t *hba_ident_parse(const char *text, size_t len, const char *filename,
			     unsigned flags, hba_diags_t *diags)
{
	lines_t ls = {text, text + len, 0};
	loc_t at = {filename, 0, NULL};
	hba_ident_t *id = calloc(1, sizeof(*id));
	char *buf = malloc(HBA_MAX_LINE + 1);
	ident_entry_t e;
	const char *s;
	lexer_t lx;
	size_t n;

	if (id == NULL || buf == NULL || (id->file = strdup(filename)) == NULL)
		goto oom;
	if (len > HBA_MAX_FILE_SIZE) {
		hba_report(diags, HBA_SEV_ERROR, &at,
			   "file is larger than %u bytes", HBA_MAX_FILE_SIZE);
		free(buf);
		hba_ident_free(id);
		return NULL;
	}
	while (hba_line_next(&ls, &s, &n)) {
		at.line = ls.no;
		if (!hba_line_ok(diags, &at, s, n))
			continue;
		hba_lex_init(&lx, s, n, buf);
		if (ident_line(&lx, &e, flags, diags, &at) != HBA_LINE_RULE)
			continue;
		if (id->count >= HBA_MAX_IDENT_ENTRIES) {
			ident_entry_free(&e);
			hba_report(diags, HBA_SEV_ERROR, &at,
				   "more than %d map lines: this line and the "
				   "rest "
				   "of the file are ignored",
				   HBA_MAX_IDENT_ENTRIES);
			break;
		}
		if (!ident_add(id, &e)) {
			ident_entry_free(&e);
			goto oom;
		}
	}
	free(buf);
	return id;
oom:
	at.line = 0;
	hba_report(diags, HBA_SEV_ERROR, &at, "out of memory");
	free(buf);
	hba_ident_free(id);
	return NULL;
}

hba_ident_t *hba_ident_load(const char *path, unsigned flags,
			    hba_diags_t *diags)
{
	loc_t at = {path, 0, NULL};
	char rerr[256];
	char *data;
	size_t len;
	hba_ident_t *id;

	if (!hba_disk_read(NULL, path, HBA_MAX_FILE_SIZE, &data, &len, rerr,
			   sizeof(rerr))) {
		hba_report(diags, HBA_SEV_ERROR, &at,
			   "cannot read ident file: %s", rerr);
		return NULL;
	}
	id = hba_ident_parse(data, len, path, flags, diags);
	free(data);
	return id;
}

bool hba_ident_has_map(const hba_ident_t *ident, const char *map)
{
	size_t i;

	if (ident == NULL)
		return false;
	for (i = 0; i < ident->count; i++)
		if (strcmp(ident->entries[i].map, map) == 0)
			return true;
	return false;
}

/*
 * PostgreSQL's rule: the regex matches anywhere in the system user (anchor
 * it with ^...$), and the first \1 in PG-USERNAME stands for the first
 * capture. Compared piecewise, so nothing is allocated.
 */
static bool regex_ok(const ident_entry_t *e, const char *sys, const char *pg)
{
	regmatch_t m[2];
	const char *ref;
	size_t pre, cap, post;

	if (regexec(&e->re, sys, 2, m, 0) != 0)
		return false;
	if (e->pg_all)
		return true;
	if (!e->pg_has_ref)
		return strcmp(e->pg, pg) == 0;
	if (m[1].rm_so < 0)
		return false;
	ref = strstr(e->pg, "\\1");
	pre = (size_t)(ref - e->pg);
	cap = (size_t)(m[1].rm_eo - m[1].rm_so);
	post = strlen(ref + 2);
	return strlen(pg) == pre + cap + post && memcmp(pg, e->pg, pre) == 0 &&
	       memcmp(pg + pre, sys + m[1].rm_so, cap) == 0 &&
	       memcmp(pg + pre + cap, ref + 2, post) == 0;
}

bool hba_ident_ok(const hba_ident_t *ident, const char *map,
		  const char *system_user, const char *pg_user)
{
	const ident_entry_t *e;
	size_t i;

	if (ident == NULL || map == NULL || system_user == NULL ||
	    pg_user == NULL)
		return false;
	for (i = 0; i < ident->count; i++) {
		e = &ident->entries[i];
		if (strcmp(e->map, map) != 0)
			continue;
		if (e->is_regex) {
			if (regex_ok(e, system_user, pg_user))
				return true;
		} else if (strcmp(e->sys, system_user) == 0 &&
			   (e->pg_all || strcmp(e->pg, pg_user) == 0)) {
			return true;
		}
	}
	return false;
}
