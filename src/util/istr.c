/* SPDX-License-Identifier: MIT */
#include "util/istr.h"

#include <stdlib.h>
#include <string.h>

typedef struct istr_ent {
	struct istr_ent *next;
	uint32_t hash;
	uint32_t refs;
	char s[];
} istr_ent_t;

static istr_ent_t *ent_of(const char *s)
{
	return (istr_ent_t *)(void *)(s - offsetof(istr_ent_t, s));
}

/* FNV-1a: the strings are short. */
static uint32_t hash_of(const char *s, size_t *len)
{
	uint32_t h = 2166136261u;
	const char *p = s;
	for (; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	*len = (size_t)(p - s);
	return h;
}

static int grow(istr_table_t *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : 64;
	istr_ent_t **tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return -1;
	for (uint32_t i = 0; i < t->cap; i++) {
		istr_ent_t *e = t->tab[i], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = tab[e->hash & (cap - 1)];
			tab[e->hash & (cap - 1)] = e;
		}
	}
	free(t->tab);
	t->tab = tab;
	t->cap = cap;
	return 0;
}

const char *istr_get(istr_table_t *t, const char *s)
{
	size_t len;
	uint32_t h = hash_of(s, &len);
	if (len > ISTR_MAX)
		return NULL;
	if (t->cap) {
		for (istr_ent_t *e = t->tab[h & (t->cap - 1)]; e; e = e->next)
			if (e->hash == h && strcmp(e->s, s) == 0) {
				e->refs++;
				return e->s;
			}
	}
	if (t->n >= t->cap && grow(t) < 0)
		return NULL;
	istr_ent_t *e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->s, s, len + 1);
	e->hash = h;
	e->refs = 1;
	e->next = t->tab[h & (t->cap - 1)];
	t->tab[h & (t->cap - 1)] = e;
	t->n++;
	return e->s;
}

const char *istr_ref(const char *s)
{
	if (s)
		ent_of(s)->refs++;
	return s;
}

void istr_put(istr_table_t *t, const char *s)
{
	if (!s)
		return;
	istr_ent_t *e = ent_of(s);
	if (--e->refs > 0)
		return;
	istr_ent_t **pp = &t->tab[e->hash & (t->cap - 1)];
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	t->n--;
	free(e);
}

void istr_table_free(istr_table_t *t)
{
	for (uint32_t i = 0; i < t->cap; i++) {
		istr_ent_t *e = t->tab[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(t->tab);
	t->tab = NULL;
	t->cap = t->n = 0;
}
