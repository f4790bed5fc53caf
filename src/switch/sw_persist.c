/* SPDX-License-Identifier: MIT */
/*
 * sw_persist.c - what a switchover writes to disk: the new target (the
 * line of the file that defines the database, or the
 * switchover_state_file overlay) and the fence journal. Every write is
 * atomic: write, fsync, rename, fsync of the directory. The writes at the
 * end of a switchover run on a helper thread (sw_persist_start): their
 * fsyncs must not stall the event loop that just resumed traffic. That
 * thread gets a self-contained request and touches nothing else.
 */
#include "switch/sw_persist.h"

#include <ctype.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg.h"
#include "pool/pool_types.h"
#include "switch/switchover.h"
#include "util/buf.h"

/* Replace (or append) KEY=VALUE in a libpq-style connection string. */
static void set_connstr_key(char *out, size_t cap, const char *in,
			    const char *key, const char *value)
{
	size_t klen = strlen(key), o = 0;
	bool done = false;
	const char *p = in;
	out[0] = 0;
	while (*p) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		const char *start = p;
		bool quoted = false;
		while (*p && (quoted || !isspace((unsigned char)*p))) {
			if (*p == '\'')
				quoted = !quoted;
			p++;
		}
		size_t len = (size_t)(p - start);
		if (len > klen && strncmp(start, key, klen) == 0 &&
		    start[klen] == '=') {
			o += (size_t)snprintf(out + o, cap > o ? cap - o : 0,
					      "%s%s=%s", o ? " " : "", key,
					      value);
			done = true;
		} else {
			o += (size_t)snprintf(out + o, cap > o ? cap - o : 0,
					      "%s%.*s", o ? " " : "", (int)len,
					      start);
		}
	}
	if (!done)
		snprintf(out + o, cap > o ? cap - o : 0, "%s%s=%s",
			 o ? " " : "", key, value);
}

static int write_atomic(const char *path, const char *data, size_t len,
			char *err, size_t errlen)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.pgswitch-tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %.300s: %s", tmp,
			 strerror(errno));
		return -1;
	}
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
		snprintf(err, errlen, "cannot write %.300s: %s", tmp,
			 strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot rename %.300s: %s", tmp,
			 strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* The rename itself must survive a crash: fsync the directory. */
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		int dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return 0;
}

/* Rewrite line LINE of FILE to "NAME = CONNSTR". */
static int rewrite_line(const char *file, int line, const char *name,
			const char *connstr, char *err, size_t errlen)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		snprintf(err, errlen, "cannot read %.300s: %s", file,
			 strerror(errno));
		return -1;
	}
	buf_t out;
	buf_init(&out, 64u << 20);
	char *ln = NULL;
	size_t cap = 0;
	ssize_t n;
	int no = 0;
	bool found = false;
	while ((n = getline(&ln, &cap, f)) >= 0) {
		if (++no == line) {
			buf_printf(&out, "%s = %s\n", name, connstr);
			found = true;
		} else {
			buf_append(&out, ln, (size_t)n);
		}
	}
	free(ln);
	fclose(f);
	int rc = -1;
	if (!found)
		snprintf(err, errlen, "%.300s has no line %d", file, line);
	else if (out.toobig)
		snprintf(err, errlen, "%.300s is too large", file);
	else
		rc = write_atomic(file, (const char *)out.data, out.len, err,
				  errlen);
	buf_free(&out);
	return rc;
}

static int overlay_load(const char *path, sw_overlay_t *o, int max)
{
	if (!path || !*path)
		return 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[1024];
	int n = 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s host=%255s port=%d", o[n].db, o[n].host,
			   &o[n].port) == 3 &&
		    o[n].db[0] != '#')
			n++;
	}
	fclose(f);
	return n;
}

