/* SPDX-License-Identifier: MIT */
/*
 * cfg_keys.c - the [pgbouncer] key table: every PgBouncer 1.25 key plus
 * the pgswitch additions, with type, default (as SHOW CONFIG prints it),
 * whether it can be changed online, and where it lives in cfg_t.
 *
 * Value syntax follows PgBouncer/libusual, which reads integers with
 * strtol(base 0) and times as (fractional) seconds, and is a strict
 * superset of it: booleans also take yes/no/on/off/true/false, times also
 * take a unit (ms, s, min, h, d) and sizes a kB/MB/GB suffix. So every
 * value PgBouncer accepts is accepted here, with the same meaning.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/cfg_internal.h"

/* 100 years: far beyond any sane timeout, far below LONG_MAX on LP64. */
#define TIME_MAX_MS                                                            \
	(LONG_MAX / 2 < 3153600000000LL ? LONG_MAX / 2 : 3153600000000LL)

const cfg_lookup_t cfg_chanbind_lk[] = {
	{"disable", CFG_CHANBIND_DISABLE},
	{"prefer", CFG_CHANBIND_PREFER},
	{"require", CFG_CHANBIND_REQUIRE},
	{NULL, 0},
};

const cfg_lookup_t cfg_pool_mode_lk[] = {
	{"session", CFG_POOL_SESSION},
	{"transaction", CFG_POOL_TRANSACTION},
	{"statement", CFG_POOL_STATEMENT},
	{NULL, 0},
};

static const cfg_lookup_t auth_type_lk[] = {
	{"any", CFG_AUTH_ANY},
	{"trust", CFG_AUTH_TRUST},
	{"plain", CFG_AUTH_PLAIN},
	{"md5", CFG_AUTH_MD5},
	{"cert", CFG_AUTH_CERT},
	{"hba", CFG_AUTH_HBA},
	{"ldap", CFG_AUTH_LDAP},
	{"pam", CFG_AUTH_PAM},
	{"peer", CFG_AUTH_PEER},
	{"scram-sha-256", CFG_AUTH_SCRAM},
	{NULL, 0},
};

static const cfg_lookup_t sslmode_lk[] = {
	{"disable", 0},	  {"allow", 1},	      {"prefer", 2}, {"require", 3},
	{"verify-ca", 4}, {"verify-full", 5}, {NULL, 0},
};

#define FLD(f) ((long)offsetof(cfg_t, f))
#define NOF    CFG_NO_FIELD
#define RO     false /* not changeable online: needs a restart */
#define RW     true

#define K_INT(n, off, def, ch, mn, mx)                                         \
	{                                                                      \
		n, CFG_KT_INT, def, ch, off, mn, mx, NULL                      \
	}
#define K_BOOL(n, off, def, ch)                                                \
	{                                                                      \
		n, CFG_KT_BOOL, def, ch, off, 0, 1, NULL                       \
	}
#define K_STR(n, off, def, ch)                                                 \
	{                                                                      \
		n, CFG_KT_STR, def, ch, off, 0, 0, NULL                        \
	}
#define K_TIME(n, off, def)                                                    \
	{                                                                      \
		n, CFG_KT_TIME, def, RW, off, 0, TIME_MAX_MS, NULL             \
	}
#define K_SIZE(n, off, def, ch, mn, mx)                                        \
	{                                                                      \
		n, CFG_KT_SIZE, def, ch, off, mn, mx, NULL                     \
	}
#define K_LK(n, off, def, lk)                                                  \
	{                                                                      \
		n, CFG_KT_LOOKUP, def, RW, off, 0, 0, lk                       \
	}
#define K_LKSTR(n, off, def, lk)                                               \
	{                                                                      \
		n, CFG_KT_LOOKUP_STR, def, RW, off, 0, 0, lk                   \
	}

/*
 * Alphabetical, like PgBouncer's table: SHOW CONFIG prints in this order.
 * Defaults and changeability are PgBouncer 1.25's (src/main.c), except
 * verbose (PgBouncer has no default string; its documented default is 0).
 */
