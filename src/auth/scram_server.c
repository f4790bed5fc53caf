/* SPDX-License-Identifier: MIT */
/*
 * scram_server.c - SCRAM-SHA-256 where pgswitch is the server, i.e. it
 * authenticates a connecting client (RFC 5802 / RFC 7677, as PostgreSQL
 * speaks it: the n= user name is ignored). On TLS connections the caller
 * gives us our certificate's tls-server-end-point hash and we also offer
 * SCRAM-SHA-256-PLUS (RFC 5802 section 6, RFC 5929).
 *
 * Channel binding rules, from PostgreSQL's auth-scram.c:
 *
 *   mechanism  gs2 flag  binding data set   result
 *   plain      n         any                ok
 *   plain      y         no                 ok
 *   plain      y         yes                SCRAM_CB_FAIL (downgrade)
 *   plain      p=        any                SCRAM_PROTO
 *   PLUS       n or y    (always set)       SCRAM_PROTO
 *   PLUS       p=other   (always set)       SCRAM_PROTO (unsupported type)
 *   PLUS       p=tls-server-end-point       c= must be base64(gs2 || hash),
 *                                           else SCRAM_CB_FAIL
 */
#include "auth/auth_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

enum server_state {
	SS_INIT,  /* waiting for client-first-message */
	SS_FIRST, /* server-first sent, waiting for client-final */
	SS_OK,	  /* proof verified */
	SS_FAIL,  /* wrong proof or doomed */
	SS_ERROR, /* protocol error; the exchange is dead */
};

struct scram_server {
	enum server_state state;
	/* Unknown user or md5 secret: run the motions, fail at the end. */
	bool doomed;
	bool plus; /* client chose SCRAM-SHA-256-PLUS */
	/* gs2 header as the client sent it: "n,,", "y,," or SCRAM_GS2_PLUS */
	size_t gs2_len;
	char gs2[sizeof(SCRAM_GS2_PLUS) - 1];
	size_t cb_len; /* 0: no binding data, PLUS not offered */
	uint8_t cb_data[SCRAM_MAX_CB_DATA];
	scram_secret_t sec;
	uint8_t client_key[SCRAM_KEY_LEN]; /* recovered on success */
	size_t snonce_len;
	char snonce[SCRAM_MAX_NONCE_LEN];
	/* client nonce, as an offset into bare */
	size_t cnonce_off;
	size_t cnonce_len;
	size_t bare_len;
	char bare[SCRAM_MAX_MESSAGE]; /* client-first-message-bare */
	size_t sfirst_len;
	char sfirst[SCRAM_MAX_MESSAGE]; /* server-first-message */
};

static scram_status_t proto(scram_server_t *s, const char **errstr,
			    const char *why)
{
	if (s != NULL)
		s->state = SS_ERROR;
	if (errstr != NULL)
		*errstr = why;
	return SCRAM_PROTO;
}

/*
 * A plain stored password has no salt of its own, so derive a secret with
 * a fresh random salt and PostgreSQL's default iteration count.
 */
static bool plain_secret(scram_server_t *s, const char *password)
{
	uint8_t ck[SCRAM_KEY_LEN];
	bool ok;

	s->sec.iterations = SCRAM_DEFAULT_ITERATIONS;
	s->sec.saltlen = SCRAM_DEFAULT_SALT_LEN;
	if (RAND_bytes(s->sec.salt, (int)s->sec.saltlen) != 1)
		return false;
	ok = scram_derive_keys(password, s->sec.salt, s->sec.saltlen,
			       s->sec.iterations, ck, s->sec.server_key) &&
	     scram_sha256(ck, SCRAM_KEY_LEN, s->sec.stored_key);
	OPENSSL_cleanse(ck, sizeof(ck));
	return ok;
}

/*
 * Doomed exchange. It must look like a real one from outside: same
 * iterations, a salt of the usual length, and the same cost.
 *
 * With a MOCK_KEY the salt is HMAC(mock_key, user), stable per user like a
 * stored SCRAM secret, and like that case no PBKDF2 runs. Without one the
 * salt is random per exchange, as for a plain stored password, and like
 * that case we pay for PBKDF2 (over a random password nobody knows).
 */
