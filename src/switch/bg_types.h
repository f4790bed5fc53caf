/* SPDX-License-Identifier: MIT */
/* bg_types.h - BLUEGREEN (logical replication) options and states. */
#ifndef PGSWITCH_BG_TYPES_H
#define PGSWITCH_BG_TYPES_H

#include <stdbool.h>

/* One database's blue/green, from PREPARE on. */
typedef enum bg_state {
	BG_CONNECTING,	   /* control connections to both sides */
	BG_PREFLIGHT,	   /* the checks; blockers end it in BG_FAILED */
	BG_COPYING_SCHEMA, /* pg_dump --schema-only | psql, off the loop */
	BG_CREATING,	   /* publication on the old side, subscription */
	BG_SYNCING,	   /* some table not yet in state 'r' */
	BG_READY,	   /* every table streaming (srsubstate 'r') */
	BG_SWITCHED,	   /* the database points at the new side now */
	BG_FAILED,	   /* PREPARE refused or broke; see detail */
	BG_NSTATES
} bg_state_t;

const char *bg_state_name(bg_state_t s);

/* pg_subscription_rel.srsubstate as a word. */
typedef enum bg_relstate {
	BG_REL_UNKNOWN,	 /* not (yet) in pg_subscription_rel */
	BG_REL_INIT,	 /* i */
	BG_REL_COPYING,	 /* d */
	BG_REL_FINISHED, /* f */
	BG_REL_SYNCDONE, /* s */
	BG_REL_READY,	 /* r */
} bg_relstate_t;

const char *bg_relstate_name(bg_relstate_t s);
bg_relstate_t bg_relstate_from(char c);

#define BG_NAME_MAX	  64
#define BG_TABLE_NAME_MAX 130 /* schema.table, both at most NAMEDATALEN */
#define BG_TABLES_MAX	  256

typedef struct bg_opts {
	bool all_tables;
	char tables[4096]; /* "s.t1,s.t2" when not all_tables */
	bool copy_data;
	bool allow_no_key;
	char publication[BG_NAME_MAX]; /* "" = pgswitch_<db> */
	char subscription[BG_NAME_MAX];
} bg_opts_t;

/* A PREPARE's two sides and names, for FINISH. */
typedef struct bg_sides {
	char old_host[256];
	int old_port;
	char new_host[256];
	int new_port;
	char new_extra[1024]; /* the conninfo PREPARE was given */
	char pub[BG_NAME_MAX];
	char sub[BG_NAME_MAX];
} bg_sides_t;

#endif
