/* SPDX-License-Identifier: MIT */
/*
 * cfg_load.c - the pgbouncer.ini reader.
 *
 * Syntax, as libusual's parser (which PgBouncer uses) reads it:
 *   - "[name]" starts a section; "key = value" sets a key; the value is
 *     the rest of the line with surrounding blanks removed, taken
 *     literally (no quoting, no trailing comments);
 *   - lines whose first non-blank is ';' or '#' are comments;
 *   - "%include FILE" reads FILE in place, nesting at most 10 deep.
 * Accepted beyond libusual, so that any PgBouncer file loads unchanged:
 * case-insensitive section and key names, "quoted" entry names with ""
 * escapes (as the docs describe for database names), CRLF line ends, a
 * UTF-8 BOM, and relative %include paths that resolve against the
 * including file's directory first (PgBouncer only tries the working
 * directory, which is tried second).
 *
 * Unlike PgBouncer, the reader does not stop at the first problem: it
 * reports all of them with file:line, and cfg_load() fails if any of them
 * was an error.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cfg_internal.h"

/* Refuse to slurp absurd files (or /dev/zero). */
#define MAX_FILE_SIZE (64L * 1024 * 1024)

enum sect {
	SEC_NONE,
	SEC_PGBOUNCER,
	SEC_DATABASES,
	SEC_USERS,
	SEC_PEERS,
	SEC_UNKNOWN,
};

typedef struct loader {
	cfg_t *cfg;
	cfg_diags_t *d;
	enum sect sect;
	bool saw_main;
	/* Real paths of the files being read, outermost first. */
	char *stack[CFG_MAX_INCLUDE + 1];
	int depth;
	size_t dbcap, usercap, peercap;
} loader_t;

/* Where a line came from, for diagnostics and cfg_db_t.file/line. */
typedef struct where {
	const char *file;
	int line;
} where_t;

#define ERR(ld, w, ...)                                                        \
	cfg_diag((ld)->d, CFG_ERROR, (w)->file, (w)->line, __VA_ARGS__)
#define WARN(ld, w, ...)                                                       \
	cfg_diag((ld)->d, CFG_WARNING, (w)->file, (w)->line, __VA_ARGS__)

static void load_file(loader_t *ld, char *real, const where_t *from);

/* ---- connection-string style values ([databases], [users]) ------------ */

