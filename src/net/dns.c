/* SPDX-License-Identifier: MIT */
/*
 * dns.c - a resolver thread and a TTL cache (see dns.h).
 *
 * Only the main thread touches the cache; the worker sees a queue of
 * names to resolve and hands answers back on another queue, with a byte
 * on a pipe to wake the loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/dns.h"

typedef struct dns_req {
	struct dns_req *next;
	int gai_err;
	int naddrs;
	struct sockaddr_storage addrs[DNS_MAX_ADDRS];
	socklen_t lens[DNS_MAX_ADDRS];
	char name[DNS_NAME_MAX + 1];
} dns_req_t;

typedef struct dns_host {
	char name[DNS_NAME_MAX + 1];
	bool used;
	bool pending;
	int gai_err;
	int naddrs;
	unsigned next; /* rotation over the addresses */
	struct sockaddr_storage addrs[DNS_MAX_ADDRS];
	socklen_t lens[DNS_MAX_ADDRS];
	int64_t expires_us;
	long ttl_ms, nx_ttl_ms; /* of the lookup running */
} dns_host_t;

struct dns {
	pthread_t thr;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	dns_req_t *todo, *todo_tail; /* under mu */
	dns_req_t *done;	     /* under mu */
	int pipefd[2];
	dns_done_fn on_done;
	void *arg;
	dns_host_t *hosts;
	int nhosts;
};

bool dns_is_literal(const char *host)
{
	if (!host || !*host || host[0] == '/')
		return true;
	struct in6_addr a6;
	struct in_addr a4;
	return inet_pton(AF_INET, host, &a4) == 1 ||
	       inet_pton(AF_INET6, host, &a6) == 1;
}

static void *worker(void *p)
{
	dns_t *d = p;
	for (;;) {
		pthread_mutex_lock(&d->mu);
		while (!d->stop && !d->todo)
			pthread_cond_wait(&d->cv, &d->mu);
		if (d->stop) {
			pthread_mutex_unlock(&d->mu);
			return NULL;
		}
		dns_req_t *r = d->todo;
		d->todo = r->next;
		if (!d->todo)
			d->todo_tail = NULL;
		pthread_mutex_unlock(&d->mu);

		struct addrinfo hints = {0}, *res = NULL;
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		r->gai_err = getaddrinfo(r->name, NULL, &hints, &res);
		r->naddrs = 0;
		for (struct addrinfo *a = res; a && r->naddrs < DNS_MAX_ADDRS;
		     a = a->ai_next) {
			if (a->ai_addrlen > sizeof(r->addrs[0]))
				continue;
			memcpy(&r->addrs[r->naddrs], a->ai_addr, a->ai_addrlen);
			r->lens[r->naddrs++] = a->ai_addrlen;
		}
		if (res)
			freeaddrinfo(res);
		if (r->gai_err == 0 && r->naddrs == 0)
			r->gai_err = EAI_NONAME;

		pthread_mutex_lock(&d->mu);
		r->next = d->done;
		d->done = r;
		pthread_mutex_unlock(&d->mu);
		/* A full pipe already wakes the loop: the byte can go. */
		ssize_t w = write(d->pipefd[1], "x", 1);
		(void)w;
	}
}

dns_t *dns_new(dns_done_fn done, void *arg)
{
	dns_t *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->hosts = calloc(DNS_MAX_HOSTS, sizeof(*d->hosts));
	if (!d->hosts || pipe2(d->pipefd, O_NONBLOCK | O_CLOEXEC) < 0) {
		free(d->hosts);
		free(d);
		return NULL;
	}
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	d->on_done = done;
	d->arg = arg;
	return d;
}

static void free_reqs(dns_req_t *r)
{
	while (r) {
		dns_req_t *next = r->next;
		free(r);
		r = next;
	}
}

void dns_free(dns_t *d)
{
	if (!d)
		return;
	if (d->started) {
		pthread_mutex_lock(&d->mu);
		d->stop = true;
		pthread_cond_signal(&d->cv);
		pthread_mutex_unlock(&d->mu);
		/* A lookup in progress finishes first: bounded by the
		 * resolver's own timeout. */
		pthread_join(d->thr, NULL);
	}
	free_reqs(d->todo);
	free_reqs(d->done);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	close(d->pipefd[0]);
	close(d->pipefd[1]);
	free(d->hosts);
	free(d);
}

int dns_fd(const dns_t *d)
{
	return d->pipefd[0];
}

static dns_host_t *find(dns_t *d, const char *name)
{
	for (int i = 0; i < d->nhosts; i++)
		if (d->hosts[i].used && strcmp(d->hosts[i].name, name) == 0)
			return &d->hosts[i];
	return NULL;
}

