/*
 * login-floor.c - the cheapest thing a pgbench client can log in to.
 *
 * Not a pooler: it answers SSLRequest with 'N', any StartupMessage with a
 * canned welcome (AuthenticationOk, PostgreSQL 15's thirteen
 * ParameterStatus messages, BackendKeyData, ReadyForQuery) and any Query
 * with one canned row, and never talks to PostgreSQL. What it costs is
 * only what the kernel and the client cost: accept, the loopback sends and
 * the wake-ups they cause, close. The TPS a `pgbench -S -C` reaches against
 * it is therefore the ceiling for any pooler on the same machine, and it
 * does not even pay for the query the pooler must forward.
 *
 * The canned row has three text columns ("10", NULL, "0") because pgbench
 * -S asks two questions before it starts (the scale from pgbench_branches,
 * the partitioning of pgbench_accounts) and reads those columns.
 *
 * With a second argument it forwards instead of answering queries: every
 * Query goes to PostgreSQL on 127.0.0.1:PGPORT over one connection opened
 * at start (user postgres, database bench, trust), pipelined, and the
 * replies go back in order. That is the least a pooler can do for the
 * query, with none of what a pooler must do to hand servers out.
 *
 *   cc -O2 -o login-floor bench/login-floor.c && ./login-floor PORT [PGPORT]
 *
 * Listens on 127.0.0.1:PORT with TCP_DEFER_ACCEPT and TCP_NODELAY, as
 * both poolers do; one process, one epoll loop, no timers.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FD		 65536
#define IN_MAX		 8192
#define SSL_REQUEST_CODE 80877103u

typedef enum { PHASE_STARTUP, PHASE_READY } phase_t;

typedef struct {
	phase_t phase;
	uint32_t gen;
	uint32_t len;
	uint8_t in[IN_MAX];
} floor_conn_t;

/* Forwarding: the clients whose queries are in flight, in order. */
#define FIFO_MAX 4096
typedef struct {
	int fd;
	uint32_t gen;
} waiter_t;

static floor_conn_t *conns[MAX_FD];
static uint32_t next_gen;
static int server_fd = -1;
static waiter_t fifo[FIFO_MAX];
static unsigned fifo_head, fifo_tail;
static uint8_t sin_buf[1 << 16];
static size_t sin_len;
static uint8_t welcome[1024], reply[256];
static size_t welcome_len, reply_len;

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return ntohl(v);
}

static size_t put_msg(uint8_t *out, char type, const void *body, size_t n)
{
	uint32_t len = htonl((uint32_t)n + 4);
	out[0] = (uint8_t)type;
	memcpy(out + 1, &len, 4);
	memcpy(out + 5, body, n);
	return n + 5;
}

static void build_replies(void)
{
	static const char *params[][2] = {
		{"application_name", "pgbench"},
		{"client_encoding", "UTF8"},
		{"DateStyle", "ISO, MDY"},
		{"default_transaction_read_only", "off"},
		{"in_hot_standby", "off"},
		{"integer_datetimes", "on"},
		{"IntervalStyle", "postgres"},
		{"is_superuser", "on"},
		{"server_encoding", "UTF8"},
		{"server_version", "15"},
		{"session_authorization", "postgres"},
		{"standard_conforming_strings", "on"},
		{"TimeZone", "UTC"},
	};
	uint8_t zero[8] = {0}, body[256];
	size_t n = put_msg(welcome, 'R', zero, 4);
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		size_t a = strlen(params[i][0]) + 1,
		       b = strlen(params[i][1]) + 1;
		memcpy(body, params[i][0], a);
		memcpy(body + a, params[i][1], b);
		n += put_msg(welcome + n, 'S', body, a + b);
	}
	n += put_msg(welcome + n, 'K', zero, 8);
	welcome_len = n + put_msg(welcome + n, 'Z', "I", 1);

	/* RowDescription: three text columns a, b, c. */
	size_t k = 0;
	body[k++] = 0;
	body[k++] = 3;
	for (int col = 0; col < 3; col++) {
		body[k++] = (uint8_t)('a' + col);
		body[k++] = 0;
		uint8_t field[18] = {0};
		uint32_t text_oid = htonl(25);
		memcpy(field + 6, &text_oid, 4);
		memset(field + 10, 0xff, 6); /* typlen -1, typmod -1 */
		memcpy(body + k, field, sizeof(field));
		k += sizeof(field);
	}
	n = put_msg(reply, 'T', body, k);
	static const uint8_t row[] = {0,    3,	  0,	0, 0, 2, '1', '0', 0xff,
				      0xff, 0xff, 0xff, 0, 0, 0, 1,   '0'};
	n += put_msg(reply + n, 'D', row, sizeof(row));
	n += put_msg(reply + n, 'C', "SELECT 1", 9);
	reply_len = n + put_msg(reply + n, 'Z', "I", 1);
}

static void drop(int ep, int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(conns[fd]);
	conns[fd] = NULL;
}

/* Consumes whole messages at the front of the buffer; false when the
 * connection is done (Terminate, or input it cannot frame). */
