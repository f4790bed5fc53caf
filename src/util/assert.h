/* SPDX-License-Identifier: MIT */
/*
 * assert.h - invariants checked in the sanitizer build (PGSWITCH_ASSERTS,
 * CI's ASan/UBSan stage runs the whole suite with them): a broken one
 * aborts with its place, where a release build would go on quietly wrong.
 */
#ifndef PGSWITCH_UTIL_ASSERT_H
#define PGSWITCH_UTIL_ASSERT_H

#ifdef PGSWITCH_ASSERTS
#include <stdio.h>
#include <stdlib.h>
#define PGS_ASSERT(cond, what)                                                 \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: assertion failed: %s (%s)\n",  \
				__FILE__, __LINE__, #cond, (what));            \
			abort();                                               \
		}                                                              \
	} while (0)
#else
#define PGS_ASSERT(cond, what) ((void)0)
#endif

#endif
