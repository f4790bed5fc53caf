/* SPDX-License-Identifier: MIT */
/*
 * txb.c - batched non-blocking sends over a raw io_uring (no liburing:
 * one opcode needs a few dozen lines, not a dependency).
 *
 * Every batch is submitted and fully reaped before we return, so the
 * completion ring never holds more than one batch and the buffers the
 * kernel reads stay untouched while it reads them. MSG_DONTWAIT makes a
 * full socket buffer complete at once with -EAGAIN instead of arming an
 * internal poll: the caller owns waiting, through epoll, as before.
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "net/txb.h"

struct net_txb {
	int fd;
	bool broken;
	unsigned depth;
	/* submission ring */
	void *sq_map;
	size_t sq_map_len;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	struct io_uring_sqe *sqes;
	size_t sqes_len;
	/* completion ring */
	void *cq_map;
	size_t cq_map_len;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
};

static int sys_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned wait, unsigned flags)
{
	return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, NULL,
			    (size_t)0);
}

static int map_rings(net_txb_t *t, const struct io_uring_params *p)
{
	t->sq_map_len = p->sq_off.array + p->sq_entries * sizeof(unsigned);
	t->cq_map_len =
		p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
	bool single = p->features & IORING_FEAT_SINGLE_MMAP;
	if (single && t->cq_map_len > t->sq_map_len)
		t->sq_map_len = t->cq_map_len;
	t->sq_map = mmap(NULL, t->sq_map_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, t->fd, IORING_OFF_SQ_RING);
	if (t->sq_map == MAP_FAILED) {
		t->sq_map = NULL;
		return -1;
	}
	if (single) {
		t->cq_map = t->sq_map;
	} else {
		t->cq_map = mmap(NULL, t->cq_map_len, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_POPULATE, t->fd,
				 IORING_OFF_CQ_RING);
		if (t->cq_map == MAP_FAILED) {
			t->cq_map = NULL;
			return -1;
		}
	}
	t->sqes_len = p->sq_entries * sizeof(struct io_uring_sqe);
	t->sqes = mmap(NULL, t->sqes_len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, t->fd, IORING_OFF_SQES);
	if (t->sqes == MAP_FAILED) {
		t->sqes = NULL;
		return -1;
	}
	char *sq = t->sq_map, *cq = t->cq_map;
	t->sq_head = (unsigned *)(sq + p->sq_off.head);
	t->sq_tail = (unsigned *)(sq + p->sq_off.tail);
	t->sq_mask = (unsigned *)(sq + p->sq_off.ring_mask);
	t->sq_array = (unsigned *)(sq + p->sq_off.array);
	t->cq_head = (unsigned *)(cq + p->cq_off.head);
	t->cq_tail = (unsigned *)(cq + p->cq_off.tail);
	t->cq_mask = (unsigned *)(cq + p->cq_off.ring_mask);
	t->cqes = (struct io_uring_cqe *)(cq + p->cq_off.cqes);
	return 0;
}

/* Kernels 5.1-5.5 set up rings but know no IORING_OP_SEND: every send
 * would fail. The probe itself arrived in 5.6, with the opcode. */
static bool send_supported(int fd)
{
	size_t len = sizeof(struct io_uring_probe) +
		     256 * sizeof(struct io_uring_probe_op);
	struct io_uring_probe *pr = calloc(1, len);
	if (!pr)
		return false;
	bool ok = syscall(__NR_io_uring_register, fd, IORING_REGISTER_PROBE, pr,
			  256) == 0 &&
		  pr->ops_len > IORING_OP_SEND &&
		  (pr->ops[IORING_OP_SEND].flags & IO_URING_OP_SUPPORTED);
	free(pr);
	return ok;
}

net_txb_t *net_txb_create(unsigned depth)
{
	if (depth == 0 || depth > 4096) {
		errno = EINVAL;
		return NULL;
	}
	net_txb_t *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	/* Only this thread submits, and it reaps every batch itself: no
	 * interrupts to deliver completions to us. Older kernels reject the
	 * flags; plain setup works there. */
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
	t->fd = sys_setup(depth, &p);
	if (t->fd < 0 && errno == EINVAL) {
		memset(&p, 0, sizeof(p));
		t->fd = sys_setup(depth, &p);
	}
	if (t->fd < 0) {
		int e = errno;
		free(t);
		errno = e;
		return NULL;
	}
	t->depth = p.sq_entries < depth ? p.sq_entries : depth;
	if (!send_supported(t->fd)) {
		close(t->fd);
		free(t);
		errno = ENOSYS;
		return NULL;
	}
	if (map_rings(t, &p) < 0) {
		int e = errno;
		net_txb_destroy(t);
		errno = e;
		return NULL;
	}
	return t;
}

void net_txb_destroy(net_txb_t *t)
{
	if (!t)
		return;
	if (t->sqes)
		munmap(t->sqes, t->sqes_len);
	if (t->cq_map && t->cq_map != t->sq_map)
		munmap(t->cq_map, t->cq_map_len);
	if (t->sq_map)
		munmap(t->sq_map, t->sq_map_len);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

unsigned net_txb_depth(const net_txb_t *t)
{
	return t->depth;
}

static unsigned reap(net_txb_t *t, unsigned n, long *res)
{
	unsigned got = 0;
	unsigned head = *t->cq_head;
	unsigned tail = __atomic_load_n(t->cq_tail, __ATOMIC_ACQUIRE);
	while (head != tail) {
		const struct io_uring_cqe *cqe = &t->cqes[head & *t->cq_mask];
		if (cqe->user_data < n)
			res[cqe->user_data] = cqe->res;
		head++;
		got++;
	}
	__atomic_store_n(t->cq_head, head, __ATOMIC_RELEASE);
	return got;
}

int net_txb_send(net_txb_t *t, const net_txb_item_t *items, unsigned n,
		 long *res)
{
	if (t->broken)
		return -EIO;
	if (n > t->depth)
		return -EINVAL;
	unsigned tail = *t->sq_tail;
	for (unsigned i = 0; i < n; i++) {
		unsigned idx = tail & *t->sq_mask;
		struct io_uring_sqe *sqe = &t->sqes[idx];
		memset(sqe, 0, sizeof(*sqe));
		sqe->opcode = IORING_OP_SEND;
		sqe->fd = items[i].fd;
		sqe->addr = (uint64_t)(uintptr_t)items[i].buf;
		sqe->len = (uint32_t)items[i].len;
		sqe->msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL;
		sqe->user_data = i;
		t->sq_array[idx] = idx;
		tail++;
		res[i] = -ECANCELED;
	}
	__atomic_store_n(t->sq_tail, tail, __ATOMIC_RELEASE);

	/* The kernel takes entries in ring order, so items from SUBMITTED
	 * on were never seen by it if we stop early. */
	unsigned submitted = 0, done = 0;
	for (int guard = 0; guard < 1000 && done < n; guard++) {
		int r = sys_enter(t->fd, n - submitted, n - done,
				  IORING_ENTER_GETEVENTS);
		if (r < 0 && errno != EINTR && errno != EAGAIN &&
		    errno != EBUSY) {
			t->broken = true;
			break;
		}
		if (r > 0)
			submitted += (unsigned)r;
		done += reap(t, n, res);
	}
	if (done < n) {
		/* Entries may be left in the ring: never use it again. A
		 * send taken but not completed may still happen: report it
		 * failed rather than let the caller send it twice. */
		t->broken = true;
		for (unsigned i = 0; i < submitted && i < n; i++)
			if (res[i] == -ECANCELED)
				res[i] = -EIO;
	}
	return t->broken ? -EIO : 0;
}