void dns_process(dns_t *d, int64_t now_us)
{
	char drain[64];
	while (read(d->pipefd[0], drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&d->mu);
	dns_req_t *r = d->done;
	d->done = NULL;
	pthread_mutex_unlock(&d->mu);
	while (r) {
		dns_req_t *next = r->next;
		dns_host_t *h = find(d, r->name);
		if (h) {
			h->pending = false;
			h->gai_err = r->gai_err;
			h->naddrs = r->naddrs;
			h->next = 0;
			memcpy(h->addrs, r->addrs, sizeof(h->addrs));
			memcpy(h->lens, r->lens, sizeof(h->lens));
			h->expires_us =
				now_us +
				(r->naddrs ? h->ttl_ms : h->nx_ttl_ms) * 1000;
		}
		if (d->on_done)
			d->on_done(d->arg, r->name);
		free(r);
		r = next;
	}
}

/* A slot for a new name: a free one, else the expired one that expired
 * first (never one with a lookup running). */
static dns_host_t *slot(dns_t *d, int64_t now_us)
{
	if (d->nhosts < DNS_MAX_HOSTS)
		return &d->hosts[d->nhosts++];
	dns_host_t *best = NULL;
	for (int i = 0; i < d->nhosts; i++) {
		dns_host_t *h = &d->hosts[i];
		if (!h->pending && h->expires_us <= now_us &&
		    (!best || h->expires_us < best->expires_us))
			best = h;
	}
	return best;
}

static bool enqueue(dns_t *d, const char *name)
{
	dns_req_t *r = calloc(1, sizeof(*r));
	if (!r)
		return false;
	snprintf(r->name, sizeof(r->name), "%s", name);
	pthread_mutex_lock(&d->mu);
	if (!d->started) {
		if (pthread_create(&d->thr, NULL, worker, d) != 0) {
			pthread_mutex_unlock(&d->mu);
			free(r);
			return false;
		}
		d->started = true;
	}
	if (d->todo_tail)
		d->todo_tail->next = r;
	else
		d->todo = r;
	d->todo_tail = r;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return true;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

dns_status_t dns_lookup(dns_t *d, const char *name, int port, int64_t now_us,
			long ttl_ms, long nx_ttl_ms,
			struct sockaddr_storage *out, socklen_t *outlen,
			char *err, size_t errlen)
{
	if (strlen(name) > DNS_NAME_MAX) {
		snprintf(err, errlen, "host name too long");
		return DNS_FAILED;
	}
	dns_host_t *h = find(d, name);
	if (h && h->pending)
		return DNS_PENDING;
	if (h && now_us < h->expires_us) {
		if (h->naddrs == 0) {
			snprintf(err, errlen, "could not resolve %s: %s", name,
				 gai_strerror(h->gai_err));
			return DNS_FAILED;
		}
		unsigned i = h->next++ % (unsigned)h->naddrs;
		*out = h->addrs[i];
		*outlen = h->lens[i];
		set_port(out, port);
		return DNS_FOUND;
	}
	if (!h && !(h = slot(d, now_us))) {
		snprintf(err, errlen,
			 "could not resolve %s: too many host names", name);
		return DNS_FAILED;
	}
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->used = true;
	h->pending = true;
	h->ttl_ms = ttl_ms;
	h->nx_ttl_ms = nx_ttl_ms;
	if (!enqueue(d, name)) {
		h->used = false;
		snprintf(err, errlen, "could not resolve %s: out of memory",
			 name);
		return DNS_FAILED;
	}
	return DNS_PENDING;
}

void dns_each(const dns_t *d, int64_t now_us, dns_each_fn fn, void *arg)
{
	for (int i = 0; i < d->nhosts; i++) {
		const dns_host_t *h = &d->hosts[i];
		if (!h->used || h->pending)
			continue;
		char addrs[DNS_MAX_ADDRS * 48] = "";
		size_t len = 0;
		for (int k = 0; k < h->naddrs; k++) {
			char ip[INET6_ADDRSTRLEN] = "";
			const struct sockaddr_storage *ss = &h->addrs[k];
			const void *src =
				ss->ss_family == AF_INET
					? (const void *)&(
						  (const struct sockaddr_in *)
							  ss)
						  ->sin_addr
					: (const void *)&(
						  (const struct sockaddr_in6 *)
							  ss)
						  ->sin6_addr;
			inet_ntop(ss->ss_family, src, ip, sizeof(ip));
			int n = snprintf(addrs + len, sizeof(addrs) - len,
					 "%s%s", k ? "," : "", ip);
			if (n > 0 && (size_t)n < sizeof(addrs) - len)
				len += (size_t)n;
		}
		long ttl = (long)((h->expires_us - now_us) / 1000000);
		fn(arg, h->name, ttl > 0 ? ttl : 0, addrs);
	}
}
