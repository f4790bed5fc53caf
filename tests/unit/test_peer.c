/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for peering: the cancel key layout PgBouncer 1.25 uses (so
 * PgBouncers and pgswitches can peer), its TTL, the forwarded packet,
 * and the [peers] section with its file:line errors.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/cfg.h"
#include "pool/peer.h"

/* ---- keys ---- */

static void test_key_names_peer(void **state)
{
	(void)state;
	/* Bytes as PgBouncer 1.25.2 issues them for peer_id 256 and 16383
	 * (measured on the reference binary): id low byte first in bytes
	 * 1-2, byte 7's low bits 3. */
	uint32_t pid = 0xfe123456u, secret = 0x89abcdecu;
	peer_key_make(&pid, &secret, 256);
	assert_int_equal(pid, 0x7e000156u);
	assert_int_equal(secret, 0x89abcdefu);
	assert_int_equal(peer_key_id(pid), 256);
	assert_int_equal(peer_key_ttl(secret), PEER_TTL_MAX);

	pid = 0x21aabb24u;
	secret = 0;
	peer_key_make(&pid, &secret, 16383);
	assert_int_equal(pid, 0x21ff3f24u);
	assert_int_equal(peer_key_id(pid), 16383);
	assert_int_equal(peer_key_ttl(secret), 3);

	pid = 0x12345678u;
	peer_key_make(&pid, &secret, 1);
	assert_int_equal(peer_key_id(pid), 1);
	assert_int_equal((pid >> 24), 0x12);
	assert_int_equal(pid & 0xff, 0x78);
}

static void test_key_without_peering(void **state)
{
	(void)state;
	/* peer_id 0: all random, only the pid's sign bit cleared. */
	uint32_t pid = 0xffffffffu, secret = 0xfffffffcu;
	peer_key_make(&pid, &secret, 0);
	assert_int_equal(pid, 0x7fffffffu);
	assert_int_equal(secret, 0xfffffffcu);
}

static void test_ttl(void **state)
{
	(void)state;
	uint32_t s = 0x12345677u;
	assert_int_equal(peer_key_ttl(s), 3);
	for (int ttl = 3; ttl >= 0; ttl--) {
		uint32_t t = peer_key_with_ttl(s, ttl);
		assert_int_equal(peer_key_ttl(t), ttl);
		/* Only the two TTL bits change. */
		assert_int_equal(t & ~3u, s & ~3u);
	}
	/* Back to the full TTL: the key as it was issued. */
	assert_int_equal(peer_key_with_ttl(peer_key_with_ttl(s, 0), 3), s);
}

static void test_cancel_packet(void **state)
{
	(void)state;
	uint8_t pkt[16];
	/* What PgBouncer 1.25.2 sent its peer for a key with TTL 3 -> 2. */
	static const uint8_t want[16] = {0x00, 0x00, 0x00, 0x10, 0x04, 0xd2,
					 0x16, 0x2e, 0x12, 0x02, 0x00, 0x34,
					 0x56, 0x78, 0x9a, 0x9a};
	uint32_t secret = peer_key_with_ttl(0x56789a9bu, 2);
	peer_cancel_packet(pkt, 0x12020034u, secret);
	assert_memory_equal(pkt, want, sizeof(want));
}

/* ---- [peers] ---- */

static char path[PATH_MAX];

static cfg_t *load(const char *peers, cfg_diags_t *d)
{
	snprintf(path, sizeof(path), "/tmp/pgswitch_peer_%d.ini",
		 (int)getpid());
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"[pgbouncer]\nlisten_port = 6000\npeer_id = 2\n"
		"default_pool_size = 9\n[peers]\n%s",
		peers);
	fclose(f);
	cfg_diags_init(d);
	cfg_t *cfg = cfg_load(path, d);
	unlink(path);
	return cfg;
}

static void test_peers_section(void **state)
{
	(void)state;
	cfg_diags_t d;
	cfg_t *cfg = load("3 = host=10.0.0.3 port=7000 pool_size=4\n"
			  "1 = host=/tmp/p1\n"
			  "2 = host=/tmp/p2\n",
			  &d);
	assert_non_null(cfg);
	for (size_t i = 0; i < d.n; i++)
		assert_null(strstr(d.items[i].msg, "peer"));
	/* Sorted by id, as SHOW PEERS lists them. */
	assert_int_equal(cfg->npeers, 3);
	assert_int_equal(cfg->peers[0].id, 1);
	assert_string_equal(cfg->peers[0].host, "/tmp/p1");
	assert_int_equal(cfg->peers[0].port, 6432);
	assert_int_equal(cfg->peers[0].pool_size, -1);
	assert_int_equal(cfg->peers[0].line, 7);
	const cfg_peer_t *p = cfg_find_peer(cfg, 3);
	assert_non_null(p);
	assert_string_equal(p->host, "10.0.0.3");
	assert_int_equal(p->port, 7000);
	assert_int_equal(p->pool_size, 4);
	assert_null(cfg_find_peer(cfg, 4));
	cfg_free(cfg);
	cfg_diags_free(&d);
}

static void expect_error(const char *line, const char *needle)
{
	cfg_diags_t d;
	cfg_t *cfg = load(line, &d);
	assert_null(cfg);
	bool found = false;
	for (size_t i = 0; i < d.n; i++) {
		if (d.items[i].sev == CFG_ERROR &&
		    strstr(d.items[i].msg, needle) && d.items[i].line == 6)
			found = true;
	}
	if (!found)
		fail_msg("no error '%s' at line 6 for '%s'", needle, line);
	cfg_diags_free(&d);
}

static void test_peers_errors(void **state)
{
	(void)state;
	expect_error("abc = host=/tmp\n", "ids of peers must be a number");
	expect_error("0 = host=/tmp\n", "ids of peers must be a number");
	expect_error("65536 = host=/tmp\n", "ids of peers must be a number");
	expect_error("2 = hots=/tmp\n", "unrecognized parameter 'hots'");
	expect_error("2 = dbname=x host=/tmp\n", "unrecognized parameter");
	expect_error("2 = port=abc host=/tmp\n", "invalid value 'abc'");
	expect_error("2 = port=6000\n", "host was not provided");
	expect_error("2 =\n", "host was not provided");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_names_peer),
		cmocka_unit_test(test_key_without_peering),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_cancel_packet),
		cmocka_unit_test(test_peers_section),
		cmocka_unit_test(test_peers_errors),
	};
	return cmocka_run_group_tests_name("peer", tests, NULL, NULL);
}
