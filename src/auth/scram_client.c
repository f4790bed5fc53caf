/* SPDX-License-Identifier: MIT */
/*
 * scram_client.c - SCRAM-SHA-256 where pgswitch is the client, logging in
 * to a PostgreSQL server, either with a plain password or with the
 * ClientKey/ServerKey recovered from a client's successful exchange
 * (pass-through, when both sides hold the same SCRAM secret). Over TLS it
 * can bind the exchange to the server's certificate (SCRAM-SHA-256-PLUS,
 * tls-server-end-point) and picks the mechanism as libpq does.
 */
#include "auth/auth_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

enum client_state {
	CS_INIT,  /* nothing sent */
	CS_FIRST, /* client-first sent, waiting for server-first */
	CS_FINAL, /* client-final sent, waiting for server-final */
	CS_DONE,  /* server verified */
	CS_FAIL,  /* server signature wrong or server error */
	CS_ERROR, /* protocol error */
};

/* Longest n= value (escaped) the test hook accepts. */
#define SCRAM_MAX_USER_LEN 256

struct scram_client {
	enum client_state state;
	bool have_keys; /* pass-through: keys given, no password */
	bool cb_unused; /* gs2 "y": TLS, but this exchange does not bind */
	size_t cb_len;	/* > 0: bind to cb_data, gs2 "p=tls-server-end-point" */
	uint8_t cb_data[SCRAM_MAX_CB_DATA];
	char *password;
	uint8_t client_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
	uint8_t server_sig[SCRAM_KEY_LEN]; /* expected in server-final */
	size_t nonce_len;
	char nonce[SCRAM_MAX_NONCE_LEN];
	size_t user_len;
	char user[SCRAM_MAX_USER_LEN];
	size_t bare_len;
	char bare[SCRAM_MAX_MESSAGE]; /* client-first-message-bare */
	size_t sfirst_len;
	char sfirst[SCRAM_MAX_MESSAGE]; /* server-first-message */
};

static scram_status_t proto(scram_client_t *c, const char **errstr,
			    const char *why)
{
	if (c != NULL)
		c->state = CS_ERROR;
	if (errstr != NULL)
		*errstr = why;
	return SCRAM_PROTO;
}

scram_client_t *scram_client_new(const char *password)
{
	scram_client_t *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->password = strdup(password != NULL ? password : "");
	if (c->password == NULL) {
		free(c);
		return NULL;
	}
	c->state = CS_INIT;
	return c;
}

scram_client_t *scram_client_new_keys(const uint8_t client_key[32],
				      const uint8_t server_key[32])
{
	scram_client_t *c;

	if (client_key == NULL || server_key == NULL)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->have_keys = true;
	memcpy(c->client_key, client_key, SCRAM_KEY_LEN);
	memcpy(c->server_key, server_key, SCRAM_KEY_LEN);
	c->state = CS_INIT;
	return c;
}

void scram_client_free(scram_client_t *c)
{
	if (c == NULL)
		return;
	if (c->password != NULL)
		OPENSSL_clear_free(c->password, strlen(c->password) + 1);
	OPENSSL_clear_free(c, sizeof(*c));
}

bool scram_client_set_nonce(scram_client_t *c, const char *nonce, size_t len)
{
	if (c == NULL || c->state != CS_INIT || len > sizeof(c->nonce) ||
	    !scram_printable(nonce, len))
		return false;
	memcpy(c->nonce, nonce, len);
	c->nonce_len = len;
	return true;
}

/* saslname: ',' and '=' are escaped as "=2C" and "=3D" (RFC 5802 5.1). */
bool scram_client_set_user(scram_client_t *c, const char *user, size_t len)
{
	size_t o = 0;

	if (c == NULL || c->state != CS_INIT || (user == NULL && len > 0))
		return false;
	for (size_t i = 0; i < len; i++) {
		const char *esc = user[i] == ','   ? "=2C"
				  : user[i] == '=' ? "=3D"
						   : NULL;
		size_t n = esc ? 3 : 1;

		if (user[i] == '\0' || o + n > sizeof(c->user))
			return false;
		if (esc)
			memcpy(c->user + o, esc, 3);
		else
			c->user[o] = user[i];
		o += n;
	}
	c->user_len = o;
	return true;
}

