/* SPDX-License-Identifier: MIT */
/*
 * prep.c - the prepared-statement maps: chained hash tables that double
 * as they fill, and an LRU list per server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn/prep.h"

const char *prep_action_str(prep_action_t a)
{
	switch (a) {
	case PREP_FORWARD:
		return "forward";
	case PREP_SKIP:
		return "skip";
	case PREP_FAKE:
		return "fake";
	}
	return "?";
}

/* FNV-1a: names and query texts are short and hashed once per message. */
static uint32_t hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t hash_id(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (uint32_t)id;
}

/* Grow a chained table of NSLOTS (a power of two) when it holds as many
 * entries as slots. NEXT_OFF is where an entry keeps its chain pointer,
 * HASH_OF gives an entry's hash. */
typedef uint32_t (*hash_of_fn)(const void *ent);

static bool grow(void ***slot, uint32_t *nslots, size_t next_off,
		 hash_of_fn hash_of)
{
	uint32_t n = *nslots ? *nslots * 2 : 16;
	void **ns = calloc(n, sizeof(*ns));
	if (!ns)
		return false;
	for (uint32_t i = 0; i < *nslots; i++) {
		void *e = (*slot)[i];
		while (e) {
			void **nextp = (void **)((char *)e + next_off);
			void *next = *nextp;
			uint32_t b = hash_of(e) & (n - 1);
			*nextp = ns[b];
			ns[b] = e;
			e = next;
		}
	}
	free(*slot);
	*slot = ns;
	*nslots = n;
	return true;
}

/* ---- registry ---- */

void prep_registry_init(prep_registry_t *r)
{
	memset(r, 0, sizeof(*r));
}

void prep_registry_free(prep_registry_t *r)
{
	for (uint32_t i = 0; i < r->nslots; i++) {
		prep_stmt_t *st = r->slot[i];
		while (st) {
			prep_stmt_t *next = st->next;
			free(st);
			st = next;
		}
	}
	free(r->slot);
	memset(r, 0, sizeof(*r));
}

static uint32_t stmt_hash(const void *e)
{
	return ((const prep_stmt_t *)e)->hash;
}

prep_stmt_t *prep_intern(prep_registry_t *r, const uint8_t *body, uint32_t len)
{
	uint32_t h = hash_bytes(body, len);
	if (r->nslots) {
		for (prep_stmt_t *st = r->slot[h & (r->nslots - 1)]; st;
		     st = st->next) {
			if (st->hash == h && st->len == len &&
			    memcmp(st->body, body, len) == 0) {
				st->refs++;
				return st;
			}
		}
	}
	if (r->count >= r->nslots &&
	    !grow((void ***)&r->slot, &r->nslots, offsetof(prep_stmt_t, next),
		  stmt_hash))
		return NULL;
	prep_stmt_t *st = malloc(sizeof(*st) + len);
	if (!st)
		return NULL;
	st->id = ++r->next_id;
	st->hash = h;
	st->refs = 1;
	st->len = len;
	memcpy(st->body, body, len);
	uint32_t b = h & (r->nslots - 1);
	st->next = r->slot[b];
	r->slot[b] = st;
	r->count++;
	return st;
}

void prep_ref(prep_stmt_t *st)
{
	st->refs++;
}

void prep_unref(prep_registry_t *r, prep_stmt_t *st)
{
	if (!st || --st->refs > 0)
		return;
	prep_stmt_t **pp = &r->slot[st->hash & (r->nslots - 1)];
	while (*pp && *pp != st)
		pp = &(*pp)->next;
	if (*pp)
		*pp = st->next;
	r->count--;
	free(st);
}

int prep_server_name(const prep_stmt_t *st, char *out, size_t cap)
{
	return snprintf(out, cap, "PGBOUNCER_%llu", (unsigned long long)st->id);
}

/* ---- client names ---- */

prep_client_t *prep_client_new(void)
{
	return calloc(1, sizeof(prep_client_t));
}

void prep_client_clear(prep_registry_t *r, prep_client_t *c)
{
	for (uint32_t i = 0; i < c->nslots; i++) {
		prep_name_t *e = c->slot[i];
		while (e) {
			prep_name_t *next = e->next;
			prep_unref(r, e->stmt);
			free(e);
			e = next;
		}
		c->slot[i] = NULL;
	}
	c->count = 0;
}

void prep_client_free(prep_registry_t *r, prep_client_t *c)
{
	if (!c)
		return;
	prep_client_clear(r, c);
	free(c->slot);
	free(c);
}

