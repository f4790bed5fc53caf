/* SPDX-License-Identifier: MIT */
/*
 * tls.c - TLS contexts and connections on OpenSSL 3 (contract: tls.h).
 *
 * Design notes:
 *   - One custom BIO per connection reads the caller's PREFIX first, then
 *     recv()s from the fd; it writes with send(MSG_NOSIGNAL), so a peer
 *     that went away cannot raise SIGPIPE, and MSG_DONTWAIT, so a socket
 *     left blocking by mistake cannot stall the loop. It records errno and
 *     EOF for clear error messages. A memory BIO pair would cost a copy of
 *     every byte; a buffering BIO in front of a socket BIO would hide bytes
 *     from tls_pending().
 *   - read_ahead is on: one recv() per burst instead of two per record
 *     (header, then body). The price is data buffered inside OpenSSL,
 *     which tls_pending() reports through SSL_has_pending().
 *   - Verification failures are recorded by a verify callback (first error,
 *     depth, subject, and the certificate's names for a host mismatch) so
 *     the message names what failed instead of OpenSSL's bare reason.
 *   - Unexpected EOF is a clean close (SSL_OP_IGNORE_UNEXPECTED_EOF): the
 *     PostgreSQL protocol ends with its own Terminate message, and many
 *     clients close without close_notify.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls/tls.h"

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "src/tls needs OpenSSL 3.0 or newer"
#endif

/* ALPN protocol of PostgreSQL 17 (wire format: length byte, then name). */
#define PG_ALPN	    "postgresql"
#define PG_ALPN_LEN 10
static const unsigned char pg_alpn_wire[] = "\x0apostgresql";

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	bool server_side;
	tls_sslmode_t sslmode;
};

struct tls_conn {
	SSL *ssl; /* owns the BIO */
	int fd;	  /* -1 once detached by tls_close_notify() */
	bool server_side;
	bool verify_optional; /* server side below verify-ca: accept any */
	bool verify_server;   /* client side, verify-ca and up */
	bool handshake_done;
	bool alpn_ok;
	tls_conn_state_t state;
	/* bytes the caller read before us (direct TLS); fed to OpenSSL first */
	uint8_t *prefix;
	size_t prefix_len, prefix_off;
	/* set by the BIO */
	bool eof;
	int sys_errno;
	/* first verification failure, from verify_cb */
	int verr, vdepth;
	char vsubject[128];
	char vname[128]; /* first name in the certificate (host mismatch) */
	int vothers;	 /* how many more names it holds */
	char *host;	 /* client side: for SNI, verification, messages */
	char err[TLS_ERR_MAX];
};

/* ------------------------------------------------------------------ */
/* error text */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * OpenSSL's reason for the earliest error in this thread's queue, which is
 * the most specific one ("No such file or directory" rather than "system
 * lib"), then clear the queue so it does not leak into the next call.
 */
static void ssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_error();
	const char *r = NULL;

	if (e == 0)
		snprintf(buf, cap, "unknown error");
	else if (ERR_SYSTEM_ERROR(e))
		snprintf(buf, cap, "%s", strerror(ERR_GET_REASON(e)));
	else if ((r = ERR_reason_error_string(e)) != NULL)
		snprintf(buf, cap, "%s", r);
	else
		ERR_error_string_n(e, buf, cap);
	ERR_clear_error();
}

/* Copy untrusted certificate text for a log line: printable ASCII only. */
static void copy_clean(char *dst, size_t cap, const unsigned char *src,
		       size_t len)
{
	size_t i, n = 0;

	if (cap == 0)
		return;
	for (i = 0; i < len && n + 1 < cap; i++)
		dst[n++] =
			(src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[n] = '\0';
}

/* ------------------------------------------------------------------ */
/* names */

static const char *const sslmode_names[] = {
	[TLS_SSLMODE_DISABLE] = "disable",
	[TLS_SSLMODE_ALLOW] = "allow",
	[TLS_SSLMODE_PREFER] = "prefer",
	[TLS_SSLMODE_REQUIRE] = "require",
	[TLS_SSLMODE_VERIFY_CA] = "verify-ca",
	[TLS_SSLMODE_VERIFY_FULL] = "verify-full",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *tls_sslmode_name(tls_sslmode_t m)
{
	if ((unsigned)m >= NELEM(sslmode_names))
		return "unknown";
	return sslmode_names[m];
}

bool tls_sslmode_parse(const char *s, tls_sslmode_t *out)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < NELEM(sslmode_names); i++) {
		if (strcasecmp(s, sslmode_names[i]) == 0) {
			*out = (tls_sslmode_t)i;
			return true;
		}
	}
	return false;
}

const char *tls_status_name(tls_status_t st)
{
	switch (st) {
	case TLS_OK:
		return "ok";
	case TLS_WANT_READ:
		return "want-read";
	case TLS_WANT_WRITE:
		return "want-write";
	case TLS_EOF:
		return "eof";
	case TLS_ERROR:
		return "error";
	}
	return "unknown";
}

const char *tls_conn_state_name(tls_conn_state_t st)
{
	switch (st) {
	case TLS_CONN_HANDSHAKE:
		return "handshake";
	case TLS_CONN_OPEN:
		return "open";
	case TLS_CONN_CLOSED:
		return "closed";
	case TLS_CONN_FAILED:
		return "failed";
	}
	return "unknown";
}