static bool consume(int fd, floor_conn_t *c)
{
	uint32_t off = 0;
	for (;;) {
		uint32_t avail = c->len - off;
		const uint8_t *p = c->in + off;
		uint32_t total;
		if (c->phase == PHASE_STARTUP) {
			if (avail < 8)
				break;
			total = get32(p);
			if (total < 8 || total > IN_MAX)
				return false;
			if (avail < total)
				break;
			if (get32(p + 4) == SSL_REQUEST_CODE) {
				send(fd, "N", 1, MSG_NOSIGNAL);
			} else {
				send(fd, welcome, welcome_len, MSG_NOSIGNAL);
				c->phase = PHASE_READY;
			}
		} else {
			if (avail < 5)
				break;
			total = get32(p + 1) + 1;
			if (total < 5 || total > IN_MAX)
				return false;
			if (avail < total)
				break;
			if (p[0] == 'X')
				return false;
			if (p[0] == 'Q' && server_fd < 0)
				send(fd, reply, reply_len, MSG_NOSIGNAL);
			else if (p[0] == 'Q' &&
				 fifo_tail - fifo_head < FIFO_MAX) {
				send(server_fd, p, total, MSG_NOSIGNAL);
				fifo[fifo_tail++ % FIFO_MAX] =
					(waiter_t){.fd = fd, .gen = c->gen};
			}
		}
		off += total;
	}
	memmove(c->in, c->in + off, c->len - off);
	c->len -= off;
	return true;
}

static void on_readable(int ep, int fd)
{
	floor_conn_t *c = conns[fd];
	for (;;) {
		ssize_t r = recv(fd, c->in + c->len, IN_MAX - c->len, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0 || !consume(fd, (c->len += (uint32_t)r, c))) {
			drop(ep, fd);
			return;
		}
	}
}

/* Each reply ends with ReadyForQuery: up to it, the bytes are the oldest
 * waiter's. */
static void on_server_readable(void)
{
	for (;;) {
		ssize_t r = recv(server_fd, sin_buf + sin_len,
				 sizeof(sin_buf) - sin_len, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			fprintf(stderr, "login-floor: PostgreSQL went away\n");
			exit(1);
		}
		sin_len += (size_t)r;
		size_t off = 0, start = 0;
		while (sin_len - off >= 5) {
			size_t total = get32(sin_buf + off + 1) + 1;
			if (sin_len - off < total)
				break;
			char type = (char)sin_buf[off];
			off += total;
			if (type != 'Z' || fifo_head == fifo_tail)
				continue;
			waiter_t w = fifo[fifo_head++ % FIFO_MAX];
			if (conns[w.fd] && conns[w.fd]->gen == w.gen)
				send(w.fd, sin_buf + start, off - start,
				     MSG_NOSIGNAL);
			start = off;
		}
		memmove(sin_buf, sin_buf + start, sin_len - start);
		sin_len -= start;
	}
}

static int connect_server(const char *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)atoi(port)),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	static const char params[] = "user\0postgres\0database\0bench\0";
	uint8_t pkt[64];
	uint32_t len = htonl(8 + sizeof(params)), proto = htonl(3u << 16);
	memcpy(pkt, &len, 4);
	memcpy(pkt + 4, &proto, 4);
	memcpy(pkt + 8, params, sizeof(params));
	send(fd, pkt, 8 + sizeof(params), 0);
	/* Blocking until the first ReadyForQuery: trust, nothing to answer. */
	for (;;) {
		ssize_t r = recv(fd, sin_buf + sin_len,
				 sizeof(sin_buf) - sin_len, 0);
		if (r <= 0)
			return -1;
		sin_len += (size_t)r;
		size_t off = 0;
		while (sin_len - off >= 5 &&
		       sin_len - off >= get32(sin_buf + off + 1) + 1) {
			if (sin_buf[off] == 'E')
				return -1;
			if (sin_buf[off] == 'Z') {
				sin_len = 0;
				return fd;
			}
			off += get32(sin_buf + off + 1) + 1;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: %s PORT [PGPORT]\n", argv[0]);
		return 2;
	}
	build_replies();
	if (argc == 3 && (server_fd = connect_server(argv[2])) < 0) {
		fprintf(stderr,
			"login-floor: cannot log in to PostgreSQL on %s\n",
			argv[2]);
		return 1;
	}
	int one = 1;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(ls, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof(one));
	setsockopt(ls, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)atoi(argv[1])),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(ls, 128) < 0) {
		perror("login-floor: bind/listen");
		return 1;
	}
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	if (server_fd >= 0) {
		fcntl(server_fd, F_SETFL, O_NONBLOCK);
		ev = (struct epoll_event){.events = EPOLLIN,
					  .data.fd = server_fd};
		epoll_ctl(ep, EPOLL_CTL_ADD, server_fd, &ev);
	}
	struct epoll_event evs[64];
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == server_fd) {
				on_server_readable();
				continue;
			}
			if (fd != ls) {
				if (conns[fd])
					on_readable(ep, fd);
				continue;
			}
			int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
			if (c < 0)
				continue;
			if (c >= MAX_FD ||
			    !(conns[c] = calloc(1, sizeof(floor_conn_t)))) {
				close(c);
				continue;
			}
			conns[c]->gen = ++next_gen;
			/* Deferred accept: the first packet is already here. */
			ev = (struct epoll_event){.events = EPOLLIN,
						  .data.fd = c};
			epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
			on_readable(ep, c);
		}
	}
}