/* Replace or add DB's entry; the other databases' entries stay. */
static int overlay_put(const char *path, const char *db, const char *host,
		       int port, char *err, size_t errlen)
{
	sw_overlay_t *o = calloc(SW_OVERLAY_MAX, sizeof(*o));
	if (!o) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int n = overlay_load(path, o, SW_OVERLAY_MAX), i;
	for (i = 0; i < n && strcmp(o[i].db, db) != 0; i++)
		;
	if (i == SW_OVERLAY_MAX) {
		snprintf(err, errlen, "too many entries in %.300s", path);
		free(o);
		return -1;
	}
	snprintf(o[i].db, sizeof(o[i].db), "%s", db);
	snprintf(o[i].host, sizeof(o[i].host), "%s", host);
	o[i].port = port;
	if (i == n)
		n++;
	buf_t out;
	buf_init(&out, 1u << 20);
	buf_printf(&out, "# pgswitch switchover overlay: applied on every "
			 "config load\n");
	for (i = 0; i < n; i++)
		buf_printf(&out, "%s host=%s port=%d\n", o[i].db, o[i].host,
			   o[i].port);
	int rc = write_atomic(path, (const char *)out.data, out.len, err,
			      errlen);
	buf_free(&out);
	free(o);
	return rc;
}

static int journal_del_path(const char *path, const char *db, char *err,
			    size_t errlen);

int sw_persist_init(const cfg_t *cfg, const char *db, const char *host,
		    int port, sw_persist_t *w)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->db, sizeof(w->db), "%s", db);
	snprintf(w->host, sizeof(w->host), "%s", host);
	w->port = port;
	sw_journal_path(cfg, w->journal, sizeof(w->journal));
	/* A database made from the "*" entry has no line of its own, and
	 * the overlay applies to [databases] entries only. */
	const cfg_db_t *e = cfg_find_db(cfg, db);
	if (!e || !e->file || !e->line) {
		snprintf(w->out, sizeof(w->out),
			 "not persisted: no [databases] line for %s", db);
		return -1;
	}
	if (cfg->switchover_state_file && *cfg->switchover_state_file) {
		snprintf(w->overlay, sizeof(w->overlay), "%s",
			 cfg->switchover_state_file);
		return 0;
	}
	char portstr[16], step1[2048];
	snprintf(portstr, sizeof(portstr), "%d", port);
	set_connstr_key(step1, sizeof(step1), e->connstr ? e->connstr : "",
			"host", host);
	set_connstr_key(w->connstr, sizeof(w->connstr), step1, "port", portstr);
	snprintf(w->file, sizeof(w->file), "%s", e->file);
	snprintf(w->name, sizeof(w->name), "%s", e->name);
	w->line = e->line;
	return 0;
}

void sw_persist_run(sw_persist_t *w)
{
	char err[512] = "";
	if (w->overlay[0]) {
		w->rc = overlay_put(w->overlay, w->db, w->host, w->port, err,
				    sizeof(err));
		snprintf(w->out, sizeof(w->out), "%.400s (overlay)",
			 w->overlay);
	} else if (w->file[0]) {
		w->rc = rewrite_line(w->file, w->line, w->name, w->connstr, err,
				     sizeof(err));
		snprintf(w->out, sizeof(w->out), "%.400s:%d", w->file, w->line);
	} else {
		w->rc = -1; /* sw_persist_init said why */
	}
	if (w->rc < 0 && err[0])
		snprintf(w->out, sizeof(w->out), "not persisted: %.400s", err);
	/* The switch is recorded: the fence on the old primary stays on
	 * purpose, so its journal record goes. */
	if (w->rc == 0 && w->drop_journal &&
	    journal_del_path(w->journal, w->db, err, sizeof(err)) < 0)
		snprintf(w->journal_err, sizeof(w->journal_err), "%s", err);
}

static void *persist_thread(void *arg)
{
	sw_persist_t *w = arg;
	sw_persist_run(w);
	atomic_store_explicit(&w->done, true, memory_order_release);
	return NULL;
}

int sw_persist_start(sw_persist_t *w)
{
	pthread_t t;
	atomic_init(&w->done, false);
	if (pthread_create(&t, NULL, persist_thread, w) != 0)
		return -1;
	pthread_detach(t);
	return 0;
}

bool sw_persist_done(sw_persist_t *w)
{
	return atomic_load_explicit(&w->done, memory_order_acquire);
}

