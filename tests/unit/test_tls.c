/* SPDX-License-Identifier: MIT */
/*
 * test_tls.c - the TLS module over socketpairs, both ends driven from one
 * thread. The PKI is made at start with OpenSSL's C API (no openssl
 * binary needed) in a mkdtemp directory that the teardown removes:
 *   ca      CA "Test CA"      server "localhost" (SAN DNS:localhost,
 *                             IP:127.0.0.1; ECDSA-SHA256), server384 (same
 *                             names, ECDSA-SHA384), client "alice"
 *   ca2     CA "Other CA"     client "mallory"
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/tls.h"

enum {
	F_CA,
	F_CA2,
	F_SRV_KEY,
	F_SRV_CRT,
	F_SRV384_KEY,
	F_SRV384_CRT,
	F_ALICE_KEY,
	F_ALICE_CRT,
	F_MALLORY_KEY,
	F_MALLORY_CRT,
	F_GARBAGE,
	F_COUNT
};

static const char *const file_names[F_COUNT] = {
	"ca.crt",	 "ca2.crt",	  "server.key",	 "server.crt",
	"server384.key", "server384.crt", "alice.key",	 "alice.crt",
	"mallory.key",	 "mallory.crt",	  "garbage.pem",
};

static char dir[64];
static char paths[F_COUNT][128];
static uint8_t srv_der_sha256[32], srv384_der_sha384[48];

/* ------------------------------------------------------------------ */
/* PKI */

static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);

	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for KEY named CN, signed by ISSUER/IKEY (self if NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
		       EVP_PKEY *ikey, bool ca, const char *san,
		       const EVP_MD *md)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *n;
	X509V3_CTX v3;

	assert_non_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer)
					       : n);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &v3, NID_basic_constraints,
		ca ? "critical,CA:TRUE" : "CA:FALSE");
	if (ca)
		add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
	add_ext(x, &v3, NID_subject_key_identifier, "hash");
	if (san != NULL)
		add_ext(x, &v3, NID_subject_alt_name, san);
	assert_true(X509_sign(x, ikey != NULL ? ikey : key, md) > 0);
	return x;
}

static void write_key(int idx, EVP_PKEY *k)
{
	FILE *f = fopen(paths[idx], "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL),
			 1);
	fclose(f);
}

static void write_crt(int idx, X509 *x)
{
	FILE *f = fopen(paths[idx], "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
}

static void der_hash(X509 *x, const EVP_MD *md, uint8_t *out)
{
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	unsigned int n = 0;

	assert_true(len > 0);
	assert_int_equal(EVP_Digest(der, (size_t)len, out, &n, md, NULL), 1);
	OPENSSL_free(der);
}

/* One leaf: key and certificate files, signed by CA/CAKEY. */
static void make_leaf(int key_idx, int crt_idx, const char *cn, const char *san,
		      X509 *ca, EVP_PKEY *cakey, const EVP_MD *md,
		      uint8_t *hash_out)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x;

	assert_non_null(k);
	x = make_cert(k, cn, ca, cakey, false, san, md);
	write_key(key_idx, k);
	write_crt(crt_idx, x);
	if (hash_out != NULL)
		der_hash(x, md, hash_out);
	X509_free(x);
	EVP_PKEY_free(k);
}

static int setup_pki(void **state)
{
	const char *san = "DNS:localhost,IP:127.0.0.1";
	EVP_PKEY *cak, *ca2k;
	X509 *ca, *ca2;
	FILE *f;
	int i;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_tls.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	for (i = 0; i < F_COUNT; i++)
		snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir,
			 file_names[i]);
	cak = EVP_EC_gen("P-256");
	ca2k = EVP_EC_gen("P-256");
	ca = make_cert(cak, "Test CA", NULL, NULL, true, NULL, EVP_sha256());
	ca2 = make_cert(ca2k, "Other CA", NULL, NULL, true, NULL, EVP_sha256());
	write_crt(F_CA, ca);
	write_crt(F_CA2, ca2);
	make_leaf(F_SRV_KEY, F_SRV_CRT, "localhost", san, ca, cak, EVP_sha256(),
		  srv_der_sha256);
	make_leaf(F_SRV384_KEY, F_SRV384_CRT, "localhost", san, ca, cak,
		  EVP_sha384(), srv384_der_sha384);
	make_leaf(F_ALICE_KEY, F_ALICE_CRT, "alice", NULL, ca, cak,
		  EVP_sha256(), NULL);
	make_leaf(F_MALLORY_KEY, F_MALLORY_CRT, "mallory", NULL, ca2, ca2k,
		  EVP_sha256(), NULL);
	f = fopen(paths[F_GARBAGE], "w");
	assert_non_null(f);
	fputs("this is not a PEM file\n", f);
	fclose(f);
	X509_free(ca);
	X509_free(ca2);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(ca2k);
	return 0;
}

static int teardown_pki(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < F_COUNT; i++)
		unlink(paths[i]);
	return rmdir(dir);
}

