/* SPDX-License-Identifier: MIT */
/*
 * hba.h - auth_hba_file and auth_ident_file: a pure parser and matcher.
 *
 * Interface:
 *   hba_load / hba_parse          an hba file into rules, with diagnostics
 *   hba_match                     first matching rule for a connection
 *   hba_conn_set_addr             fill hba_conn_t's address from a sockaddr
 *   hba_ident_load / _parse       an ident map file
 *   hba_ident_ok                  may SYSTEM-USER log in as PG-USER via MAP
 *   hba_diags_*                   the located diagnostics of the loaders
 *
 * The accepted syntax is what PgBouncer 1.25 accepts (the header comment
 * of hba.c lists where we differ and why). Like PgBouncer, a malformed line
 * is skipped and the rest of the file still applies; each skipped line is
 * an HBA_SEV_ERROR diagnostic with file:line, and the caller decides
 * whether errors fail a (re)load. No I/O except reading the files named,
 * no logging, no globals: everything may be called from any context.
 */
#ifndef PGSWITCH_HBA_H
#define PGSWITCH_HBA_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/hba_types.h"

struct sockaddr;

/* "trust", "reject", "md5", "password", "scram-sha-256", "cert", ... */
const char *hba_method_name(hba_method_t m);
/* "local", "host", "hostssl", "hostnossl". */
const char *hba_type_name(hba_type_t t);
/* "warning", "error". */
const char *hba_sev_name(hba_sev_t s);

/* Free the diagnostics' contents; D is an empty list afterwards. */
void hba_diags_free(hba_diags_t *d);

/*
 * Load the hba file at PATH. Relative @file names are resolved against
 * PATH's directory. IDENT (may be NULL) is where map=NAME options must
 * name an existing map, as PgBouncer requires; it is only read here, not
 * referenced afterwards. Diagnostics are appended to DIAGS (may be NULL).
 *
 * Returns the rules (caller frees with hba_free), or NULL if the file
 * cannot be read or is over HBA_MAX_FILE_SIZE, or on out of memory, with
 * an error diagnostic. PgBouncer then rejects every login, even on a
 * reload that had working rules; passing NULL to hba_match does the same.
 */
hba_t *hba_load(const char *path, const hba_ident_t *ident, hba_diags_t *diags)
	__attribute__((warn_unused_result));

/*
 * hba_load from memory: TEXT[0..LEN) (no NUL needed) named FILENAME in
 * rules and diagnostics. @file includes are read with READER, or from
 * disk if READER is NULL.
 */
hba_t *hba_parse(const char *text, size_t len, const char *filename,
		 const hba_ident_t *ident, const hba_reader_t *reader,
		 hba_diags_t *diags) __attribute__((warn_unused_result));

void hba_free(hba_t *hba);

/* Number of rules kept, and rule I of them (NULL past the end), in file
 * order; valid until hba_free. For listing rules, e.g. in the console. */
size_t hba_rule_count(const hba_t *hba);
const hba_rule_t *hba_rule_at(const hba_t *hba, size_t i);

/*
 * The method of the first rule that matches IN, and that rule in
 * *RULE_OUT (may be NULL; valid until hba_free). No matching rule, or a
 * NULL HBA, gives HBA_REJECT with *RULE_OUT = NULL: PgBouncer then says
 * "no authentication method is found" instead of "login rejected".
 *
 * Address families are compared as given, as PostgreSQL does: an IPv4
 * rule never matches an IPv6 connection, not even ::ffff:a.b.c.d.
 * Methods are returned whatever the connection, e.g. peer for a TCP
 * client or cert without TLS: the caller refuses those, as PgBouncer does
 * at login.
 */
hba_method_t hba_match(const hba_t *hba, const hba_conn_t *in,
		       const hba_rule_t **rule_out);

/*
 * Set IN's is_unix, family and addr from SA (AF_INET, AF_INET6, AF_UNIX;
 * IPv4-mapped IPv6 addresses stay IPv6). False for another family.
 */
bool hba_conn_set_addr(hba_conn_t *in, const struct sockaddr *sa);

/*
 * Load an ident map file: "MAPNAME SYSTEM-USERNAME PG-USERNAME" lines.
 * FLAGS: HBA_IDENT_REGEX makes a system user name starting with "/" (quoted
 * or not, so it may hold a comma) a POSIX extended regex, with \1 in
 * PG-USERNAME replaced by its first capture (PostgreSQL's rule). Patterns
 * that make glibc's regex blow up are refused (hba_ident.c says which).
 * Without the flag such a name is compared literally, as PgBouncer 1.25
 * does (a warning says so). Returns NULL (with an error
 * diagnostic) if the file cannot be read; caller frees with
 * hba_ident_free.
 */
hba_ident_t *hba_ident_load(const char *path, unsigned flags,
			    hba_diags_t *diags)
	__attribute__((warn_unused_result));
hba_ident_t *hba_ident_parse(const char *text, size_t len, const char *filename,
			     unsigned flags, hba_diags_t *diags)
	__attribute__((warn_unused_result));
void hba_ident_free(hba_ident_t *ident);

/* Whether IDENT defines MAP at all. */
bool hba_ident_has_map(const hba_ident_t *ident, const char *map);

/*
 * Whether map MAP lets SYSTEM_USER (peer's OS user, cert's CN) log in as
 * PG_USER: some line of MAP has that system user and PG_USER or "all".
 * Names are case-sensitive. False for a NULL IDENT.
 */
bool hba_ident_ok(const hba_ident_t *ident, const char *map,
		  const char *system_user, const char *pg_user);

#endif
