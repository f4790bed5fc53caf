/* SPDX-License-Identifier: MIT */
/* strq.h - quoted strings as SQL and the console write them. */
#ifndef PGSWITCH_STRQ_H
#define PGSWITCH_STRQ_H

#include <stddef.h>

/*
 * Read a string quoted with Q (' or ") at P, where a doubled Q stands for
 * one, into OUT (CAP bytes, NUL-terminated). Returns the position after the
 * closing quote, or NULL if P does not start with Q, the quote is not
 * closed, or the text does not fit.
 */
const char *strq_unquote(const char *p, char q, char *out, size_t cap);

/* S quoted with Q, a Q inside doubled, into OUT (CAP bytes, at least 3);
 * cut short (still closed) if it does not fit. Returns OUT. */
char *strq_quote(const char *s, char q, char *out, size_t cap);

/* Append to the NUL-terminated text in DST (CAP bytes), with "; " before
 * it unless DST is empty; truncated if it does not fit. */
void strq_appendf(char *dst, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
