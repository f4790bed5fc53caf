/* SPDX-License-Identifier: MIT */
/*
 * test_sdnotify.c - the sd_notify datagrams as a receiver bound where
 * NOTIFY_SOCKET points sees them (path and abstract sockets), a
 * no-op without NOTIFY_SOCKET, errors instead of blocking; socket
 * activation's LISTEN_PID / LISTEN_FDS with real sockets and a pipe put
 * at fds 3.., and the description of what was passed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/sdnotify.h"

/* ---- the receiving end of NOTIFY_SOCKET ---- */

typedef struct receiver {
	char dir[64];
	char path[96];
	int fd;
} receiver_t;

static int receiver_setup(void **state)
{
	receiver_t *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	snprintf(r->dir, sizeof(r->dir), "/tmp/test_sdnotify.XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->path, sizeof(r->path), "%s/notify", r->dir);
	r->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(r->fd >= 0);
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", r->path);
	assert_int_equal(bind(r->fd, (struct sockaddr *)&un, sizeof(un)), 0);
	setenv("NOTIFY_SOCKET", r->path, 1);
	*state = r;
	return 0;
}

static int receiver_teardown(void **state)
{
	receiver_t *r = *state;
	unsetenv("NOTIFY_SOCKET");
	close(r->fd);
	unlink(r->path);
	rmdir(r->dir);
	free(r);
	return 0;
}

/* The next datagram, or "" when none is queued. */
static void next_msg(int fd, char *out, size_t len)
{
	ssize_t n = recv(fd, out, len - 1, MSG_DONTWAIT);
	out[n > 0 ? n : 0] = '\0';
}

static void expect_msg(int fd, const char *want)
{
	char got[600];
	next_msg(fd, got, sizeof(got));
	assert_string_equal(got, want);
}

static uint64_t monotonic_us(void)
{
	struct timespec ts;
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void test_unset_is_noop(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sdn_ready(), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(sdn_stopping(false), 0);
	unsetenv("NOTIFY_SOCKET");
}

static void test_states(void **state)
{
	receiver_t *r = *state;
	assert_int_equal(sdn_ready(), 1);
	expect_msg(r->fd, "READY=1");
	assert_int_equal(sdn_reloaded(true), 1);
	expect_msg(r->fd, "READY=1\nSTATUS=");
	assert_int_equal(sdn_reloaded(false), 1);
	expect_msg(r->fd, "READY=1\nSTATUS=config reload failed (see the "
			  "log), running on the previous config");
	assert_int_equal(sdn_stopping(false), 1);
	expect_msg(r->fd, "STOPPING=1");
	assert_int_equal(sdn_stopping(true), 1);
	expect_msg(r->fd, "STOPPING=1\nSTATUS=shutting down, waiting for "
			  "clients to disconnect");
	assert_int_equal(sdn_notify("WATCHDOG=1"), 1);
	expect_msg(r->fd, "WATCHDOG=1");
	expect_msg(r->fd, "");
}

/* A newline would smuggle in another assignment (say READY=1). */
static void test_status_is_one_line(void **state)
{
	receiver_t *r = *state;
	assert_int_equal(sdn_status("paused\nREADY=1"), 1);
	expect_msg(r->fd, "STATUS=paused READY=1");
	assert_int_equal(sdn_status(""), 1);
	expect_msg(r->fd, "STATUS=");
}

static void test_reloading_has_monotonic_usec(void **state)
{
	receiver_t *r = *state;
	uint64_t before = monotonic_us();
	assert_int_equal(sdn_reloading(), 1);
	uint64_t after = monotonic_us();
	char got[200];
	next_msg(r->fd, got, sizeof(got));
	const char *pfx = "RELOADING=1\nMONOTONIC_USEC=";
	assert_memory_equal(got, pfx, strlen(pfx));
	char *end;
	unsigned long long us = strtoull(got + strlen(pfx), &end, 10);
	assert_int_equal(*end, '\0');
	assert_true(us >= before && us <= after);
}

static void test_abstract_socket(void **state)
{
	(void)state;
	char name[64];
	snprintf(name, sizeof(name), "pgswitch-test-sdn-%d-%ld", (int)getpid(),
		 (long)monotonic_us());
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	memcpy(un.sun_path + 1, name, strlen(name));
	/* The abstract name is exactly its bytes: no NUL in the length. */
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				   strlen(name));
	assert_int_equal(bind(fd, (struct sockaddr *)&un, sl), 0);
	char env[80];
	snprintf(env, sizeof(env), "@%s", name);
	setenv("NOTIFY_SOCKET", env, 1);
	assert_int_equal(sdn_stopping(false), 1);
	expect_msg(fd, "STOPPING=1");
	/* One byte more is another name: nobody listens there. */
	snprintf(env, sizeof(env), "@%sx", name);
	setenv("NOTIFY_SOCKET", env, 1);
	assert_int_equal(sdn_ready(), -ECONNREFUSED);
	expect_msg(fd, "");
	unsetenv("NOTIFY_SOCKET");
	close(fd);
}

static void test_bad_addresses(void **state)
{
	receiver_t *r = *state;
	char path[200];
	snprintf(path, sizeof(path), "%s/nobody", r->dir);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(sdn_ready(), -ENOENT);
	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	assert_int_equal(sdn_ready(), -EAFNOSUPPORT);
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	assert_int_equal(sdn_ready(), -EAFNOSUPPORT);
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longp, 1);
	assert_int_equal(sdn_ready(), -ENAMETOOLONG);
	setenv("NOTIFY_SOCKET", r->path, 1);
	expect_msg(r->fd, "");
}

