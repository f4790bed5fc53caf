/* SPDX-License-Identifier: MIT */
#include "switch/swc.h"

#include <stdlib.h>
#include <string.h>

struct swc {
	ev_loop_t *loop;
	PGconn *conn;
	int fd;
	bool connecting;
	bool busy;
	bool closed;
	bool in_cb;
	uint64_t start_timer; /* the first connect poll, next loop turn */
	swc_cb cb;
	void *arg;
	char err[512];
};

static void swc_io(ev_loop_t *loop, int fd, void *data, int mask);

static void set_fd(swc_t *c, int mask)
{
	int fd = PQsocket(c->conn);
	if (fd != c->fd && c->fd >= 0)
		ev_io_del(c->loop, c->fd);
	c->fd = fd;
	if (fd >= 0)
		ev_io_set(c->loop, fd, mask, swc_io, c);
}

static void deliver(swc_t *c, PGresult *res, const char *err)
{
	swc_cb cb = c->cb;
	c->cb = NULL;
	c->in_cb = true;
	if (cb)
		cb(c, res, err, c->arg);
	c->in_cb = false;
	if (res)
		PQclear(res);
	if (c->closed) {
		PQfinish(c->conn);
		free(c);
	}
}

static void fail(swc_t *c, const char *what)
{
	snprintf(c->err, sizeof(c->err), "%s: %s", what,
		 PQerrorMessage(c->conn));
	size_t n = strlen(c->err);
	while (n && (c->err[n - 1] == '\n' || c->err[n - 1] == ' '))
		c->err[--n] = 0;
	c->busy = false;
	if (c->fd >= 0)
		ev_io_del(c->loop, c->fd);
	c->fd = -1;
	deliver(c, NULL, c->err);
}

static void poll_connect(swc_t *c)
{
	switch (PQconnectPoll(c->conn)) {
	case PGRES_POLLING_READING:
		set_fd(c, EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		set_fd(c, EV_WRITE);
		return;
	case PGRES_POLLING_OK:
		c->connecting = false;
		PQsetnonblocking(c->conn, 1);
		set_fd(c, EV_READ);
		deliver(c, NULL, NULL);
		return;
	default:
		c->connecting = false;
		fail(c, "connect");
	}
}

static void read_results(swc_t *c)
{
	if (!PQconsumeInput(c->conn)) {
		fail(c, "query");
		return;
	}
	/* Keep the last result; a simple query may produce several. */
	PGresult *last = NULL;
	while (!PQisBusy(c->conn)) {
		PGresult *r = PQgetResult(c->conn);
		if (!r) {
			c->busy = false;
			if (!last) {
				deliver(c, NULL, "no result");
				return;
			}
			ExecStatusType st = PQresultStatus(last);
			if (st == PGRES_FATAL_ERROR) {
				snprintf(c->err, sizeof(c->err), "%s",
					 PQresultErrorMessage(last));
				size_t n = strlen(c->err);
				while (n && c->err[n - 1] == '\n')
					c->err[--n] = 0;
				PQclear(last);
				deliver(c, NULL, c->err);
				return;
			}
			deliver(c, last, NULL);
			return;
		}
		if (last) {
			/* An earlier error wins over later results. */
			if (PQresultStatus(last) == PGRES_FATAL_ERROR) {
				PQclear(r);
				continue;
			}
			PQclear(last);
		}
		last = r;
	}
	if (last)
		PQclear(last);
}

static void swc_io(ev_loop_t *loop, int fd, void *data, int mask)
{
	swc_t *c = data;
	(void)loop;
	(void)fd;
	(void)mask;
	if (c->connecting) {
		poll_connect(c);
		return;
	}
	if (c->busy && PQflush(c->conn) > 0) {
		set_fd(c, EV_READ | EV_WRITE);
		return;
	}
	if (c->busy) {
		read_results(c);
		return;
	}
	/* Not busy: drain notices or notice a closed connection. */
	if (!PQconsumeInput(c->conn) && c->fd >= 0) {
		ev_io_del(c->loop, c->fd);
		c->fd = -1;
	}
}

static void on_start(ev_loop_t *loop, void *data)
{
	swc_t *c = data;
	(void)loop;
	c->start_timer = 0;
	poll_connect(c);
}

swc_t *swc_open(ev_loop_t *loop, const char *conninfo, swc_cb cb, void *arg)
{
	swc_t *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->loop = loop;
	c->fd = -1;
	c->cb = cb;
	c->arg = arg;
	c->conn = PQconnectStart(conninfo);
	if (!c->conn || PQstatus(c->conn) == CONNECTION_BAD) {
		if (c->conn)
			PQfinish(c->conn);
		free(c);
		return NULL;
	}
	c->connecting = true;
	/* Not here: a refused connect would call CB before the caller has
	 * the handle (and could not tell it from any other). */
	c->start_timer = ev_timer_add(loop, 0, on_start, c);
	if (!c->start_timer) {
		PQfinish(c->conn);
		free(c);
		return NULL;
	}
	return c;
}

bool swc_query(swc_t *c, const char *sql, swc_cb cb, void *arg)
{
	if (c->busy || c->connecting || c->closed ||
	    PQstatus(c->conn) != CONNECTION_OK)
		return false;
	if (!PQsendQuery(c->conn, sql))
		return false;
	c->busy = true;
	c->cb = cb;
	c->arg = arg;
	set_fd(c, PQflush(c->conn) > 0 ? EV_READ | EV_WRITE : EV_READ);
	return true;
}

bool swc_busy(const swc_t *c)
{
	return c->busy || c->connecting;
}

void swc_close(swc_t *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		ev_io_del(c->loop, c->fd);
	c->fd = -1;
	c->cb = NULL;
	if (c->start_timer)
		ev_timer_del(c->loop, c->start_timer);
	c->start_timer = 0;
	if (c->in_cb) {
		c->closed = true;
		return;
	}
	PQfinish(c->conn);
	free(c);
}

const char *swc_value(PGresult *res, int row, int col)
{
	if (!res || PQntuples(res) <= row || PQnfields(res) <= col ||
	    PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}
