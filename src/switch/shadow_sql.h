/* SPDX-License-Identifier: MIT */
/* shadow_sql.h - the shadow reads' read-only test of a statement. */
#ifndef PGSWITCH_SHADOW_SQL_H
#define PGSWITCH_SHADOW_SQL_H

#include <stdbool.h>
#include <stddef.h>

/* SQL (LEN bytes) is one statement that starts as a read (SELECT, WITH,
 * VALUES, TABLE, after whitespace and comments) and names nothing that
 * writes, takes locks or sleeps. */
bool shadow_looks_read_only(const char *sql, size_t len);

#endif