void sw_overlay_cfg(cfg_t *cfg)
{
	if (!cfg->switchover_state_file || !*cfg->switchover_state_file)
		return;
	sw_overlay_t *o = calloc(SW_OVERLAY_MAX, sizeof(*o));
	if (!o)
		return;
	int n = overlay_load(cfg->switchover_state_file, o, SW_OVERLAY_MAX);
	for (int i = 0; i < n; i++)
		cfg_db_set_target(cfg, o[i].db, o[i].host, o[i].port);
	free(o);
}

/* ---- fence journal ---- */

void sw_journal_path(const cfg_t *cfg, char *out, size_t cap)
{
	const char *base =
		cfg->switchover_state_file && *cfg->switchover_state_file
			? cfg->switchover_state_file
			: cfg->config_file;
	snprintf(out, cap, "%s.fence", base ? base : "pgswitch.ini");
}

static int journal_load_path(const char *path, sw_fence_rec_t *recs, int max)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	int n = 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		sw_fence_rec_t *r = &recs[n];
		memset(r, 0, sizeof(*r));
		if (line[0] == '#')
			continue;
		if (sscanf(line,
			   "%63[^\t]\t%15[^\t]\t%255[^\t]\t%d\t%255[^\t]\t%d\t%"
			   "lld",
			   r->db, r->phase, r->old_host, &r->old_port,
			   r->new_host, &r->new_port, &r->since) != 7)
			continue;
		/* "-": no host (a unix socket), see journal_write() */
		if (strcmp(r->old_host, "-") == 0)
			r->old_host[0] = 0;
		if (strcmp(r->new_host, "-") == 0)
			r->new_host[0] = 0;
		n++;
	}
	fclose(f);
	return n;
}

int sw_journal_load(const cfg_t *cfg, sw_fence_rec_t *recs, int max)
{
	char path[4200];
	sw_journal_path(cfg, path, sizeof(path));
	return journal_load_path(path, recs, max);
}

static int journal_write(const char *path, const sw_fence_rec_t *recs, int n,
			 char *err, size_t errlen)
{
	if (n == 0) {
		if (unlink(path) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "cannot remove %.300s: %s", path,
				 strerror(errno));
			return -1;
		}
		return 0;
	}
	buf_t out;
	buf_init(&out, 1u << 20);
	buf_printf(&out, "# pgswitch: fences applied by a switchover that did "
			 "not finish. Do not edit; see SHOW SWITCHOVER.\n");
	for (int i = 0; i < n; i++)
		buf_printf(&out, "%s\t%s\t%s\t%d\t%s\t%d\t%lld\n", recs[i].db,
			   recs[i].phase,
			   recs[i].old_host[0] ? recs[i].old_host : "-",
			   recs[i].old_port,
			   recs[i].new_host[0] ? recs[i].new_host : "-",
			   recs[i].new_port, recs[i].since);
	int rc = write_atomic(path, (const char *)out.data, out.len, err,
			      errlen);
	buf_free(&out);
	return rc;
}

int sw_journal_put(const cfg_t *cfg, const sw_fence_rec_t *rec, char *err,
		   size_t errlen)
{
	sw_fence_rec_t recs[SW_JOURNAL_MAX];
	char path[4200];
	sw_journal_path(cfg, path, sizeof(path));
	int n = journal_load_path(path, recs, SW_JOURNAL_MAX);
	int i;
	for (i = 0; i < n && strcmp(recs[i].db, rec->db) != 0; i++)
		;
	if (i == SW_JOURNAL_MAX) {
		snprintf(err, errlen, "too many unresolved fences");
		return -1;
	}
	recs[i] = *rec;
	if (i == n)
		n++;
	return journal_write(path, recs, n, err, errlen);
}

static int journal_del_path(const char *path, const char *db, char *err,
			    size_t errlen)
{
	sw_fence_rec_t recs[SW_JOURNAL_MAX];
	int n = journal_load_path(path, recs, SW_JOURNAL_MAX), k = 0;
	for (int i = 0; i < n; i++)
		if (strcmp(recs[i].db, db) != 0)
			recs[k++] = recs[i];
	if (k == n)
		return 0;
	return journal_write(path, recs, k, err, errlen);
}

int sw_journal_del(const cfg_t *cfg, const char *db, char *err, size_t errlen)
{
	char path[4200];
	sw_journal_path(cfg, path, sizeof(path));
	return journal_del_path(path, db, err, errlen);
}
