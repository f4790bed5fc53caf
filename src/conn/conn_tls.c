/* SPDX-License-Identifier: MIT */
/*
 * conn_tls.c - the two TLS contexts of a loop (toward clients, toward
 * servers), built from the config and rebuilt when their settings change
 * (start, RELOAD, SIGHUP, SET), with PgBouncer's rules: RELOAD and SIGHUP
 * read the files again even when their names did not change (a renewed
 * certificate takes effect); a context that fails to build leaves the old
 * one in place; new server TLS settings replace the server connections
 * (each closes when next released), and only then; live client
 * connections keep the TLS they have.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "conn/conn.h"
#include "pool/pool.h"
#include "tls/tls.h"

static void sig_add(char *buf, size_t cap, const char *v)
{
	size_t n = strlen(buf);
	snprintf(buf + n, cap - n, "%s\x1f", v ? v : "");
}

static void client_settings(const cfg_t *cfg, tls_settings_t *st, char *sig,
			    size_t cap)
{
	memset(st, 0, sizeof(*st));
	if (!tls_sslmode_parse(cfg->client_tls_sslmode, &st->sslmode))
		st->sslmode = TLS_SSLMODE_DISABLE;
	st->key_file = cfg->client_tls_key_file;
	st->cert_file = cfg->client_tls_cert_file;
	st->ca_file = cfg->client_tls_ca_file;
	st->protocols = cfg->client_tls_protocols;
	st->ciphers = cfg->client_tls_ciphers;
	st->tls13_ciphers = cfg->client_tls13_ciphers;
	st->ecdhcurve = cfg->client_tls_ecdhcurve;
	st->dheparams = cfg->client_tls_dheparams;
	sig[0] = '\0';
	sig_add(sig, cap, tls_sslmode_name(st->sslmode));
	const char *const v[] = {
		st->key_file, st->cert_file,	 st->ca_file,	st->protocols,
		st->ciphers,  st->tls13_ciphers, st->ecdhcurve, st->dheparams};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		sig_add(sig, cap, v[i]);
}

static void server_settings(const cfg_t *cfg, tls_settings_t *st, char *sig,
			    size_t cap)
{
	memset(st, 0, sizeof(*st));
	if (!tls_sslmode_parse(cfg->server_tls_sslmode, &st->sslmode))
		st->sslmode = TLS_SSLMODE_PREFER;
	st->key_file = cfg->server_tls_key_file;
	st->cert_file = cfg->server_tls_cert_file;
	st->ca_file = cfg->server_tls_ca_file;
	st->protocols = cfg->server_tls_protocols;
	st->ciphers = cfg->server_tls_ciphers;
	st->tls13_ciphers = cfg->server_tls13_ciphers;
	sig[0] = '\0';
	sig_add(sig, cap, tls_sslmode_name(st->sslmode));
	const char *const v[] = {st->key_file, st->cert_file,
				 st->ca_file,  st->protocols,
				 st->ciphers,  st->tls13_ciphers};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		sig_add(sig, cap, v[i]);
}

#define TLS_SIG_MAX 8192

/* Rebuild one side if its settings changed. 1 changed, 0 same, -1 error
 * (ERR set, the old context kept). */
static int rebuild(bool server_side, bool reread, const tls_settings_t *st,
		   const char *sig, struct tls_ctx **slot, int *mode,
		   char **cur_sig, char *err, size_t errlen)
{
	bool same = *cur_sig && strcmp(*cur_sig, sig) == 0;
	if (same && !reread)
		return 0;
	struct tls_ctx *n = NULL;
	if (st->sslmode != TLS_SSLMODE_DISABLE) {
		n = tls_ctx_new(server_side, st, err, errlen);
		if (!n)
			return -1;
	}
	tls_ctx_free(*slot);
	*slot = n;
	*mode = (int)st->sslmode;
	if (same)
		return 0; /* the files read again, the settings as they were */
	free(*cur_sig);
	*cur_sig = strdup(sig);
	return 1;
}

int conn_tls_configure(pgs_ctx_t *ctx, bool reread, char *err, size_t errlen)
{
	static char sig[TLS_SIG_MAX];
	tls_settings_t st;
	char e[TLS_ERR_MAX] = "";
	int rc = 0;

	client_settings(ctx->cfg, &st, sig, sizeof(sig));
	if (rebuild(true, reread, &st, sig, &ctx->client_tls,
		    &ctx->client_tls_mode, &ctx->client_tls_sig, e,
		    sizeof(e)) < 0) {
		snprintf(err, errlen, "client TLS setup failed: %s", e);
		rc = -1;
	}
	server_settings(ctx->cfg, &st, sig, sizeof(sig));
	bool first = ctx->server_tls_sig == NULL;
	int r = rebuild(false, reread, &st, sig, &ctx->server_tls,
			&ctx->server_tls_mode, &ctx->server_tls_sig, e,
			sizeof(e));
	if (r < 0 && rc == 0) {
		snprintf(err, errlen, "server TLS setup failed: %s", e);
		rc = -1;
	}
	if (r > 0 && !first) {
		/* Servers made under the old settings are obsolete: each
		 * closes when released, never inside a transaction. */
		pool_obsolete_servers(ctx, NULL, "obsolete connection");
		list_node_t *n;
		for (n = ctx->pools.next; n != &ctx->pools; n = n->next)
			list_entry(n, pool_t, node)->last_connect_fail_us = 0;
	}
	return rc;
}

void conn_tls_free(pgs_ctx_t *ctx)
{
	tls_ctx_free(ctx->client_tls);
	tls_ctx_free(ctx->server_tls);
	ctx->client_tls = ctx->server_tls = NULL;
	free(ctx->client_tls_sig);
	free(ctx->server_tls_sig);
	ctx->client_tls_sig = ctx->server_tls_sig = NULL;
}