/* systemd not reading must not stall the loop: a full queue is an error
 * at once. */
static void test_full_receiver_does_not_block(void **state)
{
	receiver_t *r = *state;
	int rc = 1;
	for (int i = 0; i < 100000 && rc == 1; i++)
		rc = sdn_ready();
	assert_int_equal(rc, -EAGAIN);
	char got[32];
	next_msg(r->fd, got, sizeof(got));
	assert_string_equal(got, "READY=1");
}

/* ---- socket activation: fds 3.. ---- */

#define NSLOTS 3

/* Whatever the test runner left at fds 3.. is parked high and put back,
 * so the tests can own those numbers. */
typedef struct slots {
	int parked[NSLOTS];
	char dir[64];
} slots_t;

static int slots_setup(void **state)
{
	slots_t *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	for (int i = 0; i < NSLOTS; i++) {
		int fd = SDN_LISTEN_FDS_START + i;
		s->parked[i] = -1;
		if (fcntl(fd, F_GETFD) >= 0) {
			s->parked[i] = fcntl(fd, F_DUPFD_CLOEXEC, 100);
			assert_true(s->parked[i] >= 0);
			close(fd);
		}
	}
	snprintf(s->dir, sizeof(s->dir), "/tmp/test_sdnotify.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	*state = s;
	return 0;
}

static int slots_teardown(void **state)
{
	slots_t *s = *state;
	for (int i = 0; i < NSLOTS; i++) {
		int fd = SDN_LISTEN_FDS_START + i;
		close(fd);
		if (s->parked[i] >= 0) {
			dup2(s->parked[i], fd);
			close(s->parked[i]);
		}
	}
	char path[96];
	snprintf(path, sizeof(path), "%s/.s.PGSQL.6432", s->dir);
	unlink(path);
	rmdir(s->dir);
	free(s);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 0;
}

/* Put FD at number AT the way systemd hands it over: inheritable,
 * blocking. */
static void place(int fd, int at)
{
	if (fd != at) { /* the lowest free number may already be AT */
		assert_int_equal(dup2(fd, at), at);
		close(fd);
	}
	assert_int_equal(fcntl(at, F_SETFD, 0), 0);
	int fl = fcntl(at, F_GETFL);
	assert_int_equal(fcntl(at, F_SETFL, fl & ~O_NONBLOCK), 0);
}

static int tcp_listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in in = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(listen(fd, 8), 0);
	socklen_t sl = sizeof(in);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &sl), 0);
	*port = ntohs(in.sin_port);
	return fd;
}

static int unix_listener(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static void set_listen_env(long pid, const char *nfds)
{
	char p[32];
	snprintf(p, sizeof(p), "%ld", pid);
	setenv("LISTEN_PID", p, 1);
	setenv("LISTEN_FDS", nfds, 1);
	setenv("LISTEN_FDNAMES", "pgswitch.socket", 1);
}

static void assert_env_cleared(void)
{
	assert_null(getenv("LISTEN_PID"));
	assert_null(getenv("LISTEN_FDS"));
	assert_null(getenv("LISTEN_FDNAMES"));
}

static void test_listen_none(void **state)
{
	(void)state;
	int fds[4];
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	assert_int_equal(sdn_listen_fds(fds, 4), 0);
	setenv("LISTEN_FDS", "1", 1); /* half a handover is none */
	assert_int_equal(sdn_listen_fds(fds, 4), 0);
	assert_env_cleared();
}

static void test_listen_tcp_unix_and_pipe(void **state)
{
	slots_t *s = *state;
	int port;
	char path[96], want[160], desc[320];
	place(tcp_listener(&port), 3);
	snprintf(path, sizeof(path), "%s/.s.PGSQL.6432", s->dir);
	place(unix_listener(path), 4);
	int p[2];
	assert_int_equal(pipe(p), 0);
	close(p[1]);
	place(p[0], 5);

	set_listen_env((long)getpid(), "3");
	int fds[4] = {-1, -1, -1, -1};
	assert_int_equal(sdn_listen_fds(fds, 4), 3);
	assert_env_cleared();
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fds[i], 3 + i);
		assert_true(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
		assert_true(fcntl(fds[i], F_GETFL) & O_NONBLOCK);
	}
	assert_int_equal(fds[3], -1);

	assert_int_equal(sdn_listener_desc(3, desc, sizeof(desc)), 0);
	snprintf(want, sizeof(want), "127.0.0.1:%d", port);
	assert_string_equal(desc, want);
	assert_int_equal(sdn_listener_desc(4, desc, sizeof(desc)), 0);
	snprintf(want, sizeof(want), "unix:%s", path);
	assert_string_equal(desc, want);
	assert_int_equal(sdn_listener_desc(5, desc, sizeof(desc)), -ENOTSOCK);
}

