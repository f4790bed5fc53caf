/* SPDX-License-Identifier: MIT */
/*
 * md5.c - PostgreSQL's md5 password scheme, secret classification and
 * constant-time string comparison.
 *
 *   secret   = "md5" + hex(md5(password || user))
 *   response = "md5" + hex(md5(hex part of secret || 4-byte salt))
 */
#include "auth/auth_internal.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define MD5_HEX_LEN (AUTH_MD5_LEN - 3)

/* "md5" + hex(md5(a || b)) into OUT; false on a crypto failure. */
static bool md5_hex2(const void *a, size_t alen, const void *b, size_t blen,
		     char out[AUTH_MD5_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	bool ok;

	if (ctx == NULL)
		return false;
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, a, alen) == 1 &&
	     EVP_DigestUpdate(ctx, b, blen) == 1 &&
	     EVP_DigestFinal_ex(ctx, d, &dlen) == 1 && dlen == 16;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return false;
	memcpy(out, "md5", 3);
	for (unsigned int i = 0; i < 16; i++) {
		out[3 + 2 * i] = hex[d[i] >> 4];
		out[3 + 2 * i + 1] = hex[d[i] & 15];
	}
	out[AUTH_MD5_LEN] = '\0';
	OPENSSL_cleanse(d, sizeof(d));
	return true;
}

/* As PostgreSQL: "md5" and exactly 32 lowercase hex digits. */
static bool is_md5_secret(const char *s)
{
	if (strncmp(s, "md5", 3) != 0 || strlen(s) != AUTH_MD5_LEN)
		return false;
	for (size_t i = 3; i < AUTH_MD5_LEN; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

auth_secret_kind_t auth_secret_kind(const char *secret)
{
	scram_secret_t sec;
	bool scram;

	if (secret == NULL)
		return AUTH_SECRET_PLAIN;
	if (is_md5_secret(secret))
		return AUTH_SECRET_MD5;
	scram = scram_parse_secret(secret, &sec);
	OPENSSL_cleanse(&sec, sizeof(sec));
	return scram ? AUTH_SECRET_SCRAM : AUTH_SECRET_PLAIN;
}

/* On a crypto failure OUT is left empty, which never verifies. */
void auth_md5_secret(const char *user, const char *password,
		     char out[AUTH_MD5_LEN + 1])
{
	if (user == NULL)
		user = "";
	if (password == NULL)
		password = "";
	if (!md5_hex2(password, strlen(password), user, strlen(user), out))
		out[0] = '\0';
}

/*
 * STORED NULL is taken as an empty password. A SCRAM secret cannot answer
 * an md5 challenge; it is hashed as if plain and the server will refuse.
 */
void auth_md5_response(const char *stored, const char *user,
		       const uint8_t salt[4], char out[AUTH_MD5_LEN + 1])
{
	char secret[AUTH_MD5_LEN + 1];

	if (stored == NULL)
		stored = "";
	if (is_md5_secret(stored))
		memcpy(secret, stored, sizeof(secret));
	else
		auth_md5_secret(user, stored, secret);
	if (secret[0] == '\0' ||
	    !md5_hex2(secret + 3, MD5_HEX_LEN, salt, 4, out))
		out[0] = '\0';
	OPENSSL_cleanse(secret, sizeof(secret));
}

bool auth_md5_verify(const char *stored, const char *user,
		     const uint8_t salt[4], const char *response)
{
	char expect[AUTH_MD5_LEN + 1];
	char given[AUTH_MD5_LEN];
	bool usable;
	bool ok;
	size_t rlen;

	/*
	 * An unknown user and a SCRAM secret (which cannot check an md5
	 * response) hash a dummy password, so every path costs the same.
	 */
	usable =
		stored != NULL && auth_secret_kind(stored) != AUTH_SECRET_SCRAM;
	auth_md5_response(usable ? stored : "", user, salt, expect);

	/* Copy at most AUTH_MD5_LEN bytes so the compare never overreads. */
	rlen = response != NULL ? strnlen(response, AUTH_MD5_LEN + 1) : 0;
	memset(given, 0, sizeof(given));
	if (rlen <= AUTH_MD5_LEN && response != NULL)
		memcpy(given, response, rlen);
	ok = CRYPTO_memcmp(expect, given, AUTH_MD5_LEN) == 0;
	ok = ok && usable && rlen == AUTH_MD5_LEN && expect[0] != '\0';
	OPENSSL_cleanse(expect, sizeof(expect));
	return ok;
}

/*
 * The loop runs over A (the stored side) so the time depends on the
 * stored length only, never on where the strings differ.
 */
bool auth_str_equal(const char *a, const char *b)
{
	size_t la;
	size_t lb;
	unsigned char diff;

	if (a == NULL || b == NULL)
		return false;
	la = strlen(a);
	lb = strlen(b);
	diff = la != lb;
	for (size_t i = 0; i < la; i++) {
		unsigned char cb = i < lb ? (unsigned char)b[i] : 0;

		diff |= (unsigned char)a[i] ^ cb;
	}
	return diff == 0;
}
