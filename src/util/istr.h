/* SPDX-License-Identifier: MIT */
/*
 * istr.h - interned, reference-counted strings (PgBouncer's strpool).
 *
 * Session parameters repeat across connections: 10,000 clients with
 * client_encoding UTF8 hold one "UTF8", not 10,000 copies, and two
 * interned strings are equal exactly when their pointers are, so the
 * per-transaction parameter check compares pointers. An entry lives as
 * long as references to it do.
 */
#ifndef PGSWITCH_ISTR_H
#define PGSWITCH_ISTR_H

#include <stddef.h>
#include <stdint.h>

struct istr_ent;

typedef struct istr_table {
	struct istr_ent **tab;
	uint32_t cap; /* power of two, or 0 */
	uint32_t n;   /* distinct live strings */
} istr_table_t;

/* Longest string taken; longer ones are refused (NULL). */
#define ISTR_MAX (64 * 1024)

/* A reference to the interned copy of S, or NULL (out of memory, too
 * long). */
const char *istr_get(istr_table_t *t, const char *s);
/* Another reference to interned S (NULL stays NULL). */
const char *istr_ref(const char *s);
/* Drop a reference (NULL is fine); the last one frees the copy. */
void istr_put(istr_table_t *t, const char *s);
/* Free the table; every reference must be gone. */
void istr_table_free(istr_table_t *t);

#endif
