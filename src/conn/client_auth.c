/* SPDX-License-Identifier: MIT */
/*
 * client_auth.c - a client's login: startup packet, choice of method
 * (auth_type, or the first matching hba rule), the stored secret
 * (auth_file, else auth_query through the auth_user's own pool), the
 * password exchanges, and the welcome.
 *
 * Order of a login, as PgBouncer and PostgreSQL do it: nothing about the
 * database or the user is told before the client has answered the
 * password challenge. An unknown database or user goes through the same
 * challenge as a known one (a doomed exchange) and fails after it.
 */
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/scram_plain.h"
#include "config/cfg.h"
#include "conn/conn_int.h"
#include "conn/conn.h"
#include "net/sock.h"
#include "pool/peer.h"
#include "pool/pool.h"
#include "proto/pgp.h"

static const char *const step_names[] = {
	[AUTH_STEP_STARTUP] = "startup",
	[AUTH_STEP_TLS] = "tls",
	[AUTH_STEP_QUERY] = "auth_query",
	[AUTH_STEP_PLAIN] = "password",
	[AUTH_STEP_MD5] = "md5",
	[AUTH_STEP_SASL_INIT] = "sasl",
	[AUTH_STEP_SASL_CONT] = "sasl_cont",
	[AUTH_STEP_DONE] = "done",
};

const char *client_auth_step_name(client_auth_step_t st)
{
	return (unsigned)st < sizeof(step_names) / sizeof(step_names[0])
		       ? step_names[st]
		       : "?";
}

/* ---- welcome ---- */

/* The database whose logins the console answers (PgBouncer's "pgbouncer"). */
static bool is_console_db(const pgs_ctx_t *ctx, const char *name)
{
	const conn_handler_t *h = ctx->hooks.console;
	return h && strcmp(name, h->dbname) == 0;
}

static const char *const admin_params[][2] = {
	{"server_version", "1.25.0/pgswitch " PGSWITCH_VERSION},
	{"server_encoding", "UTF8"},
	{"client_encoding", "UTF8"},
	{"DateStyle", "ISO"},
	{"TimeZone", "UTC"},
	{"standard_conforming_strings", "on"},
	{"is_superuser", "on"},
	{"integer_datetimes", "on"},
	{"application_name", ""},
};

static void issue_key(client_t *c)
{
	/* With peer_id set the key names this process, so a peer that gets
	 * the client's CancelRequest can forward it here. */
	do {
		pool_random(c->ctx, &c->key_pid, sizeof(c->key_pid));
		pool_random(c->ctx, &c->key_secret, sizeof(c->key_secret));
		peer_key_make(&c->key_pid, &c->key_secret,
			      c->ctx->cfg->peer_id);
	} while (!pool_key_register(c->ctx, c));
}

static void send_welcome_tail(client_t *c)
{
	issue_key(c);
	pgp_wr_backend_key(&c->io.obuf, c->key_pid, c->key_secret);
	pgp_wr_ready(&c->io.obuf, 'I');
}

static const char *tls_word(client_t *c)
{
	static char buf[128];
	return client_tls_describe(c, buf, sizeof(buf));
}

static void admin_welcome(client_t *c)
{
	buf_t *o = &c->io.obuf;
	pgp_wr_auth(o, 0, NULL, 0);
	for (size_t i = 0; i < sizeof(admin_params) / sizeof(admin_params[0]);
	     i++)
		pgp_wr_param_status(o, admin_params[i][0], admin_params[i][1]);
	send_welcome_tail(c);
	pool_client_state(c, CL_ACTIVE);
	if (c->ctx->cfg->log_connections)
		client_log(c, LOG_LOG,
			   "login attempt: db=%s user=%s tls=%s replication=no",
			   c->dbname, c->user, tls_word(c));
}

void client_welcome(client_t *c)
{
	pool_t *p = c->pool;
	buf_t *o = &c->io.obuf;

	/* A client sees its own startup values, the server's for the rest:
	 * runs of the pool's prebuilt messages are copied whole. */
	pgp_wr_auth(o, 0, NULL, 0);
	buf_reserve(o, p->welcome_off[p->nwelcome] + 64);
	uint32_t run = 0;
	for (int i = 0; i < p->nwelcome; i++) {
		int v = p->welcome_var[i];
		if (v < 0)
			continue;
		if (!c->vars[v]) {
			c->vars[v] =
				istr_get(&c->ctx->istr, p->welcome_values[i]);
			continue;
		}
		if (strcmp(c->vars[v], p->welcome_values[i]) == 0)
			continue;
		buf_append(o, p->welcome_wire + run, p->welcome_off[i] - run);
		pgp_wr_param_status(o, p->welcome_names[i], c->vars[v]);
		run = p->welcome_off[i + 1];
	}
	if (p->welcome_off[p->nwelcome] > run)
		buf_append(o, p->welcome_wire + run,
			   p->welcome_off[p->nwelcome] - run);
	send_welcome_tail(c);
	pool_client_state(c, CL_ACTIVE);
	/* Sent with this turn's batch. */
	client_flush_soon(c);
	if (c->state != CL_JUSTFREE) {
		client_update_io(c);
		/* A pipelining client may have sent its first query already. */
		client_process(c);
	}
}