bool scram_client_set_channel_binding(scram_client_t *c, const uint8_t *cb_data,
				      size_t len)
{
	if (c == NULL || c->state != CS_INIT || cb_data == NULL || len == 0 ||
	    len > sizeof(c->cb_data))
		return false;
	memcpy(c->cb_data, cb_data, len);
	c->cb_len = len;
	c->cb_unused = false;
	return true;
}

bool scram_client_set_cb_unused(scram_client_t *c)
{
	if (c == NULL || c->state != CS_INIT || c->cb_len > 0)
		return false;
	c->cb_unused = true;
	return true;
}

bool scram_client_channel_bound(const scram_client_t *c)
{
	return c != NULL && c->state == CS_DONE && c->cb_len > 0;
}

/* The gs2 header our settings call for; *LEN gets its length. */
static const char *gs2_header(const scram_client_t *c, size_t *len)
{
	const char *h = c->cb_len > 0  ? SCRAM_GS2_PLUS
			: c->cb_unused ? "y,,"
				       : "n,,";

	*len = strlen(h);
	return h;
}

/* One name of a mechanism list; false at a missing terminator. */
static bool next_mech(const char **p, const char *end, const char **name,
		      size_t *nlen)
{
	const char *z = memchr(*p, '\0', (size_t)(end - *p));

	if (z == NULL)
		return false;
	*name = *p;
	*nlen = (size_t)(z - *p);
	*p = z + 1;
	return true;
}

static bool mech_is(const char *name, size_t nlen, const char *want)
{
	return nlen == strlen(want) && memcmp(name, want, nlen) == 0;
}

static scram_status_t select_fail(scram_status_t st, const char **errstr,
				  const char *why)
{
	if (errstr != NULL)
		*errstr = why;
	return st;
}

/*
 * libpq's pg_SASL_init, less what we do not speak (OAUTHBEARER). One
 * difference: PLUS offered over TLS, but the certificate hash unknown
 * (a signature algorithm RFC 5929 gives no hash for). libpq has no such
 * case; we fall back to plain SCRAM with gs2 "n", since "y" would make
 * the server refuse the downgrade, and require fails.
 */
scram_status_t scram_select_mechanism(const char *list, size_t len,
				      scram_cb_mode_t mode, bool tls,
				      bool have_cb, scram_mech_choice_t *out,
				      const char **errstr)
{
	const char *p = list;
	const char *end = list + len;
	const char *name;
	size_t nlen;
	bool plus_offered = false;
	bool plain_offered = false;

	if (out == NULL || (list == NULL && len > 0))
		return select_fail(SCRAM_PROTO, errstr, "invalid SCRAM call");
	out->mech = NULL;
	out->plus = false;
	out->cb_unused = false;
	if (mode == SCRAM_CB_REQUIRE && !tls)
		return select_fail(SCRAM_CB_FAIL, errstr,
				   "channel binding required, but SSL not in "
				   "use");
	for (;;) {
		if (p == end || !next_mech(&p, end, &name, &nlen))
			return select_fail(SCRAM_PROTO, errstr,
					   "invalid list of authentication "
					   "mechanisms");
		if (nlen == 0)
			break;
		if (mech_is(name, nlen, SCRAM_MECH_PLUS_NAME))
			plus_offered = true;
		else if (mech_is(name, nlen, SCRAM_MECH_NAME))
			plain_offered = true;
	}
	if (p != end)
		return select_fail(SCRAM_PROTO, errstr,
				   "invalid list of authentication mechanisms");
	/*
	 * A server offers PLUS only over TLS, so TLS was stripped on the way:
	 * libpq gives up, as the server would refuse an unbound exchange.
	 */
	if (plus_offered && !tls)
		return select_fail(SCRAM_PROTO, errstr,
				   "server offered SCRAM-SHA-256-PLUS "
				   "authentication over a non-SSL connection");
	if (plus_offered && mode != SCRAM_CB_DISABLE && have_cb) {
		out->mech = SCRAM_MECH_PLUS_NAME;
		out->plus = true;
		return SCRAM_OK;
	}
	if (mode == SCRAM_CB_REQUIRE)
		return select_fail(SCRAM_CB_FAIL, errstr,
				   plus_offered
					   ? "channel binding is required, but "
					     "client does not support it"
					   : "channel binding is required, but "
					     "server did not offer an "
					     "authentication method that "
					     "supports channel binding");
	if (!plain_offered)
		return select_fail(SCRAM_PROTO, errstr,
				   "none of the server's SASL authentication "
				   "mechanisms are supported");
	out->mech = SCRAM_MECH_NAME;
	out->cb_unused = tls && mode != SCRAM_CB_DISABLE && !plus_offered;
	return SCRAM_OK;
}