/* ------------------------------------------------------------------ */
/* fixtures */

static tls_settings_t srv_settings(tls_sslmode_t mode, int ca)
{
	tls_settings_t s = {.sslmode = mode,
			    .key_file = paths[F_SRV_KEY],
			    .cert_file = paths[F_SRV_CRT],
			    .ca_file = ca >= 0 ? paths[ca] : ""};

	return s;
}

static tls_settings_t cli_settings(tls_sslmode_t mode, int ca)
{
	tls_settings_t s = {.sslmode = mode,
			    .ca_file = ca >= 0 ? paths[ca] : NULL};

	return s;
}

typedef struct side {
	tls_conn_t *c;
	tls_status_t st;
	bool done;
	char err[TLS_ERR_MAX];
} side_t;

typedef struct fx {
	int fds[2]; /* [0] client end, [1] server end */
	tls_ctx_t *sctx, *cctx;
	side_t cl, sv;
} fx_t;

static void make_pair(int fds[2])
{
	int i;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(fcntl(fds[i], F_SETFL,
				       fcntl(fds[i], F_GETFL) | O_NONBLOCK),
				 0);
}

static void step(side_t *s)
{
	if (s->done || s->c == NULL)
		return;
	s->st = tls_handshake(s->c, s->err, sizeof(s->err));
	if (s->st != TLS_WANT_READ && s->st != TLS_WANT_WRITE)
		s->done = true;
}

/* Alternate both handshakes until both ended (or 200 rounds). */
static void drive(fx_t *f)
{
	int i;

	for (i = 0; i < 200 && !(f->cl.done && f->sv.done); i++) {
		step(&f->cl);
		step(&f->sv);
	}
}

/* Contexts from SS/CS (NULL: skip that side) and connections on a pair. */
static void fx_open(fx_t *f, const tls_settings_t *ss, const tls_settings_t *cs,
		    const char *host)
{
	char err[TLS_ERR_MAX] = "";

	memset(f, 0, sizeof(*f));
	make_pair(f->fds);
	if (ss != NULL) {
		f->sctx = tls_ctx_new(true, ss, err, sizeof(err));
		if (f->sctx == NULL)
			fail_msg("server ctx: %s", err);
		f->sv.c = tls_conn_new(f->sctx, f->fds[1], NULL, NULL, 0, err,
				       sizeof(err));
		if (f->sv.c == NULL)
			fail_msg("server conn: %s", err);
	}
	if (cs != NULL) {
		f->cctx = tls_ctx_new(false, cs, err, sizeof(err));
		if (f->cctx == NULL)
			fail_msg("client ctx: %s", err);
		f->cl.c = tls_conn_new(f->cctx, f->fds[0], host, NULL, 0, err,
				       sizeof(err));
		if (f->cl.c == NULL)
			fail_msg("client conn: %s", err);
	}
}

static void fx_close(fx_t *f)
{
	tls_conn_free(f->cl.c);
	tls_conn_free(f->sv.c);
	tls_ctx_free(f->cctx);
	tls_ctx_free(f->sctx);
	close(f->fds[0]);
	close(f->fds[1]);
	memset(f, 0, sizeof(*f));
}

static void expect_ok(fx_t *f)
{
	drive(f);
	if (f->cl.st != TLS_OK || f->sv.st != TLS_OK)
		fail_msg("client %s (%s), server %s (%s)",
			 tls_status_name(f->cl.st), f->cl.err,
			 tls_status_name(f->sv.st), f->sv.err);
}

static void assert_contains(const char *s, const char *sub)
{
	if (strstr(s, sub) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", s, sub);
}

/* Read everything available into BUF (at most CAP). */
static size_t read_all(tls_conn_t *c, uint8_t *buf, size_t cap,
		       tls_status_t *last)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap && (n = tls_read(c, buf + got, cap - got, last)) > 0)
		got += (size_t)n;
	return got;
}

/* ------------------------------------------------------------------ */
/* parsing and names */

static void test_sslmode_names(void **state)
{
	tls_sslmode_t m, back;

	(void)state;
	for (m = TLS_SSLMODE_DISABLE; m <= TLS_SSLMODE_VERIFY_FULL; m++) {
		assert_true(tls_sslmode_parse(tls_sslmode_name(m), &back));
		assert_int_equal(back, m);
	}
	assert_string_equal(tls_sslmode_name(TLS_SSLMODE_VERIFY_CA),
			    "verify-ca");
	assert_true(tls_sslmode_parse("VERIFY-FULL", &back));
	assert_int_equal(back, TLS_SSLMODE_VERIFY_FULL);
	back = TLS_SSLMODE_ALLOW;
	assert_false(tls_sslmode_parse("verify", &back));
	assert_false(tls_sslmode_parse("", &back));
	assert_false(tls_sslmode_parse(NULL, &back));
	assert_int_equal(back, TLS_SSLMODE_ALLOW);
	assert_string_equal(tls_sslmode_name((tls_sslmode_t)42), "unknown");
	assert_string_equal(tls_status_name(TLS_WANT_WRITE), "want-write");
	assert_string_equal(tls_conn_state_name(TLS_CONN_OPEN), "open");
}

