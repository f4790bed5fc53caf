/* SPDX-License-Identifier: MIT */
/*
 * test_txb.c - batched sends: every item of a batch lands on its own
 * socket in order; a full socket buffer gives a partial count and then
 * -EAGAIN without blocking; a closed peer gives -EPIPE without SIGPIPE;
 * a bad descriptor fails alone while the rest of its batch is sent.
 * Skipped where the kernel refuses io_uring (the pooler then falls back
 * to send(), which the integration tests cover with io_uring = 0).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/txb.h"

static net_txb_t *ring_or_skip(unsigned depth)
{
	net_txb_t *t = net_txb_create(depth);
	if (!t)
		skip();
	return t;
}

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void test_batch_in_order(void **state)
{
	(void)state;
	net_txb_t *t = ring_or_skip(8);
	int sv[3][2];
	net_txb_item_t it[3];
	long res[3];
	static const char *msg[3] = {"first", "second one", "3"};
	for (int i = 0; i < 3; i++) {
		pair(sv[i]);
		it[i] = (net_txb_item_t){sv[i][0], msg[i], strlen(msg[i])};
	}
	for (int round = 0; round < 100; round++) {
		assert_int_equal(net_txb_send(t, it, 3, res), 0);
		for (int i = 0; i < 3; i++) {
			char got[32];
			assert_int_equal(res[i], (long)strlen(msg[i]));
			ssize_t n = recv(sv[i][1], got, sizeof(got), 0);
			assert_int_equal(n, (ssize_t)strlen(msg[i]));
			assert_memory_equal(got, msg[i], (size_t)n);
		}
	}
	for (int i = 0; i < 3; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
	net_txb_destroy(t);
}

static void test_full_buffer_never_blocks(void **state)
{
	(void)state;
	net_txb_t *t = ring_or_skip(4);
	int sv[2];
	pair(sv);
	size_t big = 8u << 20;
	char *data = calloc(1, big);
	assert_non_null(data);
	net_txb_item_t it = {sv[0], data, big};
	long res;
	assert_int_equal(net_txb_send(t, &it, 1, &res), 0);
	assert_true(res > 0 && (size_t)res < big);
	assert_int_equal(net_txb_send(t, &it, 1, &res), 0);
	assert_int_equal(res, -EAGAIN);
	free(data);
	close(sv[0]);
	close(sv[1]);
	net_txb_destroy(t);
}

static void test_errors_stay_per_item(void **state)
{
	(void)state;
	net_txb_t *t = ring_or_skip(4);
	int gone[2], ok[2];
	pair(gone);
	pair(ok);
	close(gone[1]);
	int bad = dup(ok[0]);
	close(bad);
	net_txb_item_t it[3] = {
		{gone[0], "x", 1},
		{bad, "y", 1},
		{ok[0], "z", 1},
	};
	long res[3];
	/* MSG_NOSIGNAL: a SIGPIPE would end this test process. */
	assert_int_equal(net_txb_send(t, it, 3, res), 0);
	assert_int_equal(res[0], -EPIPE);
	assert_int_equal(res[1], -EBADF);
	assert_int_equal(res[2], 1);
	char c;
	assert_int_equal(recv(ok[1], &c, 1, 0), 1);
	assert_int_equal(c, 'z');
	close(gone[0]);
	close(ok[0]);
	close(ok[1]);
	net_txb_destroy(t);
}

static void test_depth_is_a_hard_limit(void **state)
{
	(void)state;
	net_txb_t *t = ring_or_skip(2);
	assert_true(net_txb_depth(t) <= 2);
	net_txb_item_t it[3] = {{-1, "", 0}, {-1, "", 0}, {-1, "", 0}};
	long res[3];
	assert_int_equal(net_txb_send(t, it, 3, res), -EINVAL);
	net_txb_destroy(t);
	assert_null(net_txb_create(0));
	assert_null(net_txb_create(100000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_in_order),
		cmocka_unit_test(test_full_buffer_never_blocks),
		cmocka_unit_test(test_errors_stay_per_item),
		cmocka_unit_test(test_depth_is_a_hard_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