static bool mock_secret(scram_server_t *s, const char *user,
			const uint8_t *mock_key)
{
	uint8_t buf[SCRAM_KEY_LEN];
	bool ok = false;

	s->sec.iterations = SCRAM_DEFAULT_ITERATIONS;
	s->sec.saltlen = SCRAM_DEFAULT_SALT_LEN;
	if (mock_key != NULL) {
		if (user == NULL)
			user = "";
		if (!scram_hmac(mock_key, SCRAM_KEY_LEN, user, strlen(user),
				buf))
			goto out;
		memcpy(s->sec.salt, buf, s->sec.saltlen);
		/* Keys nobody can match; the doomed flag fails it anyway. */
		ok = RAND_bytes(s->sec.stored_key, SCRAM_KEY_LEN) == 1 &&
		     RAND_bytes(s->sec.server_key, SCRAM_KEY_LEN) == 1;
	} else {
		char pw[2 * SCRAM_KEY_LEN + 1];

		if (RAND_bytes(buf, SCRAM_KEY_LEN) != 1)
			goto out;
		/* base64 of random bytes: same shape as a real password */
		pw[scram_b64_encode(buf, 30, pw)] = '\0';
		ok = plain_secret(s, pw);
		OPENSSL_cleanse(pw, sizeof(pw));
	}
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok;
}

scram_server_t *scram_server_new_mock(const char *user, const char *stored,
				      const uint8_t *mock_key)
{
	scram_server_t *s = calloc(1, sizeof(*s));
	bool ok;

	if (s == NULL)
		return NULL;
	s->state = SS_INIT;
	if (stored != NULL && auth_secret_kind(stored) == AUTH_SECRET_SCRAM) {
		ok = scram_parse_secret(stored, &s->sec);
	} else if (stored != NULL &&
		   auth_secret_kind(stored) == AUTH_SECRET_PLAIN) {
		ok = plain_secret(s, stored);
	} else {
		/* unknown user, or an md5 secret which cannot do SCRAM */
		s->doomed = true;
		ok = mock_secret(s, user, mock_key);
	}
	if (!ok) {
		scram_server_free(s);
		return NULL;
	}
	return s;
}

scram_server_t *scram_server_new(const char *user, const char *stored)
{
	return scram_server_new_mock(user, stored, NULL);
}

void scram_server_free(scram_server_t *s)
{
	if (s != NULL)
		OPENSSL_clear_free(s, sizeof(*s));
}

bool scram_server_set_nonce(scram_server_t *s, const char *nonce, size_t len)
{
	if (s == NULL || s->state != SS_INIT || len > sizeof(s->snonce) ||
	    !scram_printable(nonce, len))
		return false;
	memcpy(s->snonce, nonce, len);
	s->snonce_len = len;
	return true;
}

bool scram_server_set_channel_binding(scram_server_t *s, const uint8_t *cb_data,
				      size_t len)
{
	if (s == NULL || s->state != SS_INIT || cb_data == NULL || len == 0 ||
	    len > sizeof(s->cb_data))
		return false;
	memcpy(s->cb_data, cb_data, len);
	s->cb_len = len;
	return true;
}

const char *scram_server_mechanisms(const scram_server_t *s, size_t *len)
{
	/* sizeof counts the literal's own NUL: the empty name ending it */
	static const char plus[] =
		SCRAM_MECH_PLUS_NAME "\0" SCRAM_MECH_NAME "\0";
	static const char plain[] = SCRAM_MECH_NAME "\0";

	if (s != NULL && s->cb_len > 0) {
		*len = sizeof(plus);
		return plus;
	}
	*len = sizeof(plain);
	return plain;
}

/*
 * PLUS without binding data means we never offered it: a protocol
 * violation like naming any other mechanism, as in PostgreSQL.
 */
scram_status_t scram_server_set_mechanism(scram_server_t *s, const char *mech,
					  const char **errstr)
{
	if (s == NULL || mech == NULL)
		return proto(s, errstr, "invalid SCRAM call");
	if (s->state != SS_INIT)
		return proto(s, errstr, "unexpected SCRAM call");
	if (strcmp(mech, SCRAM_MECH_PLUS_NAME) == 0 && s->cb_len > 0)
		s->plus = true;
	else if (strcmp(mech, SCRAM_MECH_NAME) == 0)
		s->plus = false;
	else
		return proto(s, errstr,
			     "client selected an invalid SASL authentication "
			     "mechanism");
	return SCRAM_OK;
}

