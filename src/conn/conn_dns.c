/* SPDX-License-Identifier: MIT */
/*
 * conn_dns.c - server host names resolved off the event loop: the
 * resolver (net/dns.c) is made at the first name, its wake-up pipe joins
 * the loop, and a finished lookup resumes the servers waiting for it.
 */
#include "config/cfg.h"
#include "conn/conn.h"
#include "conn/conn_int.h"
#include "pool/pool.h"

static void on_dns_done(void *arg, const char *name)
{
	pool_servers_resolved(arg, name);
}

static void on_dns_io(ev_loop_t *loop, int fd, void *data, int mask)
{
	pgs_ctx_t *ctx = data;
	(void)fd;
	(void)mask;
	dns_process(ctx->dns, ev_now_us(loop));
}

dns_status_t conn_dns_lookup(pgs_ctx_t *ctx, const char *host, int port,
			     struct sockaddr_storage *ss, socklen_t *sl,
			     char *err, size_t errlen)
{
	if (!ctx->dns) {
		ctx->dns = dns_new(on_dns_done, ctx);
		if (!ctx->dns || ev_io_set(ctx->loop, dns_fd(ctx->dns), EV_READ,
					   on_dns_io, ctx) < 0) {
			dns_free(ctx->dns);
			ctx->dns = NULL;
			snprintf(err, errlen, "could not resolve %s: %s", host,
				 "resolver unavailable");
			return DNS_FAILED;
		}
	}
	const cfg_t *cfg = ctx->cfg;
	return dns_lookup(ctx->dns, host, port, ev_now_us(ctx->loop),
			  cfg->dns_max_ttl, cfg->dns_nxdomain_ttl, ss, sl, err,
			  errlen);
}
