/* SPDX-License-Identifier: MIT */
/*
 * io.c - the socket + buffer pair shared by client and server objects.
 * Reads go into a fixed buffer (compacted before a read, never grown);
 * writes drain a bounded output buffer. Both buffers are borrowed from
 * the context's pools while bytes are in flight and given back once
 * empty (conn/mem.c owns the pools).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn/conn.h"
#include "tls/tls.h"

void conn_io_init(conn_io_t *io, int fd, bufpool_t *rpool, size_t omax,
		  bufpool_t *opool)
{
	memset(io, 0, sizeof(*io));
	io->fd = fd;
	io->rcap = (uint32_t)rpool->size;
	io->rpool = rpool;
	buf_init_pooled(&io->obuf, omax, opool);
	io->want_read = true;
}

size_t conn_io_release(conn_io_t *io)
{
	if (io->rbuf && io->rpos == io->rlen && io->busy == 0)
		conn_io_rbuf_put(io);
	buf_t *o = &io->obuf;
	size_t n = o->data && !o->pooled && buf_pending(o) == 0 ? o->cap : 0;
	buf_release(o);
	return n;
}

void conn_io_free(conn_io_t *io)
{
	tls_conn_free(io->tls);
	io->tls = NULL;
	if (io->fd >= 0)
		close(io->fd);
	io->fd = -1;
	if (io->rbuf)
		conn_io_rbuf_put(io);
	buf_free(&io->obuf);
}

/* The unread bytes to the front of a buffer of CAP bytes: the pool's
 * when CAP is its size, else one of our own. */
static int move_rbuf(conn_io_t *io, uint32_t cap)
{
	uint32_t have = io->rlen - io->rpos;
	bool pooled = cap <= io->rpool->size;
	uint8_t *nb = pooled ? bufpool_get(io->rpool) : malloc(cap);
	if (!nb)
		return -1;
	if (io->rbuf && have)
		memcpy(nb, io->rbuf + io->rpos, have);
	if (io->rbuf) {
		io->rpos = io->rlen; /* nothing of it is ours any more */
		conn_io_rbuf_put(io);
	}
	io->rbuf = nb;
	io->rprivate = !pooled;
	io->rcap = pooled ? (uint32_t)io->rpool->size : cap;
	io->rpos = 0;
	io->rlen = have;
	return 0;
}

int conn_io_reserve(conn_io_t *io, uint32_t need)
{
	if (io->rbuf && io->rpos > 0) {
		memmove(io->rbuf, io->rbuf + io->rpos, io->rlen - io->rpos);
		io->rlen -= io->rpos;
		io->rpos = 0;
	}
	if (need <= io->rcap)
		return 0;
	return move_rbuf(io, need);
}

void conn_io_shrink(conn_io_t *io, uint32_t cap)
{
	(void)cap; /* back to the pool's size */
	if (!io->rprivate || io->rlen - io->rpos > io->rpool->size)
		return;
	move_rbuf(io, (uint32_t)io->rpool->size);
}

/* As much decrypted input as fits: a read stops short of the buffer only
 * when OpenSSL has nothing more without the socket. */
__attribute__((noinline)) static int tls_io_read(conn_io_t *io)
{
	int total = 0;
	io->tls_want_write = false;
	while (io->rlen < io->rcap) {
		tls_status_t st;
		ssize_t n = tls_read(io->tls, io->rbuf + io->rlen,
				     io->rcap - io->rlen, &st);
		if (n > 0) {
			io->rlen += (uint32_t)n;
			total += (int)n;
			continue;
		}
		if (n == 0) {
			if (total > 0)
				break;
			io->eof = true;
			return 0;
		}
		if (st == TLS_WANT_WRITE)
			io->tls_want_write = true;
		else if (st != TLS_WANT_READ)
			return total > 0 ? total : -2;
		break;
	}
	return total > 0 ? total : -1;
}

__attribute__((noinline)) static int tls_io_flush(conn_io_t *io)
{
	io->tls_want_write = false;
	while (buf_pending(&io->obuf) > 0) {
		tls_status_t st;
		ssize_t n = tls_write(io->tls, buf_head(&io->obuf),
				      buf_pending(&io->obuf), &st);
		if (n > 0) {
			buf_consume(&io->obuf, (size_t)n);
			continue;
		}
		/* WANT_READ: the read interest we always keep brings the
		 * retry; WANT_WRITE: pending output arms EV_WRITE. */
		if (n < 0 && (st == TLS_WANT_WRITE || st == TLS_WANT_READ))
			return 0;
		return -1;
	}
	return 1;
}

int conn_io_read(conn_io_t *io)
{
	if (io->rpos == io->rlen) {
		io->rpos = io->rlen = 0;
	} else if (io->rpos > 0 && io->rcap - io->rlen < 1024) {
		memmove(io->rbuf, io->rbuf + io->rpos, io->rlen - io->rpos);
		io->rlen -= io->rpos;
		io->rpos = 0;
	}
	if (io->rlen == io->rcap || io->suspended)
		return -1;
	/* Usual: input arrives into no buffer (the last was given back). */
	if (!io->rbuf && !(io->rbuf = bufpool_get(io->rpool)))
		return -2;
	if (__builtin_expect(io->tls != NULL, 0))
		return tls_io_read(io);
	ssize_t n = recv(io->fd, io->rbuf + io->rlen, io->rcap - io->rlen, 0);
	if (n > 0) {
		io->rlen += (uint32_t)n;
		return (int)n;
	}
	if (n == 0) {
		io->eof = true;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -1;
	return -2;
}

int conn_io_flush(conn_io_t *io)
{
	if (__builtin_expect(io->tls != NULL, 0))
		return tls_io_flush(io);
	while (buf_pending(&io->obuf) > 0) {
		size_t len = buf_pending(&io->obuf);
		if (io->send_max && len > io->send_max)
			len = io->send_max;
		ssize_t n =
			send(io->fd, buf_head(&io->obuf), len, MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(&io->obuf, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return -1;
	}
	return 1;
}

void conn_addr_str(const conn_addr_t *a, char *out, size_t cap)
{
	/* PgBouncer's form: an IPv6 address in brackets, so the port
	 * after it cannot be read as part of it. */
	if (strchr(a->host, ':'))
		snprintf(out, cap, "[%s]:%d", a->host, a->port);
	else
		snprintf(out, cap, "%s:%d", a->host, a->port);
}

void conn_vlog(log_t *lg, int lvl, char kind, const void *ptr, const char *db,
	       const char *user, const conn_addr_t *a, const char *fmt,
	       va_list ap)
{
	if (!log_enabled(lg, (log_level_t)lvl))
		return;
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* PgBouncer's prefix, which alerting greps: C-0x..: db/user@addr:port
	 */
	char where[80];
	conn_addr_str(a, where, sizeof(where));
	log_msg(lg, (log_level_t)lvl, "%c-%p: %s/%s@%s %s", kind, ptr,
		db ? db : "(nodb)", user ? user : "(nouser)", where, msg);
}