/* ---- after authentication ---- */

static bool admin_allowed(client_t *c)
{
	const cfg_t *cfg = c->ctx->cfg;
	if (cfg->auth_type == CFG_AUTH_ANY || c->admin_rw) {
		c->admin_rw = true;
		return true;
	}
	c->admin_rw = cfg_list_contains(cfg->admin_users, c->user);
	return c->admin_rw || cfg_list_contains(cfg->stats_users, c->user);
}

/*
 * max_db_client_connections / max_user_client_connections (database or
 * [users] entry, else global; 0 = no limit), checked once the client has
 * authenticated, with PgBouncer's words. DB NULL: the console, whose
 * count is its clients'. Console admin_users are never refused.
 */
static bool client_limits_ok(client_t *c, pool_db_t *db, pool_user_t *u)
{
	const cfg_t *cfg = c->ctx->cfg;
	int dmax = db && db->max_db_client_connections >= 0
			   ? db->max_db_client_connections
			   : cfg->max_db_client_connections;
	int dcount = db ? db->client_count : c->ctx->admin_clients.count;
	if (dmax > 0 && dcount >= dmax) {
		client_close(c, "08P01",
			     "client connections exceeded "
			     "(max_db_client_connections)");
		return false;
	}
	int umax = u && u->max_user_client_connections >= 0
			   ? u->max_user_client_connections
			   : cfg->max_user_client_connections;
	if (u && umax > 0 && u->client_count >= umax) {
		client_close(c, "08P01",
			     "client connections exceeded "
			     "(max_user_client_connections)");
		return false;
	}
	return true;
}

static void login_done(client_t *c)
{
	pgs_ctx_t *ctx = c->ctx;
	c->auth_step = AUTH_STEP_DONE;
	if (c->late_error) {
		client_close(c, c->late_sqlstate, "%s", c->late_error);
		return;
	}
	if (c->handler) {
		if (!admin_allowed(c)) {
			client_close(c, "08P01", "not allowed");
			return;
		}
		pool_user_t *au = pool_user_get(ctx, c->user);
		if (!c->admin_rw && !client_limits_ok(c, NULL, au))
			return;
		if (au) {
			au->client_count++;
			c->admin_user = au;
		}
		admin_welcome(c);
		return;
	}
	pool_db_t *db = pool_db_lookup(ctx, c->dbname);
	if (!db) {
		client_close(c, "3D000", "no such database: %s", c->dbname);
		return;
	}
	pool_user_t *u = pool_user_get(ctx, c->user);
	if (u && !client_limits_ok(c, db, u))
		return;
	pool_t *p = u ? pool_get_repl(ctx, db, u, (pool_repl_t)c->replication)
		      : NULL;
	if (!p) {
		client_close(c, "53200", "out of memory");
		return;
	}
	c->pool = p;
	c->login_user = u;
	db->client_count++;
	u->client_count++;
	if (ctx->cfg->log_connections)
		/* PgBouncer 1.23+: replication=no|yes (physical)|database */
		client_log(c, LOG_LOG,
			   "login attempt: db=%s user=%s tls=%s replication=%s",
			   c->dbname, c->user, tls_word(c),
			   c->replication == POOL_REPL_LOGICAL	  ? "database"
			   : c->replication == POOL_REPL_PHYSICAL ? "yes"
								  : "no");
	if (p->replication != POOL_REPL_NONE) {
		/* Its own server, when the pool has room for one. */
		c->wait_us = ev_now_us(ctx->loop);
		pool_client_state(c, CL_WAITING_LOGIN);
		pool_launch(p);
		return;
	}
	if (p->welcome_ready) {
		client_welcome(c);
		return;
	}
	if (p->login_error && ev_now_us(ctx->loop) - p->last_login_fail_us <
				      ctx->cfg->server_login_retry * 1000) {
		client_close(c, "08P01",
			     "server login has been failing, cached error: %s "
			     "(server_login_retry)",
			     p->login_error);
		return;
	}
	c->wait_us = ev_now_us(ctx->loop);
	pool_client_state(c, CL_WAITING_LOGIN);
	pool_launch(p);
}

