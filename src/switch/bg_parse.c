/* SPDX-License-Identifier: MIT */
#include "switch/bg_parse.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "switch/bluegreen.h"
#include "switch/sw_parse.h"
#include "util/strq.h"

void bg_opts_default(bg_opts_t *o)
{
	memset(o, 0, sizeof(*o));
	o->all_tables = true;
	o->copy_data = true;
}

static bool on_off(const char *k, const char *v, bool *out, char *err,
		   size_t el)
{
	if (strcasecmp(v, "on") == 0 || strcasecmp(v, "true") == 0) {
		*out = true;
		return true;
	}
	if (strcasecmp(v, "off") == 0 || strcasecmp(v, "false") == 0) {
		*out = false;
		return true;
	}
	snprintf(err, el, "%s must be on or off, not %s", k, v);
	return false;
}

/* Names we put into SQL ourselves: lowercase identifiers only, so they
 * need no quoting rules beyond "...". */
static bool plain_name(const char *s)
{
	if (!*s || strlen(s) >= BG_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) &&
		    !isdigit((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static bool set_opt(bg_opts_t *o, const char *k, const char *v, char *err,
		    size_t el)
{
	if (strcasecmp(k, "copy_data") == 0)
		return on_off(k, v, &o->copy_data, err, el);
	if (strcasecmp(k, "allow_no_key") == 0)
		return on_off(k, v, &o->allow_no_key, err, el);
	if (strcasecmp(k, "tables") == 0) {
		o->all_tables = strcasecmp(v, "all") == 0;
		snprintf(o->tables, sizeof(o->tables), "%s",
			 o->all_tables ? "" : v);
		return true;
	}
	bool pub = strcasecmp(k, "publication") == 0;
	if (pub || strcasecmp(k, "subscription") == 0) {
		if (!plain_name(v)) {
			snprintf(err, el,
				 "%s must be a lowercase identifier "
				 "([a-z0-9_], under %d characters)",
				 k, BG_NAME_MAX);
			return false;
		}
		snprintf(pub ? o->publication : o->subscription, BG_NAME_MAX,
			 "%s", v);
		return true;
	}
	snprintf(err, el,
		 "unknown BLUEGREEN option %s (tables, copy_data, "
		 "allow_no_key, publication, subscription)",
		 k);
	return false;
}

static const char *skip_ws(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

static bool set_bg_opt(void *arg, const char *k, const char *v, char *err,
		       size_t el)
{
	return set_opt(arg, k, v, err, el);
}

bool bg_parse_with(const char *p, bg_opts_t *o, char *err, size_t el)
{
	return sw_parse_opts(p, set_bg_opt, o, err, el);
}

void bg_default_name(const char *db, char *out, size_t cap)
{
	int o = snprintf(out, cap, "pgswitch_");
	for (const char *s = db; *s && o > 0 && (size_t)o + 1 < cap; s++) {
		unsigned char ch = (unsigned char)tolower((unsigned char)*s);
		out[o++] = isalnum(ch) && ch < 128 ? (char)ch : '_';
	}
	if (o > 0 && (size_t)o < cap)
		out[o] = 0;
}

static bool ident_part(const char *s, size_t n)
{
	if (!n || n >= 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '$')
			return false;
	return true;
}

int bg_split_tables(const char *list, char (*tables)[BG_TABLE_NAME_MAX],
		    int max, char *err, size_t el)
{
	int n = 0;
	const char *p = list;
	while (*p) {
		p = skip_ws(p);
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		while (len && isspace((unsigned char)p[len - 1]))
			len--;
		const char *dot = memchr(p, '.', len);
		size_t sl = dot ? (size_t)(dot - p) : 0;
		const char *t = dot ? dot + 1 : p;
		size_t tl = dot ? len - sl - 1 : len;
		if ((dot && !ident_part(p, sl)) || !ident_part(t, tl)) {
			snprintf(err, el,
				 "bad table name '%.*s' in tables "
				 "(schema.table, "
				 "letters, digits and _)",
				 (int)(len > 130 ? 130 : len), p);
			return -1;
		}
		if (n == max) {
			snprintf(err, el, "more than %d tables", max);
			return -1;
		}
		snprintf(tables[n++], BG_TABLE_NAME_MAX, "%.*s.%.*s",
			 dot ? (int)sl : 6, dot ? p : "public", (int)tl, t);
		if (!e)
			break;
		p = e + 1;
	}
	if (n == 0)
		snprintf(err, el, "tables is empty (a list, or 'all')");
	return n ? n : -1;
}

bool bg_cat(char *out, size_t cap, size_t *o, const char *fmt, ...)
{
	if (*o >= cap)
		return false;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + *o, cap - *o, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *o)
		return false;
	*o += (size_t)n;
	return true;
}

bool bg_lit(char *out, size_t cap, size_t *o, const char *s)
{
	if (*o + 2 >= cap)
		return false;
	out[(*o)++] = '\'';
	for (; *s; s++) {
		if (*o + 3 >= cap)
			return false;
		if (*s == '\'')
			out[(*o)++] = '\'';
		out[(*o)++] = *s;
	}
	out[(*o)++] = '\'';
	out[*o] = 0;
	return true;
}

bool bg_qualified(char *out, size_t cap, size_t *o, const char *st)
{
	const char *dot = strchr(st, '.');
	if (!dot)
		return bg_cat(out, cap, o, "\"%s\"", st);
	return bg_cat(out, cap, o, "\"%.*s\".\"%s\"", (int)(dot - st), st,
		      dot + 1);
}
