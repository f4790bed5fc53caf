/* SPDX-License-Identifier: MIT */
/*
 * test_takeover.c - the online restart's pure parts: a SHOW FDS row
 * survives encode -> DataRow -> split -> decode (client with SCRAM keys,
 * pooler with its NULL columns); malformed rows and lengths are refused
 * before anything is copied; and a descriptor sent with SCM_RIGHTS
 * arrives with the first byte of its row and refers to the same socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "admin/takeover.h"
#include "net/fdpass.h"
#include "proto/pgp.h"

static void sample(tko_row_t *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = 17;
	r->task = TKO_CLIENT;
	strcpy(r->user, "scramuser1");
	strcpy(r->db, "p62");
	strcpy(r->addr, "127.0.0.1");
	r->port = 53662;
	r->cancel = 0xfedcba9876543210ull; /* negative as a bigint */
	r->link = 23;
	strcpy(r->client_encoding, "UTF8");
	strcpy(r->std_strings, "on");
	strcpy(r->datestyle, "ISO, MDY");
	strcpy(r->timezone, "Europe/Paris");
	r->has_scram_keys = true;
	for (int i = 0; i < 32; i++) {
		r->scram_client_key[i] = (uint8_t)(i * 7 + 1);
		r->scram_server_key[i] = (uint8_t)(255 - i);
	}
}

/* Encode, frame as a DataRow, split it again and decode. */
static int round_trip(const tko_row_t *in, tko_row_t *out)
{
	const char *vals[TKO_NCOLS];
	char store[TKO_STORE_MAX];
	tko_row_encode(in, vals, store);
	buf_t b;
	buf_init(&b, 64 * 1024);
	assert_true(pgp_wr_data_row(&b, vals, TKO_NCOLS));
	const char *got[TKO_NCOLS];
	char copy[8192];
	int rc = tko_parse_data_row(b.data + 5, b.len - 5, TKO_NCOLS, got, copy,
				    sizeof(copy));
	if (rc == 0)
		rc = tko_row_decode(got, out);
	buf_free(&b);
	return rc;
}

static void test_client_row_round_trip(void **state)
{
	(void)state;
	tko_row_t in, out;
	sample(&in);
	assert_int_equal(round_trip(&in, &out), 0);
	assert_memory_equal(&in, &out, sizeof(in));
}

static void test_pooler_row_has_nulls(void **state)
{
	(void)state;
	tko_row_t in, out;
	memset(&in, 0, sizeof(in));
	in.fd = 3;
	in.task = TKO_POOLER;
	strcpy(in.addr, "unix");
	in.port = 6432;
	const char *vals[TKO_NCOLS];
	char store[TKO_STORE_MAX];
	tko_row_encode(&in, vals, store);
	assert_string_equal(vals[1], "pooler");
	assert_null(vals[2]);
	assert_null(vals[12]);
	assert_null(vals[13]);
	assert_int_equal(round_trip(&in, &out), 0);
	assert_int_equal(out.task, TKO_POOLER);
	assert_int_equal(out.port, 6432);
	assert_false(out.has_scram_keys);
}

static void test_bad_columns_refused(void **state)
{
	(void)state;
	tko_row_t in, out;
	sample(&in);
	const char *vals[TKO_NCOLS];
	char store[TKO_STORE_MAX];
	tko_row_encode(&in, vals, store);
	const char *v[TKO_NCOLS];
	memcpy(v, vals, sizeof(v));
	v[1] = "janitor";
	assert_int_equal(tko_row_decode(v, &out), -1);
	memcpy(v, vals, sizeof(v));
	v[5] = "70000";
	assert_int_equal(tko_row_decode(v, &out), -1);
	memcpy(v, vals, sizeof(v));
	v[0] = "12x";
	assert_int_equal(tko_row_decode(v, &out), -1);
	memcpy(v, vals, sizeof(v));
	v[14] = NULL; /* one key without the other */
	assert_int_equal(tko_row_decode(v, &out), -1);
	memcpy(v, vals, sizeof(v));
	v[13] = "AAAA";
	assert_int_equal(tko_row_decode(v, &out), -1);
	memcpy(v, vals, sizeof(v));
	v[2] = NULL; /* a client names its user */
	assert_int_equal(tko_row_decode(v, &out), -1);
	static char big[TKO_PW_MAX + 10];
	memset(big, 'x', sizeof(big) - 1);
	memcpy(v, vals, sizeof(v));
	v[12] = big;
	assert_int_equal(tko_row_decode(v, &out), -1);
}

static void test_bad_data_row_refused(void **state)
{
	(void)state;
	const char *got[2];
	char out[64];
	/* 2 columns: "ab", then a length far past the end */
	const uint8_t lie[] = {0, 2, 0, 0, 0, 2, 'a', 'b', 0x7f, 0, 0, 0};
	assert_int_equal(
		tko_parse_data_row(lie, sizeof(lie), 2, got, out, sizeof(out)),
		-1);
	/* the wrong number of columns */
	const uint8_t one[] = {0, 1, 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(
		tko_parse_data_row(one, sizeof(one), 2, got, out, sizeof(out)),
		-1);
	assert_int_equal(
		tko_parse_data_row(one, sizeof(one), 1, got, out, sizeof(out)),
		0);
	assert_null(got[0]);
	/* a value larger than the output room */
	const uint8_t fat[] = {0, 1, 0, 0, 0, 4, 'a', 'b', 'c', 'd'};
	assert_int_equal(tko_parse_data_row(fat, sizeof(fat), 1, got, out, 4),
			 -1);
	/* trailing bytes */
	const uint8_t tail[] = {0, 1, 0, 0, 0, 1, 'a', 'z'};
	assert_int_equal(tko_parse_data_row(tail, sizeof(tail), 1, got, out,
					    sizeof(out)),
			 -1);
}

static void test_fd_travels_with_its_row(void **state)
{
	(void)state;
	int sp[2], pipefd[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(net_send_fd(sp[0], "row1", 4, pipefd[1]), 4);
	assert_int_equal(net_send_fd(sp[0], "row2", 4, -1), 4);
	char buf[16];
	int fd = -2, extra = 0;
	/* exactly one row's bytes, as the takeover reads them */
	assert_int_equal(net_recv_fd(sp[1], buf, 4, &fd, &extra), 4);
	assert_memory_equal(buf, "row1", 4);
	assert_true(fd >= 0);
	assert_int_equal(extra, 0);
	struct stat a, b;
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(pipefd[1], &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(read(pipefd[0], buf, 1), 1);
	assert_int_equal(net_recv_fd(sp[1], buf, 4, &fd, &extra) == 4, 1);
	assert_int_equal(fd, -1);
	close(sp[0]);
	assert_int_equal(net_recv_fd(sp[1], buf, 4, &fd, &extra), 0);
	close(sp[1]);
	close(pipefd[0]);
	close(pipefd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_row_round_trip),
		cmocka_unit_test(test_pooler_row_has_nulls),
		cmocka_unit_test(test_bad_columns_refused),
		cmocka_unit_test(test_bad_data_row_refused),
		cmocka_unit_test(test_fd_travels_with_its_row),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