/* LISTEN_PID names someone else (a parent's handover leaked to us):
 * the fds are not ours, left as they are. */
static void test_listen_other_pid(void **state)
{
	(void)state;
	int port, fds[2];
	place(tcp_listener(&port), 3);
	set_listen_env((long)getpid() + 1, "1");
	assert_int_equal(sdn_listen_fds(fds, 2), 0);
	assert_env_cleared();
	assert_false(fcntl(3, F_GETFD) & FD_CLOEXEC);
	assert_false(fcntl(3, F_GETFL) & O_NONBLOCK);
}

static void test_listen_malformed(void **state)
{
	(void)state;
	int fds[2];
	static const char *const bad[][2] = {
		{"12x", "1"}, {"", "1"},
		{"-5", "1"},  {"0", "1"},
		{NULL, "x"},  {NULL, "-1"},
		{NULL, ""},   {NULL, "99999999999999999999"},
	};
	char me[32];
	snprintf(me, sizeof(me), "%d", (int)getpid());
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("LISTEN_PID", bad[i][0] ? bad[i][0] : me, 1);
		setenv("LISTEN_FDS", bad[i][1], 1);
		assert_int_equal(sdn_listen_fds(fds, 2), -EINVAL);
		assert_env_cleared();
	}
}

static void test_listen_too_many(void **state)
{
	(void)state;
	int p1, p2, fds[1];
	place(tcp_listener(&p1), 3);
	place(tcp_listener(&p2), 4);
	set_listen_env((long)getpid(), "2");
	assert_int_equal(sdn_listen_fds(fds, 1), -E2BIG);
	assert_env_cleared();
}

static void test_listen_fd_not_open(void **state)
{
	(void)state;
	int fds[2];
	set_listen_env((long)getpid(), "1"); /* slots_setup emptied fd 3 */
	assert_int_equal(sdn_listen_fds(fds, 2), -EBADF);
	assert_env_cleared();
}

static void test_desc_rejects(void **state)
{
	(void)state;
	char desc[320];
	int port;
	int dg = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(sdn_listener_desc(dg, desc, sizeof(desc)),
			 -EPROTOTYPE);
	close(dg);
	int st = socket(AF_INET, SOCK_STREAM, 0); /* never listen()ed */
	assert_int_equal(sdn_listener_desc(st, desc, sizeof(desc)), -EINVAL);
	close(st);
	int l = tcp_listener(&port);
	assert_int_equal(sdn_listener_desc(l, desc, sizeof(desc)), 0);
	close(l);
	assert_int_equal(sdn_listener_desc(l, desc, sizeof(desc)), -EBADF);
}

static void test_desc_ipv6_and_abstract(void **state)
{
	(void)state;
	char desc[320], want[160];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "pgswitch-sdn-%d",
		 (int)getpid());
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				   strlen(un.sun_path + 1));
	assert_int_equal(bind(fd, (struct sockaddr *)&un, sl), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(sdn_listener_desc(fd, desc, sizeof(desc)), 0);
	snprintf(want, sizeof(want), "unix:@pgswitch-sdn-%d", (int)getpid());
	assert_string_equal(desc, want);
	close(fd);

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6,
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	if (fd < 0 || bind(fd, (struct sockaddr *)&in6, sizeof(in6)) < 0) {
		if (fd >= 0)
			close(fd);
		skip(); /* no IPv6 loopback here */
	}
	assert_int_equal(listen(fd, 1), 0);
	sl = sizeof(in6);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&in6, &sl), 0);
	assert_int_equal(sdn_listener_desc(fd, desc, sizeof(desc)), 0);
	snprintf(want, sizeof(want), "[::1]:%d", ntohs(in6.sin6_port));
	assert_string_equal(desc, want);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unset_is_noop),
		cmocka_unit_test_setup_teardown(test_states, receiver_setup,
						receiver_teardown),
		cmocka_unit_test_setup_teardown(test_status_is_one_line,
						receiver_setup,
						receiver_teardown),
		cmocka_unit_test_setup_teardown(
			test_reloading_has_monotonic_usec, receiver_setup,
			receiver_teardown),
		cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test_setup_teardown(
			test_bad_addresses, receiver_setup, receiver_teardown),
		cmocka_unit_test_setup_teardown(
			test_full_receiver_does_not_block, receiver_setup,
			receiver_teardown),
		cmocka_unit_test(test_listen_none),
		cmocka_unit_test_setup_teardown(test_listen_tcp_unix_and_pipe,
						slots_setup, slots_teardown),
		cmocka_unit_test_setup_teardown(test_listen_other_pid,
						slots_setup, slots_teardown),
		cmocka_unit_test(test_listen_malformed),
		cmocka_unit_test_setup_teardown(test_listen_too_many,
						slots_setup, slots_teardown),
		cmocka_unit_test_setup_teardown(test_listen_fd_not_open,
						slots_setup, slots_teardown),
		cmocka_unit_test(test_desc_rejects),
		cmocka_unit_test(test_desc_ipv6_and_abstract),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
