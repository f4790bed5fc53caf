/* SPDX-License-Identifier: MIT */
/*
 * prep.h - the prepared-statement maps (see prep_types.h): pure data
 * structures, no I/O. Functions that allocate return false / NULL when
 * memory runs out; nothing here logs.
 */
#ifndef PGSWITCH_PREP_H
#define PGSWITCH_PREP_H

#include <stddef.h>

#include "conn/prep_types.h"

/* Registry. prep_intern returns the statement with one more reference. */
void prep_registry_init(prep_registry_t *r);
void prep_registry_free(prep_registry_t *r);
prep_stmt_t *prep_intern(prep_registry_t *r, const uint8_t *body, uint32_t len);
void prep_ref(prep_stmt_t *st);
void prep_unref(prep_registry_t *r, prep_stmt_t *st);
/* The server-side name, "PGBOUNCER_<id>"; returns its length. */
int prep_server_name(const prep_stmt_t *st, char *out, size_t cap);

/* Client names. add takes over the caller's reference; false: no memory
 * (the reference is dropped). */
prep_client_t *prep_client_new(void);
void prep_client_free(prep_registry_t *r, prep_client_t *c);
prep_stmt_t *prep_client_get(const prep_client_t *c, const char *name,
			     uint32_t nlen);
prep_name_t *prep_client_entry(const prep_client_t *c, const char *name,
			       uint32_t nlen);
bool prep_client_add(prep_registry_t *r, prep_client_t *c, const char *name,
		     uint32_t nlen, prep_stmt_t *st);
/* Remove NAME; with ONLY set, only while it still names that statement. */
bool prep_client_del(prep_registry_t *r, prep_client_t *c, const char *name,
		     uint32_t nlen, const prep_stmt_t *only);
void prep_client_clear(prep_registry_t *r, prep_client_t *c);

/* Server statements. has() marks the statement the most recently used. */
prep_server_t *prep_server_new(void);
void prep_server_free(prep_registry_t *r, prep_server_t *s);
bool prep_server_has(prep_server_t *s, const prep_stmt_t *st);
bool prep_server_add(prep_server_t *s, prep_stmt_t *st); /* takes a ref */
/* The least recently used statement, or NULL. */
prep_stmt_t *prep_server_oldest(const prep_server_t *s);
/* Remove ST; its reference goes to the caller (returns false when ST
 * was not there). */
bool prep_server_take(prep_server_t *s, const prep_stmt_t *st);
void prep_server_clear(prep_registry_t *r, prep_server_t *s);

/* Request queue. push takes over REQ's references; false: full. */
bool prep_q_push(prep_queue_t *q, const prep_req_t *req);
static inline prep_req_t *prep_q_head(prep_queue_t *q)
{
	return q->n ? &q->v[q->head] : NULL;
}
/* The I-th request after the head. */
static inline prep_req_t *prep_q_at(prep_queue_t *q, uint32_t i)
{
	return &q->v[(q->head + i) % q->cap];
}
/* Drop the head; its references go to the caller. */
void prep_q_pop(prep_queue_t *q);
/* Release every request's references and the ring. */
void prep_q_free(prep_registry_t *r, prep_queue_t *q);

#endif
