/* SPDX-License-Identifier: MIT */
/*
 * list.h - intrusive circular doubly linked list, plus a counted variant.
 *
 * Every pooled object lives on exactly one state list (PgBouncer's
 * StatList idea), so SHOW counts are O(1) and a state change is an O(1)
 * unlink + append.
 */
#ifndef PGSWITCH_LIST_H
#define PGSWITCH_LIST_H

#include <stddef.h>

typedef struct list_node {
	struct list_node *next, *prev;
} list_node_t;

typedef struct statlist {
	list_node_t head;
	int count;
} statlist_t;

#define list_entry(ptr, type, member)                                          \
	((type *)((char *)(ptr)-offsetof(type, member)))

static inline void list_init(list_node_t *h)
{
	h->next = h->prev = h;
}

static inline int list_empty(const list_node_t *h)
{
	return h->next == h;
}

static inline void list_append(list_node_t *h, list_node_t *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void list_prepend(list_node_t *h, list_node_t *n)
{
	n->next = h->next;
	n->prev = h;
	h->next->prev = n;
	h->next = n;
}

static inline void list_del(list_node_t *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

static inline void statlist_init(statlist_t *l)
{
	list_init(&l->head);
	l->count = 0;
}

static inline void statlist_append(statlist_t *l, list_node_t *n)
{
	list_append(&l->head, n);
	l->count++;
}

static inline void statlist_prepend(statlist_t *l, list_node_t *n)
{
	list_prepend(&l->head, n);
	l->count++;
}

static inline void statlist_remove(statlist_t *l, list_node_t *n)
{
	list_del(n);
	l->count--;
}

static inline list_node_t *statlist_first(const statlist_t *l)
{
	return list_empty(&l->head) ? NULL : l->head.next;
}

/* Iterate allowing removal of the current node. */
#define statlist_for_each_safe(pos, tmp, l)                                    \
	for ((pos) = (l)->head.next, (tmp) = (pos)->next; (pos) != &(l)->head; \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif
