/* SPDX-License-Identifier: MIT */
#include "util/strq.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *strq_unquote(const char *p, char q, char *out, size_t cap)
{
	size_t n = 0;
	if (*p != q || cap == 0)
		return NULL;
	for (p++; *p; p++) {
		if (*p == q) {
			if (p[1] != q)
				break;
			p++;
		}
		if (n + 1 >= cap)
			return NULL;
		out[n++] = *p;
	}
	if (*p != q)
		return NULL;
	out[n] = 0;
	return p + 1;
}

char *strq_quote(const char *s, char q, char *out, size_t cap)
{
	size_t o = 0;
	if (cap < 3) {
		if (cap)
			out[0] = 0;
		return out;
	}
	out[o++] = q;
	for (const char *p = s; *p && o + 3 < cap; p++) {
		if (*p == q)
			out[o++] = q;
		out[o++] = *p;
	}
	out[o++] = q;
	out[o] = 0;
	return out;
}

void strq_appendf(char *dst, size_t cap, const char *fmt, ...)
{
	size_t off = strlen(dst);
	if (off && off + 2 < cap) {
		memcpy(dst + off, "; ", 3);
		off += 2;
	}
	if (off >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dst + off, cap - off, fmt, ap);
	va_end(ap);
}