static void test_protocols_parse(void **state)
{
	char err[TLS_ERR_MAX];
	unsigned m = 0;

	(void)state;
	assert_true(tls_protocols_parse("secure", &m, err, sizeof(err)));
	assert_int_equal(m, TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3);
	assert_true(tls_protocols_parse("tlsv1.3", &m, err, sizeof(err)));
	assert_int_equal(m, TLS_PROTO_TLSv1_3);
	assert_true(tls_protocols_parse("all,-tlsv1.0", &m, err, sizeof(err)));
	assert_int_equal(m, TLS_PROTO_ALL & ~TLS_PROTO_TLSv1_0);
	assert_true(tls_protocols_parse("-tlsv1.0", &m, err, sizeof(err)));
	assert_int_equal(m, TLS_PROTO_ALL & ~TLS_PROTO_TLSv1_0);
	assert_true(tls_protocols_parse("!tlsv1.3", &m, err, sizeof(err)));
	assert_int_equal(m, TLS_PROTO_ALL & ~TLS_PROTO_TLSv1_3);
	assert_true(
		tls_protocols_parse("TLSv1.2 +tlsv1.3", &m, err, sizeof(err)));
	assert_int_equal(m, TLS_PROTO_SECURE);
	assert_true(tls_protocols_parse("legacy", &m, err, sizeof(err)));
	assert_int_equal(m, TLS_PROTO_ALL);
	assert_true(tls_protocols_parse("", &m, err, sizeof(err)));
	assert_int_equal(m, TLS_PROTO_SECURE);
	assert_true(tls_protocols_parse(NULL, &m, err, sizeof(err)));
	assert_int_equal(m, TLS_PROTO_SECURE);
	m = 77;
	assert_false(tls_protocols_parse("garbage", &m, err, sizeof(err)));
	assert_contains(err, "garbage");
	assert_int_equal(m, 77);
	assert_false(
		tls_protocols_parse("tlsv1.2,tlsv9", &m, err, sizeof(err)));
	assert_contains(err, "tlsv9");
	assert_false(tls_protocols_parse("-all", &m, err, sizeof(err)));
	assert_contains(err, "no TLS protocol");
}

/* ------------------------------------------------------------------ */
/* contexts: bad input */

static void expect_ctx_error(bool server_side, const tls_settings_t *s,
			     const char *needle)
{
	char err[TLS_ERR_MAX] = "";
	tls_ctx_t *ctx = tls_ctx_new(server_side, s, err, sizeof(err));

	if (ctx != NULL) {
		tls_ctx_free(ctx);
		fail_msg("context built, wanted an error with \"%s\"", needle);
	}
	assert_contains(err, needle);
}

static void expect_ctx_ok(bool server_side, const tls_settings_t *s)
{
	char err[TLS_ERR_MAX] = "";
	tls_ctx_t *ctx = tls_ctx_new(server_side, s, err, sizeof(err));

	if (ctx == NULL)
		fail_msg("context failed: %s", err);
	assert_int_equal(tls_ctx_server_side(ctx), server_side);
	assert_int_equal(tls_ctx_sslmode(ctx), s->sslmode);
	tls_ctx_free(ctx);
}

static void test_bad_files(void **state)
{
	tls_settings_t s = srv_settings(TLS_SSLMODE_REQUIRE, -1);

	(void)state;
	s.key_file = "/nonexistent/dir/key.pem";
	expect_ctx_error(true, &s, "/nonexistent/dir/key.pem");
	expect_ctx_error(true, &s, "No such file");
	s = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	s.cert_file = paths[F_GARBAGE];
	expect_ctx_error(true, &s, paths[F_GARBAGE]);
	s = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	s.key_file = paths[F_ALICE_KEY];
	expect_ctx_error(true, &s, "does not match");
	s = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	s.ca_file = "/nonexistent/ca.crt";
	expect_ctx_error(true, &s, "/nonexistent/ca.crt");
	s = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	s.key_file = "";
	expect_ctx_error(true, &s, "client_tls_key_file");
	s = srv_settings(TLS_SSLMODE_VERIFY_FULL, -1);
	expect_ctx_error(true, &s, "client_tls_ca_file");
	s = cli_settings(TLS_SSLMODE_REQUIRE, -1);
	s.key_file = paths[F_ALICE_KEY];
	expect_ctx_error(false, &s, "set together");
	s.cert_file = paths[F_GARBAGE];
	expect_ctx_error(false, &s, "server_tls_cert_file");
	s = cli_settings(TLS_SSLMODE_VERIFY_CA, -1);
	s.ca_file = paths[F_GARBAGE];
	expect_ctx_error(false, &s, paths[F_GARBAGE]);
	/* verify-ca with no ca_file uses the system store */
	expect_ctx_ok(false,
		      &(tls_settings_t){.sslmode = TLS_SSLMODE_VERIFY_CA});
}

