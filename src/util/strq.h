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

#endif
