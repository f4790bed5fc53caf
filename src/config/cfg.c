/* SPDX-License-Identifier: MIT */
/*
 * cfg.c - lifetime of a cfg_t, lookups, effective per-db/per-user values
 * and diagnostics. The parser lives in cfg_load.c, the [pgbouncer] key
 * table in cfg_keys.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg_internal.h"

void cfg_diags_init(cfg_diags_t *d)
{
	if (d)
		memset(d, 0, sizeof(*d));
}

void cfg_diags_free(cfg_diags_t *d)
{
	if (!d)
		return;
	free(d->items);
	memset(d, 0, sizeof(*d));
}

void cfg_diag(cfg_diags_t *d, cfg_sev_t sev, const char *file, int line,
	      const char *fmt, ...)
{
	cfg_diag_item_t *it, *grown;
	size_t cap;
	va_list ap;

	if (!d)
		return;
	if (sev == CFG_ERROR)
		d->nerrors++;
	/* A garbage file must not make us collect megabytes of complaints. */
	if (d->n >= CFG_MAX_DIAGS)
		return;
	if (d->n == d->cap) {
		cap = d->cap ? d->cap * 2 : 16;
		grown = realloc(d->items, cap * sizeof(*grown));
		if (!grown)
			return; /* still counted in nerrors */
		d->items = grown;
		d->cap = cap;
	}
	it = &d->items[d->n++];
	it->sev = sev;
	it->line = line;
	snprintf(it->file, sizeof(it->file), "%s", file ? file : "");
	if (d->n == CFG_MAX_DIAGS) {
		snprintf(it->msg, sizeof(it->msg),
			 "too many problems, the rest are not shown");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(it->msg, sizeof(it->msg), fmt, ap);
	va_end(ap);
}

void cfg_db_clear(cfg_db_t *db)
{
	free(db->name);
	free(db->connstr);
	free(db->host);
	free(db->dbname);
	free(db->user);
	free(db->password);
	free(db->auth_user);
	free(db->auth_query);
	free(db->auth_dbname);
	free(db->connect_query);
	free(db->client_encoding);
	free(db->datestyle);
	free(db->timezone);
	free(db->application_name);
	free(db->file);
	free(db->file_host);
	memset(db, 0, sizeof(*db));
}

void cfg_user_clear(cfg_user_t *u)
{
	free(u->name);
	free(u->file);
	memset(u, 0, sizeof(*u));
}

void cfg_peer_clear(cfg_peer_t *p)
{
	free(p->host);
	free(p->file);
	memset(p, 0, sizeof(*p));
}

void cfg_free(cfg_t *cfg)
{
	size_t i;

	if (!cfg)
		return;
	cfg_keys_free(cfg);
	for (i = 0; i < cfg->ndbs; i++)
		cfg_db_clear(&cfg->dbs[i]);
	free(cfg->dbs);
	for (i = 0; i < cfg->nusers; i++)
		cfg_user_clear(&cfg->users[i]);
	free(cfg->users);
	for (i = 0; i < cfg->npeers; i++)
		cfg_peer_clear(&cfg->peers[i]);
	free(cfg->peers);
	free(cfg);
}

int cfg_db_set_target(cfg_t *cfg, const char *name, const char *host, int port)
{
	cfg_db_t *e = NULL;
	for (size_t i = 0; i < cfg->ndbs && !e; i++)
		if (strcmp(cfg->dbs[i].name, name) == 0)
			e = &cfg->dbs[i];
	if (!e)
		return -1;
	char *h = strdup(host);
	if (!h)
		return -1;
	if (!e->overlaid) {
		e->file_host = e->host;
		e->file_port = e->port;
		e->overlaid = true;
	} else {
		free(e->host);
	}
	e->host = h;
	e->port = port;
	return 0;
}

const cfg_db_t *cfg_find_db(const cfg_t *cfg, const char *name)
{
	size_t i;

	if (!cfg || !name)
		return NULL;
	/* Database names are case-sensitive, as in PgBouncer. */
	for (i = 0; i < cfg->ndbs; i++) {
		if (strcmp(cfg->dbs[i].name, name) == 0)
			return &cfg->dbs[i];
	}
	return NULL;
}

const cfg_user_t *cfg_find_user(const cfg_t *cfg, const char *name)
{
	size_t i;

	if (!cfg || !name)
		return NULL;
	for (i = 0; i < cfg->nusers; i++) {
		if (strcmp(cfg->users[i].name, name) == 0)
			return &cfg->users[i];
	}
	return NULL;
}

/*
 * PgBouncer's documented order: a [users] setting beats the [databases]
 * one, which beats the global default.
 */
int cfg_db_pool_size(const cfg_t *cfg, const cfg_db_t *db,
		     const cfg_user_t *user)
{
	if (user && user->pool_size >= 0)
		return user->pool_size;
	if (db && db->pool_size >= 0)
		return db->pool_size;
	return cfg ? cfg->default_pool_size : 20;
}

cfg_pool_mode_t cfg_pool_mode(const cfg_t *cfg, const cfg_db_t *db,
			      const cfg_user_t *user)
{
	if (user && user->pool_mode != CFG_POOL_UNSET)
		return user->pool_mode;
	if (db && db->pool_mode != CFG_POOL_UNSET)
		return db->pool_mode;
	return cfg ? (cfg_pool_mode_t)cfg->pool_mode : CFG_POOL_SESSION;
}

bool cfg_list_contains(const char *list, const char *name)
{
	const char *p, *start;
	size_t n;

	if (!list || !name || !*name)
		return false;
	n = strlen(name);
	p = list;
	for (;;) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return false;
		start = p;
		while (*p && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if ((size_t)(p - start) == n && memcmp(start, name, n) == 0)
			return true;
	}
}

const cfg_peer_t *cfg_find_peer(const cfg_t *cfg, int id)
{
	for (size_t i = 0; cfg && i < cfg->npeers; i++) {
		if (cfg->peers[i].id == id)
			return &cfg->peers[i];
	}
	return NULL;
}
