/* SPDX-License-Identifier: MIT */
/* sw_parse.h - parsing for the SWITCHOVER command. */
#ifndef PGSWITCH_SW_PARSE_H
#define PGSWITCH_SW_PARSE_H

#include <stddef.h>

#include "pool/pool_types.h"
#include "switch/sw_types.h"

/* The next identifier-like word at P into OUT; NULL if none. */
const char *sw_word(const char *p, char *out, size_t cap);
/* The options a SWITCHOVER has without WITH. */
void sw_opts_default(sw_opts_t *o);
/* One WITH option K = V into ARG; false with ERR set. */
typedef bool (*sw_opt_fn)(void *arg, const char *k, const char *v, char *err,
			  size_t el);
#define SW_OPT_VALUE_MAX 4096
/* "WITH (k = 'v' | word, ...)" (or nothing), each option given to SET. */
bool sw_parse_opts(const char *p, sw_opt_fn set, void *arg, char *err,
		   size_t el);
/* "WITH (k = 'v', ...)" (or nothing) into O; false with ERR set. */
bool sw_parse_with(const char *p, sw_opts_t *o, char *err, size_t el);
/* host= and port= out of a conninfo string (keyword form). */
void sw_conninfo_target(const char *ci, char *host, size_t hcap, int *port);
/* Conninfo for a control connection to HOST:PORT: the database's forced
 * user, else its first pool's user, with a plain password from
 * userlist.txt; EXTRA (the operator's conninfo) is appended. */
void sw_control_conninfo(pgs_ctx_t *ctx, pool_db_t *db, const char *host,
			 int port, const char *extra, char *out, size_t cap);

#endif