static void test_settings_values(void **state)
{
	static const char *const good_ciphers[] = {
		"default", "secure", "fast",	   "normal",
		"all",	   "legacy", "HIGH:!aNULL"};
	tls_settings_t s = srv_settings(TLS_SSLMODE_PREFER, F_CA);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good_ciphers) / sizeof(good_ciphers[0]); i++) {
		s.ciphers = good_ciphers[i];
		expect_ctx_ok(true, &s);
	}
	s.ciphers = "NOPE-CIPHER";
	expect_ctx_error(true, &s, "NOPE-CIPHER");
	s.ciphers = "";
	s.tls13_ciphers = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";
	expect_ctx_ok(true, &s);
	s.tls13_ciphers = "BOGUS_SUITE";
	expect_ctx_error(true, &s, "client_tls13_ciphers");
	s.tls13_ciphers = NULL;
	s.ecdhcurve = "prime256v1";
	expect_ctx_ok(true, &s);
	s.ecdhcurve = "P-384:X25519";
	expect_ctx_ok(true, &s);
	s.ecdhcurve = "none";
	expect_ctx_ok(true, &s);
	s.ecdhcurve = "bogus-curve";
	expect_ctx_error(true, &s, "bogus-curve");
	s.ecdhcurve = "auto";
	s.dheparams = "legacy";
	expect_ctx_ok(true, &s);
	s.dheparams = "none";
	expect_ctx_ok(true, &s);
	s.dheparams = "/nonexistent/dh.pem";
	expect_ctx_error(true, &s, "/nonexistent/dh.pem");
	s.dheparams = paths[F_CA]; /* a PEM file, but no DH parameters */
	expect_ctx_error(true, &s, "dheparams");
	s.dheparams = "auto";
	s.protocols = "tlsv1.2,bogus";
	expect_ctx_error(true, &s, "bogus");
	s.protocols = "tlsv1.2";
	expect_ctx_ok(true, &s);
}

/* ------------------------------------------------------------------ */
/* handshakes */

static void test_handshake_ok(void **state)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	tls_settings_t cs = cli_settings(TLS_SSLMODE_VERIFY_FULL, F_CA);
	tls_status_t st;
	uint8_t buf[64];
	char err[TLS_ERR_MAX];
	fx_t f;

	(void)state;
	fx_open(&f, &ss, &cs, "localhost");
	assert_int_equal(tls_conn_state(f.sv.c), TLS_CONN_HANDSHAKE);
	assert_string_equal(tls_version(f.sv.c), "");
	assert_int_equal(tls_read(f.sv.c, buf, sizeof(buf), &st), -1);
	assert_int_equal(st, TLS_ERROR);
	expect_ok(&f);
	assert_int_equal(tls_conn_state(f.sv.c), TLS_CONN_OPEN);
	assert_string_equal(tls_version(f.sv.c), "TLSv1.3");
	assert_string_equal(tls_version(f.cl.c), "TLSv1.3");
	assert_true(strlen(tls_cipher(f.cl.c)) > 0);
	assert_true(tls_alpn_ok(f.sv.c));
	assert_true(tls_alpn_ok(f.cl.c));
	assert_false(tls_peer_cert_present(f.sv.c));
	assert_true(tls_peer_cert_present(f.cl.c));
	assert_true(tls_peer_verified(f.cl.c));
	/* again once open: still OK */
	assert_int_equal(tls_handshake(f.sv.c, err, sizeof(err)), TLS_OK);
	/* nothing to read yet */
	assert_int_equal(tls_read(f.sv.c, buf, sizeof(buf), &st), -1);
	assert_int_equal(st, TLS_WANT_READ);
	assert_int_equal(tls_write(f.cl.c, "hello", 5, &st), 5);
	assert_int_equal(st, TLS_OK);
	assert_int_equal(read_all(f.sv.c, buf, sizeof(buf), &st), 5);
	assert_int_equal(st, TLS_WANT_READ);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(tls_write(f.sv.c, "world!", 6, &st), 6);
	assert_int_equal(read_all(f.cl.c, buf, sizeof(buf), &st), 6);
	assert_memory_equal(buf, "world!", 6);
	assert_int_equal(tls_write(f.sv.c, "", 0, &st), 0);
	fx_close(&f);
}

/* Contexts freed before the handshake: connections keep working. */
static void test_ctx_freed_early(void **state)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	tls_settings_t cs = cli_settings(TLS_SSLMODE_VERIFY_CA, F_CA);
	tls_status_t st;
	uint8_t buf[16];
	fx_t f;

	(void)state;
	fx_open(&f, &ss, &cs, "localhost");
	tls_ctx_free(f.sctx);
	tls_ctx_free(f.cctx);
	f.sctx = f.cctx = NULL;
	expect_ok(&f);
	assert_int_equal(tls_write(f.cl.c, "ping", 4, &st), 4);
	assert_int_equal(read_all(f.sv.c, buf, sizeof(buf), &st), 4);
	fx_close(&f);
}