static void auth_failed(client_t *c)
{
	if (c->lookup_missing) {
		client_close(c, "08P01", "no such user");
		return;
	}
	client_close(c, "28P01",
		     "password authentication failed for user \"%s\"", c->user);
}

static void check_password(client_t *c, const char *given)
{
	const char *stored = c->secret;
	bool ok = false;
	if (stored && auth_secret_kind(stored) == AUTH_SECRET_MD5) {
		char tmp[AUTH_MD5_LEN + 1];
		auth_md5_secret(c->user, given, tmp);
		ok = auth_str_equal(tmp, stored);
	} else if (stored && auth_secret_kind(stored) == AUTH_SECRET_PLAIN) {
		ok = auth_str_equal(given, stored);
	} else if (stored && auth_secret_kind(stored) == AUTH_SECRET_SCRAM) {
		ok = auth_scram_verify_plain(stored, given);
	} else {
		/* Unknown user: same failure. */
		(void)auth_str_equal(given, "");
	}
	if (ok)
		login_done(c);
	else
		auth_failed(c);
}

/* ---- the method ---- */

static void start_scram(client_t *c)
{
	/* Doomed exchanges for unknown users use a per-process mock key:
	 * the same salt every time, as PostgreSQL does. */
	c->scram = scram_server_new_mock(c->user, c->secret, c->ctx->mock_key);
	if (!c->scram) {
		client_close(c, "53200", "out of memory");
		return;
	}
	uint8_t cb[SCRAM_MAX_CB_DATA];
	int cblen = client_tls_cb_data(c, cb, sizeof(cb));
	if (cblen > 0 &&
	    !scram_server_set_channel_binding(c->scram, cb, (size_t)cblen)) {
		client_close(c, "08P01", "channel binding setup failed");
		return;
	}
	size_t mlen;
	const char *mechs = scram_server_mechanisms(c->scram, &mlen);
	pgp_wr_auth(&c->io.obuf, 10, mechs, mlen);
	c->auth_step = AUTH_STEP_SASL_INIT;
}

/* Whether SYSTEM_NAME may log in as the client's user: the same name, or
 * a line of the rule's ident map. */
static bool ident_ok(client_t *c, const char *system_name, const char *what)
{
	if (!c->hba_map)
		return strcmp(system_name, c->user) == 0;
	if (client_ident_match(c, c->hba_map, system_name))
		return true;
	/* PgBouncer's two wordings. */
	if (strcmp(what, "peer") == 0)
		client_log(c, LOG_WARNING, "ident map %s cannot be matched",
			   c->hba_map);
	else
		client_log(c, LOG_WARNING,
			   "ident map: %s does not have a match", c->hba_map);
	return false;
}

/* PgBouncer's words and SQLSTATE for peer and cert failures; the log
 * line before says why. */
static void start_peer(client_t *c)
{
	uid_t uid;
	char name[256];
	if (!c->addr.unix_sock || sock_peer_uid(c->io.fd, &uid) < 0) {
		client_log(c, LOG_WARNING,
			   "peer authentication is only for Unix sockets");
		client_close(c, "08P01", "unix socket login rejected");
		return;
	}
	struct passwd pw, *res = NULL;
	char pwbuf[4096];
	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) != 0 || !res) {
		client_log(c, LOG_WARNING, "peer uid %u has no user name",
			   (unsigned)uid);
		client_close(c, "08P01", "unix socket login rejected");
		return;
	}
	snprintf(name, sizeof(name), "%s", pw.pw_name);
	if (!ident_ok(c, name, "peer")) {
		client_close(c, "08P01", "unix socket login rejected");
		return;
	}
	login_done(c);
}

static void start_cert(client_t *c)
{
	char cn[256];
	if (!c->io.tls || !client_tls_peer_cn(c, cn, sizeof(cn))) {
		client_log(c, LOG_WARNING,
			   "no verified TLS client certificate with a CN");
		client_close(c, "08P01", "certificate authentication failed");
		return;
	}
	if (!ident_ok(c, cn, "cert")) {
		client_close(c, "08P01", "certificate authentication failed");
		return;
	}
	login_done(c);
}

