/* SPDX-License-Identifier: MIT */
/*
 * ev.h - a small epoll event loop with one-shot timers (after Redis `ae`).
 *
 * Readiness is level-triggered; a handler is (fd, mask, callback, data).
 * Setting the same mask again is free (no syscall), so callers can state
 * what they want without tracking what is registered.
 * Timers are few (janitor, switchover deadlines, console waits): a plain
 * array is scanned, no heap needed.
 * An after-iteration hook runs once per loop turn: objects closed during
 * the turn are freed there, never inside a callback a lower frame uses.
 */
#ifndef PGSWITCH_EV_H
#define PGSWITCH_EV_H

#include <stdint.h>

#define EV_READ	 1
#define EV_WRITE 2

typedef struct ev_loop ev_loop_t;
typedef void (*ev_io_cb)(ev_loop_t *loop, int fd, void *data, int mask);
typedef void (*ev_timer_cb)(ev_loop_t *loop, void *data);
typedef void (*ev_hook_cb)(ev_loop_t *loop, void *data);

/* NULL on failure. */
ev_loop_t *ev_create(void);
void ev_destroy(ev_loop_t *loop);

/* Register / change the wanted mask for FD (0 = none, keeps it known).
 * Returns -1 with errno on failure. */
int ev_io_set(ev_loop_t *loop, int fd, int mask, ev_io_cb cb, void *data);
/* Change only the mask of a registered fd. */
int ev_io_mask(ev_loop_t *loop, int fd, int mask);
/* Forget FD (call before close). */
void ev_io_del(ev_loop_t *loop, int fd);
/* As ev_io_del for an fd about to be closed: close() takes it out of the
 * epoll set, so no epoll_ctl call is spent. */
void ev_io_forget(ev_loop_t *loop, int fd);

/* One-shot timer after MS milliseconds; returns an id > 0, 0 on failure. */
uint64_t ev_timer_add(ev_loop_t *loop, long ms, ev_timer_cb cb, void *data);
void ev_timer_del(ev_loop_t *loop, uint64_t id);

void ev_set_after_iter(ev_loop_t *loop, ev_hook_cb cb, void *data);

/* Cached monotonic clock, refreshed every iteration. */
int64_t ev_now_us(ev_loop_t *loop);
/* How many times the loop has waited: what a callback sees in two
 * consecutive turns tells a backlog from a steady trickle. */
uint64_t ev_turn(ev_loop_t *loop);
int64_t ev_time_us(void); /* uncached */

void ev_run(ev_loop_t *loop);
void ev_stop(ev_loop_t *loop);

#endif