const cfg_key_t cfg_keys[] = {
	K_STR("admin_users", FLD(admin_users), "", RW),
	K_BOOL("application_name_add_host", FLD(application_name_add_host), "0",
	       RW),
	K_STR("auth_dbname", FLD(auth_dbname), "", RW),
	K_STR("auth_file", FLD(auth_file), "", RW),
	K_STR("auth_hba_file", FLD(auth_hba_file), "", RW),
	K_STR("auth_ident_file", FLD(auth_ident_file), "", RW),
	K_STR("auth_ldap_options", NOF, "", RW),
	K_STR("auth_query", FLD(auth_query),
	      "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL "
	      "ELSE rolpassword END FROM pg_authid WHERE rolname=$1 AND "
	      "rolcanlogin",
	      RW),
	K_LK("auth_type", FLD(auth_type), "md5", auth_type_lk),
	K_STR("auth_user", FLD(auth_user), "", RW),
	K_TIME("autodb_idle_timeout", FLD(autodb_idle_timeout), "3600"),
	K_TIME("cancel_wait_timeout", FLD(cancel_wait_timeout), "10"),
	K_TIME("client_idle_timeout", FLD(client_idle_timeout), "0"),
	K_TIME("client_login_timeout", FLD(client_login_timeout), "60"),
	K_STR("client_tls13_ciphers", FLD(client_tls13_ciphers), "", RW),
	K_STR("client_tls_ca_file", FLD(client_tls_ca_file), "", RW),
	K_STR("client_tls_cert_file", FLD(client_tls_cert_file), "", RW),
	K_STR("client_tls_ciphers", FLD(client_tls_ciphers), "default", RW),
	K_STR("client_tls_dheparams", FLD(client_tls_dheparams), "auto", RW),
	K_STR("client_tls_ecdhcurve", FLD(client_tls_ecdhcurve), "auto", RW),
	K_STR("client_tls_key_file", FLD(client_tls_key_file), "", RW),
	K_STR("client_tls_protocols", FLD(client_tls_protocols), "secure", RW),
	K_LKSTR("client_tls_sslmode", FLD(client_tls_sslmode), "disable",
		sslmode_lk),
	/* No default: it is the file given on the command line. */
	K_STR("conffile", FLD(config_file), NULL, RW),
	K_INT("default_pool_size", FLD(default_pool_size), "20", RW, 0,
	      INT_MAX),
	K_BOOL("disable_pqexec", FLD(disable_pqexec), "0", RO),
	K_TIME("dns_max_ttl", FLD(dns_max_ttl), "15"),
	K_TIME("dns_nxdomain_ttl", FLD(dns_nxdomain_ttl), "15"),
	K_TIME("dns_zone_check_period", FLD(dns_zone_check_period), "0"),
	K_TIME("idle_transaction_timeout", FLD(idle_transaction_timeout), "0"),
	K_STR("ignore_startup_parameters", FLD(ignore_startup_parameters), "",
	      RW),
	/* pgswitch: send a loop turn's output in one io_uring_enter() (off,
	 * or no io_uring: one send() per socket, as PgBouncer does). */
	K_BOOL("io_uring", FLD(io_uring), "1", RO),
	K_STR("job_name", NOF, "pgbouncer", RO),
	K_STR("listen_addr", FLD(listen_addr), "", RO),
	K_INT("listen_backlog", FLD(listen_backlog), "128", RO, 0, INT_MAX),
	K_INT("listen_port", FLD(listen_port), "6432", RO, 1, 65535),
	K_BOOL("log_connections", FLD(log_connections), "1", RW),
	K_BOOL("log_disconnections", FLD(log_disconnections), "1", RW),
	K_BOOL("log_pooler_errors", FLD(log_pooler_errors), "1", RW),
	K_BOOL("log_stats", FLD(log_stats), "1", RW),
	K_STR("logfile", FLD(logfile), "", RW),
	K_INT("max_client_conn", FLD(max_client_conn), "100", RW, 0, INT_MAX),
	K_INT("max_db_client_connections", FLD(max_db_client_connections), "0",
	      RW, 0, INT_MAX),
	K_INT("max_db_connections", FLD(max_db_connections), "0", RW, 0,
	      INT_MAX),
	/* PgBouncer takes an unsigned int here; above INT_MAX is clamped. */
	K_SIZE("max_packet_size", FLD(max_packet_size), "2147483647", RW, 0,
	       UINT_MAX),
	K_INT("max_prepared_statements", FLD(max_prepared_statements), "200",
	      RW, 0, INT_MAX),
	K_INT("max_user_client_connections", FLD(max_user_client_connections),
	      "0", RW, 0, INT_MAX),
	K_INT("max_user_connections", FLD(max_user_connections), "0", RW, 0,
	      INT_MAX),
	K_INT("min_pool_size", FLD(min_pool_size), "0", RW, 0, INT_MAX),
	K_INT("peer_id", FLD(peer_id), "0", RW, 0, 16383),
	K_STR("pidfile", FLD(pidfile), "", RO),
	K_SIZE("pkt_buf", FLD(pkt_buf), "4096", RO, 256, INT_MAX),
	K_LK("pool_mode", FLD(pool_mode), "session", cfg_pool_mode_lk),
	K_TIME("query_timeout", FLD(query_timeout), "0"),
	K_TIME("query_wait_notify", FLD(query_wait_notify), "5"),
	K_TIME("query_wait_timeout", FLD(query_wait_timeout), "120"),
	K_INT("reserve_pool_size", FLD(reserve_pool_size), "0", RW, 0, INT_MAX),
	K_TIME("reserve_pool_timeout", FLD(reserve_pool_timeout), "5"),
	K_STR("resolv_conf", FLD(resolv_conf), "", RO),
	K_INT("sbuf_loopcnt", FLD(sbuf_loopcnt), "5", RW, 0, INT_MAX),
	K_INT("scram_iterations", NOF, "4096", RW, 1, INT_MAX),
	K_TIME("server_check_delay", FLD(server_check_delay), "30"),
	/*
	 * 1.25 default: "<empty>" means "send an empty query" (cheaper than
	 * select 1); an empty string disables the check altogether.
	 */
	K_STR("server_check_query", FLD(server_check_query), "<empty>", RW),
	K_TIME("server_connect_timeout", FLD(server_connect_timeout), "15"),
	K_BOOL("server_fast_close", FLD(server_fast_close), "0", RW),
	K_TIME("server_idle_timeout", FLD(server_idle_timeout), "600"),
	K_TIME("server_lifetime", FLD(server_lifetime), "3600"),
	K_TIME("server_login_retry", FLD(server_login_retry), "15"),
	K_STR("server_reset_query", FLD(server_reset_query), "DISCARD ALL", RW),
	K_BOOL("server_reset_query_always", FLD(server_reset_query_always), "0",
	       RW),
	K_BOOL("server_round_robin", FLD(server_round_robin), "0", RW),
	K_STR("server_tls13_ciphers", FLD(server_tls13_ciphers), "", RW),
	K_STR("server_tls_ca_file", FLD(server_tls_ca_file), "", RW),
	K_STR("server_tls_cert_file", FLD(server_tls_cert_file), "", RW),
	K_STR("server_tls_ciphers", FLD(server_tls_ciphers), "default", RW),
	K_STR("server_tls_key_file", FLD(server_tls_key_file), "", RW),
	K_STR("server_tls_protocols", FLD(server_tls_protocols), "secure", RW),
	K_LKSTR("server_tls_sslmode", FLD(server_tls_sslmode), "prefer",
		sslmode_lk),
	/* Windows-only alias of job_name in PgBouncer; accepted anywhere. */
	K_STR("service_name", NOF, "pgbouncer", RO),
	K_BOOL("so_reuseport", FLD(so_reuseport), "0", RO),
	/* An int in PgBouncer; stored in ms here like the other periods. */
	K_TIME("stats_period", FLD(stats_period), "60"),
	K_STR("stats_users", FLD(stats_users), "", RW),
	K_TIME("suspend_timeout", FLD(suspend_timeout), "10"),
	K_STR("switchover_state_file", FLD(switchover_state_file), "", RO),
	K_BOOL("syslog", FLD(syslog), "0", RW),
	K_STR("syslog_facility", FLD(syslog_facility), "daemon", RW),
	K_STR("syslog_ident", FLD(syslog_ident), "pgbouncer", RW),
	K_BOOL("tcp_defer_accept", FLD(tcp_defer_accept), "1", RW),
	K_BOOL("tcp_keepalive", FLD(tcp_keepalive), "1", RW),
	K_INT("tcp_keepcnt", FLD(tcp_keepcnt), "0", RW, 0, INT_MAX),
	K_INT("tcp_keepidle", FLD(tcp_keepidle), "0", RW, 0, INT_MAX),
	K_INT("tcp_keepintvl", FLD(tcp_keepintvl), "0", RW, 0, INT_MAX),
	K_SIZE("tcp_socket_buffer", FLD(tcp_socket_buffer), "0", RW, 0,
	       INT_MAX),
	K_INT("tcp_user_timeout", FLD(tcp_user_timeout), "0", RW, 0, INT_MAX),
	K_STR("track_extra_parameters", FLD(track_extra_parameters),
	      "IntervalStyle", RO),
	K_TIME("transaction_timeout", FLD(transaction_timeout), "0"),
	K_STR("unix_socket_dir", FLD(unix_socket_dir), "/tmp", RO),
	K_STR("unix_socket_group", FLD(unix_socket_group), "", RO),
	K_INT("unix_socket_mode", FLD(unix_socket_mode), "0777", RO, 0, 07777),
	K_STR("user", FLD(user), "", RO),
	K_INT("verbose", FLD(verbose), "0", RW, 0, INT_MAX),
	/* pgswitch: number of event loops. */
	K_INT("workers", FLD(workers), "1", RO, 1, 1024),
};

