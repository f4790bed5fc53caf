/* SPDX-License-Identifier: MIT */
/*
 * client_hba.c - auth_type = hba: which method a connection gets, from
 * the first matching rule of auth_hba_file (local, host, hostssl,
 * hostnossl; first match wins; no match rejects), and the auth_ident_file
 * maps for peer and cert.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auth/hba.h"
#include "config/cfg_types.h"
#include "conn/conn.h"
#include "conn/conn_int.h"
#include "pool/pool_types.h"

static int method_of(hba_method_t m)
{
	switch (m) {
	case HBA_TRUST:
		return CFG_AUTH_TRUST;
	case HBA_MD5:
		return CFG_AUTH_MD5;
	case HBA_PASSWORD:
		return CFG_AUTH_PLAIN;
	case HBA_SCRAM_SHA_256:
		return CFG_AUTH_SCRAM;
	case HBA_CERT:
		return CFG_AUTH_CERT;
	case HBA_PEER:
		return CFG_AUTH_PEER;
	case HBA_LDAP:
		return CFG_AUTH_LDAP;
	case HBA_REJECT:
	default:
		return CFG_AUTH_REJECT;
	}
}

bool client_hba_method(client_t *c, int *method)
{
	hba_conn_t in;
	memset(&in, 0, sizeof(in));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getpeername(c->io.fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    !hba_conn_set_addr(&in, (const struct sockaddr *)&ss)) {
		client_close(c, "08P01", "cannot read the client's address");
		return false;
	}
	in.is_tls = c->io.tls != NULL;
	in.is_replication = c->replication == POOL_REPL_PHYSICAL;
	in.database = c->dbname;
	in.user = c->user;
	const hba_rule_t *rule = NULL;
	hba_method_t m = hba_match(c->ctx->hba, &in, &rule);
	if (!rule) {
		client_close(c, "08P01", "no authentication method is found");
		return false;
	}
	if (m == HBA_LDAP) {
		client_close(c, "08P01",
			     "ldap authentication is not supported by "
			     "pgswitch (%s:%d)",
			     rule->file, rule->line);
		return false;
	}
	*method = method_of(m);
	free(c->hba_map);
	c->hba_map = rule->map ? strdup(rule->map) : NULL;
	return true;
}

bool client_ident_match(client_t *c, const char *map, const char *system_name)
{
	return hba_ident_ok(c->ctx->ident, map, system_name, c->user);
}
