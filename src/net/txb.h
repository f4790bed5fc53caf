/* SPDX-License-Identifier: MIT */
/*
 * txb.h - send to many sockets in one system call (io_uring).
 *
 * A pooler is a hub: every transaction crosses it twice, and each send()
 * wakes a backend or a client that may take the CPU from us on the way
 * out of the system call. One io_uring_enter() per loop turn wakes them
 * all at once and returns to us once. Never logs; where io_uring is not
 * available (old kernel, a seccomp profile that blocks it) create fails
 * and the caller keeps using send().
 */
#ifndef PGSWITCH_TXB_H
#define PGSWITCH_TXB_H

#include <stddef.h>

typedef struct net_txb net_txb_t;

typedef struct net_txb_item {
	int fd;
	const void *buf;
	size_t len;
} net_txb_item_t;

/* Ring for up to DEPTH sends per batch; NULL with errno on failure. */
net_txb_t *net_txb_create(unsigned depth);
void net_txb_destroy(net_txb_t *t);
/* Most items one net_txb_send() takes. */
unsigned net_txb_depth(const net_txb_t *t);
/* Send each item once, non-blocking (MSG_DONTWAIT | MSG_NOSIGNAL):
 * RES[i] is the bytes sent or -errno (-EAGAIN: socket buffer full), or
 * -ECANCELED when the item was never handed to the kernel: the caller
 * sends that one itself. Returns 0, or -EIO when the ring failed and
 * must not be used again (RES is still valid per item), or -EINVAL when
 * N exceeds the depth (nothing attempted). */
int net_txb_send(net_txb_t *t, const net_txb_item_t *items, unsigned n,
		 long *res);

#endif