static void start_method(client_t *c)
{
	pgs_ctx_t *ctx = c->ctx;
	/* An empty password never authenticates (PgBouncer, PostgreSQL). */
	if (c->secret && !*c->secret) {
		free(c->secret);
		c->secret = NULL;
	}
	switch ((cfg_auth_type_t)c->auth_method) {
	case CFG_AUTH_ANY:
		login_done(c);
		return;
	case CFG_AUTH_TRUST:
		/* PgBouncer: the user must still be known (auth_file or
		 * auth_query) when there is a place to look. */
		if ((ctx->authfile || c->lookup_done) && !c->user_known &&
		    !c->handler) {
			if (c->lookup_missing)
				auth_failed(c); /* "no such user" */
			else
				client_close(c, "08P01",
					     "\"trust\" authentication failed");
			return;
		}
		login_done(c);
		return;
	case CFG_AUTH_PLAIN:
		pgp_wr_auth(&c->io.obuf, 3, NULL, 0);
		c->auth_step = AUTH_STEP_PLAIN;
		return;
	case CFG_AUTH_MD5:
		if (c->secret &&
		    auth_secret_kind(c->secret) == AUTH_SECRET_SCRAM) {
			start_scram(c);
			return;
		}
		pool_random(ctx, c->md5_salt, 4);
		pgp_wr_auth(&c->io.obuf, 5, c->md5_salt, 4);
		c->auth_step = AUTH_STEP_MD5;
		return;
	case CFG_AUTH_SCRAM:
		start_scram(c);
		return;
	case CFG_AUTH_PEER:
		start_peer(c);
		return;
	case CFG_AUTH_CERT:
		start_cert(c);
		return;
	case CFG_AUTH_REJECT:
		client_close(c, "08P01", "login rejected");
		return;
	default:
		client_close(
			c, "08P01", "auth_type %s is not supported",
			cfg_auth_type_name((cfg_auth_type_t)c->auth_method));
	}
}

/* ---- auth_query ---- */

/* The pool whose dynamic credentials this login sets: the client's own
 * database and user (not the auth pool), never the console's. */
static pool_t *target_pool(client_t *c)
{
	if (c->handler)
		return NULL;
	pool_db_t *db = pool_db_lookup(c->ctx, c->dbname);
	pool_user_t *u = db ? pool_user_get(c->ctx, c->user) : NULL;
	return u ? pool_get(c->ctx, db, u) : NULL;
}

static const char *db_or_global(const char *db_value, const char *global)
{
	return db_value && *db_value ? db_value : global;
}

/* The auth_user for a login to DB (NULL: the console), or NULL. */
static const char *auth_user_for(client_t *c, const pool_db_t *db)
{
	const char *u =
		db_or_global(db ? db->auth_user : NULL, c->ctx->cfg->auth_user);
	return u && *u ? u : NULL;
}

static void lookup_config_error(client_t *c, const char *fmt, const char *arg)
{
	char msg[512];
	snprintf(msg, sizeof(msg), fmt, arg);
	client_log(c, LOG_WARNING, "%s", msg);
	client_close(c, "08P01", "bouncer config error");
}

/*
 * Start the auth_query for the client's user on a server of the auth
 * pool (auth_user on auth_dbname, or on the client's database). The login
 * continues in client_auth_lookup_done().
 */
static void start_lookup(client_t *c, pool_db_t *db, const char *auth_user)
{
	pgs_ctx_t *ctx = c->ctx;
	const cfg_t *cfg = ctx->cfg;
	const char *adb_name =
		db_or_global(db ? db->auth_dbname : NULL, cfg->auth_dbname);
	if (!adb_name || !*adb_name)
		adb_name = c->dbname;
	if (is_console_db(c->ctx, adb_name)) {
		lookup_config_error(c,
				    "cannot use the reserved \"%s\" database "
				    "as an auth_dbname",
				    adb_name);
		return;
	}
	pool_db_t *adb = pool_db_lookup(ctx, adb_name);
	if (!adb) {
		lookup_config_error(c,
				    "authentication database \"%s\" is not "
				    "configured",
				    adb_name);
		return;
	}
	if (adb->disabled) {
		client_close(c, "08P01",
			     "authentication database \"%s\" is disabled",
			     adb_name);
		return;
	}
	pool_user_t *au = pool_user_get(ctx, auth_user);
	pool_t *ap = au ? pool_get(ctx, adb, au) : NULL;
	if (!ap) {
		client_close(c, "53200", "out of memory");
		return;
	}
	const char *q =
		db_or_global(db ? db->auth_query : NULL, cfg->auth_query);
	free(c->lookup_sql);
	c->lookup_sql = strdup(q ? q : "");
	c->auth_step = AUTH_STEP_QUERY;
	c->pool = ap;
	c->wait_us = ev_now_us(ctx->loop);
	pool_client_state(c, CL_WAITING_AUTH);
	pool_request_auth(c);
}

void client_auth_lookup_done(client_t *c, const client_lookup_t *res)
{
	c->pool = NULL;
	c->lookup_done = true;
	free(c->lookup_sql);
	c->lookup_sql = NULL;
	if (res->error) {
		client_log(c, LOG_WARNING, "auth query failed: %s", res->error);
		client_close(c, "08P01", "bouncer config error");
		return;
	}
	if (res->rows > 1) {
		client_log(c, LOG_WARNING,
			   "auth query returned %d rows for one user",
			   res->rows);
		client_close(c, "08P01", "bouncer config error");
		return;
	}
	if (res->rows == 0) {
		c->lookup_missing = true;
	} else {
		c->user_known = true;
		free(c->secret);
		c->secret = res->secret ? strdup(res->secret) : NULL;
		/* The server logins of this database and user log in with
		 * the freshest secret (PgBouncer's dynamic credentials). */
		pool_t *tp = target_pool(c);
		if (tp)
			pool_set_secret(tp, res->secret);
	}
	start_method(c);
}

/* ---- choosing the method and the secret ---- */

static void begin_auth(client_t *c, pool_db_t *db)
{
	pgs_ctx_t *ctx = c->ctx;
	const cfg_t *cfg = ctx->cfg;

	c->auth_method = cfg->auth_type;
	if (cfg->auth_type == CFG_AUTH_HBA) {
		if (!client_hba_method(c, &c->auth_method))
			return;
	}
	if (c->auth_method == CFG_AUTH_ANY) {
		login_done(c);
		return;
	}
	if (c->auth_method == CFG_AUTH_REJECT) {
		start_method(c);
		return;
	}
	auth_file_t *af = ctx->authfile;
	const char *s = af ? auth_file_lookup(af, c->user) : NULL;
	if (s) {
		c->secret = strdup(s);
		c->user_known = true;
		start_method(c);
		return;
	}
	/* Not in auth_file: ask the database, if we are told how. A
	 * database that does not exist has nothing to ask. */
	const char *au = auth_user_for(c, db);
	if (au && (db || c->handler)) {
		start_lookup(c, db, au);
		return;
	}
	start_method(c);
}

#define OPTIONS_SYNTAX                                                         \
	"unsupported options startup parameter: only '-c config=val' and "     \
	"'--config=val' are allowed"

/* One NAME=VALUE of the options parameter: a tracked variable is kept,
 * an ignored one dropped, anything else refused (PgBouncer's rules and
 * words). */
static bool take_option(client_t *c, char *kv)
{
	const cfg_t *cfg = c->ctx->cfg;
	char *eq = strchr(kv, '=');
	if (!eq || eq == kv) {
		client_close(c, "08P01", OPTIONS_SYNTAX);
		return false;
	}
	*eq = '\0';
	char name[128];
	snprintf(name, sizeof(name), "%s", kv);
	/* PostgreSQL's spelling: a dash in a setting's name is '_'. */
	for (char *p = kv; *p; p++)
		if (*p == '-')
			*p = '_';
	int vi = client_var_index(c, kv);
	if (vi >= 0) {
		istr_put(&c->ctx->istr, c->vars[vi]);
		c->vars[vi] = istr_get(&c->ctx->istr, eq + 1);
		return true;
	}
	if (cfg_list_contains(cfg->ignore_startup_parameters, kv) ||
	    cfg_list_contains(cfg->ignore_startup_parameters, "options"))
		return true;
	client_close(c, "08P01", "unsupported startup parameter in options: %s",
		     name);
	return false;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/*
 * The options startup parameter as PostgreSQL reads it: words split on
 * spaces, a backslash takes the next character literally; each word is
 * "-c NAME=VALUE", "-cNAME=VALUE" or "--NAME=VALUE". A word is as long
 * as the startup packet allows (an ignored value may be kilobytes).
 */
static bool take_options(client_t *c, const char *opts)
{
	char *word = malloc(strlen(opts) + 1);
	if (!word) {
		client_close(c, "53200", "out of memory");
		return false;
	}
	bool want_c = false, ok = true;
	const char *p = opts;
	for (;;) {
		while (is_space(*p))
			p++;
		if (!*p)
			break;
		size_t n = 0;
		while (*p && !is_space(*p)) {
			if (*p == '\\' && p[1])
				p++;
			word[n++] = *p++;
		}
		word[n] = '\0';
		char *kv;
		if (want_c) {
			kv = word;
			want_c = false;
		} else if (strcmp(word, "-c") == 0) {
			want_c = true;
			continue;
		} else if (strncmp(word, "-c", 2) == 0 ||
			   strncmp(word, "--", 2) == 0) {
			kv = word + 2;
		} else {
			client_close(c, "08P01", OPTIONS_SYNTAX);
			ok = false;
			break;
		}
		if (!take_option(c, kv)) {
			ok = false;
			break;
		}
	}
	if (ok && want_c) {
		client_close(c, "08P01", OPTIONS_SYNTAX);
		ok = false;
	}
	free(word);
	return ok;
}

/* replication=database (logical) or a boolean (physical), as
 * PostgreSQL reads it. */
static bool take_replication(client_t *c, const char *v)
{
	static const char *const on[] = {"true", "on", "yes", "1"};
	static const char *const off[] = {"false", "off", "no", "0"};
	if (strcasecmp(v, "database") == 0) {
		c->replication = POOL_REPL_LOGICAL;
		return true;
	}
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, on[i]) == 0) {
			c->replication = POOL_REPL_PHYSICAL;
			return true;
		}
		if (strcasecmp(v, off[i]) == 0) {
			c->replication = POOL_REPL_NONE;
			return true;
		}
	}
	client_close(c, "08P01",
		     "invalid value for parameter \"replication\": \"%s\"", v);
	return false;
}

