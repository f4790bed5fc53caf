/* SPDX-License-Identifier: MIT */
/*
 * authfile.c - PgBouncer-style userlist.txt:
 *
 *   "username" "password or secret" anything else is ignored
 *
 * Fields are double-quoted, "" inside a field is a literal quote, blank
 * lines and lines starting with ';' or '#' are skipped. Malformed lines
 * are skipped and reported with their line number rather than aborting
 * the load (PgBouncer stops at the first one, which silently drops every
 * user after a typo). A repeated user name keeps its last secret, as
 * PgBouncer does.
 *
 * Length limits are PgBouncer's: its loader refuses a field whose length
 * between the quotes, before unquoting, reaches MAX_USERNAME (128) or
 * MAX_PASSWORD (2048), so a user name of up to 127 and a secret of up to
 * 2047 bytes as written load, and one more byte does not.
 *
 * The file is read once into one buffer and unquoted in place; an
 * open-addressing hash table indexes it for O(1) lookups.
 */
#include "auth/auth_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

/* Guard against pointing auth_file at something huge by mistake. */
#define AUTH_FILE_MAX_SIZE ((size_t)256 << 20)
_Static_assert(AUTH_FILE_MAX_SIZE < 0x7fffffff, "line numbers fit an int");
#define AUTH_FILE_MAX_USER   AUTH_MAX_USER
#define AUTH_FILE_MAX_SECRET AUTH_MAX_SECRET
#define STR_(x)		     #x
#define STR(x)		     STR_(x)

struct auth_entry {
	const char *user;
	const char *secret;
	uint64_t hash;
};

struct auth_file {
	char *buf; /* file contents; fields point into it */
	size_t buflen;
	struct auth_entry *ents;
	size_t n;
	uint32_t *slots; /* entry index + 1; 0 = empty */
	size_t mask;	 /* slot count - 1 (power of two) */
	uint64_t seed;	 /* random per load: no crafted collisions */
};