const size_t cfg_nkeys = sizeof(cfg_keys) / sizeof(cfg_keys[0]);

long cfg_key_index(const char *key)
{
	size_t i;

	if (!key)
		return -1;
	for (i = 0; i < cfg_nkeys; i++) {
		if (strcasecmp(cfg_keys[i].name, key) == 0)
			return (long)i;
	}
	return -1;
}

/* ---- value parsers ---------------------------------------------------- */

/* strtoll(base 0) on the whole string, like libusual's cf_set_int. */
int cfg_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 0);
	if (end == s || errno != 0)
		return -1;
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"yes", "on", "true", NULL};
	static const char *const no[] = {"no", "off", "false", NULL};
	long long v;
	int i;

	for (i = 0; yes[i]; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	/* PgBouncer's booleans are plain ints: any value >= 0 works. */
	if (cfg_parse_int(s, 0, INT_MAX, &v) < 0)
		return -1;
	*out = v != 0;
	return 0;
}

/* Units of time values, checked longest first so "ms" beats "m...". */
static const struct {
	const char *name;
	long ms;
} time_units[] = {
	{"ms", 1}, {"min", 60000}, {"s", 1000}, {"h", 3600000}, {"d", 86400000},
};

static int parse_time_unit(const char *s, long *unit)
{
	size_t i;

	if (*s == '\0') {
		*unit = 1000; /* bare numbers are seconds, as in PgBouncer */
		return 0;
	}
	for (i = 0; i < sizeof(time_units) / sizeof(time_units[0]); i++) {
		if (strcmp(s, time_units[i].name) == 0) {
			*unit = time_units[i].ms;
			return 0;
		}
	}
	return -1;
}

