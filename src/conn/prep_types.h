/* SPDX-License-Identifier: MIT */
/*
 * prep_types.h - protocol-level prepared statements in transaction and
 * statement pooling (max_prepared_statements).
 *
 * A client's statement names map to interned statements (the Parse body
 * after the name: query text and parameter types), shared by every
 * client that prepared the same text. A server prepares a statement once
 * under the name PGBOUNCER_<id> (PgBouncer's, so tooling that filters on
 * it keeps working) and keeps at most max_prepared_statements of them,
 * evicting the least recently used.
 *
 * Because the pooler answers some client messages itself (a Parse the
 * server already has, a Close) and sends some of its own (a Parse before
 * a Bind on a server that lacks the statement, a Close to evict), each
 * server keeps the requests it owes replies for, in order: a reply from
 * the server completes the request at the head, and answers the pooler
 * owes the client are written when their request reaches the head.
 */
#ifndef PGSWITCH_PREP_TYPES_H
#define PGSWITCH_PREP_TYPES_H

#include <stdbool.h>
#include <stdint.h>

typedef struct prep_stmt {
	struct prep_stmt *next; /* registry chain */
	uint64_t id;
	uint32_t hash;
	uint32_t refs; /* client names, server entries, requests */
	uint32_t len;
	uint8_t body[]; /* query\0, int16 nparams, nparams * int32 oid */
} prep_stmt_t;

/* Every statement any client holds: one per process. */
typedef struct prep_registry {
	prep_stmt_t **slot;
	uint32_t nslots;
	uint32_t count;
	uint64_t next_id;
} prep_registry_t;

typedef struct prep_name {
	struct prep_name *next;
	prep_stmt_t *stmt;
	uint32_t hash;
	uint32_t nlen;
	/* Its Parse was discarded after an earlier error: a new Parse of
	 * the name replaces it, a Bind still finds it. */
	bool tentative;
	char name[];
} prep_name_t;

/* A client's statement names. */
typedef struct prep_client {
	prep_name_t **slot;
	uint32_t nslots;
	uint32_t count;
} prep_client_t;

typedef struct prep_sentry {
	struct prep_sentry *next; /* hash chain */
	struct prep_sentry *lru_prev;
	struct prep_sentry *lru_next;
	prep_stmt_t *stmt;
} prep_sentry_t;

/* The statements prepared on one server; lru.lru_next is the newest. */
typedef struct prep_server {
	prep_sentry_t **slot;
	uint32_t nslots;
	uint32_t count;
	prep_sentry_t lru;
} prep_server_t;

/* What to do with the reply to a request. */
typedef enum prep_action {
	PREP_FORWARD, /* the client's request: its reply goes to the client */
	PREP_SKIP,    /* our own Parse or Close: swallow a success */
	PREP_FAKE,    /* not sent: the pooler writes the success itself */
} prep_action_t;

typedef struct prep_req {
	uint8_t type;	   /* P B D E C S Q F: the request message */
	uint8_t action;	   /* prep_action_t */
	prep_stmt_t *stmt; /* P: prepared by it; C (SKIP): evicted */
	char *cname;	   /* client Parse: its name, undone on failure */
} prep_req_t;

/* Requests whose replies are owed, oldest first (a ring). */
typedef struct prep_queue {
	prep_req_t *v;
	uint32_t head;
	uint32_t n;
	uint32_t cap;
} prep_queue_t;

/* Pipelining deeper than this without reading replies is refused. */
#define PREP_QUEUE_MAX (256u * 1024u)
/* Statement names one client may hold. */
#define PREP_CLIENT_MAX (100u * 1000u)

const char *prep_action_str(prep_action_t a);

#endif
