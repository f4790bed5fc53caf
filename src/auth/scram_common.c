/* SPDX-License-Identifier: MIT */
/*
 * scram_common.c - SCRAM-SHA-256 pieces shared by the server and client
 * sides (RFC 5802, RFC 7677): strict base64, HMAC/H, key derivation,
 * secret parsing and building, and the attribute tokenizer.
 */
#include "auth/auth_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t scram_b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t scram_b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0;
	size_t i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = b64chars[(v >> 6) & 63];
		out[o++] = b64chars[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = b64chars[(v >> 6) & 63];
		out[o++] = '=';
	}
	return o;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

bool scram_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap,
		      size_t *outlen)
{
	size_t o = 0;

	if (n % 4 != 0)
		return false;
	for (size_t i = 0; i < n; i += 4) {
		bool last = i + 4 == n;
		int v[4];
		int pad = 0;

		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];

			/* '=' only in the last two places of the last group */
			if (c == '=' && last && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0)
				return false;
			v[k] = b64val(c);
			if (v[k] < 0)
				return false;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/*
		 * Reject bits past the data in a padded group, so that each
		 * byte string has exactly one accepted encoding.
		 */
		if ((pad == 1 && (w & 0xff) != 0) ||
		    (pad == 2 && (w & 0xffff) != 0))
			return false;
		size_t nb = 3 - (size_t)pad;
		if (o + nb > cap)
			return false;
		out[o++] = (uint8_t)(w >> 16);
		if (nb > 1)
			out[o++] = (uint8_t)(w >> 8);
		if (nb > 2)
			out[o++] = (uint8_t)w;
	}
	*outlen = o;
	return true;
}

size_t scram_cbind_b64(const char *gs2, size_t gs2len, const uint8_t *cb,
		       size_t cblen, char *out)
{
	uint8_t in[SCRAM_CBIND_MAX];

	if (gs2len + cblen > sizeof(in))
		return 0;
	memcpy(in, gs2, gs2len);
	if (cblen > 0)
		memcpy(in + gs2len, cb, cblen);
	return scram_b64_encode(in, gs2len + cblen, out);
}

bool scram_sha256(const void *data, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int olen = 0;

	if (EVP_Digest(data, len, out, &olen, EVP_sha256(), NULL) != 1)
		return false;
	return olen == SCRAM_KEY_LEN;
}

/* HMAC-SHA-256 over the concatenation of N pieces. */
static bool hmac_pieces(const uint8_t *key, size_t keylen,
			const void *const *data, const size_t *lens, size_t n,
			uint8_t out[SCRAM_KEY_LEN])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = NULL;
	bool ok = false;
	size_t olen = 0;
	char digest[] = "SHA256";
	OSSL_PARAM params[2];

	if (mac == NULL)
		return false;
	ctx = EVP_MAC_CTX_new(mac);
	if (ctx == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(ctx, key, keylen, params) != 1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (lens[i] > 0 && EVP_MAC_update(ctx, data[i], lens[i]) != 1)
			goto out;
	}
	if (EVP_MAC_final(ctx, out, &olen, SCRAM_KEY_LEN) != 1)
		goto out;
	ok = olen == SCRAM_KEY_LEN;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok;
}

bool scram_hmac(const uint8_t *key, size_t keylen, const void *data, size_t len,
		uint8_t out[SCRAM_KEY_LEN])
{
	const void *d[1] = {data};
	size_t l[1] = {len};

	return hmac_pieces(key, keylen, d, l, 1, out);
}

bool scram_hmac_auth(const uint8_t key[SCRAM_KEY_LEN], const char *a,
		     size_t alen, const char *b, size_t blen, const char *c,
		     size_t clen, uint8_t out[SCRAM_KEY_LEN])
{
	const void *d[5] = {a, ",", b, ",", c};
	size_t l[5] = {alen, 1, blen, 1, clen};

	return hmac_pieces(key, SCRAM_KEY_LEN, d, l, 5, out);
}