static char *skip_blank(char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/*
 * Next "key=value" pair of a libpq-like string, cut in place. Values may
 * be single-quoted with '' for a quote (PgBouncer has no backslash
 * escapes). Returns 1 with the key and value set, 0 at the end, -1 on a
 * syntax error described in WHY.
 */
static int next_pair(char **pp, char **key, char **val, const char **why)
{
	char *p = skip_blank(*pp), *end, *dst;

	if (*p == '\0')
		return 0;
	*key = p;
	while (*p && *p != '=' && *p != ' ' && *p != '\t')
		p++;
	end = p;
	p = skip_blank(p);
	if (*p != '=' || end == *key) {
		*why = "expected key=value";
		return -1;
	}
	*end = '\0';
	p = skip_blank(p + 1);
	if (*p == '\'') {
		*val = dst = ++p;
		for (;;) {
			if (*p == '\0') {
				*why = "unterminated quoted value";
				return -1;
			}
			if (*p == '\'' && p[1] != '\'')
				break;
			if (*p == '\'')
				p++; /* '' stands for one quote */
			*dst++ = *p++;
		}
		p++; /* closing quote */
		if (*p && *p != ' ' && *p != '\t') {
			*why = "expected a space after a quoted value";
			return -1;
		}
		*dst = '\0';
	} else {
		*val = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	if (*p)
		*p++ = '\0';
	if (**val == '\0') {
		*why = "empty value";
		return -1;
	}
	*pp = p;
	return 1;
}

typedef enum cs_type {
	CS_STR,	     /* char * */
	CS_INT,	     /* int, -1 (inherit) or more */
	CS_PORT,     /* int 1..65535 */
	CS_POOLMODE, /* cfg_pool_mode_t */
	CS_MS_INT,   /* time into int ms */
	CS_MS_LONG,  /* time into long ms */
	CS_IGNORED,  /* accepted, checked against a list, not implemented */
	CS_CHANBIND, /* cfg_chanbind_t: disable, prefer, require */
	CS_LBHOSTS,  /* int: 0 disable, 1 round-robin */
} cs_type_t;

typedef struct cs_key {
	const char *name;
	cs_type_t type;
	size_t off;
} cs_key_t;

#define DB(f) offsetof(cfg_db_t, f)
static const cs_key_t db_keys[] = {
	{"dbname", CS_STR, DB(dbname)},
	{"host", CS_STR, DB(host)},
	{"port", CS_PORT, DB(port)},
	{"user", CS_STR, DB(user)},
	{"password", CS_STR, DB(password)},
	{"auth_user", CS_STR, DB(auth_user)},
	{"auth_query", CS_STR, DB(auth_query)},
	{"auth_dbname", CS_STR, DB(auth_dbname)},
	{"pool_size", CS_INT, DB(pool_size)},
	{"min_pool_size", CS_INT, DB(min_pool_size)},
	{"reserve_pool", CS_INT, DB(reserve_pool_size)},
	{"reserve_pool_size", CS_INT, DB(reserve_pool_size)},
	{"connect_query", CS_STR, DB(connect_query)},
	{"pool_mode", CS_POOLMODE, DB(pool_mode)},
	{"max_db_connections", CS_INT, DB(max_db_connections)},
	{"max_db_client_connections", CS_INT, DB(max_db_client_connections)},
	{"client_encoding", CS_STR, DB(client_encoding)},
	{"datestyle", CS_STR, DB(datestyle)},
	{"timezone", CS_STR, DB(timezone)},
	{"application_name", CS_STR, DB(application_name)},
	{"server_lifetime", CS_MS_INT, DB(server_lifetime)},
	{"load_balance_hosts", CS_LBHOSTS, DB(load_balance_hosts)},
	/* pgswitch: libpq's channel_binding for the server logins */
	{"channel_binding", CS_CHANBIND, DB(channel_binding)},
	{NULL, CS_STR, 0},
};

#define US(f) offsetof(cfg_user_t, f)
static const cs_key_t user_keys[] = {
	{"pool_mode", CS_POOLMODE, US(pool_mode)},
	{"max_user_connections", CS_INT, US(max_user_connections)},
	{"max_user_client_connections", CS_INT,
	 US(max_user_client_connections)},
	{"pool_size", CS_INT, US(pool_size)},
	{"reserve_pool_size", CS_INT, US(reserve_pool_size)},
	{"query_timeout", CS_MS_LONG, US(query_timeout)},
	{"idle_transaction_timeout", CS_MS_LONG, US(idle_transaction_timeout)},
	{"transaction_timeout", CS_MS_LONG, US(transaction_timeout)},
	{"client_idle_timeout", CS_MS_LONG, US(client_idle_timeout)},
	{NULL, CS_STR, 0},
};

#define PE(f) offsetof(cfg_peer_t, f)
static const cs_key_t peer_keys[] = {
	{"host", CS_STR, PE(host)},
	{"port", CS_PORT, PE(port)},
	{"pool_size", CS_INT, PE(pool_size)},
	{NULL, CS_STR, 0},
};

static const cs_key_t *cs_find(const cs_key_t *keys, const char *name)
{
	for (; keys->name; keys++) {
		if (strcasecmp(keys->name, name) == 0)
			return keys;
	}
	return NULL;
}

/*
 * Store VAL for K into OBJ. Returns 0, 1 (accepted but not implemented),
 * -1 (invalid, reason in *WHY) or -2 (out of memory).
 */
static int cs_apply(void *obj, const cs_key_t *k, const char *val,
		    const char **why)
{
	char *p = (char *)obj + k->off, *s;
	long long ll;
	long ms;
	int iv;

	switch (k->type) {
	case CS_STR:
		s = strdup(val);
		if (!s)
			return -2;
		free(*(char **)p);
		*(char **)p = s; /* a repeated key: the last one wins */
		return 0;
	case CS_INT:
	case CS_PORT:
		if (cfg_parse_int(val, k->type == CS_PORT ? 1 : -1,
				  k->type == CS_PORT ? 65535 : INT_MAX,
				  &ll) < 0) {
			*why = k->type == CS_PORT ? "expected a port (1-65535)"
						  : "expected an integer >= 0";
			return -1;
		}
		*(int *)p = (int)ll;
		return 0;
	case CS_POOLMODE:
		if (cfg_lookup_parse(cfg_pool_mode_lk, val, &iv) < 0) {
			*why = "expected session, transaction or statement";
			return -1;
		}
		*(cfg_pool_mode_t *)p = (cfg_pool_mode_t)iv;
		return 0;
	case CS_MS_INT:
	case CS_MS_LONG:
		if (cfg_parse_time_ms(
			    val, k->type == CS_MS_INT ? INT_MAX : LONG_MAX / 2,
			    &ms) < 0) {
			*why = "expected a duration in seconds, optionally "
			       "with "
			       "a unit (ms, s, min, h, d)";
			return -1;
		}
		if (k->type == CS_MS_INT)
			*(int *)p = (int)ms;
		else
			*(long *)p = ms;
		return 0;
	case CS_CHANBIND:
		if (cfg_lookup_parse(cfg_chanbind_lk, val, &iv) < 0) {
			*why = "expected disable, prefer or require";
			return -1;
		}
		*(int *)p = iv;
		return 0;
	case CS_LBHOSTS:
		if (strcasecmp(val, "disable") == 0) {
			*(int *)p = 0;
		} else if (strcasecmp(val, "round-robin") == 0) {
			*(int *)p = 1;
		} else {
			*why = "expected disable or round-robin";
			return -1;
		}
		return 0;
	case CS_IGNORED:
		if (strcasecmp(val, "disable") != 0 &&
		    strcasecmp(val, "round-robin") != 0) {
			*why = "expected disable or round-robin";
			return -1;
		}
		return 1;
	}
	return -1;
}

/*
 * Apply every pair of CONNSTR to OBJ. KIND/NAME only word the messages.
 * Returns false after reporting an error.
 */
static bool apply_connstr(loader_t *ld, const where_t *w, const char *kind,
			  const char *name, const cs_key_t *keys, void *obj,
			  const char *connstr)
{
	char *buf, *p, *key, *val;
	const char *why = "";
	const cs_key_t *k;
	bool ok = true;
	int rc;

	buf = strdup(connstr);
	if (!buf) {
		ERR(ld, w, "out of memory");
		return false;
	}
	p = buf;
	while ((rc = next_pair(&p, &key, &val, &why)) != 0) {
		if (rc < 0) {
			ERR(ld, w, "%s '%.64s': syntax error in settings: %s",
			    kind, name, why);
			ok = false;
			break;
		}
		k = cs_find(keys, key);
		if (!k) {
			ERR(ld, w, "%s '%.64s': unrecognized parameter '%.64s'",
			    kind, name, key);
			ok = false;
			break;
		}
		rc = cs_apply(obj, k, val, &why);
		if (rc == 1) {
			WARN(ld, w,
			     "%s '%.64s': %s is not yet supported by pgswitch, "
			     "ignored",
			     kind, name, k->name);
		} else if (rc < 0) {
			if (rc == -2)
				ERR(ld, w, "out of memory");
			else
				ERR(ld, w,
				    "%s '%.64s': invalid value '%.64s' for %s: "
				    "%s",
				    kind, name, val, k->name, why);
			ok = false;
			break;
		}
	}
	free(buf);
	return ok;
}

/* ---- sections ---------------------------------------------------------- */

static void add_database(loader_t *ld, const where_t *w, const char *name,
			 const char *connstr)
{
	cfg_t *cfg = ld->cfg;
	cfg_db_t db, *grown;
	size_t i, cap;

	if (strcmp(name, "pgbouncer") == 0) {
		ERR(ld, w,
		    "database name 'pgbouncer' is reserved for the "
		    "admin console");
		return;
	}
	memset(&db, 0, sizeof(db));
	db.port = 5432;
	db.pool_size = db.min_pool_size = db.reserve_pool_size = -1;
	db.max_db_connections = db.max_db_client_connections = -1;
	db.server_lifetime = -1;
	db.pool_mode = CFG_POOL_UNSET;
	db.channel_binding = CFG_CHANBIND_PREFER;
	db.load_balance_hosts = 1; /* PgBouncer's default: round-robin */
	db.name = strdup(name);
	db.connstr = strdup(connstr);
	db.file = strdup(w->file);
	db.line = w->line;
	if (!db.name || !db.connstr || !db.file) {
		ERR(ld, w, "out of memory");
		goto drop;
	}
	if (!apply_connstr(ld, w, "database", name, db_keys, &db, connstr))
		goto drop;
	for (i = 0; i < cfg->ndbs; i++) {
		if (strcmp(cfg->dbs[i].name, name) != 0)
			continue;
		/* PgBouncer lets a later definition replace an earlier one. */
		WARN(ld, w,
		     "database '%.64s' redefined, replacing the definition "
		     "at %.100s:%d",
		     name, cfg->dbs[i].file, cfg->dbs[i].line);
		cfg_db_clear(&cfg->dbs[i]);
		cfg->dbs[i] = db;
		return;
	}
	if (cfg->ndbs == ld->dbcap) {
		cap = ld->dbcap ? ld->dbcap * 2 : 8;
		grown = realloc(cfg->dbs, cap * sizeof(*grown));
		if (!grown) {
			ERR(ld, w, "out of memory");
			goto drop;
		}
		cfg->dbs = grown;
		ld->dbcap = cap;
	}
	cfg->dbs[cfg->ndbs++] = db;
	return;
drop:
	cfg_db_clear(&db);
}

static void add_user(loader_t *ld, const where_t *w, const char *name,
		     const char *settings)
{
	cfg_t *cfg = ld->cfg;
	cfg_user_t u, *grown;
	size_t i, cap;

	memset(&u, 0, sizeof(u));
	u.pool_mode = CFG_POOL_UNSET;
	u.max_user_connections = u.max_user_client_connections = -1;
	u.pool_size = u.reserve_pool_size = -1;
	u.query_timeout = u.idle_transaction_timeout = -1;
	u.transaction_timeout = u.client_idle_timeout = -1;
	u.name = strdup(name);
	u.file = strdup(w->file);
	u.line = w->line;
	if (!u.name || !u.file) {
		ERR(ld, w, "out of memory");
		goto drop;
	}
	if (!apply_connstr(ld, w, "user", name, user_keys, &u, settings))
		goto drop;
	for (i = 0; i < cfg->nusers; i++) {
		if (strcmp(cfg->users[i].name, name) != 0)
			continue;
		WARN(ld, w,
		     "user '%.64s' redefined, replacing the definition at "
		     "%.100s:%d",
		     name, cfg->users[i].file, cfg->users[i].line);
		cfg_user_clear(&cfg->users[i]);
		cfg->users[i] = u;
		return;
	}
	if (cfg->nusers == ld->usercap) {
		cap = ld->usercap ? ld->usercap * 2 : 8;
		grown = realloc(cfg->users, cap * sizeof(*grown));
		if (!grown) {
			ERR(ld, w, "out of memory");
			goto drop;
		}
		cfg->users = grown;
		ld->usercap = cap;
	}
	cfg->users[cfg->nusers++] = u;
	return;
drop:
	cfg_user_clear(&u);
}

/* A key that is not 1..65535 in decimal: a cancel key has two bytes for
 * the id it names. */
static int peer_id_parse(const char *name)
{
	long v = 0;
	if (!*name || strlen(name) > 5)
		return -1;
	for (const char *p = name; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v >= 1 && v <= 65535 ? (int)v : -1;
}

/* Keep the entries sorted by id: SHOW PEERS lists them so. */
static void insert_peer(loader_t *ld, const where_t *w, cfg_peer_t *pe)
{
	cfg_t *cfg = ld->cfg;
	size_t i;
	for (i = 0; i < cfg->npeers && cfg->peers[i].id < pe->id; i++)
		;
	if (i < cfg->npeers && cfg->peers[i].id == pe->id) {
		WARN(ld, w,
		     "peer %d redefined, replacing the definition at "
		     "%.100s:%d",
		     pe->id, cfg->peers[i].file, cfg->peers[i].line);
		cfg_peer_clear(&cfg->peers[i]);
		cfg->peers[i] = *pe;
		return;
	}
	if (cfg->npeers == ld->peercap) {
		size_t cap = ld->peercap ? ld->peercap * 2 : 8;
		cfg_peer_t *grown = realloc(cfg->peers, cap * sizeof(*grown));
		if (!grown) {
			ERR(ld, w, "out of memory");
			cfg_peer_clear(pe);
			return;
		}
		cfg->peers = grown;
		ld->peercap = cap;
	}
	memmove(&cfg->peers[i + 1], &cfg->peers[i],
		(cfg->npeers - i) * sizeof(*pe));
	cfg->peers[i] = *pe;
	cfg->npeers++;
}

static void add_peer(loader_t *ld, const where_t *w, const char *name,
		     const char *settings)
{
	cfg_peer_t pe;

	memset(&pe, 0, sizeof(pe));
	pe.id = peer_id_parse(name);
	if (pe.id < 0) {
		ERR(ld, w,
		    "peer '%.64s': ids of peers must be a number from 1 to "
		    "65535",
		    name);
		return;
	}
	pe.port = 6432;
	pe.pool_size = -1;
	pe.file = strdup(w->file);
	pe.line = w->line;
	if (!pe.file) {
		ERR(ld, w, "out of memory");
		goto drop;
	}
	if (!apply_connstr(ld, w, "peer", name, peer_keys, &pe, settings))
		goto drop;
	if (!pe.host || !*pe.host) {
		ERR(ld, w, "peer '%.64s': host was not provided", name);
		goto drop;
	}
	insert_peer(ld, w, &pe);
	return;
drop:
	cfg_peer_clear(&pe);
}

static void set_param(loader_t *ld, const where_t *w, const char *key,
		      const char *value)
{
	const cfg_key_t *k;
	char why[200], note[200];
	long idx;
	int rc;

	idx = cfg_key_index(key);
	if (idx < 0) {
		/* Never fatal: newer PgBouncer keys must not stop startup. */
		WARN(ld, w, "unknown parameter '%.64s' ignored", key);
		return;
	}
	k = &cfg_keys[idx];
	rc = cfg_key_set(ld->cfg, (size_t)idx, value, why, sizeof(why));
	if (rc == -2) {
		ERR(ld, w, "out of memory");
		return;
	}
	if (rc < 0) {
		ERR(ld, w, "invalid value '%.64s' for parameter %s: %s", value,
		    k->name, why);
		return;
	}
	/* Setting an unimplemented key to its default changes nothing. */
	if (k->off == CFG_NO_FIELD && strcmp(value, k->def ? k->def : "") != 0)
		WARN(ld, w,
		     "key '%s' is not yet supported by pgswitch, ignored",
		     k->name);
	if (cfg_key_note(ld->cfg, (size_t)idx, value, note, sizeof(note)))
		WARN(ld, w, "%s", note);
}

static void start_section(loader_t *ld, const where_t *w, char *p)
{
	static const struct {
		const char *name;
		enum sect sect;
	} sects[] = {
		{"pgbouncer", SEC_PGBOUNCER},
		{"databases", SEC_DATABASES},
		{"users", SEC_USERS},
		{"peers", SEC_PEERS},
	};
	char *end, *name;
	size_t i;

	end = strchr(p, ']');
	if (!end) {
		ERR(ld, w, "syntax error: missing ']' after section name");
		ld->sect = SEC_UNKNOWN;
		return;
	}
	*end++ = '\0';
	end = skip_blank(end);
	if (*end && *end != ';' && *end != '#') {
		ERR(ld, w, "syntax error: unexpected text after section name");
		ld->sect = SEC_UNKNOWN;
		return;
	}
	name = skip_blank(p);
	for (end = name + strlen(name);
	     end > name && isspace((unsigned char)end[-1]);)
		*--end = '\0';
	for (i = 0; i < sizeof(sects) / sizeof(sects[0]); i++) {
		if (strcasecmp(name, sects[i].name) == 0) {
			ld->sect = sects[i].sect;
			if (ld->sect == SEC_PGBOUNCER)
				ld->saw_main = true;
			return;
		}
	}
	/* PgBouncer refuses unknown sections too: likely a typo. */
	ERR(ld, w, "unknown section [%.64s]", name);
	ld->sect = SEC_UNKNOWN;
}

/*
 * Split "name = value". NAME may be "quoted" with "" escapes; otherwise
 * it ends at a blank or '='. Returns false on a syntax error.
 */
static bool split_key(char *p, char **name, char **value)
{
	char *dst;

	if (*p == '"') {
		*name = dst = ++p;
		for (;;) {
			if (*p == '\0')
				return false;
			if (*p == '"' && p[1] != '"')
				break;
			if (*p == '"')
				p++;
			*dst++ = *p++;
		}
		p++;
		*dst = '\0'; /* dst <= closing quote: nothing lost */
	} else {
		*name = p;
		while (*p && *p != '=' && *p != ' ' && *p != '\t')
			p++;
		if (p == *name)
			return false;
	}
	dst = p;
	p = skip_blank(p);
	if (*p != '=')
		return false;
	*dst = '\0';
	*value = skip_blank(p + 1);
	return **name != '\0';
}

static void key_line(loader_t *ld, const where_t *w, char *p)
{
	char *name, *value;

	if (!split_key(p, &name, &value)) {
		ERR(ld, w, "syntax error: expected 'name = value'");
		return;
	}
	switch (ld->sect) {
	case SEC_NONE:
		ERR(ld, w, "'%.64s' is outside of any section", name);
		break;
	case SEC_UNKNOWN:
		break; /* the section itself was reported */
	case SEC_PGBOUNCER:
		set_param(ld, w, name, value);
		break;
	case SEC_DATABASES:
		add_database(ld, w, name, value);
		break;
	case SEC_USERS:
		add_user(ld, w, name, value);
		break;
	case SEC_PEERS:
		add_peer(ld, w, name, value);
		break;
	}
}

/* ---- files and includes ------------------------------------------------ */

/*
 * The file an "%include NAME" in file FROM refers to: absolute as is;
 * relative against FROM's directory, else the working directory (the
 * PgBouncer rule). Returns a new string, or NULL if out of memory.
 */
static char *include_path(const char *from, const char *name)
{
	const char *slash;
	char *path;
	size_t dlen;

	if (name[0] == '/')
		return strdup(name);
	slash = strrchr(from, '/');
	dlen = slash ? (size_t)(slash - from) : 0;
	path = malloc(dlen + strlen(name) + 2);
	if (!path)
		return NULL;
	memcpy(path, from, dlen);
	path[dlen] = '/';
	strcpy(path + dlen + 1, name);
	if (access(path, F_OK) == 0)
		return path;
	free(path);
	return strdup(name);
}

static void include_line(loader_t *ld, const where_t *w, char *name)
{
	char *path, *real;
	int i;

	if (*name == '\0') {
		ERR(ld, w, "%%include without a file name");
		return;
	}
	if (ld->depth >= CFG_MAX_INCLUDE) {
		ERR(ld, w, "%%include nested more than %d deep",
		    CFG_MAX_INCLUDE);
		return;
	}
	path = include_path(w->file, name);
	if (!path) {
		ERR(ld, w, "out of memory");
		return;
	}
	real = realpath(path, NULL);
	if (!real) {
		ERR(ld, w, "cannot open include file '%.100s': %s", name,
		    strerror(errno));
		free(path);
		return;
	}
	free(path);
	for (i = 0; i <= ld->depth; i++) {
		if (strcmp(ld->stack[i], real) == 0) {
			ERR(ld, w,
			    "%%include loop: '%.100s' is already being "
			    "read",
			    real);
			free(real);
			return;
		}
	}
	load_file(ld, real, w);
}

static void parse_line(loader_t *ld, const where_t *w, char *p, size_t len)
{
	char *end = p + len;

	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	while (*p && isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == ';' || *p == '#')
		return;
	if (strncmp(p, "%include", 8) == 0 &&
	    (p[8] == '\0' || isblank((unsigned char)p[8]))) {
		include_line(ld, w, skip_blank(p + 8));
		return;
	}
	if (*p == '[') {
		start_section(ld, w, p + 1);
		return;
	}
	key_line(ld, w, p);
}

/*
 * Whole file into a NUL-terminated buffer; NULL with errno set. Only
 * regular files: an "%include /dev/stdin" or a FIFO must not hang the
 * loader (hence O_NONBLOCK on open), nor a directory confuse it.
 */
static char *slurp(const char *path, size_t *lenp)
{
	char *buf = NULL, *grown;
	size_t len = 0, cap = 0, n;
	struct stat st;
	FILE *f;
	int fd, err;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
	else
		err = 0;
	if (err) {
		close(fd);
		errno = err;
		return NULL;
	}
	f = fdopen(fd, "r");
	if (!f) {
		err = errno;
		close(fd);
		errno = err;
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			if (cap >= (size_t)MAX_FILE_SIZE) {
				err = EFBIG;
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			grown = realloc(buf, cap + 1);
			if (!grown) {
				err = ENOMEM;
				goto fail;
			}
			buf = grown;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		err = errno ? errno : EIO;
		goto fail;
	}
	fclose(f);
	if (!buf) {
		buf = malloc(1);
		if (!buf) {
			errno = ENOMEM;
			return NULL;
		}
	}
	buf[len] = '\0';
	*lenp = len;
	return buf;
fail:
	fclose(f);
	free(buf);
	errno = err;
	return NULL;
}

/* Read REAL (taking ownership of the string); FROM is the %include site. */
static void load_file(loader_t *ld, char *real, const where_t *from)
{
	char *buf, *p, *nl, *end;
	const char *why;
	size_t len, n;
	where_t w;

	buf = slurp(real, &len);
	if (!buf) {
		why = errno == EINVAL ? "not a regular file" : strerror(errno);
		if (from)
			ERR(ld, from, "cannot read include file '%.100s': %s",
			    real, why);
		else
			cfg_diag(ld->d, CFG_ERROR, real, 0,
				 "cannot read config file '%s': %s", real, why);
		free(real);
		return;
	}
	if (from)
		ld->depth++;
	ld->stack[ld->depth] = real;
	w.file = real;
	w.line = 0;
	p = buf;
	end = buf + len;
	if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3; /* UTF-8 byte order mark */
	while (p < end) {
		w.line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > CFG_MAX_LINE)
			ERR(ld, &w, "line too long (more than %d bytes)",
			    CFG_MAX_LINE);
		else if (memchr(p, '\0', n))
			ERR(ld, &w, "line contains a NUL byte");
		else
			parse_line(ld, &w, p, n);
		p += n + 1;
	}
	free(buf);
	ld->stack[ld->depth] = NULL;
	if (from)
		ld->depth--;
	free(real);
}

/* ---- entry point ------------------------------------------------------- */

/* Whole-file checks: worth a warning, rarely worth refusing to start. */
static void post_checks(loader_t *ld, const char *main_file)
{
	const cfg_t *cfg = ld->cfg;
	where_t w = {main_file, 0};
	bool needs_users;

	needs_users = cfg->auth_type == CFG_AUTH_TRUST ||
		      cfg->auth_type == CFG_AUTH_PLAIN ||
		      cfg->auth_type == CFG_AUTH_MD5 ||
		      cfg->auth_type == CFG_AUTH_SCRAM;
	if (needs_users && !cfg->auth_file[0] && !cfg->auth_user[0])
		WARN(ld, &w,
		     "auth_type %s needs auth_file or auth_user: no client "
		     "will be able to log in",
		     cfg_auth_type_name((cfg_auth_type_t)cfg->auth_type));
	/* PgBouncer refuses this config: the console has no auth_user. */
	if (strcmp(cfg->auth_dbname, "pgbouncer") == 0)
		ERR(ld, &w,
		    "cannot use the reserved \"pgbouncer\" database as an "
		    "auth_dbname");
	if (!cfg->listen_addr[0] && !cfg->unix_socket_dir[0])
		WARN(ld, &w,
		     "neither listen_addr nor unix_socket_dir is set: "
		     "nothing to listen on");
}

cfg_t *cfg_load(const char *path, cfg_diags_t *diags)
{
	cfg_diags_t local;
	loader_t ld;
	char *real, *main_copy;
	int errors_before;
	cfg_t *cfg;

	cfg_diags_init(&local);
	if (!diags)
		diags = &local;
	errors_before = diags->nerrors;
	if (!path || !*path) {
		cfg_diag(diags, CFG_ERROR, "", 0, "no config file given");
		goto fail_nocfg;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || cfg_apply_defaults(cfg) < 0) {
		cfg_diag(diags, CFG_ERROR, path, 0, "out of memory");
		cfg_free(cfg);
		goto fail_nocfg;
	}
	real = realpath(path, NULL);
	if (!real) {
		cfg_diag(diags, CFG_ERROR, path, 0,
			 "cannot open config file '%s': %s", path,
			 strerror(errno));
		cfg_free(cfg);
		goto fail_nocfg;
	}
	main_copy = strdup(real);
	if (!main_copy) {
		cfg_diag(diags, CFG_ERROR, path, 0, "out of memory");
		free(real);
		cfg_free(cfg);
		goto fail_nocfg;
	}
	/* A "conffile" key in the file may replace this, as in PgBouncer. */
	cfg->config_file = main_copy;

	memset(&ld, 0, sizeof(ld));
	ld.cfg = cfg;
	ld.d = diags;
	load_file(&ld, real, NULL);
	if (diags->nerrors == errors_before) {
		if (!ld.saw_main)
			cfg_diag(diags, CFG_ERROR, cfg->config_file, 0,
				 "section [pgbouncer] is missing");
		else
			post_checks(&ld, cfg->config_file);
	}
	if (diags->nerrors != errors_before) {
		cfg_free(cfg);
		cfg = NULL;
	}
	cfg_diags_free(&local);
	return cfg;
fail_nocfg:
	cfg_diags_free(&local);
	return NULL;
}
