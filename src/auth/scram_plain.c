/* SPDX-License-Identifier: MIT */
/*
 * scram_plain.c - a cleartext password against a SCRAM secret: derive
 * ClientKey and ServerKey with the secret's salt and iteration count, and
 * compare H(ClientKey) with StoredKey (RFC 5802 section 3).
 */
#include <openssl/crypto.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "auth/scram_plain.h"

bool auth_scram_verify_plain(const char *secret, const char *password)
{
	scram_secret_t sec;
	uint8_t ck[SCRAM_KEY_LEN], sk[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
	if (!secret || !password || !scram_parse_secret(secret, &sec))
		return false;
	/* The same bound as the client side: a secret with a huge count
	 * must not stall the event loop. */
	if (sec.iterations > SCRAM_MAX_ITERATIONS)
		return false;
	if (!scram_derive_keys(password, sec.salt, sec.saltlen, sec.iterations,
			       ck, sk) ||
	    !scram_sha256(ck, SCRAM_KEY_LEN, stored))
		return false;
	bool ok = CRYPTO_memcmp(stored, sec.stored_key, SCRAM_KEY_LEN) == 0 &&
		  CRYPTO_memcmp(sk, sec.server_key, SCRAM_KEY_LEN) == 0;
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(sk, sizeof(sk));
	return ok;
}