static prep_name_t **name_find(const prep_client_t *c, const char *name,
			       uint32_t nlen, uint32_t h)
{
	if (!c->nslots)
		return NULL;
	prep_name_t **pp = &c->slot[h & (c->nslots - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->nlen == nlen &&
		    memcmp((*pp)->name, name, nlen) == 0)
			return pp;
	return NULL;
}

prep_name_t *prep_client_entry(const prep_client_t *c, const char *name,
			       uint32_t nlen)
{
	prep_name_t **pp = name_find(c, name, nlen, hash_bytes(name, nlen));
	return pp ? *pp : NULL;
}

prep_stmt_t *prep_client_get(const prep_client_t *c, const char *name,
			     uint32_t nlen)
{
	prep_name_t *e = prep_client_entry(c, name, nlen);
	return e ? e->stmt : NULL;
}

static uint32_t name_hash(const void *e)
{
	return ((const prep_name_t *)e)->hash;
}

bool prep_client_add(prep_registry_t *r, prep_client_t *c, const char *name,
		     uint32_t nlen, prep_stmt_t *st)
{
	uint32_t h = hash_bytes(name, nlen);
	if (c->count >= c->nslots &&
	    !grow((void ***)&c->slot, &c->nslots, offsetof(prep_name_t, next),
		  name_hash)) {
		prep_unref(r, st);
		return false;
	}
	prep_name_t *e = malloc(sizeof(*e) + nlen + 1);
	if (!e) {
		prep_unref(r, st);
		return false;
	}
	e->stmt = st;
	e->hash = h;
	e->nlen = nlen;
	e->tentative = false;
	memcpy(e->name, name, nlen);
	e->name[nlen] = '\0';
	uint32_t b = h & (c->nslots - 1);
	e->next = c->slot[b];
	c->slot[b] = e;
	c->count++;
	return true;
}

bool prep_client_del(prep_registry_t *r, prep_client_t *c, const char *name,
		     uint32_t nlen, const prep_stmt_t *only)
{
	prep_name_t **pp = name_find(c, name, nlen, hash_bytes(name, nlen));
	if (!pp || (only && (*pp)->stmt != only))
		return false;
	prep_name_t *e = *pp;
	*pp = e->next;
	prep_unref(r, e->stmt);
	free(e);
	c->count--;
	return true;
}

/* ---- server statements ---- */

prep_server_t *prep_server_new(void)
{
	prep_server_t *s = calloc(1, sizeof(*s));
	if (s)
		s->lru.lru_next = s->lru.lru_prev = &s->lru;
	return s;
}

static uint32_t sentry_hash(const void *e)
{
	return hash_id(((const prep_sentry_t *)e)->stmt->id);
}

static prep_sentry_t **sentry_find(const prep_server_t *s,
				   const prep_stmt_t *st)
{
	if (!s->nslots)
		return NULL;
	prep_sentry_t **pp = &s->slot[hash_id(st->id) & (s->nslots - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->stmt == st)
			return pp;
	return NULL;
}

static void lru_unlink(prep_sentry_t *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
}

static void lru_push(prep_server_t *s, prep_sentry_t *e)
{
	e->lru_next = s->lru.lru_next;
	e->lru_prev = &s->lru;
	s->lru.lru_next->lru_prev = e;
	s->lru.lru_next = e;
}

bool prep_server_has(prep_server_t *s, const prep_stmt_t *st)
{
	prep_sentry_t **pp = sentry_find(s, st);
	if (!pp)
		return false;
	lru_unlink(*pp);
	lru_push(s, *pp);
	return true;
}

bool prep_server_add(prep_server_t *s, prep_stmt_t *st)
{
	if (sentry_find(s, st))
		return true;
	if (s->count >= s->nslots &&
	    !grow((void ***)&s->slot, &s->nslots, offsetof(prep_sentry_t, next),
		  sentry_hash))
		return false;
	prep_sentry_t *e = malloc(sizeof(*e));
	if (!e)
		return false;
	e->stmt = st;
	prep_ref(st);
	uint32_t b = hash_id(st->id) & (s->nslots - 1);
	e->next = s->slot[b];
	s->slot[b] = e;
	lru_push(s, e);
	s->count++;
	return true;
}

prep_stmt_t *prep_server_oldest(const prep_server_t *s)
{
	return s->count ? s->lru.lru_prev->stmt : NULL;
}

bool prep_server_take(prep_server_t *s, const prep_stmt_t *st)
{
	prep_sentry_t **pp = sentry_find(s, st);
	if (!pp)
		return false;
	prep_sentry_t *e = *pp;
	*pp = e->next;
	lru_unlink(e);
	free(e);
	s->count--;
	return true;
}

void prep_server_clear(prep_registry_t *r, prep_server_t *s)
{
	while (s->count) {
		prep_stmt_t *st = prep_server_oldest(s);
		prep_server_take(s, st);
		prep_unref(r, st);
	}
}

void prep_server_free(prep_registry_t *r, prep_server_t *s)
{
	if (!s)
		return;
	prep_server_clear(r, s);
	free(s->slot);
	free(s);
}

/* ---- request queue ---- */

bool prep_q_push(prep_queue_t *q, const prep_req_t *req)
{
	if (q->n == q->cap) {
		if (q->cap >= PREP_QUEUE_MAX)
			return false;
		uint32_t ncap = q->cap ? q->cap * 2 : 16;
		prep_req_t *nv = malloc(ncap * sizeof(*nv));
		if (!nv)
			return false;
		for (uint32_t i = 0; i < q->n; i++)
			nv[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = nv;
		q->cap = ncap;
		q->head = 0;
	}
	q->v[(q->head + q->n) % q->cap] = *req;
	q->n++;
	return true;
}

void prep_q_pop(prep_queue_t *q)
{
	if (!q->n)
		return;
	q->head = (q->head + 1) % q->cap;
	q->n--;
}

void prep_q_free(prep_registry_t *r, prep_queue_t *q)
{
	for (uint32_t i = 0; i < q->n; i++) {
		prep_req_t *e = prep_q_at(q, i);
		prep_unref(r, e->stmt);
		free(e->cname);
	}
	free(q->v);
	memset(q, 0, sizeof(*q));
}