/*
 * SASLprep (RFC 4013), the subset we implement. PostgreSQL normalises a
 * password with SASLprep when it is valid UTF-8 without prohibited code
 * points, and otherwise uses the raw bytes. A pure-ASCII password is left
 * unchanged by PostgreSQL's SASLprep (it has a fast path for exactly that),
 * so we use it as is. For anything else we use the raw bytes, which matches
 * PostgreSQL whenever its normalisation fails or is the identity (already
 * NFKC, no non-ASCII spaces, no "mapped to nothing" code points); a
 * non-ASCII password that PostgreSQL would rewrite will not match a
 * secret PostgreSQL made. Both directions here use the same rule, so our
 * own secrets and logins always agree.
 */
static const char *prep_password(const char *password)
{
	return password;
}

bool scram_derive_keys(const char *password, const uint8_t *salt,
		       size_t saltlen, int iterations,
		       uint8_t client_key[SCRAM_KEY_LEN],
		       uint8_t server_key[SCRAM_KEY_LEN])
{
	uint8_t salted[SCRAM_KEY_LEN];
	const char *pw = prep_password(password ? password : "");
	size_t pwlen = strlen(pw);
	bool ok = false;

	if (iterations < 1 || saltlen == 0 || saltlen > INT_MAX ||
	    pwlen > INT_MAX)
		return false;
	if (PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)saltlen, iterations,
			      EVP_sha256(), SCRAM_KEY_LEN, salted) != 1)
		goto out;
	if (client_key != NULL &&
	    !scram_hmac(salted, SCRAM_KEY_LEN, "Client Key", 10, client_key))
		goto out;
	if (server_key != NULL &&
	    !scram_hmac(salted, SCRAM_KEY_LEN, "Server Key", 10, server_key))
		goto out;
	ok = true;
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	return ok;
}

bool scram_parse_iterations(const char *s, size_t n, int *out)
{
	long long v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
		if (v > INT_MAX)
			return false;
	}
	if (v < 1)
		return false;
	*out = (int)v;
	return true;
}

bool scram_printable(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || c == ',')
			return false;
	}
	return true;
}

void scram_xor(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = a[i] ^ b[i];
}