static void test_tls12(void **state)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	tls_settings_t cs = cli_settings(TLS_SSLMODE_REQUIRE, -1);
	uint8_t a[TLS_MAX_CB_DATA], b[TLS_MAX_CB_DATA];
	fx_t f;

	(void)state;
	ss.protocols = "tlsv1.2";
	fx_open(&f, &ss, &cs, "localhost");
	expect_ok(&f);
	assert_string_equal(tls_version(f.sv.c), "TLSv1.2");
	assert_int_equal(tls_server_end_point(f.sv.c, a, sizeof(a)), 32);
	assert_int_equal(tls_server_end_point(f.cl.c, b, sizeof(b)), 32);
	assert_memory_equal(a, b, 32);
	fx_close(&f);

	ss.protocols = "tlsv1.3";
	cs.protocols = "tlsv1.2";
	fx_open(&f, &ss, &cs, "localhost");
	drive(&f);
	assert_int_equal(f.sv.st, TLS_ERROR);
	assert_int_equal(f.cl.st, TLS_ERROR);
	assert_int_equal(tls_conn_state(f.sv.c), TLS_CONN_FAILED);
	assert_true(strlen(tls_last_error(f.sv.c)) > 0);
	fx_close(&f);
}

static void test_verify_wrong_ca(void **state)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	tls_settings_t cs = cli_settings(TLS_SSLMODE_VERIFY_CA, F_CA2);
	fx_t f;

	(void)state;
	fx_open(&f, &ss, &cs, "localhost");
	drive(&f);
	assert_int_equal(f.cl.st, TLS_ERROR);
	assert_contains(f.cl.err, "certificate verify failed");
	assert_contains(f.cl.err, "unable to get local issuer certificate");
	assert_contains(f.cl.err, "CN=localhost");
	assert_int_equal(f.sv.st, TLS_ERROR); /* got the client's alert */
	fx_close(&f);

	/* require does not verify: the same CA mismatch connects */
	cs.sslmode = TLS_SSLMODE_REQUIRE;
	fx_open(&f, &ss, &cs, "localhost");
	expect_ok(&f);
	assert_true(tls_peer_cert_present(f.cl.c));
	assert_false(tls_peer_verified(f.cl.c));
	fx_close(&f);
}

static void test_verify_full_names(void **state)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	tls_settings_t cs = cli_settings(TLS_SSLMODE_VERIFY_FULL, F_CA);
	char err[TLS_ERR_MAX];
	tls_ctx_t *ctx;
	fx_t f;

	(void)state;
	fx_open(&f, &ss, &cs, "127.0.0.1");
	expect_ok(&f);
	fx_close(&f);

	fx_open(&f, &ss, &cs, "wronghost.example");
	drive(&f);
	assert_int_equal(f.cl.st, TLS_ERROR);
	assert_contains(f.cl.err, "certificate verify failed");
	assert_contains(f.cl.err, "server certificate for \"localhost\"");
	assert_contains(f.cl.err,
			"does not match host name \"wronghost.example\"");
	fx_close(&f);

	fx_open(&f, &ss, &cs, "127.0.0.2");
	drive(&f);
	assert_int_equal(f.cl.st, TLS_ERROR);
	assert_contains(f.cl.err, "host name \"127.0.0.2\"");
	fx_close(&f);

	/* verify-ca does not look at the name */
	cs.sslmode = TLS_SSLMODE_VERIFY_CA;
	fx_open(&f, &ss, &cs, "wronghost.example");
	expect_ok(&f);
	fx_close(&f);

	/* verify-full needs a host */
	cs.sslmode = TLS_SSLMODE_VERIFY_FULL;
	ctx = tls_ctx_new(false, &cs, err, sizeof(err));
	assert_non_null(ctx);
	assert_null(tls_conn_new(ctx, 0, NULL, NULL, 0, err, sizeof(err)));
	assert_contains(err, "host name");
	tls_ctx_free(ctx);
}

/* ------------------------------------------------------------------ */
/* client certificates */

static void test_client_cert_required(void **state)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_VERIFY_CA, F_CA);
	tls_settings_t cs = cli_settings(TLS_SSLMODE_REQUIRE, -1);
	uint8_t buf[16];
	tls_status_t st;
	fx_t f;

	(void)state;
	/* none sent: the server refuses (TLS 1.3: after the client is done) */
	fx_open(&f, &ss, &cs, "localhost");
	drive(&f);
	assert_int_equal(f.sv.st, TLS_ERROR);
	assert_contains(f.sv.err, "certificate");
	if (f.cl.st == TLS_OK) {
		assert_int_equal(tls_read(f.cl.c, buf, sizeof(buf), &st), -1);
		assert_int_equal(st, TLS_ERROR);
	}
	fx_close(&f);

	/* one from another CA */
	cs.key_file = paths[F_MALLORY_KEY];
	cs.cert_file = paths[F_MALLORY_CRT];
	fx_open(&f, &ss, &cs, "localhost");
	drive(&f);
	assert_int_equal(f.sv.st, TLS_ERROR);
	assert_contains(f.sv.err, "certificate verify failed");
	assert_contains(f.sv.err, "client certificate");
	assert_contains(f.sv.err, "CN=mallory");
	fx_close(&f);
}