scram_status_t scram_client_choose(scram_client_t *c, const char *list,
				   size_t len, scram_cb_mode_t mode, bool tls,
				   const uint8_t *cb_data, size_t cb_len,
				   const char **mech, const char **errstr)
{
	scram_mech_choice_t ch;
	bool have_cb =
		cb_data != NULL && cb_len > 0 && cb_len <= SCRAM_MAX_CB_DATA;
	scram_status_t st;

	if (mech != NULL)
		*mech = NULL;
	if (c == NULL || c->state != CS_INIT)
		return proto(c, errstr, "unexpected SCRAM call");
	st = scram_select_mechanism(list, len, mode, tls, have_cb, &ch, errstr);
	if (st != SCRAM_OK)
		return st;
	if ((ch.plus &&
	     !scram_client_set_channel_binding(c, cb_data, cb_len)) ||
	    (ch.cb_unused && !scram_client_set_cb_unused(c)))
		return proto(c, errstr, "invalid SCRAM call");
	if (mech != NULL)
		*mech = ch.mech;
	return SCRAM_OK;
}

/*
 * gs2 header then "n=,r=<nonce>": the empty name libpq sends, since the
 * server takes the user from the startup packet.
 */
scram_status_t scram_client_first(scram_client_t *c, char *out, size_t cap,
				  size_t *outlen, const char **errstr)
{
	size_t o = 0;
	const char *gs2;
	size_t gs2_len;

	if (outlen != NULL)
		*outlen = 0;
	if (c == NULL || out == NULL || outlen == NULL)
		return proto(c, errstr, "invalid SCRAM call");
	if (c->state != CS_INIT)
		return proto(c, errstr, "unexpected SCRAM call");
	if (c->nonce_len == 0) {
		uint8_t raw[SCRAM_NONCE_RAW_LEN];

		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return proto(c, errstr, "could not generate nonce");
		c->nonce_len = scram_b64_encode(raw, sizeof(raw), c->nonce);
	}
	/* fits: user and nonce are bounded well below SCRAM_MAX_MESSAGE */
	memcpy(c->bare + o, "n=", 2);
	o += 2;
	memcpy(c->bare + o, c->user, c->user_len);
	o += c->user_len;
	memcpy(c->bare + o, ",r=", 3);
	o += 3;
	memcpy(c->bare + o, c->nonce, c->nonce_len);
	o += c->nonce_len;
	c->bare_len = o;

	gs2 = gs2_header(c, &gs2_len);
	if (gs2_len + c->bare_len > cap)
		return proto(c, errstr, "SCRAM output buffer too small");
	memcpy(out, gs2, gs2_len);
	memcpy(out + gs2_len, c->bare, c->bare_len);
	*outlen = gs2_len + c->bare_len;
	c->state = CS_FIRST;
	return SCRAM_OK;
}

