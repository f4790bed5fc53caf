/* SPDX-License-Identifier: MIT */
/*
 * test_dns.c - the resolver cache: literals need no lookup; a name is
 * pending, then found from the cache after the worker answers (its port
 * set), until its TTL passes; a failure is cached for the negative TTL.
 */
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/dns.h"

static int done_calls;

static void on_done(void *arg, const char *name)
{
	(void)arg;
	(void)name;
	done_calls++;
}

/* Wait for the worker, then let the cache take its answers. */
static void settle(dns_t *d, int64_t now)
{
	struct pollfd pfd = {.fd = dns_fd(d), .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	dns_process(d, now);
}

static void test_literals(void **state)
{
	(void)state;
	assert_true(dns_is_literal("127.0.0.1"));
	assert_true(dns_is_literal("::1"));
	assert_true(dns_is_literal("/var/run/postgresql"));
	assert_true(dns_is_literal(""));
	assert_false(dns_is_literal("localhost"));
	assert_false(dns_is_literal("db.example.invalid"));
}

static void test_found_then_expired(void **state)
{
	(void)state;
	done_calls = 0;
	dns_t *d = dns_new(on_done, NULL);
	assert_non_null(d);
	struct sockaddr_storage ss;
	socklen_t sl;
	char err[128];
	int64_t now = 1000000;
	assert_int_equal(dns_lookup(d, "localhost", 6432, now, 15000, 15000,
				    &ss, &sl, err, sizeof(err)),
			 DNS_PENDING);
	/* Asking again while it runs queues nothing more. */
	assert_int_equal(dns_lookup(d, "localhost", 6432, now, 15000, 15000,
				    &ss, &sl, err, sizeof(err)),
			 DNS_PENDING);
	settle(d, now);
	assert_int_equal(done_calls, 1);
	assert_int_equal(dns_lookup(d, "localhost", 6432, now + 1000, 15000,
				    15000, &ss, &sl, err, sizeof(err)),
			 DNS_FOUND);
	uint16_t port = ss.ss_family == AF_INET
				? ((struct sockaddr_in *)&ss)->sin_port
				: ((struct sockaddr_in6 *)&ss)->sin6_port;
	assert_int_equal(ntohs(port), 6432);
	/* After the TTL: looked up again. */
	assert_int_equal(dns_lookup(d, "localhost", 6432, now + 16000000, 15000,
				    15000, &ss, &sl, err, sizeof(err)),
			 DNS_PENDING);
	settle(d, now + 16000000);
	dns_free(d);
}

static void test_failure_cached(void **state)
{
	(void)state;
	dns_t *d = dns_new(NULL, NULL);
	struct sockaddr_storage ss;
	socklen_t sl;
	char err[128];
	int64_t now = 5000000;
	assert_int_equal(dns_lookup(d, "no-such-host.invalid", 1, now, 15000,
				    60000, &ss, &sl, err, sizeof(err)),
			 DNS_PENDING);
	settle(d, now);
	assert_int_equal(dns_lookup(d, "no-such-host.invalid", 1,
				    now + 59000000, 15000, 60000, &ss, &sl, err,
				    sizeof(err)),
			 DNS_FAILED);
	assert_non_null(strstr(err, "could not resolve no-such-host.invalid"));
	char longname[400];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(dns_lookup(d, longname, 1, now, 1, 1, &ss, &sl, err,
				    sizeof(err)),
			 DNS_FAILED);
	dns_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_found_then_expired),
		cmocka_unit_test(test_failure_cached),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