/* Common entry checks for both steps; the message is never NUL-terminated. */
static scram_status_t check_input(scram_server_t *s, enum server_state want,
				  const char *msg, size_t len, char *out,
				  size_t *outlen, const char **errstr)
{
	if (outlen != NULL)
		*outlen = 0;
	if (s == NULL || out == NULL || outlen == NULL)
		return proto(s, errstr, "invalid SCRAM call");
	if (s->state != want)
		return proto(s, errstr, "unexpected SCRAM message");
	if (msg == NULL || len == 0)
		return proto(s, errstr, "malformed SCRAM message (empty)");
	if (len > SCRAM_MAX_MESSAGE)
		return proto(s, errstr, "malformed SCRAM message (too long)");
	if (memchr(msg, '\0', len) != NULL)
		return proto(s, errstr, "malformed SCRAM message (NUL byte)");
	return SCRAM_OK;
}

/*
 * gs2-header = gs2-cbind-flag "," [authzid] ","
 * gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
 * Advances *PP past the header and keeps a copy for the c= check.
 */
static scram_status_t read_gs2_header(scram_server_t *s, const char **pp,
				      const char *end, const char **errstr)
{
	const char *start = *pp;
	const char *p = start;
	const char *name;

	switch (*p) {
	case 'n': /* client cannot bind, or chose not to */
		if (s->plus)
			return proto(s, errstr,
				     "malformed SCRAM message (the client "
				     "selected SCRAM-SHA-256-PLUS, but the "
				     "SCRAM message does not include channel "
				     "binding data)");
		p++;
		break;
	case 'y': /* client could bind, but thinks we cannot */
		if (s->plus)
			return proto(s, errstr,
				     "malformed SCRAM message (the client "
				     "selected SCRAM-SHA-256-PLUS, but the "
				     "SCRAM message does not include channel "
				     "binding data)");
		/* We offered PLUS: someone removed it from the offer. */
		if (s->cb_len > 0) {
			s->state = SS_ERROR;
			if (errstr != NULL)
				*errstr = "SCRAM channel binding negotiation "
					  "error";
			return SCRAM_CB_FAIL;
		}
		p++;
		break;
	case 'p': /* client requires binding, of the type named */
		if (!s->plus)
			return proto(s, errstr,
				     "malformed SCRAM message (the client "
				     "selected SCRAM-SHA-256 without channel "
				     "binding, but the SCRAM message includes "
				     "channel binding data)");
		if (end - p < 2 || p[1] != '=')
			return proto(s, errstr,
				     "malformed SCRAM message (channel-binding "
				     "flag)");
		name = p + 2;
		p = name;
		while (p < end && *p != ',')
			p++;
		if ((size_t)(p - name) != sizeof(SCRAM_CB_TYPE) - 1 ||
		    memcmp(name, SCRAM_CB_TYPE, sizeof(SCRAM_CB_TYPE) - 1) != 0)
			return proto(s, errstr,
				     "unsupported SCRAM channel-binding type");
		break;
	default:
		return proto(s, errstr,
			     "malformed SCRAM message (channel-binding flag)");
	}
	if (p == end || *p != ',')
		return proto(s, errstr, "malformed SCRAM message (gs2 header)");
	p++;
	if (p < end && *p == 'a')
		return proto(s, errstr,
			     "SCRAM authorization identity is not supported");
	if (p == end || *p != ',')
		return proto(s, errstr, "malformed SCRAM message (gs2 header)");
	p++;
	/* fits: the longest header is SCRAM_GS2_PLUS, the buffer's size */
	s->gs2_len = (size_t)(p - start);
	memcpy(s->gs2, start, s->gs2_len);
	*pp = p;
	return SCRAM_OK;
}

/*
 * client-first-message = gs2-header client-first-message-bare
 * gs2-header = ("n" / "y" / "p=" cb-name) "," [authzid] ","
 * client-first-message-bare = [reserved-mext ","] "n=" saslname ","
 *                             "r=" c-nonce ["," extensions]
 */