static scram_status_t check_input(scram_client_t *c, enum client_state want,
				  const char *msg, size_t len,
				  const char **errstr)
{
	if (c == NULL)
		return proto(c, errstr, "invalid SCRAM call");
	if (c->state != want)
		return proto(c, errstr, "unexpected SCRAM message");
	if (msg == NULL || len == 0)
		return proto(c, errstr, "malformed SCRAM message (empty)");
	if (len > SCRAM_MAX_MESSAGE)
		return proto(c, errstr, "malformed SCRAM message (too long)");
	if (memchr(msg, '\0', len) != NULL)
		return proto(c, errstr, "malformed SCRAM message (NUL byte)");
	return SCRAM_OK;
}

/*
 * server-first-message = [reserved-mext ","] "r=" c-nonce s-nonce ","
 *                        "s=" base64(salt) "," "i=" posit-number
 *                        ["," extensions]
 * Out: "c=" base64(gs2-header [cbind-data]) ",r=" nonce ",p=" base64(proof),
 * e.g. "c=biws,..." ("biws" = base64 of "n,,").
 */
scram_status_t scram_client_final(scram_client_t *c, const char *msg,
				  size_t len, char *out, size_t cap,
				  size_t *outlen, const char **errstr)
{
	scram_status_t st;
	scram_cursor_t cur;
	const char *val;
	size_t vlen;
	char name;
	const char *nonce;
	size_t nonce_len;
	uint8_t salt[SCRAM_MAX_SALT_LEN];
	size_t saltlen;
	int iterations;
	char cfwp[SCRAM_MAX_MESSAGE];
	size_t cfwp_len;
	const char *gs2;
	size_t gs2_len;
	char cbind[SCRAM_B64_LEN(SCRAM_CBIND_MAX)];
	size_t cbind_len;
	uint8_t ck[SCRAM_KEY_LEN];
	uint8_t sk[SCRAM_KEY_LEN];
	uint8_t stored[SCRAM_KEY_LEN];
	uint8_t csig[SCRAM_KEY_LEN];
	uint8_t proof[SCRAM_KEY_LEN];
	size_t need;
	bool ok;

	if (outlen != NULL)
		*outlen = 0;
	if (out == NULL || outlen == NULL)
		return proto(c, errstr, "invalid SCRAM call");
	st = check_input(c, CS_FIRST, msg, len, errstr);
	if (st != SCRAM_OK)
		return st;

	cur.p = msg;
	cur.end = msg + len;
	if (*msg == 'm')
		return proto(c, errstr,
			     "mandatory SCRAM extensions are not supported");
	if (!scram_next_attr(&cur, &name, &val, &vlen) || name != 'r')
		return proto(c, errstr,
			     "malformed SCRAM message (nonce expected)");
	/* Our nonce, followed by a non-empty server part. */
	if (vlen <= c->nonce_len || memcmp(val, c->nonce, c->nonce_len) != 0 ||
	    !scram_printable(val, vlen))
		return proto(c, errstr, "invalid SCRAM server nonce");
	nonce = val;
	nonce_len = vlen;
	if (!scram_next_attr(&cur, &name, &val, &vlen) || name != 's')
		return proto(c, errstr,
			     "malformed SCRAM message (salt expected)");
	if (!scram_b64_decode(val, vlen, salt, sizeof(salt), &saltlen) ||
	    saltlen == 0)
		return proto(c, errstr, "invalid SCRAM salt");
	if (!scram_next_attr(&cur, &name, &val, &vlen) || name != 'i')
		return proto(c, errstr,
			     "malformed SCRAM message (iteration count "
			     "expected)");
	if (!scram_parse_iterations(val, vlen, &iterations) ||
	    iterations > SCRAM_MAX_ITERATIONS)
		return proto(c, errstr, "invalid SCRAM iteration count");
	while (cur.p < cur.end) {
		if (!scram_next_attr(&cur, &name, &val, &vlen))
			return proto(c, errstr,
				     "malformed SCRAM message (attribute)");
	}

	/* client-final-message-without-proof */
	gs2 = gs2_header(c, &gs2_len);
	cbind_len = scram_cbind_b64(gs2, gs2_len, c->cb_data, c->cb_len, cbind);
	cfwp_len = 2 + cbind_len + 3 + nonce_len;
	need = cfwp_len + 3 + scram_b64_len(SCRAM_KEY_LEN);
	if (need > SCRAM_MAX_MESSAGE)
		return proto(c, errstr, "SCRAM nonce too long");
	if (need > cap)
		return proto(c, errstr, "SCRAM output buffer too small");
	memcpy(cfwp, "c=", 2);
	memcpy(cfwp + 2, cbind, cbind_len);
	memcpy(cfwp + 2 + cbind_len, ",r=", 3);
	memcpy(cfwp + 5 + cbind_len, nonce, nonce_len);

	memcpy(c->sfirst, msg, len);
	c->sfirst_len = len;

	/*
	 * Pass-through already has the keys; salt and iterations only matter
	 * for deriving them from a password.
	 */
	if (c->have_keys) {
		memcpy(ck, c->client_key, SCRAM_KEY_LEN);
		memcpy(sk, c->server_key, SCRAM_KEY_LEN);
		ok = true;
	} else {
		ok = scram_derive_keys(c->password, salt, saltlen, iterations,
				       ck, sk);
	}
	ok = ok && scram_sha256(ck, SCRAM_KEY_LEN, stored) &&
	     scram_hmac_auth(stored, c->bare, c->bare_len, c->sfirst,
			     c->sfirst_len, cfwp, cfwp_len, csig) &&
	     scram_hmac_auth(sk, c->bare, c->bare_len, c->sfirst, c->sfirst_len,
			     cfwp, cfwp_len, c->server_sig);
	if (!ok) {
		st = proto(c, errstr, "SCRAM internal error");
		goto out;
	}
	scram_xor(proof, ck, csig, SCRAM_KEY_LEN);

	memcpy(out, cfwp, cfwp_len);
	memcpy(out + cfwp_len, ",p=", 3);
	*outlen = cfwp_len + 3 +
		  scram_b64_encode(proof, SCRAM_KEY_LEN, out + cfwp_len + 3);
	c->state = CS_FINAL;
	st = SCRAM_OK;
out:
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(sk, sizeof(sk));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(csig, sizeof(csig));
	OPENSSL_cleanse(proof, sizeof(proof));
	return st;
}

