/* SPDX-License-Identifier: MIT */
/*
 * txq.c - end-of-turn output for the forwarding paths.
 *
 * Forwarding a query or a reply queues the connection instead of sending
 * at once; after the loop turn every queued socket is written by one
 * batch (net/txb.c). Each send() wakes a process (a backend, a client)
 * that may take the CPU from the one thread every transaction crosses:
 * one system call per turn wakes them all and returns to us once.
 * Without io_uring nothing is queued and sends happen at once, as before.
 *
 * Only small output is queued: anything near the buffer's high-water
 * mark is sent at once, so the flow-control checks see what they saw
 * before. A queued object is never freed before the batch (frees happen
 * after it in the same hook), and one closed meanwhile is skipped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn/conn.h"
#include "net/txb.h"
#include "pool/pool_types.h"

#define TXQ_SMALL (64 * 1024)
#define TXQ_BATCH 256

bool conn_txq_init(pgs_ctx_t *ctx, bool want)
{
	ctx->txq.txb = want ? net_txb_create(TXQ_BATCH) : NULL;
	return ctx->txq.txb != NULL;
}

void conn_txq_free(pgs_ctx_t *ctx)
{
	net_txb_destroy(ctx->txq.txb);
	free(ctx->txq.v);
	free(ctx->txq.rr);
	memset(&ctx->txq, 0, sizeof(ctx->txq));
}

static bool enqueue(pgs_ctx_t *ctx, conn_io_t *io, void *obj, bool server)
{
	conn_txq_t *q = &ctx->txq;
	/* Grown large since it was queued: send now, so the high-water
	 * checks that follow see what a plain flush leaves. */
	/* TLS output goes through OpenSSL, which writes the socket. */
	if (!q->txb || io->tls || buf_pending(&io->obuf) >= TXQ_SMALL)
		return false;
	if (io->queued)
		return true;
	if (q->n == q->cap) {
		int cap = q->cap ? q->cap * 2 : 64;
		conn_txq_ent_t *v = realloc(q->v, (size_t)cap * sizeof(*v));
		if (!v)
			return false;
		q->v = v;
		q->cap = cap;
	}
	q->v[q->n++] = (conn_txq_ent_t){.obj = obj, .server = server};
	io->queued = true;
	return true;
}

bool client_flush_soon(client_t *c)
{
	if (buf_pending(&c->io.obuf) == 0)
		return true;
	/* The console's close-after-reply waits for an EV_WRITE. */
	if (!c->handler && enqueue(c->ctx, &c->io, c, false))
		return true;
	return client_flush(c);
}

bool server_flush_soon(server_t *s)
{
	if (buf_pending(&s->io.obuf) == 0 || !s->connected)
		return true;
	if (enqueue(s->ctx, &s->io, s, true))
		return true;
	return server_flush(s);
}

static conn_io_t *ent_io(const conn_txq_ent_t *e)
{
	if (e->server) {
		server_t *s = e->obj;
		return s->state == SV_JUSTFREE ? NULL : &s->io;
	}
	client_t *c = e->obj;
	return c->state == CL_JUSTFREE ? NULL : &c->io;
}

/* Without a ring, for an item the ring never took, or after it failed:
 * one send() now. Returns 0 (conn_io_flush consumed what it sent) or a
 * hard error. */
static long send_now(const conn_txq_ent_t *e)
{
	conn_io_t *io = ent_io(e);
	if (!io)
		return 0;
	return conn_io_flush(io) < 0 ? -EPIPE : 0;
}

static bool hard_error(long r)
{
	return r < 0 && r != -EAGAIN && r != -EWOULDBLOCK && r != -EINTR;
}

/* After the bytes are accounted for: close on a hard error, else set the
 * I/O interest and let a peer that back-pressure stopped go on, as the
 * EV_WRITE handlers do. */
static void settle(const conn_txq_ent_t *e, long r)
{
	if (!ent_io(e))
		return;
	if (e->server) {
		server_t *s = e->obj;
		if (hard_error(r)) {
			server_close(s, "server conn crashed?");
			return;
		}
		server_update_io(s);
		server_drained(s);
		return;
	}
	client_t *c = e->obj;
	if (hard_error(r)) {
		client_close(c, NULL, "client unexpected eof");
		return;
	}
	client_update_io(c);
	client_drained(c);
}