/*
 * Decimal number with optional fraction and exponent, parsed by hand so
 * that the result never depends on the process locale's decimal point.
 * Returns the position after the number, or NULL.
 */
static const char *parse_decimal(const char *s, long double *out)
{
	long double v = 0, scale = 1;
	int ndig = 0, exp = 0, esign = 1;

	for (; isdigit((unsigned char)*s); s++, ndig++)
		v = v * 10 + (*s - '0');
	if (*s == '.') {
		for (s++; isdigit((unsigned char)*s); s++, ndig++) {
			scale /= 10;
			v += (*s - '0') * scale;
		}
	}
	if (ndig == 0)
		return NULL;
	if ((*s == 'e' || *s == 'E') &&
	    (isdigit((unsigned char)s[1]) ||
	     ((s[1] == '+' || s[1] == '-') && isdigit((unsigned char)s[2])))) {
		s++;
		if (*s == '+' || *s == '-')
			esign = *s++ == '-' ? -1 : 1;
		for (; isdigit((unsigned char)*s); s++) {
			if (exp < 1000)
				exp = exp * 10 + (*s - '0');
		}
		for (; exp > 0 && v != 0; exp--) {
			v = esign > 0 ? v * 10 : v / 10;
			if (v > 1e30L) /* already way past any limit */
				break;
		}
	}
	*out = v;
	return s;
}