/* server-final-message = ("e=" value / "v=" base64) ["," extensions] */
scram_status_t scram_client_verify(scram_client_t *c, const char *msg,
				   size_t len, const char **errstr)
{
	scram_status_t st;
	scram_cursor_t cur;
	const char *val;
	size_t vlen;
	char name;
	const char *sig;
	size_t siglen;
	uint8_t got[SCRAM_KEY_LEN];
	size_t gotlen;

	st = check_input(c, CS_FINAL, msg, len, errstr);
	if (st != SCRAM_OK)
		return st;
	cur.p = msg;
	cur.end = msg + len;
	if (!scram_next_attr(&cur, &name, &sig, &siglen) ||
	    (name != 'v' && name != 'e'))
		return proto(c, errstr,
			     "malformed SCRAM message (verifier expected)");
	while (cur.p < cur.end) {
		if (!scram_next_attr(&cur, &name, &val, &vlen))
			return proto(c, errstr,
				     "malformed SCRAM message (attribute)");
	}
	if (*msg == 'e') {
		c->state = CS_FAIL;
		if (errstr != NULL)
			*errstr = "server reported a SCRAM error";
		return SCRAM_FAIL;
	}
	if (!scram_b64_decode(sig, siglen, got, sizeof(got), &gotlen) ||
	    gotlen != SCRAM_KEY_LEN)
		return proto(c, errstr,
			     "malformed SCRAM message (invalid server "
			     "signature)");
	if (CRYPTO_memcmp(got, c->server_sig, SCRAM_KEY_LEN) != 0) {
		c->state = CS_FAIL;
		if (errstr != NULL)
			*errstr = "SCRAM server signature does not match";
		return SCRAM_FAIL;
	}
	c->state = CS_DONE;
	return SCRAM_OK;
}