static void test_client_cert_cn(void **state)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_VERIFY_FULL, F_CA);
	tls_settings_t cs = cli_settings(TLS_SSLMODE_VERIFY_FULL, F_CA);
	char cn[64], tiny[5];
	fx_t f;

	(void)state;
	cs.key_file = paths[F_ALICE_KEY];
	cs.cert_file = paths[F_ALICE_CRT];
	fx_open(&f, &ss, &cs, "localhost");
	expect_ok(&f);
	assert_true(tls_peer_cert_present(f.sv.c));
	assert_true(tls_peer_verified(f.sv.c));
	assert_true(tls_peer_cert_cn(f.sv.c, cn, sizeof(cn)));
	assert_string_equal(cn, "alice");
	assert_false(tls_peer_cert_cn(f.sv.c, tiny, sizeof(tiny)));
	assert_true(tls_peer_cert_cn(f.cl.c, cn, sizeof(cn)));
	assert_string_equal(cn, "localhost");
	fx_close(&f);

	/* below verify-ca any certificate is taken, and flagged unverified */
	ss.sslmode = TLS_SSLMODE_REQUIRE;
	cs.key_file = paths[F_MALLORY_KEY];
	cs.cert_file = paths[F_MALLORY_CRT];
	fx_open(&f, &ss, &cs, "localhost");
	expect_ok(&f);
	assert_true(tls_peer_cert_present(f.sv.c));
	assert_false(tls_peer_verified(f.sv.c));
	assert_true(tls_peer_cert_cn(f.sv.c, cn, sizeof(cn)));
	assert_string_equal(cn, "mallory");
	fx_close(&f);

	/* and none at all is fine too */
	cs.key_file = cs.cert_file = NULL;
	fx_open(&f, &ss, &cs, "localhost");
	expect_ok(&f);
	assert_false(tls_peer_cert_present(f.sv.c));
	assert_false(tls_peer_cert_cn(f.sv.c, cn, sizeof(cn)));
	fx_close(&f);
}

/* ------------------------------------------------------------------ */
/* channel binding */

static void test_channel_binding(void **state)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	tls_settings_t cs = cli_settings(TLS_SSLMODE_REQUIRE, -1);
	uint8_t a[TLS_MAX_CB_DATA], b[TLS_MAX_CB_DATA];
	fx_t f;

	(void)state;
	fx_open(&f, &ss, &cs, "localhost");
	assert_int_equal(tls_server_end_point(f.sv.c, a, sizeof(a)), -1);
	expect_ok(&f);
	assert_int_equal(tls_server_end_point(f.sv.c, a, sizeof(a)), 32);
	assert_int_equal(tls_server_end_point(f.cl.c, b, sizeof(b)), 32);
	assert_memory_equal(a, b, 32);
	assert_memory_equal(a, srv_der_sha256, 32);
	assert_int_equal(tls_server_end_point(f.sv.c, a, 31), -1);
	fx_close(&f);

	ss.key_file = paths[F_SRV384_KEY];
	ss.cert_file = paths[F_SRV384_CRT];
	fx_open(&f, &ss, &cs, "localhost");
	expect_ok(&f);
	assert_int_equal(tls_server_end_point(f.sv.c, a, sizeof(a)), 48);
	assert_int_equal(tls_server_end_point(f.cl.c, b, sizeof(b)), 48);
	assert_memory_equal(a, b, 48);
	assert_memory_equal(a, srv384_der_sha384, 48);
	fx_close(&f);
}

/* ------------------------------------------------------------------ */
/* data */

/*
 * Send TOTAL bytes from W to R. On every TLS_WANT_* the unsent bytes are
 * moved to the other buffer before the retry, as a compacting output
 * buffer would. Returns how many writes were partial or would block.
 */
static int transfer(tls_conn_t *w, tls_conn_t *r, size_t total)
{
	uint8_t *src = malloc(total), *dst = malloc(total);
	uint8_t *bufs[2] = {malloc(total), malloc(total)};
	size_t sent = 0, got = 0, i;
	int which = 0, short_writes = 0, rounds = 0;
	uint8_t *cur;
	tls_status_t st;

	assert_non_null(src);
	assert_non_null(dst);
	assert_non_null(bufs[0]);
	assert_non_null(bufs[1]);
	for (i = 0; i < total; i++)
		src[i] = (uint8_t)(i * 31 + (i >> 11));
	memcpy(bufs[0], src, total);
	cur = bufs[0];
	while (got < total && rounds++ < 1000000) {
		ssize_t n;

		while (sent < total) {
			n = tls_write(w, cur, total - sent, &st);
			if (n < 0) {
				assert_true(st == TLS_WANT_WRITE ||
					    st == TLS_WANT_READ);
				short_writes++;
				which ^= 1;
				memcpy(bufs[which], cur, total - sent);
				cur = bufs[which];
				break;
			}
			assert_true(n > 0);
			if ((size_t)n < total - sent)
				short_writes++;
			sent += (size_t)n;
			cur += n;
		}
		got += read_all(r, dst + got, total - got, &st);
		if (got < total)
			assert_int_equal(st, TLS_WANT_READ);
	}
	assert_int_equal(got, total);
	assert_memory_equal(dst, src, total);
	free(src);
	free(dst);
	free(bufs[0]);
	free(bufs[1]);
	return short_writes;
}

