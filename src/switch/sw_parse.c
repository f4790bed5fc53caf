/* SPDX-License-Identifier: MIT */
/*
 * sw_parse.c - SWITCHOVER's WITH (...) options and control-connection
 * conninfo strings. No I/O.
 */
#include "switch/sw_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "auth/auth.h"
#include "pool/pool_freeze.h"
#include "util/strq.h"

const char *sw_mode_name(sw_mode_t m)
{
	return m == SW_MODE_LOGICAL ? "logical" : "physical";
}

static long parse_ms(const char *v)
{
	char *end;
	double d = strtod(v, &end);
	while (isspace((unsigned char)*end))
		end++;
	if (strcmp(end, "ms") == 0)
		return (long)d;
	if (strcmp(end, "min") == 0)
		return (long)(d * 60000);
	return (long)(d * 1000); /* "s" or bare seconds */
}

static long long parse_bytes(const char *v)
{
	char *end;
	double d = strtod(v, &end);
	while (isspace((unsigned char)*end))
		end++;
	if (strcasecmp(end, "kb") == 0)
		d *= 1024;
	else if (strcasecmp(end, "mb") == 0)
		d *= 1024 * 1024;
	else if (strcasecmp(end, "gb") == 0)
		d *= 1024.0 * 1024 * 1024;
	return (long long)d;
}

static bool set_opt(sw_opts_t *o, const char *k, const char *v, char *err,
		    size_t errlen)
{
	bool on = strcasecmp(v, "on") == 0 || strcasecmp(v, "true") == 0 ||
		  strcmp(v, "1") == 0;
	if (strcasecmp(k, "timeout") == 0)
		o->timeout_ms = parse_ms(v);
	else if (strcasecmp(k, "max_lag") == 0)
		o->max_lag = parse_bytes(v);
	else if (strcasecmp(k, "max_xact_age") == 0)
		o->max_xact_age_ms = parse_ms(v);
	else if (strcasecmp(k, "on_long_xact") == 0) {
		if (strcasecmp(v, "refuse") == 0)
			o->on_long_xact = LX_REFUSE;
		else if (strcasecmp(v, "wait") == 0)
			o->on_long_xact = LX_WAIT;
		else if (strcasecmp(v, "cancel") == 0)
			o->on_long_xact = LX_CANCEL;
		else {
			snprintf(err, errlen, "invalid on_long_xact '%.64s'",
				 v);
			return false;
		}
	} else if (strcasecmp(k, "fence_old") == 0)
		o->fence_old = on;
	else if (strcasecmp(k, "dry_run") == 0)
		o->dry_run = on;
	else if (strcasecmp(k, "mode") == 0) {
		if (strcasecmp(v, "physical") == 0)
			o->mode = SW_MODE_PHYSICAL;
		else if (strcasecmp(v, "logical") == 0)
			o->mode = SW_MODE_LOGICAL;
		else {
			snprintf(err, errlen,
				 "invalid mode '%.64s' (physical or logical)",
				 v);
			return false;
		}
	} else if (strcasecmp(k, "min_shadow_reads") == 0) {
		o->min_shadow_reads = atol(v);
	} else if (strcasecmp(k, "traffic") == 0) {
		if (strcasecmp(v, "all") == 0)
			o->traffic = SW_TRAFFIC_ALL;
		else if (strcasecmp(v, "read") == 0)
			o->traffic = SW_TRAFFIC_READ;
		else {
			snprintf(err, errlen,
				 "invalid traffic '%.64s' (all or read)", v);
			return false;
		}
	} else if (strcasecmp(k, "subscription") == 0) {
		if (strlen(v) >= sizeof(o->subscription) || !*v) {
			snprintf(err, errlen, "invalid subscription name");
			return false;
		}
		snprintf(o->subscription, sizeof(o->subscription), "%s", v);
	} else {
		snprintf(err, errlen, "unknown SWITCHOVER option '%s'", k);
		return false;
	}
	return true;
}

const char *sw_word(const char *p, char *out, size_t cap)
{
	size_t n = 0;
	while (isspace((unsigned char)*p))
		p++;
	while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '-')) {
		if (n + 1 >= cap)
			return NULL;
		out[n++] = *p++;
	}
	out[n] = 0;
	return n ? p : NULL;
}

void sw_opts_default(sw_opts_t *o)
{
	*o = (sw_opts_t){.timeout_ms = 5000,
			 .max_lag = 16ll << 20,
			 .max_xact_age_ms = 2000,
			 .on_long_xact = LX_REFUSE,
			 .fence_old = true};
}

bool sw_parse_opts(const char *p, sw_opt_fn set, void *arg, char *err,
		   size_t el)
{
	while (isspace((unsigned char)*p))
		p++;
	if (!*p || *p == ';')
		return true;
	char kw[16];
	p = sw_word(p, kw, sizeof(kw));
	if (!p || strcasecmp(kw, "with") != 0) {
		snprintf(err, el, "expected WITH (...)");
		return false;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p++ != '(') {
		snprintf(err, el, "expected ( after WITH");
		return false;
	}
	for (;;) {
		char k[64], v[SW_OPT_VALUE_MAX];
		p = sw_word(p, k, sizeof(k));
		if (!p) {
			snprintf(err, el, "expected an option name");
			return false;
		}
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '=')
			p++;
		while (isspace((unsigned char)*p))
			p++;
		const char *q = strq_unquote(p, '\'', v, sizeof(v));
		if (!q)
			q = sw_word(p, v, sizeof(v));
		if (!q) {
			snprintf(err, el, "expected a value for %s", k);
			return false;
		}
		if (!set(arg, k, v, err, el))
			return false;
		p = q;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == ')')
			return true;
		snprintf(err, el, "expected , or ) in WITH");
		return false;
	}
}

static bool set_sw_opt(void *arg, const char *k, const char *v, char *err,
		       size_t el)
{
	return set_opt(arg, k, v, err, el);
}

bool sw_parse_with(const char *p, sw_opts_t *o, char *err, size_t el)
{
	return sw_parse_opts(p, set_sw_opt, o, err, el);
}

void sw_conninfo_target(const char *ci, char *host, size_t hcap, int *port)
{
	PQconninfoOption *opts = PQconninfoParse(ci, NULL);
	*port = 5432;
	host[0] = 0;
	if (!opts)
		return;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			snprintf(host, hcap, "%s", o->val);
		else if (strcmp(o->keyword, "port") == 0)
			*port = atoi(o->val);
	}
	PQconninfoFree(opts);
}

void sw_control_conninfo(pgs_ctx_t *ctx, pool_db_t *db, const char *host,
			 int port, const char *extra, char *out, size_t cap)
{
	const char *user = db->forced_user;
	const char *pw = db->password;
	if (!user)
		user = pool_db_first_user(ctx, db);
	if (!user)
		user = "postgres";
	if (!pw && ctx->authfile) {
		const char *s = auth_file_lookup(ctx->authfile, user);
		if (s && auth_secret_kind(s) == AUTH_SECRET_PLAIN && *s)
			pw = s;
	}
	int o = snprintf(out, cap,
			 "host='%s' port=%d dbname='%s' user='%s' "
			 "application_name='pgswitch switchover' "
			 "connect_timeout=5",
			 host && *host ? host : "/tmp", port, db->dbname, user);
	if (pw && o > 0 && (size_t)o < cap)
		o += snprintf(out + o, cap - (size_t)o, " password='%s'", pw);
	if (extra && *extra && o > 0 && (size_t)o < cap)
		snprintf(out + o, cap - (size_t)o, " %s", extra);
}