int cfg_parse_time_ms(const char *s, long max_ms, long *out)
{
	long double v, ms;
	long unit;

	while (*s == ' ' || *s == '\t')
		s++;
	s = parse_decimal(s, &v);
	if (!s)
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	if (parse_time_unit(s, &unit) < 0)
		return -1;
	ms = v * unit;
	if (ms > (long double)max_ms)
		return -1;
	*out = (long)(ms + 0.5L);
	/* A tiny positive value must not silently become "disabled". */
	if (*out == 0 && ms > 0)
		*out = 1;
	return 0;
}

static int parse_size(const char *s, long long min, long long max,
		      long long *out)
{
	static const struct {
		const char *name;
		long long mult;
	} units[] = {
		{"", 1},	{"b", 1},	 {"k", 1024},
		{"kb", 1024},	{"m", 1048576},	 {"mb", 1048576},
		{"g", 1 << 30}, {"gb", 1 << 30},
	};
	char num[64], *end;
	const char *p = s;
	long long v;
	size_t i, n;

	while (*p == ' ' || *p == '\t')
		p++;
	/* Split "8 kB" / "8kB" into number and suffix. */
	n = strspn(p, "0123456789xXabcdefABCDEF+-");
	/* Hex digits swallow "b"/"B" of a plain "512b": give them back. */
	if (!(n > 1 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')))
		n = strspn(p, "0123456789+-");
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, p, n);
	num[n] = '\0';
	errno = 0;
	v = strtoll(num, &end, 0);
	if (*end != '\0' || errno != 0 || v < 0)
		return -1;
	p += n;
	while (*p == ' ' || *p == '\t')
		p++;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(p, units[i].name) == 0)
			break;
	}
	if (i == sizeof(units) / sizeof(units[0]))
		return -1;
	if (v > max / units[i].mult)
		return -1;
	v *= units[i].mult;
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

int cfg_lookup_parse(const cfg_lookup_t *lk, const char *s, int *out)
{
	for (; lk->name; lk++) {
		if (strcasecmp(lk->name, s) == 0) {
			*out = lk->value;
			return 0;
		}
	}
	return -1;
}

static const char *lookup_name(const cfg_lookup_t *lk, int v)
{
	for (; lk->name; lk++) {
		if (lk->value == v)
			return lk->name;
	}
	return "INVALID";
}