scram_status_t scram_server_first(scram_server_t *s, const char *msg,
				  size_t len, char *out, size_t cap,
				  size_t *outlen, const char **errstr)
{
	scram_status_t st;
	const char *p;
	const char *end;
	scram_cursor_t cur;
	const char *val;
	size_t vlen;
	char name;
	char itbuf[16];
	int itlen;
	size_t need;
	size_t o;

	st = check_input(s, SS_INIT, msg, len, out, outlen, errstr);
	if (st != SCRAM_OK)
		return st;
	p = msg;
	end = msg + len;

	st = read_gs2_header(s, &p, end, errstr);
	if (st != SCRAM_OK)
		return st;

	/* client-first-message-bare starts here */
	if (p < end && *p == 'm')
		return proto(s, errstr,
			     "mandatory SCRAM extensions are not supported");
	cur.p = p;
	cur.end = end;
	/* The name is ignored: PostgreSQL uses the startup packet's user. */
	if (!scram_next_attr(&cur, &name, &val, &vlen) || name != 'n')
		return proto(s, errstr,
			     "malformed SCRAM message (user name expected)");
	if (!scram_next_attr(&cur, &name, &val, &vlen) || name != 'r')
		return proto(s, errstr,
			     "malformed SCRAM message (nonce expected)");
	if (!scram_printable(val, vlen))
		return proto(s, errstr, "invalid characters in SCRAM nonce");
	s->cnonce_off = (size_t)(val - p);
	s->cnonce_len = vlen;
	/* Extensions: none are defined, so skip well-formed ones. */
	while (cur.p < end) {
		if (!scram_next_attr(&cur, &name, &val, &vlen))
			return proto(s, errstr,
				     "malformed SCRAM message (attribute)");
	}
	s->bare_len = (size_t)(end - p);
	memcpy(s->bare, p, s->bare_len);

	if (s->snonce_len == 0) {
		uint8_t raw[SCRAM_NONCE_RAW_LEN];

		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return proto(s, errstr, "could not generate nonce");
		s->snonce_len = scram_b64_encode(raw, sizeof(raw), s->snonce);
	}

	/* "r=" c-nonce s-nonce ",s=" salt ",i=" iterations */
	itlen = snprintf(itbuf, sizeof(itbuf), "%d", s->sec.iterations);
	if (itlen <= 0 || (size_t)itlen >= sizeof(itbuf))
		return proto(s, errstr, "invalid SCRAM iteration count");
	need = 2 + s->cnonce_len + s->snonce_len + 3 +
	       scram_b64_len(s->sec.saltlen) + 3 + (size_t)itlen;
	if (need > sizeof(s->sfirst))
		return proto(s, errstr, "SCRAM server-first-message too long");
	if (need > cap)
		return proto(s, errstr, "SCRAM output buffer too small");
	o = 0;
	memcpy(s->sfirst + o, "r=", 2);
	o += 2;
	memcpy(s->sfirst + o, s->bare + s->cnonce_off, s->cnonce_len);
	o += s->cnonce_len;
	memcpy(s->sfirst + o, s->snonce, s->snonce_len);
	o += s->snonce_len;
	memcpy(s->sfirst + o, ",s=", 3);
	o += 3;
	o += scram_b64_encode(s->sec.salt, s->sec.saltlen, s->sfirst + o);
	memcpy(s->sfirst + o, ",i=", 3);
	o += 3;
	memcpy(s->sfirst + o, itbuf, (size_t)itlen);
	o += (size_t)itlen;
	s->sfirst_len = o;

	memcpy(out, s->sfirst, o);
	*outlen = o;
	s->state = SS_FIRST;
	return SCRAM_OK;
}

/* Is VAL the full nonce we handed out: client part then server part? */
static bool nonce_matches(const scram_server_t *s, const char *val, size_t vlen)
{
	return vlen == s->cnonce_len + s->snonce_len &&
	       memcmp(val, s->bare + s->cnonce_off, s->cnonce_len) == 0 &&
	       memcmp(val + s->cnonce_len, s->snonce, s->snonce_len) == 0;
}

/*
 * client-final-message = "c=" base64(gs2-header) "," "r=" nonce
 *                        ["," extensions] "," "p=" base64(ClientProof)
 */
