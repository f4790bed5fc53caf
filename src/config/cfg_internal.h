/* SPDX-License-Identifier: MIT */
/*
 * cfg_internal.h - private interface between the config sources:
 *   cfg_keys.c  the [pgbouncer] key table, value parsers and formatters
 *   cfg_load.c  the ini reader (%include, sections, [databases], [users])
 *   cfg.c       free, lookups, precedence helpers, diagnostics
 * Nothing outside src/config should include this.
 */
#ifndef PGSWITCH_CFG_INTERNAL_H
#define PGSWITCH_CFG_INTERNAL_H

#include <stdarg.h>

#include "config/cfg.h"

/* Longest accepted line; longer ones are an error (and skipped). */
#define CFG_MAX_LINE (64 * 1024)
/* Deepest %include nesting, as in libusual (the main file is level 0). */
#define CFG_MAX_INCLUDE 10
/* Diagnostics kept per load; more are counted but not stored. */
#define CFG_MAX_DIAGS 200

typedef enum cfg_ktype {
	CFG_KT_INT,	   /* int field, strtol base 0 like PgBouncer */
	CFG_KT_BOOL,	   /* int field 0/1; also yes/no, on/off, ... */
	CFG_KT_STR,	   /* char * field, never NULL once loaded */
	CFG_KT_TIME,	   /* long field in ms; seconds or with a unit */
	CFG_KT_SIZE,	   /* int field in bytes; kB/MB/GB suffixes */
	CFG_KT_LOOKUP,	   /* int field from a name table */
	CFG_KT_LOOKUP_STR, /* char * field, value checked against a table */
} cfg_ktype_t;

typedef struct cfg_lookup {
	const char *name;
	int value;
} cfg_lookup_t;

/* No cfg_t field: accepted, warned about, kept in cfg->extra_values. */
#define CFG_NO_FIELD (-1L)

typedef struct cfg_key {
	const char *name;
	cfg_ktype_t type;
	const char *def; /* SHOW CONFIG default; parsed at load */
	bool changeable; /* PgBouncer's SHOW CONFIG "changeable" */
	long off;	 /* offsetof(cfg_t, field) or CFG_NO_FIELD */
	long long min, max;
	const cfg_lookup_t *lk;
} cfg_key_t;

extern const cfg_key_t cfg_keys[];
extern const size_t cfg_nkeys;

extern const cfg_lookup_t cfg_pool_mode_lk[];
extern const cfg_lookup_t cfg_chanbind_lk[];

/* Index of KEY (case-insensitive) in cfg_keys, or -1. */
long cfg_key_index(const char *key);

/*
 * Parse VALUE for key IDX and store it in CFG. On failure returns -1 and
 * leaves CFG unchanged, with a reason in ERR ("expected an integer ...");
 * -2 means out of memory.
 */
int cfg_key_set(cfg_t *cfg, size_t idx, const char *value, char *err,
		size_t errlen);

/* Format the current value of key IDX the way SHOW CONFIG prints it. */
void cfg_key_format(const cfg_t *cfg, size_t idx, char *buf, size_t len);

/*
 * After a successful set: a warning worth telling the operator about the
 * value just stored (e.g. an auth_type pgswitch does not implement yet),
 * or NULL.
 */
const char *cfg_key_note(const cfg_t *cfg, size_t idx, const char *value,
			 char *buf, size_t len);

/* Fill every key with its default. -1 on out of memory. */
int cfg_apply_defaults(cfg_t *cfg);

/* Free the strings owned through the key table (and extra_values). */
void cfg_keys_free(cfg_t *cfg);

/* Value parsers shared with the [databases]/[users] parsers. */
int cfg_parse_int(const char *s, long long min, long long max, long long *out);
int cfg_parse_time_ms(const char *s, long max_ms, long *out);
int cfg_lookup_parse(const cfg_lookup_t *lk, const char *s, int *out);

/* Append a diagnostic (printf-style message). Never fails loudly. */
void cfg_diag(cfg_diags_t *d, cfg_sev_t sev, const char *file, int line,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Release the members of one entry (not the entry itself). */
void cfg_db_clear(cfg_db_t *db);
void cfg_user_clear(cfg_user_t *u);
void cfg_peer_clear(cfg_peer_t *p);

#endif