static void test_big_transfer(void **state)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	tls_settings_t cs = cli_settings(TLS_SSLMODE_REQUIRE, -1);
	int small = 8192;
	fx_t f;

	(void)state;
	fx_open(&f, &ss, &cs, "localhost");
	assert_int_equal(setsockopt(f.fds[0], SOL_SOCKET, SO_SNDBUF, &small,
				    sizeof(small)),
			 0);
	assert_int_equal(setsockopt(f.fds[1], SOL_SOCKET, SO_SNDBUF, &small,
				    sizeof(small)),
			 0);
	expect_ok(&f);
	assert_true(transfer(f.cl.c, f.sv.c, 1 << 20) > 0);
	assert_true(transfer(f.sv.c, f.cl.c, 1 << 20) > 0);
	fx_close(&f);
}

static void test_pending(void **state)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	tls_settings_t cs = cli_settings(TLS_SSLMODE_REQUIRE, -1);
	uint8_t out[1000], in[1000];
	tls_status_t st;
	fx_t f;

	(void)state;
	memset(out, 'x', sizeof(out));
	fx_open(&f, &ss, &cs, "localhost");
	expect_ok(&f);
	assert_int_equal(tls_pending(f.sv.c), 0);
	assert_int_equal(tls_write(f.cl.c, out, sizeof(out), &st), 1000);
	assert_int_equal(tls_read(f.sv.c, in, 10, &st), 10);
	/* the rest is decrypted and waiting: no fd event will announce it */
	assert_int_equal(tls_pending(f.sv.c), 990);
	assert_int_equal(tls_read(f.sv.c, in + 10, 990, &st), 990);
	assert_int_equal(tls_pending(f.sv.c), 0);
	assert_memory_equal(in, out, sizeof(out));
	fx_close(&f);
}

/* The client's first message comes right behind its Finished: after the
 * server's TLS_OK it may already be inside OpenSSL, not in the socket. */
static void test_data_with_finished(void **state)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	tls_settings_t cs = cli_settings(TLS_SSLMODE_REQUIRE, -1);
	uint8_t buf[64];
	tls_status_t st;
	int i;
	fx_t f;

	(void)state;
	fx_open(&f, &ss, &cs, "localhost");
	for (i = 0; i < 50 && !f.cl.done; i++) {
		step(&f.cl);
		if (!f.cl.done)
			step(&f.sv);
	}
	assert_int_equal(f.cl.st, TLS_OK);
	assert_false(f.sv.done);
	assert_int_equal(tls_write(f.cl.c, "startup", 7, &st), 7);
	step(&f.sv);
	assert_int_equal(f.sv.st, TLS_OK);
	assert_true(tls_pending(f.sv.c) > 0);
	assert_int_equal(tls_read(f.sv.c, buf, sizeof(buf), &st), 7);
	assert_memory_equal(buf, "startup", 7);
	fx_close(&f);
}

static void test_close(void **state)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	tls_settings_t cs = cli_settings(TLS_SSLMODE_REQUIRE, -1);
	tls_status_t st;
	uint8_t buf[16];
	fx_t f;

	(void)state;
	/* close_notify */
	fx_open(&f, &ss, &cs, "localhost");
	expect_ok(&f);
	tls_conn_free(f.cl.c);
	f.cl.c = NULL;
	assert_int_equal(tls_read(f.sv.c, buf, sizeof(buf), &st), 0);
	assert_int_equal(st, TLS_EOF);
	assert_int_equal(tls_conn_state(f.sv.c), TLS_CONN_CLOSED);
	assert_int_equal(tls_write(f.sv.c, "x", 1, &st), -1);
	assert_int_equal(st, TLS_ERROR);
	fx_close(&f);

	/* plain EOF without close_notify is a clean close too */
	fx_open(&f, &ss, &cs, "localhost");
	expect_ok(&f);
	assert_int_equal(shutdown(f.fds[0], SHUT_RDWR), 0);
	assert_int_equal(tls_read(f.sv.c, buf, sizeof(buf), &st), 0);
	assert_int_equal(st, TLS_EOF);
	fx_close(&f); /* the client's close_notify hits EPIPE: no SIGPIPE */

	/* tls_close_notify detaches: the fd is never touched again */
	fx_open(&f, &ss, &cs, "localhost");
	expect_ok(&f);
	tls_close_notify(f.cl.c);
	assert_int_equal(tls_conn_state(f.cl.c), TLS_CONN_CLOSED);
	assert_int_equal(tls_read(f.sv.c, buf, sizeof(buf), &st), 0);
	fx_close(&f);
}

