/* SPDX-License-Identifier: MIT */
/*
 * dns.h - host names resolved off the event loop.
 *
 * getaddrinfo() blocks for as long as the resolver takes (seconds, when a
 * name server is down), so it runs on one worker thread; answers are
 * cached for dns_max_ttl (the libc resolver gives no TTL; PgBouncer built
 * without c-ares does the same) and failures for dns_nxdomain_ttl. The
 * main thread polls dns_fd() and calls dns_process(); nothing here logs
 * or touches the loop.
 */
#ifndef PGSWITCH_DNS_H
#define PGSWITCH_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DNS_MAX_ADDRS 8
#define DNS_MAX_HOSTS 1024 /* cached names; the oldest expired go first */
#define DNS_NAME_MAX  255

typedef struct dns dns_t;

/* A name's lookup finished (answer or failure is in the cache). */
typedef void (*dns_done_fn)(void *arg, const char *name);

typedef enum dns_status {
	DNS_FOUND,   /* *out holds an address */
	DNS_PENDING, /* a lookup runs; DONE is called when it ends */
	DNS_FAILED,  /* the name does not resolve (err says why) */
} dns_status_t;

dns_t *dns_new(dns_done_fn done, void *arg);
void dns_free(dns_t *d);
/* Readable when lookups have finished: then call dns_process(). */
int dns_fd(const dns_t *d);
void dns_process(dns_t *d, int64_t now_us);

/* The next address of NAME with PORT set (a name with several rotates),
 * from the cache while fresh, else a lookup is queued. TTLs in ms. */
dns_status_t dns_lookup(dns_t *d, const char *name, int port, int64_t now_us,
			long ttl_ms, long nx_ttl_ms,
			struct sockaddr_storage *out, socklen_t *outlen,
			char *err, size_t errlen);

/* SHOW DNS_HOSTS: each cached name, seconds it stays valid, addresses. */
typedef void (*dns_each_fn)(void *arg, const char *name, long ttl_s,
			    const char *addrs);
void dns_each(const dns_t *d, int64_t now_us, dns_each_fn fn, void *arg);

/* True when HOST needs no lookup (an IP literal, or a Unix socket). */
bool dns_is_literal(const char *host);

#endif
