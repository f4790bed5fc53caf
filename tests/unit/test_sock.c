/* SPDX-License-Identifier: MIT */
/*
 * test_sock.c - the login path sets TCP_NODELAY and SO_KEEPALIVE on the
 * listener only: an accepted socket must come out with both, for
 * keepalive on and off (a reload can turn it off), and a unix socket
 * is never taken for TCP. The pooler checks the same at its first login
 * and falls back to tuning every socket; this test says which kernel
 * would make it fall back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/sock.h"

static int listen_loopback(struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
	socklen_t l = sizeof(*sa);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sa, &l), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* Accept one connection from a listener tuned with KEEPALIVE. */
static int accepted_from_tuned(bool keepalive, int *client)
{
	struct sockaddr_in sa;
	int lfd = listen_loopback(&sa);
	sock_tune_listener(lfd, keepalive);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&sa, sizeof(sa)),
			 0);
	conn_addr_t peer;
	int fd;
	do
		fd = sock_accept(lfd, &peer);
	while (fd < 0 && errno == EAGAIN);
	assert_true(fd >= 0);
	assert_false(peer.unix_sock);
	close(lfd);
	return fd;
}

static void test_accepted_inherits_keepalive_on(void **state)
{
	(void)state;
	int cl, fd = accepted_from_tuned(true, &cl);
	assert_true(sock_has_listener_tuning(fd, true));
	assert_false(sock_has_listener_tuning(fd, false));
	close(fd);
	close(cl);
}

static void test_accepted_inherits_keepalive_off(void **state)
{
	(void)state;
	int cl, fd = accepted_from_tuned(false, &cl);
	assert_true(sock_has_listener_tuning(fd, false));
	assert_false(sock_has_listener_tuning(fd, true));
	close(fd);
	close(cl);
}

/* A listener retuned (RELOAD turned keepalive off) hands the new value
 * to the next socket. */
static void test_retuned_listener(void **state)
{
	(void)state;
	struct sockaddr_in sa;
	int lfd = listen_loopback(&sa);
	sock_tune_listener(lfd, true);
	sock_tune_listener(lfd, false);
	int cl = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cl, (struct sockaddr *)&sa, sizeof(sa)), 0);
	conn_addr_t peer;
	int fd = sock_accept(lfd, &peer);
	assert_true(fd >= 0);
	assert_true(sock_has_listener_tuning(fd, false));
	close(fd);
	close(cl);
	close(lfd);
}

static void test_untuned_listener_is_seen(void **state)
{
	(void)state;
	struct sockaddr_in sa;
	int lfd = listen_loopback(&sa);
	int cl = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cl, (struct sockaddr *)&sa, sizeof(sa)), 0);
	conn_addr_t peer;
	int fd = sock_accept(lfd, &peer);
	assert_true(fd >= 0);
	/* No TCP_NODELAY by default: the check must not pass by luck. */
	assert_false(sock_has_listener_tuning(fd, false));
	close(fd);
	close(cl);
	close(lfd);
}

static void test_is_tcp(void **state)
{
	(void)state;
	struct sockaddr_in sa;
	int lfd = listen_loopback(&sa);
	assert_true(sock_is_tcp(lfd));
	close(lfd);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_false(sock_is_tcp(sv[0]));
	close(sv[0]);
	close(sv[1]);
	assert_false(sock_is_tcp(-1));
}

static void test_inherit_names(void **state)
{
	(void)state;
	assert_string_equal(sock_inherit_name(SOCK_INHERIT_UNTESTED),
			    "untested");
	assert_string_equal(sock_inherit_name(SOCK_INHERIT_YES), "yes");
	assert_string_equal(sock_inherit_name(SOCK_INHERIT_NO), "no");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted_inherits_keepalive_on),
		cmocka_unit_test(test_accepted_inherits_keepalive_off),
		cmocka_unit_test(test_retuned_listener),
		cmocka_unit_test(test_untuned_listener_is_seen),
		cmocka_unit_test(test_is_tcp),
		cmocka_unit_test(test_inherit_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