/* ------------------------------------------------------------------ */
/* protocols */

static const struct {
	const char *name;
	unsigned bits;
} proto_words[] = {
	{"tlsv1.0", TLS_PROTO_TLSv1_0},
	{"tlsv1.1", TLS_PROTO_TLSv1_1},
	{"tlsv1.2", TLS_PROTO_TLSv1_2},
	{"tlsv1.3", TLS_PROTO_TLSv1_3},
	/* libusual, which PgBouncer uses, reads "tlsv1" as every 1.x */
	{"tlsv1", TLS_PROTO_ALL},
	{"all", TLS_PROTO_ALL},
	{"legacy", TLS_PROTO_ALL},
	{"secure", TLS_PROTO_SECURE},
	{"default", TLS_PROTO_SECURE},
};

static bool proto_word(const char *w, size_t n, unsigned *bits)
{
	size_t i;

	for (i = 0; i < NELEM(proto_words); i++) {
		if (strlen(proto_words[i].name) == n &&
		    strncasecmp(w, proto_words[i].name, n) == 0) {
			*bits = proto_words[i].bits;
			return true;
		}
	}
	return false;
}

bool tls_protocols_parse(const char *s, unsigned *mask, char *err,
			 size_t errlen)
{
	unsigned acc = 0, bits;
	bool first = true;
	const char *p = s;

	if (s == NULL || s[strspn(s, " \t,:")] == '\0') {
		*mask = TLS_PROTO_SECURE;
		return true;
	}
	while (*p != '\0') {
		bool neg = false;
		size_t n;

		p += strspn(p, " \t,:");
		if (*p == '\0')
			break;
		if (*p == '-' || *p == '!' || *p == '+') {
			neg = *p != '+';
			p++;
		}
		n = strcspn(p, " \t,:");
		if (!proto_word(p, n, &bits)) {
			seterr(err, errlen, "unknown TLS protocol \"%.*s\"",
			       (int)(n > 64 ? 64 : n), p);
			return false;
		}
		/* "-tlsv1.0" alone means every version but 1.0 (libusual) */
		if (neg && first)
			acc = TLS_PROTO_ALL;
		acc = neg ? (acc & ~bits) : (acc | bits);
		first = false;
		p += n;
	}
	if (acc == 0) {
		seterr(err, errlen, "no TLS protocol version left in \"%s\"",
		       s);
		return false;
	}
	*mask = acc;
	return true;
}

