/* SPDX-License-Identifier: MIT */
/*
 * cfg.h - pgbouncer.ini-compatible configuration: load, query, SET, free.
 *
 * Interface:
 *   cfg_load()      parse a file (and its %include files) into a new cfg_t
 *   cfg_free()      release a cfg_t (NULL allowed)
 *   cfg_find_db()   look up a [databases] entry (exact name, not the "*")
 *   cfg_find_user() look up a [users] entry
 *   cfg_find_peer() look up a [peers] entry
 *   cfg_set()       admin SET key = value on a live object (reloadable keys)
 *   cfg_show()      enumerate rows for SHOW CONFIG
 *   cfg_diags_*()   diagnostics helpers
 *
 * Nothing here logs or exits: all problems go into cfg_diags_t with
 * file:line, and the caller decides (refuse to start, or keep the old
 * config on RELOAD). Safe to call from any callback; no global state.
 */
#ifndef PGSWITCH_CFG_H
#define PGSWITCH_CFG_H

#include "config/cfg_types.h"

/*
 * Parse PATH. Returns a new cfg_t owned by the caller (free with
 * cfg_free) when there were no errors; NULL when at least one error was
 * found. Warnings (unknown keys, keys accepted but not supported) and
 * errors are appended to DIAGS in any case.
 */
cfg_t *cfg_load(const char *path, cfg_diags_t *diags);

/* Release everything owned by CFG. */
void cfg_free(cfg_t *cfg);

/* Exact lookup, NULL if absent. The "*" entry is found only by name "*". */
const cfg_db_t *cfg_find_db(const cfg_t *cfg, const char *name);
const cfg_user_t *cfg_find_user(const cfg_t *cfg, const char *name);
const cfg_peer_t *cfg_find_peer(const cfg_t *cfg, int id);

/*
 * Point [databases] entry NAME at HOST:PORT (a switchover_state_file
 * overlay), remembering what the file said. Returns -1 if there is no such
 * entry or memory ran out, CFG unchanged.
 */
int cfg_db_set_target(cfg_t *cfg, const char *name, const char *host, int port);

/*
 * Admin "SET key = value" on a live config. Returns 0 on success; -1 with
 * a message in ERR (e.g. unknown key, invalid value, key not changeable
 * online) and CFG unchanged.
 */
int cfg_set(cfg_t *cfg, const char *key, const char *value, char *err,
	    size_t errlen);

/*
 * RELOAD helper: for every key that cannot change online (listen_port,
 * unix_socket_dir, pkt_buf, ...) whose value differs between OLDCFG and
 * the freshly loaded NEWCFG, put the old value back into NEWCFG and add a
 * warning to DIAGS ("restart required"), as PgBouncer ignores such keys
 * on reload. Returns how many keys were kept, -1 if out of memory.
 */
int cfg_keep_fixed(cfg_t *newcfg, const cfg_t *oldcfg, cfg_diags_t *diags);

/*
 * SHOW CONFIG rows, in key-table order. Fills ROW for index I and returns
 * true; false when I is past the end.
 */
bool cfg_show(const cfg_t *cfg, size_t i, cfg_show_row_t *row);

/* Effective values with per-db / per-user overrides applied. */
int cfg_db_pool_size(const cfg_t *cfg, const cfg_db_t *db,
		     const cfg_user_t *user);
cfg_pool_mode_t cfg_pool_mode(const cfg_t *cfg, const cfg_db_t *db,
			      const cfg_user_t *user);

/* Names for logs and SHOW output: "session", "md5", ... */
const char *cfg_pool_mode_name(cfg_pool_mode_t m);
const char *cfg_auth_type_name(cfg_auth_type_t t);

/* True if NAME is in the comma/space separated LIST (case-sensitive). */
bool cfg_list_contains(const char *list, const char *name);

void cfg_diags_init(cfg_diags_t *d);
void cfg_diags_free(cfg_diags_t *d);

#endif
