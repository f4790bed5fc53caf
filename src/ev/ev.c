/* SPDX-License-Identifier: MIT */
#include "ev/ev.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define EV_BATCH 256

typedef struct ev_fd {
	ev_io_cb cb;
	void *data;
	int mask;     /* wanted */
	bool known;   /* registered with epoll */
	uint32_t gen; /* bumps on del: stale events in a batch are skipped */
} ev_fd_t;

typedef struct ev_timer {
	uint64_t id;
	int64_t when_us;
	ev_timer_cb cb;
	void *data;
} ev_timer_t;

struct ev_loop {
	int epfd;
	ev_fd_t *fds;
	int nfds;
	ev_timer_t *timers;
	int ntimers, captimers;
	uint64_t next_timer_id;
	ev_hook_cb after_iter;
	void *after_iter_data;
	int64_t now_us;
	uint64_t turn;
	bool stop;
};

int64_t ev_time_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

ev_loop_t *ev_create(void)
{
	ev_loop_t *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	l->now_us = ev_time_us();
	return l;
}

void ev_destroy(ev_loop_t *l)
{
	if (!l)
		return;
	close(l->epfd);
	free(l->fds);
	free(l->timers);
	free(l);
}

static int grow_fds(ev_loop_t *l, int fd)
{
	if (fd < l->nfds)
		return 0;
	int n = l->nfds ? l->nfds : 1024;
	while (n <= fd)
		n *= 2;
	ev_fd_t *p = realloc(l->fds, sizeof(*p) * (size_t)n);
	if (!p)
		return -1;
	memset(p + l->nfds, 0, sizeof(*p) * (size_t)(n - l->nfds));
	l->fds = p;
	l->nfds = n;
	return 0;
}

static uint32_t to_epoll(int mask)
{
	return (mask & EV_READ ? EPOLLIN : 0) |
	       (mask & EV_WRITE ? EPOLLOUT : 0);
}

int ev_io_set(ev_loop_t *l, int fd, int mask, ev_io_cb cb, void *data)
{
	if (fd < 0 || grow_fds(l, fd) < 0)
		return -1;
	ev_fd_t *f = &l->fds[fd];
	f->cb = cb;
	f->data = data;
	if (f->known && f->mask == mask)
		return 0;
	struct epoll_event ee = {.events = to_epoll(mask), .data.fd = fd};
	if (epoll_ctl(l->epfd, f->known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd,
		      &ee) < 0)
		return -1;
	f->known = true;
	f->mask = mask;
	return 0;
}

int ev_io_mask(ev_loop_t *l, int fd, int mask)
{
	if (fd < 0 || fd >= l->nfds || !l->fds[fd].known)
		return -1;
	ev_fd_t *f = &l->fds[fd];
	if (f->mask == mask)
		return 0;
	struct epoll_event ee = {.events = to_epoll(mask), .data.fd = fd};
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ee) < 0)
		return -1;
	f->mask = mask;
	return 0;
}

static void forget(ev_loop_t *l, int fd, bool ctl)
{
	if (fd < 0 || fd >= l->nfds || !l->fds[fd].known)
		return;
	if (ctl)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	ev_fd_t *f = &l->fds[fd];
	f->known = false;
	f->mask = 0;
	f->cb = NULL;
	f->data = NULL;
	f->gen++;
}

void ev_io_del(ev_loop_t *l, int fd)
{
	forget(l, fd, true);
}

void ev_io_forget(ev_loop_t *l, int fd)
{
	forget(l, fd, false);
}

uint64_t ev_timer_add(ev_loop_t *l, long ms, ev_timer_cb cb, void *data)
{
	if (l->ntimers == l->captimers) {
		int n = l->captimers ? l->captimers * 2 : 16;
		ev_timer_t *p = realloc(l->timers, sizeof(*p) * (size_t)n);
		if (!p)
			return 0;
		l->timers = p;
		l->captimers = n;
	}
	ev_timer_t *t = &l->timers[l->ntimers++];
	t->id = ++l->next_timer_id;
	t->when_us = ev_time_us() + (int64_t)ms * 1000;
	t->cb = cb;
	t->data = data;
	return t->id;
}

void ev_timer_del(ev_loop_t *l, uint64_t id)
{
	for (int i = 0; i < l->ntimers; i++) {
		if (l->timers[i].id == id) {
			l->timers[i] = l->timers[--l->ntimers];
			return;
		}
	}
}

void ev_set_after_iter(ev_loop_t *l, ev_hook_cb cb, void *data)
{
	l->after_iter = cb;
	l->after_iter_data = data;
}

int64_t ev_now_us(ev_loop_t *l)
{
	return l->now_us;
}

uint64_t ev_turn(ev_loop_t *l)
{
	return l->turn;
}

void ev_stop(ev_loop_t *l)
{
	l->stop = true;
}

static int next_timeout_ms(ev_loop_t *l)
{
	if (l->ntimers == 0)
		return 1000;
	int64_t first = l->timers[0].when_us;
	for (int i = 1; i < l->ntimers; i++)
		if (l->timers[i].when_us < first)
			first = l->timers[i].when_us;
	int64_t d = first - ev_time_us();
	if (d <= 0)
		return 0;
	return (int)((d + 999) / 1000);
}

static void run_timers(ev_loop_t *l)
{
	/* A callback may add or delete timers: restart the scan each time. */
	for (;;) {
		int64_t now = ev_time_us();
		int i;
		for (i = 0; i < l->ntimers; i++)
			if (l->timers[i].when_us <= now)
				break;
		if (i == l->ntimers)
			return;
		ev_timer_t t = l->timers[i];
		l->timers[i] = l->timers[--l->ntimers];
		t.cb(l, t.data);
	}
}

void ev_run(ev_loop_t *l)
{
	struct epoll_event evs[EV_BATCH];
	uint32_t gens[EV_BATCH];

	while (!l->stop) {
		int n = epoll_wait(l->epfd, evs, EV_BATCH, next_timeout_ms(l));
		l->now_us = ev_time_us();
		l->turn++;
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			gens[i] = fd < l->nfds ? l->fds[fd].gen : 0;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd >= l->nfds)
				continue;
			ev_fd_t *f = &l->fds[fd];
			/* Skip events for an fd closed (and maybe reused) by
			 * an earlier callback of this batch. */
			if (!f->known || f->gen != gens[i] || !f->cb)
				continue;
			int mask = 0;
			uint32_t e = evs[i].events;
			if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
				mask |= EV_READ;
			if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
				mask |= EV_WRITE;
			mask &= f->mask ? f->mask : (EV_READ | EV_WRITE);
			if (mask)
				f->cb(l, fd, f->data, mask);
		}
		run_timers(l);
		if (l->after_iter)
			l->after_iter(l, l->after_iter_data);
	}
}