static const struct {
	unsigned bit;
	int version;
	uint64_t no_op;
} proto_versions[] = {
	{TLS_PROTO_TLSv1_0, TLS1_VERSION, SSL_OP_NO_TLSv1},
	{TLS_PROTO_TLSv1_1, TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},
	{TLS_PROTO_TLSv1_2, TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
	{TLS_PROTO_TLSv1_3, TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
};

/* Lowest and highest version bound the range; holes become NO_ options
 * (e.g. "tlsv1.0,tlsv1.2"). */
static bool apply_protocols(SSL_CTX *sc, unsigned mask)
{
	int lo = 0, hi = 0;
	size_t i;

	for (i = 0; i < NELEM(proto_versions); i++) {
		if (mask & proto_versions[i].bit) {
			if (lo == 0)
				lo = proto_versions[i].version;
			hi = proto_versions[i].version;
		}
	}
	if (!SSL_CTX_set_min_proto_version(sc, lo) ||
	    !SSL_CTX_set_max_proto_version(sc, hi))
		return false;
	for (i = 0; i < NELEM(proto_versions); i++) {
		int v = proto_versions[i].version;

		if (v > lo && v < hi && !(mask & proto_versions[i].bit))
			SSL_CTX_set_options(sc, proto_versions[i].no_op);
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* the socket BIO */

static pthread_once_t bio_once = PTHREAD_ONCE_INIT;
/* Created once and never freed, like OpenSSL's own static methods. */
static BIO_METHOD *bio_method;

static size_t prefix_left(const tls_conn_t *c)
{
	return c->prefix_len - c->prefix_off;
}

static int bio_read_ex(BIO *b, char *buf, size_t len, size_t *got)
{
	tls_conn_t *c = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	*got = 0;
	if (c == NULL)
		return 0;
	if (prefix_left(c) > 0) {
		size_t n = prefix_left(c) < len ? prefix_left(c) : len;

		memcpy(buf, c->prefix + c->prefix_off, n);
		c->prefix_off += n;
		*got = n;
		return 1;
	}
	if (c->fd < 0) {
		c->sys_errno = EBADF;
		return 0;
	}
	for (;;) {
		r = recv(c->fd, buf, len, MSG_DONTWAIT);
		if (r > 0) {
			*got = (size_t)r;
			return 1;
		}
		if (r == 0) {
			c->eof = true;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		else
			c->sys_errno = errno;
		return 0;
	}
}

static int bio_write_ex(BIO *b, const char *buf, size_t len, size_t *put)
{
	tls_conn_t *c = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	*put = 0;
	if (c == NULL)
		return 0;
	if (c->fd < 0) {
		c->sys_errno = EBADF;
		return 0;
	}
	for (;;) {
		r = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r >= 0) {
			*put = (size_t)r;
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		else
			c->sys_errno = errno;
		return 0;
	}
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	tls_conn_t *c = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1; /* nothing is buffered here */
	case BIO_CTRL_EOF:
		/* OpenSSL asks this to tell a peer's EOF from an error */
		return c != NULL && c->eof && prefix_left(c) == 0;
	case BIO_CTRL_PENDING:
		return c != NULL ? (long)prefix_left(c) : 0;
	default:
		return 0;
	}
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int bio_destroy(BIO *b)
{
	BIO_set_data(b, NULL);
	BIO_set_init(b, 0);
	return 1;
}

static void bio_method_init(void)
{
	BIO_METHOD *m;
	int idx = BIO_get_new_index();

	if (idx == -1)
		return;
	m = BIO_meth_new(idx | BIO_TYPE_SOURCE_SINK, "pgswitch socket");
	if (m == NULL)
		return;
	if (!BIO_meth_set_read_ex(m, bio_read_ex) ||
	    !BIO_meth_set_write_ex(m, bio_write_ex) ||
	    !BIO_meth_set_ctrl(m, bio_ctrl) ||
	    !BIO_meth_set_create(m, bio_create) ||
	    !BIO_meth_set_destroy(m, bio_destroy)) {
		BIO_meth_free(m);
		return;
	}
	bio_method = m;
}

/* ------------------------------------------------------------------ */
/* verification */

/* The first SAN (DNS or IP) of X, else its CN, into C->vname; how many
 * more SANs into C->vothers. For "does not match host name" messages. */
static void cert_names(tls_conn_t *c, X509 *x)
{
	GENERAL_NAMES *sans =
		X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int i, n = 0;

	c->vname[0] = '\0';
	c->vothers = 0;
	for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		const ASN1_STRING *s;
		char ip[INET6_ADDRSTRLEN] = "";

		if (gn->type != GEN_DNS && gn->type != GEN_IPADD)
			continue;
		if (n++ > 0)
			continue;
		s = gn->type == GEN_DNS ? gn->d.dNSName : gn->d.iPAddress;
		if (gn->type == GEN_DNS)
			copy_clean(c->vname, sizeof(c->vname),
				   ASN1_STRING_get0_data(s),
				   (size_t)ASN1_STRING_length(s));
		else if (ASN1_STRING_length(s) == 4 ||
			 ASN1_STRING_length(s) == 16)
			snprintf(c->vname, sizeof(c->vname), "%s",
				 inet_ntop(ASN1_STRING_length(s) == 4
						   ? AF_INET
						   : AF_INET6,
					   ASN1_STRING_get0_data(s), ip,
					   sizeof(ip))
					 ? ip
					 : "?");
	}
	GENERAL_NAMES_free(sans);
	if (n > 0) {
		c->vothers = n - 1;
		return;
	}
	i = X509_NAME_get_index_by_NID(X509_get_subject_name(x), NID_commonName,
				       -1);
	if (i >= 0) {
		const ASN1_STRING *s = X509_NAME_ENTRY_get_data(
			X509_NAME_get_entry(X509_get_subject_name(x), i));

		copy_clean(c->vname, sizeof(c->vname), ASN1_STRING_get0_data(s),
			   (size_t)ASN1_STRING_length(s));
	}
}

static void cert_subject(char *out, size_t cap, X509 *x)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	out[0] = '\0';
	if (mem == NULL || x == NULL) {
		BIO_free(mem);
		return;
	}
	/* RFC 2253 form escapes control and 8-bit bytes */
	if (X509_NAME_print_ex(mem, X509_get_subject_name(x), 0,
			       XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(mem, &p);
		if (n > 0 && p != NULL)
			copy_clean(out, cap, (const unsigned char *)p,
				   (size_t)n);
	}
	BIO_free(mem);
}

/*
 * Records the first failure for the message. Below verify-ca on the server
 * side any certificate is accepted (PgBouncer: "not validated"), and
 * tls_peer_verified() reports whether it would have passed.
 */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(
		xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	tls_conn_t *c = ssl != NULL ? SSL_get_app_data(ssl) : NULL;

	if (c == NULL)
		return ok;
	if (!ok && c->verr == 0) {
		X509 *cur = X509_STORE_CTX_get_current_cert(xs);

		c->verr = X509_STORE_CTX_get_error(xs);
		c->vdepth = X509_STORE_CTX_get_error_depth(xs);
		cert_subject(c->vsubject, sizeof(c->vsubject), cur);
		if ((c->verr == X509_V_ERR_HOSTNAME_MISMATCH ||
		     c->verr == X509_V_ERR_IP_ADDRESS_MISMATCH) &&
		    cur != NULL)
			cert_names(c, cur);
	}
	return c->verify_optional ? 1 : ok;
}

/* PostgreSQL 17's rule: a client offering ALPN must offer ours. */
static int alpn_select_cb(SSL *ssl, const unsigned char **out,
			  unsigned char *outlen, const unsigned char *in,
			  unsigned int inlen, void *arg)
{
	unsigned int i = 0;

	(void)ssl;
	(void)arg;
	while (i < inlen) {
		unsigned int n = in[i];

		if (n > inlen - i - 1)
			break; /* malformed list */
		if (n == PG_ALPN_LEN && memcmp(in + i + 1, PG_ALPN, n) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL; /* alert no_application_protocol */
}

/* Never prompt on a terminal for an encrypted key: fail instead. */
static int no_passwd_cb(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* ------------------------------------------------------------------ */
/* context */

static bool set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* PgBouncer's cipher keywords. default/secure/fast/normal keep OpenSSL's
 * system-wide default (its docs since 1.21); NULL = leave untouched. */
static const char *cipher_list(const char *s)
{
	static const char *const keep[] = {"default", "secure", "fast",
					   "normal"};
	size_t i;

	if (!set(s))
		return NULL;
	for (i = 0; i < NELEM(keep); i++)
		if (strcasecmp(s, keep[i]) == 0)
			return NULL;
	if (strcasecmp(s, "all") == 0 || strcasecmp(s, "insecure") == 0)
		return "ALL:!aNULL:!eNULL";
	if (strcasecmp(s, "compat") == 0 || strcasecmp(s, "legacy") == 0)
		return "HIGH:!aNULL";
	return s;
}

static bool ctx_ciphers(SSL_CTX *sc, const tls_settings_t *st, const char *side,
			char *err, size_t errlen)
{
	char why[TLS_ERR_MAX];
	const char *list = cipher_list(st->ciphers);

	if (list != NULL && !SSL_CTX_set_cipher_list(sc, list)) {
		ssl_reason(why, sizeof(why));
		seterr(err, errlen, "invalid %s_tls_ciphers \"%s\": %s", side,
		       st->ciphers, why);
		return false;
	}
	if (set(st->tls13_ciphers) &&
	    !SSL_CTX_set_ciphersuites(sc, st->tls13_ciphers)) {
		ssl_reason(why, sizeof(why));
		/* PgBouncer's words, which operators' alerts match. */
		seterr(err, errlen,
		       "failed to set the TLSv1.3 cipher suites: invalid "
		       "%s_tls13_ciphers \"%s\": %s",
		       side, st->tls13_ciphers, why);
		return false;
	}
	return true;
}

static bool ctx_dh_file(SSL_CTX *sc, const char *path, const char *side,
			char *err, size_t errlen)
{
	char why[TLS_ERR_MAX];
	BIO *b = BIO_new_file(path, "r");
	EVP_PKEY *dh = b != NULL ? PEM_read_bio_Parameters(b, NULL) : NULL;

	BIO_free(b);
	if (dh == NULL || !EVP_PKEY_is_a(dh, "DH")) {
		if (dh != NULL)
			snprintf(why, sizeof(why), "not DH parameters");
		else
			ssl_reason(why, sizeof(why));
		seterr(err, errlen,
		       "could not load %s_tls_dheparams file \"%s\": %s", side,
		       path, why);
		EVP_PKEY_free(dh);
		return false;
	}
	if (!SSL_CTX_set0_tmp_dh_pkey(sc, dh)) {
		ssl_reason(why, sizeof(why));
		seterr(err, errlen, "unusable %s_tls_dheparams file \"%s\": %s",
		       side, path, why);
		EVP_PKEY_free(dh);
		return false;
	}
	return true;
}

/* Key exchange: ecdhcurve on both sides, dheparams as a server. */
static bool ctx_kex(SSL_CTX *sc, bool server_side, const tls_settings_t *st,
		    const char *side, char *err, size_t errlen)
{
	char why[TLS_ERR_MAX];
	const char *dh = set(st->dheparams) ? st->dheparams : "auto";

	/*
	 * "auto" keeps OpenSSL's group list (X25519, P-256, ...). "none"
	 * does too: since OpenSSL 1.1 ECDHE cannot be turned off without
	 * breaking TLS 1.3, which has no other key exchange we offer.
	 */
	if (set(st->ecdhcurve) && strcasecmp(st->ecdhcurve, "auto") != 0 &&
	    strcasecmp(st->ecdhcurve, "none") != 0 &&
	    !SSL_CTX_set1_groups_list(sc, st->ecdhcurve)) {
		ssl_reason(why, sizeof(why));
		seterr(err, errlen, "invalid %s_tls_ecdhcurve \"%s\": %s", side,
		       st->ecdhcurve, why);
		return false;
	}
	if (!server_side || strcasecmp(dh, "none") == 0)
		return true;
	if (strcasecmp(dh, "auto") == 0) {
		(void)SSL_CTX_set_dh_auto(sc, 1);
		return true;
	}
	if (strcasecmp(dh, "legacy") == 0) {
		(void)SSL_CTX_set_dh_auto(sc, 2); /* 2 = 1024-bit group */
		return true;
	}
	return ctx_dh_file(sc, dh, side, err, errlen);
}

static bool ctx_keypair(SSL_CTX *sc, const tls_settings_t *st, const char *side,
			char *err, size_t errlen)
{
	char why[TLS_ERR_MAX];
	unsigned long e;
	bool mismatch;

	if (!SSL_CTX_use_certificate_chain_file(sc, st->cert_file)) {
		ssl_reason(why, sizeof(why));
		seterr(err, errlen,
		       "could not load %s_tls_cert_file \"%s\": %s", side,
		       st->cert_file, why);
		return false;
	}
	if (SSL_CTX_use_PrivateKey_file(sc, st->key_file, SSL_FILETYPE_PEM)) {
		mismatch = !SSL_CTX_check_private_key(sc);
	} else {
		/* OpenSSL may find the mismatch already here */
		e = ERR_peek_error();
		mismatch = ERR_GET_LIB(e) == ERR_LIB_X509 &&
			   ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
		if (!mismatch) {
			ssl_reason(why, sizeof(why));
			seterr(err, errlen,
			       "could not load %s_tls_key_file \"%s\": %s",
			       side, st->key_file, why);
			return false;
		}
	}
	if (mismatch) {
		ERR_clear_error();
		seterr(err, errlen,
		       "%s_tls_key_file \"%s\" does not match "
		       "%s_tls_cert_file \"%s\"",
		       side, st->key_file, side, st->cert_file);
		return false;
	}
	return true;
}

/* Roots for verification and, as a server, the CA names we advertise
 * in the CertificateRequest. */
static bool ctx_verify(SSL_CTX *sc, bool server_side, const tls_settings_t *st,
		       const char *side, char *err, size_t errlen)
{
	char why[TLS_ERR_MAX];
	bool verify = st->sslmode >= TLS_SSLMODE_VERIFY_CA;
	int mode;

	if (set(st->ca_file)) {
		if (!SSL_CTX_load_verify_locations(sc, st->ca_file, NULL)) {
			ssl_reason(why, sizeof(why));
			seterr(err, errlen,
			       "could not load %s_tls_ca_file \"%s\": %s", side,
			       st->ca_file, why);
			return false;
		}
		if (server_side) {
			STACK_OF(X509_NAME) *names =
				SSL_load_client_CA_file(st->ca_file);

			if (names != NULL)
				SSL_CTX_set_client_CA_list(sc, names);
			ERR_clear_error();
		}
	} else if (verify && !SSL_CTX_set_default_verify_paths(sc)) {
		ssl_reason(why, sizeof(why));
		seterr(err, errlen, "could not load the system CA store: %s",
		       why);
		return false;
	}
	if (!server_side) {
		SSL_CTX_set_verify(sc,
				   verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
				   verify ? verify_cb : NULL);
		return true;
	}
	/* as a server: always ask (PgBouncer), require from verify-ca on */
	mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
	if (verify)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(sc, mode, verify_cb);
	return true;
}

/* Checks that need no OpenSSL: PgBouncer's config rules. */
static bool ctx_check(bool server_side, const tls_settings_t *st,
		      const char *side, char *err, size_t errlen)
{
	if (server_side && (!set(st->key_file) || !set(st->cert_file))) {
		seterr(err, errlen,
		       "to accept TLS connections from clients, "
		       "client_tls_key_file and client_tls_cert_file "
		       "must be set");
		return false;
	}
	if (!server_side && set(st->key_file) != set(st->cert_file)) {
		seterr(err, errlen,
		       "server_tls_key_file and server_tls_cert_file must be "
		       "set together");
		return false;
	}
	if (server_side && st->sslmode == TLS_SSLMODE_VERIFY_FULL &&
	    !set(st->ca_file)) {
		seterr(err, errlen,
		       "%s_tls_sslmode verify-full requires %s_tls_ca_file",
		       side, side);
		return false;
	}
	return true;
}

/* Options and modes common to both sides. */
static void ctx_common(SSL_CTX *sc)
{
	SSL_CTX_set_options(sc, SSL_OP_NO_COMPRESSION |
					SSL_OP_NO_RENEGOTIATION |
					SSL_OP_IGNORE_UNEXPECTED_EOF);
	/*
	 * Partial writes: tls_write() returns after each record like send().
	 * Moving buffer: the caller's output buffer may be compacted between
	 * retries. Release buffers: an idle connection keeps ~no TLS buffers.
	 */
	SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE |
				     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				     SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_read_ahead(sc, 1);
	SSL_CTX_set_default_passwd_cb(sc, no_passwd_cb);
}

static bool ctx_server(SSL_CTX *sc, char *err, size_t errlen)
{
	unsigned char sid[SSL_MAX_SID_CTX_LENGTH];

	SSL_CTX_set_options(sc, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_alpn_select_cb(sc, alpn_select_cb, NULL);
	/*
	 * A session id context is needed to resume sessions of verified
	 * client certificates. Random per context: a session verified
	 * under the old CA must not resume after a reload.
	 */
	if (RAND_bytes(sid, sizeof(sid)) != 1 ||
	    !SSL_CTX_set_session_id_context(sc, sid, sizeof(sid))) {
		ERR_clear_error();
		seterr(err, errlen, "could not set the TLS session id context");
		return false;
	}
	return true;
}

tls_ctx_t *tls_ctx_new(bool server_side, const tls_settings_t *st, char *err,
		       size_t errlen)
{
	const char *side = server_side ? "client" : "server";
	char why[TLS_ERR_MAX];
	unsigned protos;
	tls_ctx_t *ctx;
	SSL_CTX *sc;

	if (st == NULL) {
		seterr(err, errlen, "no TLS settings");
		return NULL;
	}
	if (!ctx_check(server_side, st, side, err, errlen))
		return NULL;
	if (!tls_protocols_parse(st->protocols, &protos, why, sizeof(why))) {
		seterr(err, errlen, "invalid %s_tls_protocols: %s", side, why);
		return NULL;
	}
	ERR_clear_error();
	sc = SSL_CTX_new(server_side ? TLS_server_method()
				     : TLS_client_method());
	ctx = calloc(1, sizeof(*ctx));
	if (sc == NULL || ctx == NULL) {
		ERR_clear_error();
		seterr(err, errlen, "out of memory for a TLS context");
		goto fail;
	}
	ctx_common(sc);
	if (!apply_protocols(sc, protos)) {
		ssl_reason(why, sizeof(why));
		seterr(err, errlen, "invalid %s_tls_protocols \"%s\": %s", side,
		       st->protocols, why);
		goto fail;
	}
	if (!ctx_ciphers(sc, st, side, err, errlen) ||
	    !ctx_kex(sc, server_side, st, side, err, errlen))
		goto fail;
	if (set(st->cert_file) && !ctx_keypair(sc, st, side, err, errlen))
		goto fail;
	if (!ctx_verify(sc, server_side, st, side, err, errlen))
		goto fail;
	if (server_side && !ctx_server(sc, err, errlen))
		goto fail;
	if (!server_side)
		SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
	ctx->ssl_ctx = sc;
	ctx->server_side = server_side;
	ctx->sslmode = st->sslmode;
	return ctx;
fail:
	SSL_CTX_free(sc);
	free(ctx);
	ERR_clear_error();
	return NULL;
}

void tls_ctx_free(tls_ctx_t *ctx)
{
	if (ctx == NULL)
		return;
	/* only drops our reference: live connections hold their own */
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

bool tls_ctx_server_side(const tls_ctx_t *ctx)
{
	return ctx->server_side;
}

tls_sslmode_t tls_ctx_sslmode(const tls_ctx_t *ctx)
{
	return ctx->sslmode;
}

/* ------------------------------------------------------------------ */
/* connection */

static bool is_ip_literal(const char *h)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, h, buf) == 1 ||
	       inet_pton(AF_INET6, h, buf) == 1;
}

/* Client side: SNI, ALPN and the verify-full name check. */
static bool conn_client_setup(tls_conn_t *c, tls_sslmode_t mode,
			      const char *host, char *err, size_t errlen)
{
	bool named = host != NULL && host[0] != '\0' && host[0] != '/';
	bool ip = named && is_ip_literal(host);

	if (mode == TLS_SSLMODE_VERIFY_FULL && !named) {
		seterr(err, errlen,
		       "server_tls_sslmode verify-full needs the server's host "
		       "name to check its certificate");
		return false;
	}
	if (named && (c->host = strdup(host)) == NULL) {
		seterr(err, errlen, "out of memory");
		return false;
	}
	/* libpq's sslsni=1: SNI for names, never for IP literals */
	if (named && !ip && strlen(host) <= 255 &&
	    !SSL_set_tlsext_host_name(c->ssl, host)) {
		seterr(err, errlen, "could not set SNI \"%s\"", host);
		return false;
	}
	/* returns 0 on success, unlike nearly everything else */
	if (SSL_set_alpn_protos(c->ssl, pg_alpn_wire, PG_ALPN_LEN + 1) != 0) {
		seterr(err, errlen, "could not set ALPN");
		return false;
	}
	if (mode == TLS_SSLMODE_VERIFY_FULL) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
		int ok;

		X509_VERIFY_PARAM_set_hostflags(
			vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host)
			: X509_VERIFY_PARAM_set1_host(vp, host, 0);
		if (!ok) {
			seterr(err, errlen,
			       "could not set host \"%s\" for verification",
			       host);
			return false;
		}
	}
	return true;
}

tls_conn_t *tls_conn_new(tls_ctx_t *ctx, int fd, const char *host,
			 const uint8_t *prefix, size_t prefix_len, char *err,
			 size_t errlen)
{
	tls_conn_t *c;
	BIO *bio;

	if (ctx == NULL || fd < 0) {
		seterr(err, errlen, "no TLS context or socket");
		return NULL;
	}
	pthread_once(&bio_once, bio_method_init);
	if (bio_method == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
		seterr(err, errlen, "out of memory for a TLS connection");
		return NULL;
	}
	c->fd = fd;
	c->server_side = ctx->server_side;
	c->verify_optional =
		ctx->server_side && ctx->sslmode < TLS_SSLMODE_VERIFY_CA;
	c->verify_server =
		!ctx->server_side && ctx->sslmode >= TLS_SSLMODE_VERIFY_CA;
	c->state = TLS_CONN_HANDSHAKE;
	if (prefix_len > 0) {
		if ((c->prefix = malloc(prefix_len)) == NULL) {
			seterr(err, errlen, "out of memory");
			goto fail;
		}
		memcpy(c->prefix, prefix, prefix_len);
		c->prefix_len = prefix_len;
	}
	ERR_clear_error();
	c->ssl = SSL_new(ctx->ssl_ctx);
	bio = c->ssl != NULL ? BIO_new(bio_method) : NULL;
	if (bio == NULL) {
		seterr(err, errlen, "out of memory for a TLS connection");
		goto fail;
	}
	BIO_set_data(bio, c);
	SSL_set_bio(c->ssl, bio, bio); /* the SSL owns one reference */
	SSL_set_app_data(c->ssl, c);
	if (ctx->server_side) {
		SSL_set_accept_state(c->ssl);
	} else {
		SSL_set_connect_state(c->ssl);
		if (!conn_client_setup(c, ctx->sslmode, host, err, errlen))
			goto fail;
	}
	return c;
fail:
	ERR_clear_error();
	c->fd = -1;
	SSL_free(c->ssl);
	free(c->prefix);
	free(c->host);
	free(c);
	return NULL;
}

/* The verification failure recorded by verify_cb, as one message. */
static void verify_message(tls_conn_t *c)
{
	long v = c->verr != 0 ? c->verr : SSL_get_verify_result(c->ssl);
	const char *who = c->server_side ? "client" : "server";

	if ((v == X509_V_ERR_HOSTNAME_MISMATCH ||
	     v == X509_V_ERR_IP_ADDRESS_MISMATCH) &&
	    c->host != NULL) {
		char others[48] = "";

		if (c->vothers > 0)
			snprintf(others, sizeof(others),
				 " (and %d other name%s)", c->vothers,
				 c->vothers > 1 ? "s" : "");
		snprintf(c->err, sizeof(c->err),
			 "certificate verify failed: server certificate for "
			 "\"%s\"%s does not match host name \"%s\"",
			 c->vname, others, c->host);
		return;
	}
	if (v == X509_V_OK) {
		snprintf(c->err, sizeof(c->err), "certificate verify failed");
		return;
	}
	snprintf(c->err, sizeof(c->err),
		 "certificate verify failed: %s (%s certificate%s \"%s\")",
		 X509_verify_cert_error_string(v), who,
		 c->vdepth > 0 ? " chain, at" : "", c->vsubject);
}

/* Turn a failed SSL_* call into a status; fills c->err on EOF/ERROR. */
static tls_status_t conn_status(tls_conn_t *c, int ret)
{
	int e = SSL_get_error(c->ssl, ret);
	unsigned long q;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		ERR_clear_error();
		return TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		return TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		goto eof;
	case SSL_ERROR_SYSCALL:
		if (c->sys_errno == 0 && ERR_peek_error() == 0)
			goto eof;
		if (c->sys_errno != 0) {
			snprintf(c->err, sizeof(c->err), "%s",
				 strerror(c->sys_errno));
			ERR_clear_error();
		} else {
			ssl_reason(c->err, sizeof(c->err));
		}
		break;
	case SSL_ERROR_SSL:
		q = ERR_peek_error();
		if (ERR_GET_LIB(q) == ERR_LIB_SSL &&
		    ERR_GET_REASON(q) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			goto eof;
		}
		if (ERR_GET_LIB(q) == ERR_LIB_SSL &&
		    ERR_GET_REASON(q) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
			ERR_clear_error();
			verify_message(c);
		} else {
			ssl_reason(c->err, sizeof(c->err));
		}
		break;
	default:
		ERR_clear_error();
		snprintf(c->err, sizeof(c->err), "unexpected TLS error %d", e);
		break;
	}
	c->state = TLS_CONN_FAILED;
	return TLS_ERROR;
eof:
	ERR_clear_error();
	snprintf(c->err, sizeof(c->err), "%s",
		 c->handshake_done ? "connection closed by peer"
				   : "connection closed by peer during TLS "
				     "handshake");
	c->state = TLS_CONN_CLOSED;
	return TLS_EOF;
}

static void fail_now(tls_conn_t *c, const char *msg)
{
	snprintf(c->err, sizeof(c->err), "%s", msg);
	c->state = TLS_CONN_FAILED;
}

tls_status_t tls_handshake(tls_conn_t *c, char *err, size_t errlen)
{
	const unsigned char *alpn = NULL;
	unsigned int alpn_len = 0;
	tls_status_t st;
	int r;

	switch (c->state) {
	case TLS_CONN_OPEN:
		return TLS_OK;
	case TLS_CONN_CLOSED:
		seterr(err, errlen, "%s", c->err[0] ? c->err : "closed");
		return TLS_EOF;
	case TLS_CONN_FAILED:
		seterr(err, errlen, "%s", c->err);
		return TLS_ERROR;
	case TLS_CONN_HANDSHAKE:
		break;
	}
	ERR_clear_error();
	c->sys_errno = 0;
	r = SSL_do_handshake(c->ssl);
	if (r != 1) {
		st = conn_status(c, r);
		if (st == TLS_EOF || st == TLS_ERROR)
			seterr(err, errlen, "%s", c->err);
		return st;
	}
	/* OpenSSL passes a server without a certificate (anonymous suites,
	 * which we never enable); verify-ca must not */
	if (c->verify_server && SSL_get0_peer_certificate(c->ssl) == NULL) {
		fail_now(c, "certificate verify failed: the server sent no "
			    "certificate");
		seterr(err, errlen, "%s", c->err);
		return TLS_ERROR;
	}
	SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
	c->alpn_ok = alpn_len == PG_ALPN_LEN &&
		     memcmp(alpn, PG_ALPN, PG_ALPN_LEN) == 0;
	c->handshake_done = true;
	c->state = TLS_CONN_OPEN;
	return TLS_OK;
}

/* A read or write outside state OPEN. */
static ssize_t not_open(tls_conn_t *c, bool reading, tls_status_t *st)
{
	if (c->state == TLS_CONN_CLOSED && reading) {
		*st = TLS_EOF;
		return 0;
	}
	if (c->state == TLS_CONN_HANDSHAKE)
		snprintf(c->err, sizeof(c->err), "TLS handshake not complete");
	else if (c->state == TLS_CONN_CLOSED)
		snprintf(c->err, sizeof(c->err), "TLS connection closed");
	*st = TLS_ERROR;
	return -1;
}

ssize_t tls_read(tls_conn_t *c, void *buf, size_t len, tls_status_t *st)
{
	tls_status_t dummy;
	size_t n = 0;

	if (st == NULL)
		st = &dummy;
	if (c->state != TLS_CONN_OPEN)
		return not_open(c, true, st);
	if (len == 0) {
		snprintf(c->err, sizeof(c->err), "zero-length TLS read");
		*st = TLS_ERROR;
		return -1;
	}
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	ERR_clear_error();
	c->sys_errno = 0;
	if (SSL_read_ex(c->ssl, buf, len, &n) == 1) {
		*st = TLS_OK;
		return (ssize_t)n;
	}
	*st = conn_status(c, 0);
	return *st == TLS_EOF ? 0 : -1;
}

ssize_t tls_write(tls_conn_t *c, const void *buf, size_t len, tls_status_t *st)
{
	tls_status_t dummy;
	size_t n = 0;

	if (st == NULL)
		st = &dummy;
	if (c->state != TLS_CONN_OPEN)
		return not_open(c, false, st);
	*st = TLS_OK;
	if (len == 0)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	ERR_clear_error();
	c->sys_errno = 0;
	if (SSL_write_ex(c->ssl, buf, len, &n) == 1)
		return (ssize_t)n;
	*st = conn_status(c, 0);
	if (*st == TLS_EOF) /* the peer's close_notify: nothing to write to */
		*st = TLS_ERROR;
	return -1;
}

size_t tls_pending(tls_conn_t *c)
{
	size_t p = prefix_left(c);
	int n;

	if (c->state != TLS_CONN_OPEN)
		return p;
	n = SSL_pending(c->ssl);
	if (n > 0)
		p += (size_t)n;
	else if (SSL_has_pending(c->ssl))
		p += 1; /* undecrypted records are buffered: size unknown */
	return p;
}

void tls_close_notify(tls_conn_t *c)
{
	if (c == NULL || c->fd < 0)
		return;
	/* after a fatal error or mid-handshake there is nothing to close */
	if (c->handshake_done && c->state != TLS_CONN_FAILED) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl); /* one try: sends, never waits */
		ERR_clear_error();
	}
	c->fd = -1;
	if (c->state == TLS_CONN_OPEN || c->state == TLS_CONN_HANDSHAKE)
		c->state = TLS_CONN_CLOSED;
}

void tls_conn_free(tls_conn_t *c)
{
	if (c == NULL)
		return;
	tls_close_notify(c);
	SSL_free(c->ssl); /* frees the BIO and our context reference */
	free(c->prefix);
	free(c->host);
	free(c);
}

tls_conn_state_t tls_conn_state(const tls_conn_t *c)
{
	return c->state;
}

const char *tls_last_error(const tls_conn_t *c)
{
	return c->err;
}

/* ------------------------------------------------------------------ */
/* information */

const char *tls_version(tls_conn_t *c)
{
	return c->handshake_done ? SSL_get_version(c->ssl) : "";
}

const char *tls_cipher(tls_conn_t *c)
{
	const char *s = c->handshake_done ? SSL_get_cipher_name(c->ssl) : NULL;

	return s != NULL ? s : "";
}

bool tls_alpn_ok(tls_conn_t *c)
{
	return c->alpn_ok;
}

bool tls_peer_cert_present(tls_conn_t *c)
{
	return c->handshake_done && SSL_get0_peer_certificate(c->ssl) != NULL;
}

bool tls_peer_verified(tls_conn_t *c)
{
	return tls_peer_cert_present(c) && c->verr == 0 &&
	       SSL_get_verify_result(c->ssl) == X509_V_OK;
}

bool tls_peer_cert_cn(tls_conn_t *c, char *out, size_t cap)
{
	X509 *x = c->handshake_done ? SSL_get0_peer_certificate(c->ssl) : NULL;
	X509_NAME *name = x != NULL ? X509_get_subject_name(x) : NULL;
	unsigned char *u8 = NULL;
	int i, n;
	bool ok = false;

	if (name == NULL || cap == 0)
		return false;
	i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i < 0)
		return false;
	n = ASN1_STRING_to_UTF8(
		&u8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	/* a NUL inside the CN could make "admin\0.evil" read as "admin" */
	if (n >= 0 && (size_t)n < cap && memchr(u8, '\0', (size_t)n) == NULL) {
		memcpy(out, u8, (size_t)n);
		out[n] = '\0';
		ok = true;
	}
	OPENSSL_free(u8);
	ERR_clear_error();
	return ok;
}

int tls_server_end_point(tls_conn_t *c, uint8_t *out, size_t cap)
{
	X509 *x;
	int md_nid = NID_undef, pk_nid;
	const EVP_MD *md;
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!c->handshake_done)
		return -1;
	x = c->server_side ? SSL_get_certificate(c->ssl)
			   : SSL_get0_peer_certificate(c->ssl);
	if (x == NULL)
		return -1;
	/* the signature's hash (RSA-PSS included), as PostgreSQL does */
	if (!X509_get_signature_info(x, &md_nid, &pk_nid, NULL, NULL) &&
	    !OBJ_find_sigid_algs(X509_get_signature_nid(x), &md_nid, &pk_nid))
		md_nid = NID_undef;
	ERR_clear_error();
	/* RFC 5929 4.1: MD5 and SHA-1 are replaced by SHA-256 */
	if (md_nid == NID_md5 || md_nid == NID_sha1)
		md_nid = NID_sha256;
	if (md_nid == NID_undef || (md = EVP_get_digestbynid(md_nid)) == NULL)
		return -1;
	if (!X509_digest(x, md, h, &n) || n > cap || n > TLS_MAX_CB_DATA) {
		ERR_clear_error();
		return -1;
	}
	memcpy(out, h, n);
	return (int)n;
}