/* Returns false when the client must be closed for its parameters. */
static bool take_params(client_t *c, const pgp_startup_t *st,
			const char **unsupported, int *nunsup)
{
	const cfg_t *cfg = c->ctx->cfg;
	*nunsup = 0;
	/* First: whether options is checked here depends on it. */
	for (int i = 0; i < st->nparams; i++)
		if (strcmp(st->names[i], "replication") == 0 &&
		    !take_replication(c, st->values[i]))
			return false;
	for (int i = 0; i < st->nparams; i++) {
		const char *n = st->names[i], *v = st->values[i];
		int vi;
		if (strcmp(n, "user") == 0) {
			free(c->user);
			c->user = strndup(v, 127);
		} else if (strcmp(n, "database") == 0) {
			free(c->dbname);
			c->dbname = strndup(v, 63);
		} else if (strcmp(n, "replication") == 0) {
			continue;
		} else if (strcmp(n, "options") == 0 && c->replication) {
			free(c->repl_options);
			c->repl_options = strdup(v);
		} else if (strcmp(n, "options") == 0) {
			if (!take_options(c, v))
				return false;
		} else if ((vi = client_var_index(c, n)) >= 0) {
			istr_put(&c->ctx->istr, c->vars[vi]);
			c->vars[vi] = istr_get(&c->ctx->istr, v);
		} else if (strncmp(n, "_pq_.", 5) == 0) {
			if (*nunsup < 16)
				unsupported[(*nunsup)++] = n;
		} else if (cfg_list_contains(cfg->ignore_startup_parameters,
					     n)) {
			continue;
		} else {
			client_close(c, "08P01",
				     "unsupported startup parameter: %s", n);
			return false;
		}
	}
	if (!c->user || !*c->user) {
		client_close(c, "08P01", "no username supplied");
		return false;
	}
	if (!c->dbname || !*c->dbname) {
		free(c->dbname);
		c->dbname = strdup(c->user);
	}
	if (cfg->application_name_add_host) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "%s - %s:%d",
			 c->vars[VAR_APPNAME] ? c->vars[VAR_APPNAME] : "",
			 c->addr.host, c->addr.port);
		istr_put(&c->ctx->istr, c->vars[VAR_APPNAME]);
		c->vars[VAR_APPNAME] = istr_get(&c->ctx->istr, tmp);
	}
	return true;
}

static void handle_cancel(client_t *c, const pgp_startup_t *st)
{
	uint32_t key = 0;
	if (st->cancel_key_len == 4)
		key = ((uint32_t)st->cancel_key[0] << 24) |
		      ((uint32_t)st->cancel_key[1] << 16) |
		      ((uint32_t)st->cancel_key[2] << 8) | st->cancel_key[3];
	client_t *target = pool_key_find(c->ctx, st->cancel_pid, key);
	/* A peer forwarded it with its TTL lowered: ours had the full one. */
	if (!target && c->ctx->cfg->peer_id > 0)
		target = pool_key_find(c->ctx, st->cancel_pid,
				       peer_key_with_ttl(key, PEER_TTL_MAX));
	if (!target && peer_cancel_forward(c, st->cancel_pid, key))
		return;
	/* PostgreSQL closes a cancel connection without a reply; so does
	 * every outcome here, in PgBouncer's words. */
	if (!target) {
		client_close(c, NULL, "failed cancel request");
		return;
	}
	if (target->handler) {
		client_close(c, NULL, "cancel request for console client");
		return;
	}
	if (!target->pool || !pool_cancel_target(target->pool, target->id)) {
		client_close(c, NULL, "cancel request for idle client");
		return;
	}
	pool_cancel_request(c, target);
}

/* PgBouncer's rule: the OS user pgswitch runs as may always reach the
 * console as "pgbouncer" over the Unix socket, with no password. */