static void run_batch(pgs_ctx_t *ctx, conn_txq_ent_t *b, int n)
{
	net_txb_item_t items[TXQ_BATCH];
	long res[TXQ_BATCH];
	int slot[TXQ_BATCH];
	unsigned k = 0;
	for (int i = 0; i < n; i++) {
		conn_io_t *io = ent_io(&b[i]);
		slot[i] = -1;
		if (!io)
			continue;
		io->queued = false;
		if (buf_pending(&io->obuf) == 0)
			continue;
		slot[i] = (int)k;
		size_t len = buf_pending(&io->obuf);
		if (io->send_max && len > io->send_max)
			len = io->send_max;
		items[k] = (net_txb_item_t){
			.fd = io->fd, .buf = buf_head(&io->obuf), .len = len};
		res[k++] = -ECANCELED;
	}
	/* One send is one system call either way; send() skips the ring's
	 * submission and completion work (a login's replies, a quiet
	 * box's every reply). */
	if (k > 1 && ctx->txq.txb &&
	    net_txb_send(ctx->txq.txb, items, k, res) < 0) {
		net_txb_destroy(ctx->txq.txb);
		ctx->txq.txb = NULL;
	}
	/* Account for every send before anything can close: a close sends
	 * its peer's buffer synchronously, which must not start with bytes
	 * the batch already sent. */
	long r[TXQ_BATCH];
	for (int i = 0; i < n; i++) {
		r[i] = slot[i] < 0 ? 0 : res[slot[i]];
		if (r[i] > 0)
			buf_consume(&ent_io(&b[i])->obuf, (size_t)r[i]);
		else if (r[i] == -ECANCELED || r[i] == -EINVAL)
			/* Not taken by the ring, or a kernel that cannot
			 * send this way: plain send(). */
			r[i] = send_now(&b[i]);
	}
	for (int i = 0; i < n; i++)
		settle(&b[i], r[i]);
}

bool conn_rerun_add(pgs_ctx_t *ctx, conn_io_t *io, void *obj, bool server)
{
	conn_txq_t *q = &ctx->txq;
	if (io->rerun_queued)
		return true;
	if (q->nrr == q->caprr) {
		int cap = q->caprr ? q->caprr * 2 : 16;
		conn_txq_ent_t *v = realloc(q->rr, (size_t)cap * sizeof(*v));
		if (!v)
			return false;
		q->rr = v;
		q->caprr = cap;
	}
	q->rr[q->nrr++] = (conn_txq_ent_t){.obj = obj, .server = server};
	io->rerun_queued = true;
	return true;
}

/* Read again what OpenSSL holds for connections that asked (their
 * update_io saw tls_pending()). Reading can queue more: bounded rounds;
 * what is left runs at the next turn's end. */
static void run_reruns(pgs_ctx_t *ctx)
{
	conn_txq_t *q = &ctx->txq;
	for (int round = 0; round < 16 && q->nrr > 0; round++) {
		int n = q->nrr;
		conn_txq_ent_t *v = malloc((size_t)n * sizeof(*v));
		if (!v)
			return;
		memcpy(v, q->rr, (size_t)n * sizeof(*v));
		q->nrr = 0;
		for (int i = 0; i < n; i++) {
			conn_io_t *io = ent_io(&v[i]);
			if (!io)
				continue;
			io->rerun_queued = false;
			if (v[i].server)
				server_read_more(v[i].obj);
			else
				client_read_more(v[i].obj);
		}
		free(v);
	}
}

void conn_txq_run(pgs_ctx_t *ctx)
{
	conn_txq_t *q = &ctx->txq;
	if (q->nrr > 0)
		run_reruns(ctx);
	conn_txq_ent_t b[TXQ_BATCH];
	/* Settling can close connections and so queue more output (a
	 * released server serves the next client): go until empty. */
	while (q->n > 0) {
		int n = q->n < TXQ_BATCH ? q->n : TXQ_BATCH;
		memcpy(b, q->v, (size_t)n * sizeof(*b));
		q->n -= n;
		memmove(q->v, q->v + n, (size_t)q->n * sizeof(*b));
		run_batch(ctx, b, n);
	}
}