scram_status_t scram_server_final(scram_server_t *s, const char *msg,
				  size_t len, char *out, size_t cap,
				  size_t *outlen, const char **errstr)
{
	scram_status_t st;
	scram_cursor_t cur;
	const char *val;
	size_t vlen;
	char name;
	char cbind[SCRAM_B64_LEN(SCRAM_CBIND_MAX)];
	size_t cbind_len;
	const char *proof_attr = NULL;
	const char *proof_val = NULL;
	size_t proof_len = 0;
	uint8_t proof[SCRAM_KEY_LEN];
	size_t got;
	size_t cfwp_len;
	uint8_t csig[SCRAM_KEY_LEN];
	uint8_t ck[SCRAM_KEY_LEN];
	uint8_t h[SCRAM_KEY_LEN];
	uint8_t ssig[SCRAM_KEY_LEN];
	bool crypto_ok;
	bool match;

	st = check_input(s, SS_FIRST, msg, len, out, outlen, errstr);
	if (st != SCRAM_OK)
		return st;
	if (cap < 2 + scram_b64_len(SCRAM_KEY_LEN))
		return proto(s, errstr, "SCRAM output buffer too small");

	cur.p = msg;
	cur.end = msg + len;
	if (!scram_next_attr(&cur, &name, &val, &vlen) || name != 'c')
		return proto(s, errstr,
			     "malformed SCRAM message (channel binding "
			     "expected)");
	/*
	 * c= is base64 of the gs2 header, then our certificate hash when
	 * binding. Comparing the encoded forms is exact because base64 has
	 * one encoding per byte string.
	 */
	cbind_len = scram_cbind_b64(s->gs2, s->gs2_len, s->cb_data,
				    s->plus ? s->cb_len : 0, cbind);
	if (vlen != cbind_len || memcmp(val, cbind, cbind_len) != 0) {
		if (!s->plus)
			return proto(
				s, errstr,
				"unexpected SCRAM channel-binding attribute "
				"in client-final-message");
		s->state = SS_ERROR;
		if (errstr != NULL)
			*errstr = "SCRAM channel binding check failed";
		return SCRAM_CB_FAIL;
	}
	if (!scram_next_attr(&cur, &name, &val, &vlen) || name != 'r')
		return proto(s, errstr,
			     "malformed SCRAM message (nonce expected)");
	if (!nonce_matches(s, val, vlen))
		return proto(s, errstr, "SCRAM nonce mismatch");
	/* Extensions, then the proof, which must come last. */
	while (cur.p < cur.end) {
		const char *at = cur.p;

		if (!scram_next_attr(&cur, &name, &val, &vlen))
			return proto(s, errstr,
				     "malformed SCRAM message (attribute)");
		if (name == 'p') {
			if (cur.p != cur.end)
				return proto(s, errstr,
					     "malformed SCRAM message (data "
					     "after proof)");
			proof_attr = at;
			proof_val = val;
			proof_len = vlen;
		}
	}
	if (proof_attr == NULL)
		return proto(s, errstr,
			     "malformed SCRAM message (proof expected)");
	if (!scram_b64_decode(proof_val, proof_len, proof, sizeof(proof),
			      &got) ||
	    got != SCRAM_KEY_LEN)
		return proto(s, errstr,
			     "malformed SCRAM message (invalid proof)");
	/* client-final-message-without-proof: up to the ',' before p= */
	cfwp_len = (size_t)(proof_attr - msg) - 1;

	/*
	 * Same computations whether or not the exchange is doomed, so that
	 * failures take the same time.
	 */
	crypto_ok =
		scram_hmac_auth(s->sec.stored_key, s->bare, s->bare_len,
				s->sfirst, s->sfirst_len, msg, cfwp_len, csig);
	scram_xor(ck, proof, csig, SCRAM_KEY_LEN);
	crypto_ok = scram_sha256(ck, SCRAM_KEY_LEN, h) && crypto_ok;
	match = CRYPTO_memcmp(h, s->sec.stored_key, SCRAM_KEY_LEN) == 0;
	crypto_ok = scram_hmac_auth(s->sec.server_key, s->bare, s->bare_len,
				    s->sfirst, s->sfirst_len, msg, cfwp_len,
				    ssig) &&
		    crypto_ok;

	if (!crypto_ok || !match || s->doomed) {
		s->state = SS_FAIL;
		if (errstr != NULL)
			*errstr = crypto_ok ? "password authentication failed"
					    : "SCRAM internal error";
		st = SCRAM_FAIL;
		goto out;
	}
	memcpy(s->client_key, ck, SCRAM_KEY_LEN);
	memcpy(out, "v=", 2);
	*outlen = 2 + scram_b64_encode(ssig, SCRAM_KEY_LEN, out + 2);
	s->state = SS_OK;
	st = SCRAM_OK;
out:
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(csig, sizeof(csig));
	OPENSSL_cleanse(proof, sizeof(proof));
	return st;
}

bool scram_server_keys(const scram_server_t *s, uint8_t client_key[32],
		       uint8_t server_key[32])
{
	if (s == NULL || s->state != SS_OK)
		return false;
	memcpy(client_key, s->client_key, SCRAM_KEY_LEN);
	memcpy(server_key, s->sec.server_key, SCRAM_KEY_LEN);
	return true;
}

bool scram_server_channel_bound(const scram_server_t *s)
{
	return s != NULL && s->state == SS_OK && s->plus;
}