bool scram_next_attr(scram_cursor_t *cur, char *name, const char **val,
		     size_t *vlen)
{
	const char *p = cur->p;
	const char *v;

	if (cur->end - p < 2)
		return false;
	if (!((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')))
		return false;
	if (p[1] != '=')
		return false;
	*name = p[0];
	v = p + 2;
	p = v;
	while (p < cur->end && *p != ',')
		p++;
	*val = v;
	*vlen = (size_t)(p - v);
	if (p < cur->end) {
		p++; /* the ',' */
		if (p == cur->end)
			return false;
	}
	cur->p = p;
	return true;
}

/* Index of the next C in [s, s+n), or n. */
static size_t span_to(const char *s, size_t n, char c)
{
	const char *q = memchr(s, c, n);

	return q ? (size_t)(q - s) : n;
}

bool scram_parse_secret(const char *secret, scram_secret_t *out)
{
	const size_t plen = sizeof(SCRAM_SECRET_PREFIX) - 1;
	const char *p;
	size_t n;
	size_t k;
	size_t got;

	if (secret == NULL || strncmp(secret, SCRAM_SECRET_PREFIX, plen) != 0)
		return false;
	p = secret + plen;
	n = strlen(p);

	/* iterations ':' */
	k = span_to(p, n, ':');
	if (k == n || !scram_parse_iterations(p, k, &out->iterations))
		return false;
	p += k + 1;
	n -= k + 1;

	/* salt '$' */
	k = span_to(p, n, '$');
	if (k == n ||
	    !scram_b64_decode(p, k, out->salt, sizeof(out->salt), &got) ||
	    got == 0)
		return false;
	out->saltlen = got;
	p += k + 1;
	n -= k + 1;

	/* StoredKey ':' */
	k = span_to(p, n, ':');
	if (k == n ||
	    !scram_b64_decode(p, k, out->stored_key, SCRAM_KEY_LEN, &got) ||
	    got != SCRAM_KEY_LEN)
		return false;
	p += k + 1;
	n -= k + 1;

	/* ServerKey, to the end */
	if (!scram_b64_decode(p, n, out->server_key, SCRAM_KEY_LEN, &got) ||
	    got != SCRAM_KEY_LEN)
		return false;
	return true;
}

/*
 * SALT NULL means a fresh random salt of SALTLEN bytes (0: the default 16);
 * ITERATIONS <= 0 means the default 4096. OUT gets a NUL-terminated
 * secret; false if it does not fit or on a crypto failure.
 */
bool scram_make_secret(const char *password, const uint8_t *salt,
		       size_t saltlen, int iterations, char *out, size_t cap)
{
	uint8_t rsalt[SCRAM_MAX_SALT_LEN];
	uint8_t ck[SCRAM_KEY_LEN];
	uint8_t sk[SCRAM_KEY_LEN];
	uint8_t stored[SCRAM_KEY_LEN];
	char itbuf[16];
	bool ok = false;
	size_t need;
	size_t o;
	int itlen;

	if (out == NULL)
		return false;
	if (iterations <= 0)
		iterations = SCRAM_DEFAULT_ITERATIONS;
	if (salt == NULL) {
		if (saltlen == 0)
			saltlen = SCRAM_DEFAULT_SALT_LEN;
		if (saltlen > sizeof(rsalt) ||
		    RAND_bytes(rsalt, (int)saltlen) != 1)
			return false;
		salt = rsalt;
	}
	if (saltlen == 0 || saltlen > SCRAM_MAX_SALT_LEN)
		return false;

	itlen = snprintf(itbuf, sizeof(itbuf), "%d", iterations);
	if (itlen <= 0 || (size_t)itlen >= sizeof(itbuf))
		return false;
	need = sizeof(SCRAM_SECRET_PREFIX) - 1 + (size_t)itlen + 1 +
	       scram_b64_len(saltlen) + 1 + 2 * scram_b64_len(SCRAM_KEY_LEN) +
	       1 + 1;
	if (cap < need)
		return false;

	if (!scram_derive_keys(password, salt, saltlen, iterations, ck, sk) ||
	    !scram_sha256(ck, SCRAM_KEY_LEN, stored))
		goto out;

	o = 0;
	memcpy(out, SCRAM_SECRET_PREFIX, sizeof(SCRAM_SECRET_PREFIX) - 1);
	o += sizeof(SCRAM_SECRET_PREFIX) - 1;
	memcpy(out + o, itbuf, (size_t)itlen);
	o += (size_t)itlen;
	out[o++] = ':';
	o += scram_b64_encode(salt, saltlen, out + o);
	out[o++] = '$';
	o += scram_b64_encode(stored, SCRAM_KEY_LEN, out + o);
	out[o++] = ':';
	o += scram_b64_encode(sk, SCRAM_KEY_LEN, out + o);
	out[o] = '\0';
	ok = true;
out:
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(sk, sizeof(sk));
	OPENSSL_cleanse(stored, sizeof(stored));
	return ok;
}

const char *scram_status_name(scram_status_t st)
{
	switch (st) {
	case SCRAM_OK:
		return "ok";
	case SCRAM_FAIL:
		return "fail";
	case SCRAM_PROTO:
		return "proto";
	case SCRAM_CB_FAIL:
		return "cb_fail";
	}
	return "unknown";
}

/*
 * PostgreSQL: a wrong proof is "password authentication failed" (28P01),
 * a malformed exchange ERRCODE_PROTOCOL_VIOLATION (08P01), and both
 * "SCRAM channel binding negotiation error" and "SCRAM channel binding
 * check failed" ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION (28000).
 * Anything unknown maps to the authentication failure, the safe side.
 */
const char *scram_status_sqlstate(scram_status_t st)
{
	switch (st) {
	case SCRAM_OK:
		return "00000";
	case SCRAM_FAIL:
		return "28P01";
	case SCRAM_PROTO:
		return "08P01";
	case SCRAM_CB_FAIL:
		return "28000";
	}
	return "28P01";
}

const char *scram_cb_mode_name(scram_cb_mode_t mode)
{
	switch (mode) {
	case SCRAM_CB_DISABLE:
		return "disable";
	case SCRAM_CB_PREFER:
		return "prefer";
	case SCRAM_CB_REQUIRE:
		return "require";
	}
	return "unknown";
}

bool scram_cb_mode_parse(const char *s, scram_cb_mode_t *out)
{
	static const scram_cb_mode_t all[] = {SCRAM_CB_DISABLE, SCRAM_CB_PREFER,
					      SCRAM_CB_REQUIRE};

	if (s == NULL || out == NULL)
		return false;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(s, scram_cb_mode_name(all[i])) == 0) {
			*out = all[i];
			return true;
		}
	}
	return false;
}
