/* SPDX-License-Identifier: MIT */
/*
 * scram_plain.h - check a cleartext password against a stored SCRAM
 * secret (auth_type = plain, or an hba "password" rule, for a user whose
 * auth_file or auth_query secret is "SCRAM-SHA-256$...").
 */
#ifndef PGSWITCH_SCRAM_PLAIN_H
#define PGSWITCH_SCRAM_PLAIN_H

#include <stdbool.h>

/* True if PASSWORD derives the StoredKey and ServerKey of SECRET.
 * Constant-time compare; false for a malformed secret. */
bool auth_scram_verify_plain(const char *secret, const char *password);

#endif
