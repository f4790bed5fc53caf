/* SPDX-License-Identifier: MIT */
/* bg_parse.h - BLUEGREEN's options, names and SQL quoting. */
#ifndef PGSWITCH_BG_PARSE_H
#define PGSWITCH_BG_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "switch/bg_types.h"

/* The publication / subscription name for DB: "pgswitch_<db>", the
 * database name lowercased with anything but [a-z0-9_] as '_'. */
void bg_default_name(const char *db, char *out, size_t cap);
/* OPTS' table list into TABLES (at most MAX, "schema.table", a bare
 * name gets "public."): the count, or -1 with ERR set. */
int bg_split_tables(const char *list, char (*tables)[BG_TABLE_NAME_MAX],
		    int max, char *err, size_t el);
/* S as a SQL string literal ('...', quotes doubled) appended at OUT+*O;
 * false if it does not fit. */
bool bg_lit(char *out, size_t cap, size_t *o, const char *s);
/* "schema.table" as "schema"."table" appended at OUT+*O. */
bool bg_qualified(char *out, size_t cap, size_t *o, const char *st);
/* printf appended at OUT+*O; false if it does not fit. */
bool bg_cat(char *out, size_t cap, size_t *o, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