/* ------------------------------------------------------------------ */
/* direct TLS: prefix bytes, ALPN, hostile input */

static void prefix_case(size_t want)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	tls_settings_t cs = cli_settings(TLS_SSLMODE_VERIFY_FULL, F_CA);
	uint8_t hello[4096];
	char err[TLS_ERR_MAX];
	tls_status_t st;
	ssize_t n;
	fx_t f;

	fx_open(&f, NULL, &cs, "localhost");
	f.sctx = tls_ctx_new(true, &ss, err, sizeof(err));
	assert_non_null(f.sctx);
	step(&f.cl); /* the ClientHello is now in the socket */
	assert_int_equal(f.cl.st, TLS_WANT_READ);
	n = recv(f.fds[1], hello, want, 0);
	assert_true(n > 0);
	f.sv.c = tls_conn_new(f.sctx, f.fds[1], NULL, hello, (size_t)n, err,
			      sizeof(err));
	assert_non_null(f.sv.c);
	assert_true(tls_pending(f.sv.c) == (size_t)n);
	expect_ok(&f);
	assert_true(tls_alpn_ok(f.sv.c));
	assert_int_equal(tls_write(f.cl.c, "abc", 3, &st), 3);
	assert_int_equal(read_all(f.sv.c, hello, sizeof(hello), &st), 3);
	fx_close(&f);
}

static void test_prefix(void **state)
{
	(void)state;
	prefix_case(1);
	prefix_case(11);
	prefix_case(4096); /* the whole ClientHello */
}

/* A plain OpenSSL client offering ALPN LIST (NULL: none). */
static void raw_client_case(const unsigned char *list, unsigned len,
			    tls_status_t want, const char *needle)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	SSL_CTX *rc = SSL_CTX_new(TLS_client_method());
	SSL *rs;
	fx_t f;
	int i;

	assert_non_null(rc);
	if (list != NULL)
		assert_int_equal(SSL_CTX_set_alpn_protos(rc, list, len), 0);
	rs = SSL_new(rc);
	assert_non_null(rs);
	fx_open(&f, &ss, NULL, NULL);
	SSL_set_fd(rs, f.fds[0]);
	SSL_set_connect_state(rs);
	for (i = 0; i < 50 && !f.sv.done; i++) {
		(void)SSL_do_handshake(rs);
		step(&f.sv);
	}
	assert_int_equal(f.sv.st, want);
	if (needle != NULL)
		assert_contains(f.sv.err, needle);
	if (want == TLS_OK)
		assert_false(tls_alpn_ok(f.sv.c));
	SSL_free(rs);
	SSL_CTX_free(rc);
	ERR_clear_error();
	fx_close(&f);
}

static void test_alpn(void **state)
{
	(void)state;
	raw_client_case((const unsigned char *)"\x08http/1.1", 9, TLS_ERROR,
			"no application protocol");
	/* no ALPN at all is fine (SSLRequest clients before PostgreSQL 17) */
	raw_client_case(NULL, 0, TLS_OK, NULL);
}

static void garbage_case(const void *bytes, size_t len, tls_status_t want)
{
	tls_settings_t ss = srv_settings(TLS_SSLMODE_REQUIRE, -1);
	fx_t f;

	fx_open(&f, &ss, NULL, NULL);
	if (len > 0)
		assert_int_equal(write(f.fds[0], bytes, len), (ssize_t)len);
	else
		assert_int_equal(shutdown(f.fds[0], SHUT_WR), 0);
	step(&f.sv);
	assert_true(f.sv.done);
	assert_int_equal(f.sv.st, want);
	assert_true(strlen(f.sv.err) > 0);
	fx_close(&f);
}

static void test_garbage(void **state)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t bad_record[] = {0x16, 0x03, 0x01, 0x00, 0x05,
					     0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t junk[300];

	(void)state;
	memset(junk, 0xa5, sizeof(junk));
	garbage_case(http, sizeof(http) - 1, TLS_ERROR);
	garbage_case(bad_record, sizeof(bad_record), TLS_ERROR);
	garbage_case(junk, sizeof(junk), TLS_ERROR);
	garbage_case(NULL, 0, TLS_EOF); /* the peer just went away */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sslmode_names),
		cmocka_unit_test(test_protocols_parse),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_settings_values),
		cmocka_unit_test(test_handshake_ok),
		cmocka_unit_test(test_ctx_freed_early),
		cmocka_unit_test(test_tls12),
		cmocka_unit_test(test_verify_wrong_ca),
		cmocka_unit_test(test_verify_full_names),
		cmocka_unit_test(test_client_cert_required),
		cmocka_unit_test(test_client_cert_cn),
		cmocka_unit_test(test_channel_binding),
		cmocka_unit_test(test_big_transfer),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_data_with_finished),
		cmocka_unit_test(test_close),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_alpn),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, setup_pki, teardown_pki);
}
