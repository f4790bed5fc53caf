/* SPDX-License-Identifier: MIT */
#include "util/strq.h"

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