static bool console_peer_access(client_t *c)
{
	uid_t uid;
	if (!c->addr.unix_sock || strcmp(c->user, "pgbouncer") != 0)
		return false;
	if (sock_peer_uid(c->io.fd, &uid) < 0 || uid != geteuid())
		return false;
	if (c->ctx->cfg->log_connections)
		client_log(c, LOG_LOG, "pgbouncer access from unix socket");
	return true;
}

static void set_late_error(client_t *c, const char *sqlstate, const char *msg)
{
	c->late_sqlstate = sqlstate;
	free(c->late_error);
	c->late_error = strdup(msg);
}

static void handle_startup(client_t *c, const uint8_t *p, uint32_t len)
{
	pgs_ctx_t *ctx = c->ctx;
	pgp_startup_t st;
	const char *err;

	if (pgp_parse_startup(p, len, &st, &err) != PGP_OK) {
		client_close(c, "08P01", "%s", err);
		return;
	}
	switch (st.kind) {
	case PGP_SSL_REQUEST:
		client_tls_request(c);
		return;
	case PGP_GSSENC_REQUEST:
		buf_append(&c->io.obuf, "N", 1);
		return;
	case PGP_CANCEL_REQUEST:
		handle_cancel(c, &st);
		return;
	case PGP_STARTUP:
		break;
	}
	const char *unsup[16];
	int nunsup;
	if (!take_params(c, &st, unsup, &nunsup))
		return;
	c->proto_minor = st.minor;
	if (st.minor > 0 || nunsup > 0)
		/* PostgreSQL sends the full version, 3.0 = 196608. */
		pgp_wr_negotiate(&c->io.obuf, PGP_PROTO_MAJOR << 16, unsup,
				 nunsup);
	bool console = is_console_db(ctx, c->dbname);
	/* The console stays open to the end (SHUTDOWN WAIT_FOR_*). A TCP
	 * client accepted before SIGTERM closed the listeners is served: a
	 * rolling restart must not fail the logins in flight. */
	bool in_flight = ctx->shutdown == PGS_SHUTDOWN_WAIT_CLIENTS &&
			 !c->addr.unix_sock;
	if (ctx->shutdown != PGS_RUNNING && !console && !in_flight) {
		client_close(c, "57P01", "pooler is shutting down");
		return;
	}
	if (!client_tls_required_ok(c))
		return;
	/* The console stays reachable when the pooler is full. */
	if (ctx->client_count > ctx->cfg->max_client_conn && !console) {
		client_close(c, "53300",
			     "no more connections allowed (max_client_conn)");
		return;
	}
	pool_db_t *db = NULL;
	if (console) {
		c->handler = ctx->hooks.console;
		if (console_peer_access(c)) {
			c->admin_rw = true;
			login_done(c);
			return;
		}
	} else {
		db = pool_db_lookup(ctx, c->dbname);
		if (!db) {
			char msg[256];
			snprintf(msg, sizeof(msg), "no such database: %s",
				 c->dbname);
			set_late_error(c, "3D000", msg);
		} else if (db->disabled) {
			client_close(c, "08P01", "database \"%s\" is disabled",
				     c->dbname);
			return;
		}
	}
	begin_auth(c, db);
}

/* ---- password messages ---- */

static void sasl_initial(client_t *c, pgp_reader_t *r)
{
	char out[SCRAM_MAX_MESSAGE];
	size_t outlen = 0;
	const char *err = NULL;
	const char *mech = pgp_rd_string(r);
	int32_t dlen = pgp_rd_int32(r);
	if (r->err || dlen < 0 || (size_t)dlen != pgp_rd_left(r)) {
		client_close(c, "08P01", "invalid SASL initial response");
		return;
	}
	scram_status_t st = scram_server_set_mechanism(c->scram, mech, &err);
	const uint8_t *d = pgp_rd_bytes(r, (size_t)dlen);
	if (st == SCRAM_OK)
		st = scram_server_first(c->scram, (const char *)d, (size_t)dlen,
					out, sizeof(out), &outlen, &err);
	if (st != SCRAM_OK) {
		client_close(c, scram_status_sqlstate(st), "%s",
			     err ? err : "malformed SCRAM message");
		return;
	}
	pgp_wr_auth(&c->io.obuf, 11, out, outlen);
	c->auth_step = AUTH_STEP_SASL_CONT;
}