/* FNV-1a over the seed and the name, then a splitmix64 finaliser. */
static uint64_t hash_name(uint64_t seed, const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

static char *read_all(FILE *f, size_t *len, const char **errstr)
{
	size_t cap = 1 << 16;
	size_t n = 0;
	char *buf = malloc(cap + 1);

	if (buf == NULL) {
		*errstr = "out of memory";
		return NULL;
	}
	for (;;) {
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (n < cap) {
			if (ferror(f)) {
				*errstr = "cannot read auth file";
				free(buf);
				return NULL;
			}
			break; /* EOF */
		}
		if (cap >= AUTH_FILE_MAX_SIZE) {
			*errstr = "auth file too large";
			free(buf);
			return NULL;
		}
		size_t ncap = cap * 2;
		if (ncap > AUTH_FILE_MAX_SIZE)
			ncap = AUTH_FILE_MAX_SIZE;
		char *nb = realloc(buf, ncap + 1);
		if (nb == NULL) {
			*errstr = "out of memory";
			free(buf);
			return NULL;
		}
		buf = nb;
		cap = ncap;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * Parse one quoted field at *P (before END), unquoting it in place and
 * NUL-terminating it. The NUL lands on or before the closing quote, which
 * has already been consumed, so nothing unread is overwritten. *RAW gets
 * the length as written between the quotes, which is what PgBouncer's
 * limits count. NULL on success, else why the field is malformed.
 */
static const char *parse_field(char **pp, char *end, char **field, size_t *raw)
{
	char *p = *pp;
	char *start;
	char *w;

	p++; /* the opening quote, checked by the caller */
	*field = w = start = p;
	for (;;) {
		if (p >= end)
			return "unterminated quote";
		if (*p == '\0')
			return "NUL byte in line";
		if (*p == '"') {
			if (p + 1 < end && p[1] == '"') {
				*w++ = '"';
				p += 2;
				continue;
			}
			break;
		}
		*w++ = *p++;
	}
	*raw = (size_t)(p - start);
	*w = '\0';
	*pp = p + 1;
	return NULL;
}

static char *skip_blank(char *p, char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/*
 * Returns 1 for an entry, 0 for a blank/comment line, -1 if malformed
 * with *WHY set.
 */
static int parse_line(char *p, char *end, char **user, char **secret,
		      const char **why)
{
	size_t ulen;
	size_t slen;

	p = skip_blank(p, end);
	if (p == end || *p == ';' || *p == '#')
		return 0;
	if (*p != '"') {
		*why = "expected a quoted user name";
		return -1;
	}
	*why = parse_field(&p, end, user, &ulen);
	if (*why != NULL)
		return -1;
	/* PgBouncer checks the name before it reads the secret */
	if (ulen > AUTH_FILE_MAX_USER) {
		*why = "user name longer than " STR(AUTH_MAX_USER) " bytes";
		return -1;
	}
	if (ulen == 0) {
		*why = "empty user name";
		return -1;
	}
	p = skip_blank(p, end);
	if (p == end || *p != '"') {
		*why = "expected a quoted secret after the user name";
		return -1;
	}
	*why = parse_field(&p, end, secret, &slen);
	if (*why != NULL)
		return -1;
	if (slen > AUTH_FILE_MAX_SECRET) {
		*why = "secret longer than " STR(AUTH_MAX_SECRET) " bytes";
		return -1;
	}
	return 1;
}

static const struct auth_entry *find(const auth_file_t *af, const char *user,
				     uint64_t h, size_t *slot)
{
	size_t i = (size_t)h & af->mask;

	for (;;) {
		uint32_t k = af->slots[i];

		if (k == 0) {
			*slot = i;
			return NULL;
		}
		const struct auth_entry *e = &af->ents[k - 1];
		if (e->hash == h && strcmp(e->user, user) == 0) {
			*slot = i;
			return e;
		}
		i = (i + 1) & af->mask;
	}
}

static bool build_index(auth_file_t *af)
{
	size_t nslots = 16;
	size_t kept = 0;

	while (nslots < af->n * 2)
		nslots *= 2;
	af->slots = calloc(nslots, sizeof(*af->slots));
	if (af->slots == NULL)
		return false;
	af->mask = nslots - 1;
	for (size_t i = 0; i < af->n; i++) {
		struct auth_entry *e = &af->ents[i];
		size_t slot;
		const struct auth_entry *old;

		e->hash = hash_name(af->seed, e->user);
		old = find(af, e->user, e->hash, &slot);
		if (old != NULL) {
			/* later line wins; the entry stays where it was */
			af->ents[af->slots[slot] - 1].secret = e->secret;
			continue;
		}
		/* compact as we go so indexes stay dense */
		af->ents[kept] = *e;
		af->slots[slot] = (uint32_t)(kept + 1);
		kept++;
	}
	af->n = kept;
	return true;
}

/* Append one entry; false if out of memory. */
static bool add_entry(auth_file_t *af, size_t *cap, char *user, char *secret)
{
	if (af->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct auth_entry *ne = realloc(af->ents, ncap * sizeof(*ne));

		if (ne == NULL)
			return false;
		af->ents = ne;
		*cap = ncap;
	}
	af->ents[af->n].user = user;
	af->ents[af->n].secret = secret;
	af->n++;
	return true;
}

/* Split the buffer into lines and add the well-formed ones. */
static bool parse_all(auth_file_t *af, auth_file_diag_fn cb, void *arg)
{
	char *p = af->buf;
	char *end = af->buf + af->buflen;
	size_t cap = 0;
	int lineno = 0;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *le = nl ? nl : end;
		char *next = nl ? nl + 1 : end;
		char *user;
		char *secret;
		const char *why = NULL;
		int r;

		lineno++; /* no overflow: AUTH_FILE_MAX_SIZE < INT_MAX lines */
		if (le > p && le[-1] == '\r')
			le--;
		r = parse_line(p, le, &user, &secret, &why);
		p = next;
		if (r < 0 && cb != NULL)
			cb(arg, lineno, why);
		if (r <= 0)
			continue;
		if (!add_entry(af, &cap, user, secret))
			return false;
	}
	return true;
}

auth_file_t *auth_file_load_diag(const char *path, auth_file_diag_fn cb,
				 void *arg, const char **errstr)
{
	const char *dummy;
	auth_file_t *af;
	FILE *f;

	if (errstr == NULL)
		errstr = &dummy;
	if (path == NULL) {
		*errstr = "no auth file given";
		return NULL;
	}
	f = fopen(path, "rb");
	if (f == NULL) {
		*errstr = "cannot open auth file";
		return NULL;
	}
	af = calloc(1, sizeof(*af));
	if (af == NULL) {
		fclose(f);
		*errstr = "out of memory";
		return NULL;
	}
	af->buf = read_all(f, &af->buflen, errstr);
	fclose(f);
	if (af->buf == NULL)
		goto fail_quiet;
	if (RAND_bytes((unsigned char *)&af->seed, sizeof(af->seed)) != 1) {
		*errstr = "cannot seed auth file index";
		goto fail_quiet;
	}

	if (!parse_all(af, cb, arg) || !build_index(af))
		goto fail_oom;
	return af;

fail_oom:
	*errstr = "out of memory";
fail_quiet:
	auth_file_free(af);
	return NULL;
}

static void count_bad(void *arg, int line, const char *reason)
{
	(void)line;
	(void)reason;
	(*(int *)arg)++;
}

auth_file_t *auth_file_load(const char *path, int *bad_lines,
			    const char **errstr)
{
	int bad = 0;
	auth_file_t *af = auth_file_load_diag(path, count_bad, &bad, errstr);

	if (bad_lines != NULL)
		*bad_lines = af != NULL ? bad : 0;
	return af;
}

const char *auth_file_lookup(const auth_file_t *af, const char *user)
{
	const struct auth_entry *e;
	size_t slot;

	if (af == NULL || user == NULL || af->slots == NULL)
		return NULL;
	e = find(af, user, hash_name(af->seed, user), &slot);
	return e ? e->secret : NULL;
}

size_t auth_file_count(const auth_file_t *af)
{
	return af ? af->n : 0;
}

const char *auth_file_user(const auth_file_t *af, size_t i)
{
	return af && i < af->n ? af->ents[i].user : NULL;
}

void auth_file_free(auth_file_t *af)
{
	if (af == NULL)
		return;
	/* the buffer holds every password: wipe it */
	if (af->buf != NULL)
		OPENSSL_clear_free(af->buf, af->buflen + 1);
	free(af->ents);
	free(af->slots);
	free(af);
}