static void lookup_list(const cfg_lookup_t *lk, char *buf, size_t len)
{
	size_t off = 0;
	int n;

	buf[0] = '\0';
	for (; lk->name && off < len; lk++) {
		n = snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
			     lk->name);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* ---- set / format ----------------------------------------------------- */

static void bad_value(const cfg_key_t *k, char *err, size_t errlen)
{
	char opts[160];

	switch (k->type) {
	case CFG_KT_INT:
		snprintf(err, errlen, "expected an integer from %lld to %lld",
			 k->min, k->max);
		break;
	case CFG_KT_BOOL:
		snprintf(err, errlen,
			 "expected a boolean (0/1, on/off, yes/no, "
			 "true/false)");
		break;
	case CFG_KT_TIME:
		snprintf(err, errlen,
			 "expected a duration in seconds, optionally with a "
			 "unit (ms, s, min, h, d)");
		break;
	case CFG_KT_SIZE:
		snprintf(err, errlen,
			 "expected a size in bytes from %lld to %lld, "
			 "optionally with kB, MB or GB",
			 k->min, k->max);
		break;
	case CFG_KT_LOOKUP:
	case CFG_KT_LOOKUP_STR:
		lookup_list(k->lk, opts, sizeof(opts));
		snprintf(err, errlen, "expected one of: %s", opts);
		break;
	case CFG_KT_STR:
		snprintf(err, errlen, "invalid string");
		break;
	}
}

/*
 * Parse VALUE into the representation of key K without storing it.
 * Integer-like results go to *IV / *LV, strings come back as a new
 * allocation in *SV. Returns 0, -1 (invalid) or -2 (out of memory).
 */
static int parse_value(const cfg_key_t *k, const char *value, int *iv, long *lv,
		       char **sv)
{
	long long ll;

	switch (k->type) {
	case CFG_KT_INT:
		if (cfg_parse_int(value, k->min, k->max, &ll) < 0)
			return -1;
		*iv = (int)ll;
		return 0;
	case CFG_KT_BOOL:
		return parse_bool(value, iv);
	case CFG_KT_TIME:
		return cfg_parse_time_ms(value, (long)k->max, lv);
	case CFG_KT_SIZE:
		if (parse_size(value, k->min, k->max, &ll) < 0)
			return -1;
		*iv = ll > INT_MAX ? INT_MAX : (int)ll;
		return 0;
	case CFG_KT_LOOKUP:
		return cfg_lookup_parse(k->lk, value, iv);
	case CFG_KT_LOOKUP_STR:
		if (cfg_lookup_parse(k->lk, value, iv) < 0)
			return -1;
		/* Store the canonical spelling: "Require" -> "require". */
		*sv = strdup(lookup_name(k->lk, *iv));
		return *sv ? 0 : -2;
	case CFG_KT_STR:
		*sv = strdup(value);
		return *sv ? 0 : -2;
	}
	return -1;
}

int cfg_key_set(cfg_t *cfg, size_t idx, const char *value, char *err,
		size_t errlen)
{
	const cfg_key_t *k = &cfg_keys[idx];
	char *sv = NULL, **slot;
	int iv = 0, rc;
	long lv = 0;

	if (!value)
		value = "";
	rc = parse_value(k, value, &iv, &lv, &sv);
	if (rc == -1) {
		bad_value(k, err, errlen);
		return -1;
	}
	if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		return -2;
	}
	if (k->off == CFG_NO_FIELD) {
		/* Keep the text as given: SHOW CONFIG prints it back. */
		free(sv);
		if (!cfg->extra_values) {
			cfg->extra_values = calloc(cfg_nkeys, sizeof(char *));
			if (!cfg->extra_values)
				goto oom;
		}
		sv = strdup(value);
		if (!sv)
			goto oom;
		free(cfg->extra_values[idx]);
		cfg->extra_values[idx] = sv;
		return 0;
	}
	switch (k->type) {
	case CFG_KT_STR:
	case CFG_KT_LOOKUP_STR:
		slot = (char **)((char *)cfg + k->off);
		free(*slot);
		*slot = sv;
		break;
	case CFG_KT_TIME:
		*(long *)((char *)cfg + k->off) = lv;
		break;
	default:
		*(int *)((char *)cfg + k->off) = iv;
		break;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -2;
}

void cfg_key_format(const cfg_t *cfg, size_t idx, char *buf, size_t len)
{
	const cfg_key_t *k = &cfg_keys[idx];
	const char *s;
	const void *p;

	if (k->off == CFG_NO_FIELD) {
		s = cfg->extra_values ? cfg->extra_values[idx] : NULL;
		snprintf(buf, len, "%s", s ? s : (k->def ? k->def : ""));
		return;
	}
	p = (const char *)cfg + k->off;
	switch (k->type) {
	case CFG_KT_STR:
	case CFG_KT_LOOKUP_STR:
		s = *(char *const *)p;
		snprintf(buf, len, "%s", s ? s : "");
		break;
	case CFG_KT_TIME:
		/* Seconds with %g, exactly as libusual's cf_get_time_usec. */
		snprintf(buf, len, "%g", (double)*(const long *)p / 1000.0);
		break;
	case CFG_KT_LOOKUP:
		snprintf(buf, len, "%s", lookup_name(k->lk, *(const int *)p));
		break;
	default:
		/* unix_socket_mode shows as 511, like PgBouncer's %d. */
		snprintf(buf, len, "%d", *(const int *)p);
		break;
	}
}

const char *cfg_key_note(const cfg_t *cfg, size_t idx, const char *value,
			 char *buf, size_t len)
{
	const cfg_key_t *k = &cfg_keys[idx];
	long long ll;

	if (k->type == CFG_KT_SIZE && k->max > INT_MAX &&
	    parse_size(value, k->min, k->max, &ll) == 0 && ll > INT_MAX) {
		snprintf(buf, len,
			 "%s %lld is larger than pgswitch supports, "
			 "using %d",
			 k->name, ll, INT_MAX);
		return buf;
	}

	/* Keys with a field that nothing acts on yet: set to anything but
	 * PgBouncer's default, they say so (never silently ignored). */
	static const char *const inert[] = {
		"autodb_idle_timeout",
		"disable_pqexec",
		"dns_zone_check_period",
		"resolv_conf",
		"sbuf_loopcnt",
		/* suspend_timeout is live: SUSPEND, online restart */
		"syslog",
		"syslog_facility",
		"syslog_ident",
		"unix_socket_group",
		"workers",
	};
	for (size_t i = 0; i < sizeof(inert) / sizeof(inert[0]); i++) {
		if (strcmp(k->name, inert[i]) != 0)
			continue;
		if (strcmp(value, k->def ? k->def : "") == 0)
			return NULL;
		snprintf(buf, len,
			 "key '%s' is not yet supported by pgswitch, ignored",
			 k->name);
		return buf;
	}
	if (strcmp(k->name, "auth_type") == 0) {
		switch (cfg->auth_type) {
		case CFG_AUTH_PAM:
		case CFG_AUTH_LDAP:
			snprintf(buf, len,
				 "auth_type '%s' is not yet supported by "
				 "pgswitch",
				 cfg_auth_type_name(cfg->auth_type));
			return buf;
		default:
			return NULL;
		}
	}
	return NULL;
}

int cfg_apply_defaults(cfg_t *cfg)
{
	char err[160];
	size_t i;

	for (i = 0; i < cfg_nkeys; i++) {
		if (!cfg_keys[i].def)
			continue;
		if (cfg_key_set(cfg, i, cfg_keys[i].def, err, sizeof(err)) < 0)
			return -1;
	}
	if (!cfg->extra_values) {
		cfg->extra_values = calloc(cfg_nkeys, sizeof(char *));
		if (!cfg->extra_values)
			return -1;
	}
	return 0;
}

void cfg_keys_free(cfg_t *cfg)
{
	const cfg_key_t *k;
	size_t i;

	for (i = 0; i < cfg_nkeys; i++) {
		k = &cfg_keys[i];
		if (k->off == CFG_NO_FIELD)
			continue;
		if (k->type == CFG_KT_STR || k->type == CFG_KT_LOOKUP_STR) {
			free(*(char **)((char *)cfg + k->off));
			*(char **)((char *)cfg + k->off) = NULL;
		}
	}
	if (cfg->extra_values) {
		for (i = 0; i < cfg_nkeys; i++)
			free(cfg->extra_values[i]);
		free(cfg->extra_values);
		cfg->extra_values = NULL;
	}
}

/* ---- public: SET, SHOW, names ----------------------------------------- */

int cfg_set(cfg_t *cfg, const char *key, const char *value, char *err,
	    size_t errlen)
{
	char why[200];
	long idx;
	int rc;

	if (!err || errlen == 0) {
		err = why;
		errlen = sizeof(why);
	}
	if (!cfg || !key) {
		snprintf(err, errlen, "no configuration");
		return -1;
	}
	idx = cfg_key_index(key);
	if (idx < 0) {
		snprintf(err, errlen, "unknown parameter '%.64s'", key);
		return -1;
	}
	if (!cfg_keys[idx].changeable) {
		snprintf(err, errlen,
			 "parameter '%s' cannot be changed online "
			 "(restart required)",
			 cfg_keys[idx].name);
		return -1;
	}
	rc = cfg_key_set(cfg, (size_t)idx, value ? value : "", why,
			 sizeof(why));
	if (rc == -2) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (rc < 0) {
		snprintf(err, errlen,
			 "invalid value '%.64s' for parameter %s: %s",
			 value ? value : "", cfg_keys[idx].name, why);
		return -1;
	}
	return 0;
}

bool cfg_show(const cfg_t *cfg, size_t i, cfg_show_row_t *row)
{
	if (!cfg || !row || i >= cfg_nkeys)
		return false;
	row->key = cfg_keys[i].name;
	cfg_key_format(cfg, i, row->value, sizeof(row->value));
	row->default_value = cfg_keys[i].def ? cfg_keys[i].def : "";
	row->changeable = cfg_keys[i].changeable;
	return true;
}

static bool same_value(const cfg_t *a, const cfg_t *b, const cfg_key_t *k,
		       size_t idx)
{
	const char *sa, *sb;

	if (k->off == CFG_NO_FIELD) {
		sa = a->extra_values ? a->extra_values[idx] : NULL;
		sb = b->extra_values ? b->extra_values[idx] : NULL;
		return strcmp(sa ? sa : "", sb ? sb : "") == 0;
	}
	switch (k->type) {
	case CFG_KT_STR:
	case CFG_KT_LOOKUP_STR:
		sa = *(char *const *)((const char *)a + k->off);
		sb = *(char *const *)((const char *)b + k->off);
		return strcmp(sa ? sa : "", sb ? sb : "") == 0;
	case CFG_KT_TIME:
		return *(const long *)((const char *)a + k->off) ==
		       *(const long *)((const char *)b + k->off);
	default:
		return *(const int *)((const char *)a + k->off) ==
		       *(const int *)((const char *)b + k->off);
	}
}

/* Copy key K's value from SRC into DST. -1 if out of memory. */
static int copy_value(cfg_t *dst, const cfg_t *src, const cfg_key_t *k,
		      size_t idx)
{
	const char *from;
	char *s, **slot;

	if (k->off == CFG_NO_FIELD) {
		from = src->extra_values ? src->extra_values[idx] : NULL;
		if (!dst->extra_values) {
			dst->extra_values = calloc(cfg_nkeys, sizeof(char *));
			if (!dst->extra_values)
				return -1;
		}
		slot = &dst->extra_values[idx];
	} else if (k->type == CFG_KT_STR || k->type == CFG_KT_LOOKUP_STR) {
		from = *(char *const *)((const char *)src + k->off);
		slot = (char **)((char *)dst + k->off);
	} else {
		memcpy((char *)dst + k->off, (const char *)src + k->off,
		       k->type == CFG_KT_TIME ? sizeof(long) : sizeof(int));
		return 0;
	}
	s = from ? strdup(from) : NULL;
	if (from && !s)
		return -1;
	free(*slot);
	*slot = s;
	return 0;
}

int cfg_keep_fixed(cfg_t *newcfg, const cfg_t *oldcfg, cfg_diags_t *diags)
{
	char oldv[128], newv[128];
	const cfg_key_t *k;
	int kept = 0;
	size_t i;

	if (!newcfg || !oldcfg)
		return 0;
	for (i = 0; i < cfg_nkeys; i++) {
		k = &cfg_keys[i];
		if (k->changeable || same_value(newcfg, oldcfg, k, i))
			continue;
		cfg_key_format(oldcfg, i, oldv, sizeof(oldv));
		cfg_key_format(newcfg, i, newv, sizeof(newv));
		if (copy_value(newcfg, oldcfg, k, i) < 0)
			return -1;
		if (diags)
			cfg_diag(diags, CFG_WARNING, newcfg->config_file, 0,
				 "parameter %s cannot be changed by a reload "
				 "(restart required): keeping '%.48s', not "
				 "'%.48s'",
				 k->name, oldv, newv);
		kept++;
	}
	return kept;
}

const char *cfg_pool_mode_name(cfg_pool_mode_t m)
{
	if (m == CFG_POOL_UNSET)
		return "inherit";
	return lookup_name(cfg_pool_mode_lk, (int)m);
}

const char *cfg_auth_type_name(cfg_auth_type_t t)
{
	if (t == CFG_AUTH_REJECT)
		return "reject";
	return lookup_name(auth_type_lk, (int)t);
}