static void sasl_final(client_t *c, const uint8_t *body, uint32_t len)
{
	char out[SCRAM_MAX_MESSAGE];
	size_t outlen = 0;
	const char *err = NULL;
	scram_status_t st =
		scram_server_final(c->scram, (const char *)body, len, out,
				   sizeof(out), &outlen, &err);
	if (st == SCRAM_PROTO || st == SCRAM_CB_FAIL) {
		client_close(c, scram_status_sqlstate(st), "%s",
			     err ? err : "malformed SCRAM message");
		return;
	}
	if (st != SCRAM_OK) {
		if (c->lookup_missing) {
			auth_failed(c);
			return;
		}
		/* PgBouncer's words for a failed exchange; 28P01 as
		 * PostgreSQL, which drivers key on. */
		client_log(c, LOG_ERROR, "password authentication failed");
		client_close(c, "28P01", "SASL authentication failed");
		return;
	}
	pgp_wr_auth(&c->io.obuf, 12, out, outlen);
	/* The keys log the client in to the server too (pass-through):
	 * taken at every login, so a changed password takes effect. A secret
	 * from auth_query is that database's; one from auth_file is the
	 * same for every database. */
	pool_t *tp = c->lookup_done ? target_pool(c) : NULL;
	pool_user_t *u = pool_user_get(c->ctx, c->user);
	if (tp) {
		if (scram_server_keys(c->scram, tp->client_key, tp->server_key))
			tp->has_scram_keys = true;
	} else if (u &&
		   scram_server_keys(c->scram, u->client_key, u->server_key)) {
		u->has_scram_keys = true;
	}
	scram_server_free(c->scram);
	c->scram = NULL;
	login_done(c);
}

static void handle_auth_msg(client_t *c, const pgp_msg_t *m,
			    const uint8_t *body)
{
	pgp_reader_t r;

	if (m->type != 'p') {
		client_close(c, "08P01",
			     "expected password response, got "
			     "message type %d",
			     m->type);
		return;
	}
	pgp_rd_init(&r, body, m->len);
	switch (c->auth_step) {
	case AUTH_STEP_PLAIN: {
		const char *pw = pgp_rd_string(&r);
		if (r.err) {
			client_close(c, "08P01", "invalid password packet");
			return;
		}
		check_password(c, pw);
		return;
	}
	case AUTH_STEP_MD5: {
		const char *resp = pgp_rd_string(&r);
		if (r.err) {
			client_close(c, "08P01", "invalid password packet");
			return;
		}
		const char *stored = c->secret;
		if (stored && auth_secret_kind(stored) == AUTH_SECRET_SCRAM)
			stored = NULL;
		if (auth_md5_verify(stored, c->user, c->md5_salt, resp))
			login_done(c);
		else
			auth_failed(c);
		return;
	}
	case AUTH_STEP_SASL_INIT:
		sasl_initial(c, &r);
		return;
	case AUTH_STEP_SASL_CONT:
		sasl_final(c, body, m->len);
		return;
	default:
		client_close(c, "08P01", "unexpected authentication message");
	}
}

/* Process login-phase input. Returns false when nothing more can be done
 * now. */
bool client_login_process(client_t *c)
{
	conn_io_t *io = &c->io;
	const uint8_t *p = io->rbuf + io->rpos;
	uint32_t avail = io->rlen - io->rpos;

	if (c->auth_step == AUTH_STEP_TLS)
		return client_tls_handshake(c);
	if (c->auth_step == AUTH_STEP_QUERY)
		return false;
	if (c->auth_step == AUTH_STEP_STARTUP) {
		if (avail > 0 && io->rbuf[io->rpos] == TLS_HANDSHAKE_BYTE)
			return client_tls_direct(c);
		uint32_t len;
		pgp_status_t st = pgp_frame_startup(p, avail, &len);
		if (st == PGP_MORE) {
			/* A startup packet may be larger than pkt_buf (a
			 * long options value): the buffer grows for it,
			 * up to PgBouncer's 64 KiB, and shrinks after. */
			if (avail >= 4 && len > io->rcap - io->rpos &&
			    conn_io_reserve(io, len) < 0) {
				client_close(c, "53200", "out of memory");
				return false;
			}
			return false;
		}
		if (st != PGP_OK) {
			client_close(c, "08P01", "bad startup packet");
			return false;
		}
		io->rpos += len;
		handle_startup(c, p, len);
		if (c->state != CL_JUSTFREE)
			conn_io_shrink(io, client_rcap(c->ctx->cfg));
		return true;
	}
	pgp_msg_t m;
	pgp_status_t st = pgp_frame(p, avail, io->rcap - PGP_HDR_LEN, &m);
	if (st == PGP_MORE)
		return false;
	if (st != PGP_OK) {
		client_close(c, "08P01", "bad packet header");
		return false;
	}
	if (avail < m.total)
		return false;
	io->rpos += m.total;
	handle_auth_msg(c, &m, p + PGP_HDR_LEN);
	return true;
}
