/* SPDX-License-Identifier: MIT */
/*
 * hba.c - auth_hba_file (pg_hba.conf syntax): parser and matcher.
 *
 * What is accepted is what PgBouncer 1.25.2 accepts, established by
 * running its binary against probe files (its hba code reads one physical
 * line at a time with a small tokenizer):
 *
 *   line      TYPE DATABASE USER [ADDRESS [NETMASK]] METHOD [map=NAME]
 *   tokens    separated by white space; "#" outside quotes ends the line,
 *             even inside a word; "..." quotes, "" inside is one quote;
 *             a quoted keyword is a plain name. Keywords are lowercase
 *             and case-sensitive.
 *   TYPE      local, host, hostssl, hostnossl (no hostgssenc/hostnogssenc)
 *   DATABASE  comma list of all, sameuser, replication, @file, names
 *             (samerole, samegroup are errors)
 *   USER      the same list; +group is an error; sameuser matches when
 *             user == database; replication never matches (PgBouncer's
 *             lists share one keyword set: we warn)
 *   ADDRESS   all, IPv4 or IPv6 with /BITS, or with a NETMASK column;
 *             no host names, samehost, samenet, zone ids or brackets
 *   METHOD    trust reject md5 password scram-sha-256 cert peer ldap
 *   options   at most one map=NAME, and NAME must exist in the ident
 *             file; for ldap the rest of the line is its option string
 *
 * Physical replication connections match only the "replication" keyword;
 * logical ones match like normal connections (PostgreSQL's rule). A rule
 * whose address has bits outside its mask (10.1.2.3/8) is kept but never
 * matches, as in PgBouncer, which compares the masked client address to
 * the unmasked rule address; we warn. PgBouncer also accepts peer on host
 * lines and cert on local lines and fails them at login; so do we (with
 * a warning), since the caller refuses them.
 *
 * A malformed line is skipped and the rest applies: PgBouncer 1.25.2 does
 * the same on startup and on RELOAD (the old rules are not kept), and an
 * unreadable file leaves it with no rules. Each skipped line is an error
 * diagnostic; the caller may choose to be stricter.
 *
 * Where we differ, on purpose:
 *   - @file: PgBouncer reads one comma list per line and fails the rule on
 *     a blank or comment line, and ignores a second whitespace-separated
 *     name on a line. We read @files as PostgreSQL does: names separated
 *     by commas, white space or newlines, with # comments and blank lines.
 *     A file that includes itself, or nesting past HBA_MAX_INCLUDE_DEPTH,
 *     is an error (PgBouncer recurses until it runs out of file
 *     descriptors, then drops the rule: the same outcome, later).
 *   - /BITS must be decimal digits: PgBouncer's strtoul() also takes "+8",
 *     "-0" and an empty "10.0.0.0/" (as /0).
 *   - A line ending in a backslash is an error with a hint (PgBouncer has
 *     no continuation lines either, it just fails on the "\" token), and
 *     include/include_if_exists/include_dir get a specific message.
 *   - A line with a NUL byte is an error (PgBouncer truncates it there).
 *   - The hard limits of hba_types.h.
 *
 * Ident files are in hba_ident.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/hba.h"
#include "auth/hba_int.h"

#define HBA_MAX_PATH	 4096
#define HBA_MAX_INCLUDES 10000 /* @file reads in one load */
#define ARENA_CHUNK	 16384
#define ARENA_ALIGN	 (sizeof(max_align_t))

/* ---- arena: rule strings and arrays live until hba_free ---- */

typedef struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
} chunk_t;

typedef struct arena {
	chunk_t *head;
} arena_t;

static void *arena_alloc(arena_t *a, size_t n)
{
	chunk_t *ch = a->head;
	size_t cap;

	if (n > SIZE_MAX / 2)
		return NULL;
	n = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
	if (ch == NULL || ch->cap - ch->used < n) {
		cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		ch = malloc(sizeof(*ch) + cap);
		if (ch == NULL)
			return NULL;
		ch->used = 0;
		ch->cap = cap;
		ch->next = a->head;
		a->head = ch;
	}
	ch->used += n;
	return (unsigned char *)ch->data + ch->used - n;
}

static char *arena_strndup(arena_t *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static void arena_free(arena_t *a)
{
	chunk_t *ch, *next;

	for (ch = a->head; ch != NULL; ch = next) {
		next = ch->next;
		free(ch);
	}
	a->head = NULL;
}

struct hba {
	arena_t arena;
	const char *file;
	hba_rule_t *rules;
	size_t count, cap;
};

/* ---- names ---- */

const char *hba_method_name(hba_method_t m)
{
	switch (m) {
	case HBA_REJECT:
		return "reject";
	case HBA_TRUST:
		return "trust";
	case HBA_MD5:
		return "md5";
	case HBA_PASSWORD:
		return "password";
	case HBA_SCRAM_SHA_256:
		return "scram-sha-256";
	case HBA_CERT:
		return "cert";
	case HBA_PEER:
		return "peer";
	case HBA_LDAP:
		return "ldap";
	}
	return "unknown";
}

const char *hba_type_name(hba_type_t t)
{
	switch (t) {
	case HBA_LOCAL:
		return "local";
	case HBA_HOST:
		return "host";
	case HBA_HOSTSSL:
		return "hostssl";
	case HBA_HOSTNOSSL:
		return "hostnossl";
	}
	return "unknown";
}

const char *hba_sev_name(hba_sev_t s)
{
	switch (s) {
	case HBA_SEV_WARNING:
		return "warning";
	case HBA_SEV_ERROR:
		return "error";
	}
	return "unknown";
}

/* ---- diagnostics ---- */

void hba_diags_free(hba_diags_t *d)
{
	int i;

	for (i = 0; i < d->count; i++) {
		free(d->items[i].file);
		free(d->items[i].msg);
	}
	free(d->items);
	memset(d, 0, sizeof(*d));
}

static void diag_push(hba_diags_t *d, hba_sev_t sev, const char *file, int line,
		      const char *msg)
{
	hba_diag_t *it;

	if (sev == HBA_SEV_ERROR)
		d->errors++;
	else
		d->warnings++;
	if (d->count >= HBA_MAX_DIAGS) {
		d->dropped++;
		return;
	}
	if (d->items == NULL) {
		d->items = calloc(HBA_MAX_DIAGS, sizeof(*d->items));
		if (d->items == NULL) {
			d->dropped++;
			return;
		}
	}
	it = &d->items[d->count];
	it->file = strdup(file);
	it->msg = strdup(msg);
	if (it->file == NULL || it->msg == NULL) {
		free(it->file);
		free(it->msg);
		it->file = it->msg = NULL;
		d->dropped++;
		return;
	}
	it->sev = sev;
	it->line = line;
	d->count++;
}

bool hba_report(hba_diags_t *d, hba_sev_t sev, const loc_t *at, const char *fmt,
		...)
{
	char msg[DIAG_MSG_MAX];
	const loc_t *top;
	va_list ap;
	int n;

	if (d == NULL)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	/* Name the rule that was dropped, not only the @file line. */
	if (at->from != NULL) {
		for (top = at->from; top->from != NULL; top = top->from)
			;
		n = (int)strlen(msg);
		snprintf(msg + n, sizeof(msg) - (size_t)n,
			 " (in an @file of %s:%d)", top->file, top->line);
	}
	diag_push(d, sev, at->file, at->line, msg);
	return false;
}

/*
 * Copy S for a message: printable ASCII only, at most SHOW_MAX bytes, so
 * a binary or huge token cannot garble a log line.
 */
const char *hba_show(char out[SHOW_MAX + 4], const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < SHOW_MAX; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* ---- lines and tokens ---- */

bool hba_line_next(lines_t *ls, const char **start, size_t *len)
{
	const char *nl;

	if (ls->p >= ls->end)
		return false;
	nl = memchr(ls->p, '\n', (size_t)(ls->end - ls->p));
	*start = ls->p;
	*len = (size_t)((nl != NULL ? nl : ls->end) - ls->p);
	ls->p = nl != NULL ? nl + 1 : ls->end;
	ls->no++;
	return true;
}

/* The checks every line of every file gets before it is tokenized. */
bool hba_line_ok(hba_diags_t *d, const loc_t *at, const char *s, size_t n)
{
	if (n > HBA_MAX_LINE)
		return hba_report(d, HBA_SEV_ERROR, at,
				  "line is longer than %d bytes", HBA_MAX_LINE);
	if (memchr(s, '\0', n) != NULL)
		return hba_report(d, HBA_SEV_ERROR, at,
				  "line contains a NUL byte");
	return true;
}

const char *hba_tok_kind_name(tok_kind_t k)
{
	switch (k) {
	case TK_WORD:
		return "word";
	case TK_QUOTED:
		return "quoted string";
	case TK_COMMA:
		return "','";
	case TK_EOL:
		return "end of line";
	case TK_BAD:
		return "unterminated quoted string";
	}
	return "unknown";
}

bool hba_is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' ||
	       ch == '\f' || ch == '\r';
}

tok_kind_t hba_lex_next(lexer_t *lx)
{
	const char *s = lx->pos;
	size_t n = 0;

	while (s < lx->end && hba_is_space(*s))
		s++;
	lx->val[0] = '\0';
	lx->vlen = 0;
	if (s == lx->end || *s == '#') {
		lx->pos = lx->end;
		return lx->kind = TK_EOL;
	}
	if (*s == ',') {
		lx->pos = s + 1;
		return lx->kind = TK_COMMA;
	}
	if (*s == '"') {
		for (s++; s < lx->end; s++) {
			if (*s == '"' && (s + 1 == lx->end || s[1] != '"'))
				break;
			if (*s == '"')
				s++; /* "" is one quote */
			lx->val[n++] = *s;
		}
		lx->val[n] = '\0';
		lx->vlen = n;
		if (s == lx->end) {
			lx->pos = lx->end;
			return lx->kind = TK_BAD;
		}
		lx->pos = s + 1;
		return lx->kind = TK_QUOTED;
	}
	while (s < lx->end && !hba_is_space(*s) && *s != ',' && *s != '#' &&
	       *s != '"')
		lx->val[n++] = *s++;
	lx->val[n] = '\0';
	lx->vlen = n;
	lx->pos = s;
	return lx->kind = TK_WORD;
}

/* Start tokenizing S[0..N); BUF must hold N + 1 bytes. */
void hba_lex_init(lexer_t *lx, const char *s, size_t n, char *buf)
{
	lx->pos = s;
	lx->end = s + n;
	lx->val = buf;
	hba_lex_next(lx);
}

static bool is_word(const lexer_t *lx, const char *w)
{
	return lx->kind == TK_WORD && strcmp(lx->val, w) == 0;
}

/* ---- reading files ---- */

bool hba_disk_read(void *arg, const char *path, size_t max, char **data,
		   size_t *len, char *ebuf, size_t elen)
{
	struct stat st;
	size_t cap, n = 0;
	ssize_t r = 0;
	char *buf, *nb;
	int fd;

	(void)arg;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(ebuf, elen, "%s", strerror(errno));
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(ebuf, elen, "not a regular file");
		close(fd);
		return false;
	}
	if ((uintmax_t)st.st_size > max) {
		snprintf(ebuf, elen, "file is larger than %zu bytes", max);
		close(fd);
		return false;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	while (buf != NULL) {
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n < cap)
			continue;
		/* The file grew while we read it. */
		if (cap > max) {
			snprintf(ebuf, elen, "file is larger than %zu bytes",
				 max);
			free(buf);
			close(fd);
			return false;
		}
		cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
		nb = realloc(buf, cap);
		if (nb == NULL)
			free(buf);
		buf = nb;
	}
	if (buf == NULL || r < 0) {
		snprintf(ebuf, elen, "%s",
			 buf == NULL ? "out of memory" : strerror(errno));
		free(buf);
		close(fd);
		return false;
	}
	close(fd);
	*data = buf;
	*len = n;
	return true;
}

static const hba_reader_t disk_reader = {hba_disk_read, NULL};

/* NAME relative to the directory of PARENT; malloc'd, NULL if too long. */
static char *path_relative(const char *parent, const char *name)
{
	const char *slash = strrchr(parent, '/');
	size_t dl = (name[0] == '/' || slash == NULL)
			    ? 0
			    : (size_t)(slash - parent) + 1;
	size_t nl = strlen(name);
	char *p;

	if (dl + nl >= HBA_MAX_PATH)
		return NULL;
	p = malloc(dl + nl + 1);
	if (p != NULL) {
		memcpy(p, parent, dl);
		memcpy(p + dl, name, nl + 1);
	}
	return p;
}

/* ---- parser state ---- */

typedef struct pctx {
	hba_t *hba;
	const hba_ident_t *ident;
	const hba_reader_t *reader;
	hba_diags_t *diags;
	size_t include_bytes;
	int includes;
	bool oom;
	/* token buffer per @file depth, HBA_MAX_LINE + 1 bytes each */
	char *tokbuf[HBA_MAX_INCLUDE_DEPTH + 1];
	/* the @file paths being read, to refuse a cycle */
	const char *stack[HBA_MAX_INCLUDE_DEPTH + 1];
} pctx_t;

static char *tokbuf(pctx_t *c, int depth)
{
	if (c->tokbuf[depth] == NULL) {
		c->tokbuf[depth] = malloc(HBA_MAX_LINE + 1);
		if (c->tokbuf[depth] == NULL)
			c->oom = true;
	}
	return c->tokbuf[depth];
}

static bool fail(pctx_t *c, const loc_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool fail(pctx_t *c, const loc_t *at, const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return hba_report(c->diags, HBA_SEV_ERROR, at, "%s", msg);
}

/* The current token is not the WHAT expected. Always false. */
static bool tok_error(pctx_t *c, const lexer_t *lx, const loc_t *at,
		      const char *what)
{
	char sb[SHOW_MAX + 4];

	switch (lx->kind) {
	case TK_EOL:
		return fail(c, at, "missing %s", what);
	case TK_QUOTED:
		return fail(c, at, "%s must not be quoted: \"%s\"", what,
			    hba_show(sb, lx->val));
	case TK_WORD:
		return fail(c, at, "invalid %s \"%s\"", what,
			    hba_show(sb, lx->val));
	case TK_COMMA:
	case TK_BAD:
		break;
	}
	return fail(c, at, "%s where %s was expected",
		    hba_tok_kind_name(lx->kind), what);
}

/* ---- database and user fields ---- */

typedef enum field {
	F_DB,
	F_USER,
} field_t;

static const char *field_name(field_t f)
{
	return f == F_DB ? "database" : "user";
}

/* A field being built: names in the arena, the array malloc'd. */
typedef struct namelist {
	unsigned flags;
	const char **v;
	size_t n, cap;
} namelist_t;

static bool nl_add(pctx_t *c, namelist_t *nl, const lexer_t *lx,
		   const loc_t *at, field_t f)
{
	const char **nv;
	size_t cap;

	if (nl->n >= HBA_MAX_NAMES)
		return fail(c, at, "more than %d names in the %s field",
			    HBA_MAX_NAMES, field_name(f));
	if (nl->n == nl->cap) {
		cap = nl->cap != 0 ? nl->cap * 2 : 8;
		nv = realloc(nl->v, cap * sizeof(*nv));
		if (nv == NULL)
			return c->oom = true, false;
		nl->v = nv;
		nl->cap = cap;
	}
	nl->v[nl->n] = arena_strndup(&c->hba->arena, lx->val, lx->vlen);
	if (nl->v[nl->n] == NULL)
		return c->oom = true, false;
	nl->n++;
	return true;
}

static bool name_file(pctx_t *c, namelist_t *nl, field_t f, const loc_t *at,
		      const char *name, int depth);

/* The current token as one item of a field: keyword, @file or name. */
static bool name_item(pctx_t *c, const lexer_t *lx, namelist_t *nl, field_t f,
		      const loc_t *at, int depth)
{
	const char *v = lx->val;
	char sb[SHOW_MAX + 4];

	if (lx->kind == TK_QUOTED)
		return nl_add(c, nl, lx, at, f);
	if (lx->kind != TK_WORD)
		return tok_error(c, lx, at,
				 f == F_DB ? "a database name" : "a user name");
	if (strcmp(v, "all") == 0) {
		nl->flags |= HBA_NAME_ALL;
	} else if (strcmp(v, "sameuser") == 0) {
		nl->flags |= HBA_NAME_SAMEUSER;
	} else if (strcmp(v, "replication") == 0) {
		nl->flags |= HBA_NAME_REPLICATION;
		if (f == F_USER)
			hba_report(
				c->diags, HBA_SEV_WARNING, at,
				"the replication keyword never matches in the "
				"user field (as in PgBouncer); quote it to "
				"mean "
				"a user named replication");
	} else if (strcmp(v, "samerole") == 0 || strcmp(v, "samegroup") == 0) {
		return fail(c, at, "%s is not supported (as in PgBouncer)", v);
	} else if (v[0] == '+') {
		return fail(c, at,
			    "group names (\"%s\") are not supported (as in "
			    "PgBouncer)",
			    hba_show(sb, v));
	} else if (v[0] == '@') {
		return name_file(c, nl, f, at, v + 1, depth + 1);
	} else {
		return nl_add(c, nl, lx, at, f);
	}
	return true;
}

/* All names of an @file's text: commas, spaces, newlines, # comments. */
static bool names_from_text(pctx_t *c, namelist_t *nl, field_t f,
			    const loc_t *from, const char *path,
			    const char *text, size_t len, int depth)
{
	lines_t ls = {text, text + len, 0};
	loc_t at = {path, 0, from};
	const char *s;
	size_t n;
	lexer_t lx;
	char *buf = tokbuf(c, depth);

	if (buf == NULL)
		return false;
	while (hba_line_next(&ls, &s, &n)) {
		at.line = ls.no;
		if (!hba_line_ok(c->diags, &at, s, n))
			return false;
		for (hba_lex_init(&lx, s, n, buf); lx.kind != TK_EOL;
		     hba_lex_next(&lx)) {
			if (lx.kind == TK_COMMA)
				continue;
			if (!name_item(c, &lx, nl, f, &at, depth))
				return false;
		}
	}
	return true;
}

static bool name_file(pctx_t *c, namelist_t *nl, field_t f, const loc_t *at,
		      const char *name, int depth)
{
	char rerr[256], sb[SHOW_MAX + 4];
	char *path, *data = NULL;
	size_t len, max;
	bool ok;
	int i;

	if (name[0] == '\0')
		return fail(c, at, "@ must be followed by a file name");
	if (depth > HBA_MAX_INCLUDE_DEPTH)
		return fail(c, at, "@%s: @files nest deeper than %d",
			    hba_show(sb, name), HBA_MAX_INCLUDE_DEPTH);
	if (c->includes >= HBA_MAX_INCLUDES ||
	    c->include_bytes >= HBA_MAX_INCLUDE_BYTES)
		return fail(c, at,
			    "@%s: this file's @files exceed %d reads or %u "
			    "bytes",
			    hba_show(sb, name), HBA_MAX_INCLUDES,
			    HBA_MAX_INCLUDE_BYTES);
	path = path_relative(at->file, name);
	if (path == NULL)
		return fail(c, at, "@%s: path is too long", hba_show(sb, name));
	for (i = 1; i < depth; i++) {
		if (strcmp(c->stack[i], path) == 0) {
			free(path);
			return fail(c, at, "@%s includes itself",
				    hba_show(sb, name));
		}
	}
	max = HBA_MAX_INCLUDE_BYTES - c->include_bytes;
	if (max > HBA_MAX_FILE_SIZE)
		max = HBA_MAX_FILE_SIZE;
	c->includes++;
	if (!c->reader->read(c->reader->arg, path, max, &data, &len, rerr,
			     sizeof(rerr))) {
		ok = fail(c, at, "cannot read @file \"%s\": %s",
			  hba_show(sb, path), rerr);
		free(path);
		return ok;
	}
	c->include_bytes += len;
	c->stack[depth] = path;
	ok = names_from_text(c, nl, f, at, path, data, len, depth);
	c->stack[depth] = NULL;
	free(data);
	free(path);
	return ok;
}

/* A field on the rule's own line: a comma list, as in PgBouncer. */
static bool name_list(pctx_t *c, lexer_t *lx, namelist_t *nl, field_t f,
		      const loc_t *at)
{
	for (;;) {
		if (!name_item(c, lx, nl, f, at, 0))
			return false;
		if (hba_lex_next(lx) != TK_COMMA)
			return true;
		hba_lex_next(lx);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sort and dedup NL into the arena as OUT. */
static bool names_finish(pctx_t *c, namelist_t *nl, hba_names_t *out)
{
	const char **v;
	size_t i, n = 0;

	out->flags = nl->flags;
	out->names = NULL;
	out->count = 0;
	if (nl->n == 0)
		return true;
	qsort(nl->v, nl->n, sizeof(*nl->v), cmp_str);
	v = arena_alloc(&c->hba->arena, nl->n * sizeof(*v));
	if (v == NULL)
		return c->oom = true, false;
	for (i = 0; i < nl->n; i++)
		if (n == 0 || strcmp(v[n - 1], nl->v[i]) != 0)
			v[n++] = nl->v[i];
	out->names = v;
	out->count = n;
	return true;
}

/* ---- address ---- */

static bool parse_prefix(const char *s, int bits, uint8_t mask[16])
{
	int n = 0, i;

	if (s[0] == '\0')
		return false;
	/* Leading zeros are fine ("/032"), as with PgBouncer's strtoul. */
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		n = n * 10 + (s[i] - '0');
		if (n > bits)
			return false;
	}
	for (i = 0; i < n / 8; i++)
		mask[i] = 0xff;
	if (n % 8 != 0)
		mask[i] = (uint8_t)(0xff << (8 - n % 8));
	return true;
}

static bool parse_address(pctx_t *c, lexer_t *lx, hba_rule_t *r,
			  const loc_t *at)
{
	char a[128], sb[SHOW_MAX + 4], s1[INET6_ADDRSTRLEN],
		s2[INET6_ADDRSTRLEN];
	char *slash;
	int fam, i, len;

	if (lx->kind != TK_WORD)
		return tok_error(c, lx, at, "address");
	if (strcmp(lx->val, "all") == 0) {
		r->addr_kind = HBA_ADDR_ALL;
		hba_lex_next(lx);
		return true;
	}
	if (lx->vlen >= sizeof(a))
		return fail(c, at, "invalid address \"%s\"",
			    hba_show(sb, lx->val));
	memcpy(a, lx->val, lx->vlen + 1);
	slash = strchr(a, '/');
	if (slash != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET6, a, r->addr) == 1)
		fam = AF_INET6;
	else if (memset(r->addr, 0, sizeof(r->addr)),
		 inet_pton(AF_INET, a, r->addr) == 1)
		fam = AF_INET;
	else
		return fail(c, at,
			    "\"%s\" is not an IP address (host names, samehost "
			    "and samenet are not supported, as in PgBouncer)",
			    hba_show(sb, a));
	r->addr_kind = fam == AF_INET ? HBA_ADDR_IPV4 : HBA_ADDR_IPV6;
	len = fam == AF_INET ? 4 : 16;
	if (slash != NULL) {
		if (!parse_prefix(slash, len * 8, r->mask))
			return fail(c, at,
				    "invalid mask length \"/%s\" (0 to %d)",
				    hba_show(sb, slash), len * 8);
	} else {
		hba_lex_next(lx);
		if (lx->kind == TK_EOL)
			return fail(c, at,
				    "missing netmask after address \"%s\" (or "
				    "write ADDRESS/BITS)",
				    hba_show(sb, a));
		if (lx->kind != TK_WORD ||
		    inet_pton(fam, lx->val, r->mask) != 1)
			return tok_error(c, lx, at, "netmask");
	}
	hba_lex_next(lx);
	for (i = 0; i < len; i++) {
		if ((r->addr[i] & ~r->mask[i]) != 0) {
			inet_ntop(fam, r->addr, s1, sizeof(s1));
			inet_ntop(fam, r->mask, s2, sizeof(s2));
			hba_report(
				c->diags, HBA_SEV_WARNING, at,
				"address %s has bits outside netmask %s: the "
				"rule never matches (as in PgBouncer)",
				s1, s2);
			break;
		}
	}
	return true;
}

/* ---- type, method, options ---- */

static bool parse_type(pctx_t *c, const lexer_t *lx, hba_rule_t *r,
		       const loc_t *at)
{
	static const hba_type_t types[] = {HBA_LOCAL, HBA_HOST, HBA_HOSTSSL,
					   HBA_HOSTNOSSL};
	char sb[SHOW_MAX + 4];
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (is_word(lx, hba_type_name(types[i]))) {
			r->type = types[i];
			return true;
		}
	}
	if (is_word(lx, "hostgssenc") || is_word(lx, "hostnogssenc"))
		return fail(c, at, "%s is not supported (as in PgBouncer)",
			    lx->val);
	if (is_word(lx, "include") || is_word(lx, "include_if_exists") ||
	    is_word(lx, "include_dir"))
		return fail(c, at,
			    "%s is not supported in auth_hba_file (as in "
			    "PgBouncer)",
			    lx->val);
	if (lx->kind == TK_WORD || lx->kind == TK_QUOTED)
		return fail(c, at,
			    "unknown connection type \"%s\" (local, host, "
			    "hostssl or hostnossl, in lowercase)",
			    hba_show(sb, lx->val));
	return tok_error(c, lx, at, "connection type");
}

static bool parse_method(pctx_t *c, const lexer_t *lx, hba_rule_t *r,
			 const loc_t *at)
{
	static const hba_method_t methods[] = {
		HBA_TRUST,	   HBA_REJECT, HBA_MD5,	 HBA_PASSWORD,
		HBA_SCRAM_SHA_256, HBA_CERT,   HBA_PEER, HBA_LDAP};
	static const char *const unsupported[] = {
		"ident", "pam", "gss", "sspi", "radius", "bsd", "oauth", "any"};
	char sb[SHOW_MAX + 4];
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (is_word(lx, hba_method_name(methods[i]))) {
			r->method = methods[i];
			return true;
		}
	}
	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (is_word(lx, unsupported[i]))
			return fail(c, at,
				    "method %s is not supported in "
				    "auth_hba_file (as in PgBouncer)",
				    lx->val);
	if (lx->kind == TK_WORD)
		return fail(c, at,
			    "unknown authentication method \"%s\" (methods are "
			    "lowercase)",
			    hba_show(sb, lx->val));
	return tok_error(c, lx, at, "authentication method");
}

/* ldap's options: the rest of the line, without a trailing comment. */
static bool ldap_options(pctx_t *c, const lexer_t *lx, hba_rule_t *r)
{
	const char *s = lx->pos, *e = lx->end, *p;
	bool quoted = false;

	while (s < e && hba_is_space(*s))
		s++;
	for (p = s; p < e; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '#' && !quoted)
			break;
	}
	e = p;
	while (e > s && hba_is_space(e[-1]))
		e--;
	if (e == s)
		return true;
	r->ldap_options = arena_strndup(&c->hba->arena, s, (size_t)(e - s));
	if (r->ldap_options == NULL)
		return c->oom = true, false;
	return true;
}

/* After the method: nothing, or one map=NAME naming an ident map. */
static bool parse_options(pctx_t *c, lexer_t *lx, hba_rule_t *r,
			  const loc_t *at)
{
	char sb[SHOW_MAX + 4];
	const char *name;

	if (r->method == HBA_LDAP)
		return ldap_options(c, lx, r);
	if (hba_lex_next(lx) == TK_EOL)
		return true;
	if (lx->kind != TK_WORD || strncmp(lx->val, "map=", 4) != 0) {
		if (lx->kind == TK_WORD || lx->kind == TK_QUOTED)
			return fail(c, at,
				    "unsupported option \"%s\" (only map=NAME "
				    "is, as in PgBouncer)",
				    hba_show(sb, lx->val));
		return tok_error(c, lx, at, "an option");
	}
	name = lx->val + 4;
	if (name[0] == '\0')
		return fail(c, at, "map= needs a map name");
	if (c->ident == NULL)
		return fail(c, at, "map=%s: no auth_ident_file is loaded",
			    hba_show(sb, name));
	if (!hba_ident_has_map(c->ident, name))
		return fail(c, at, "map=%s: no such map in %s",
			    hba_show(sb, name), c->ident->file);
	r->map = arena_strndup(&c->hba->arena, name, strlen(name));
	if (r->map == NULL)
		return c->oom = true, false;
	if (hba_lex_next(lx) != TK_EOL)
		return fail(c, at,
			    "only one option (map=NAME) is supported (as in "
			    "PgBouncer)");
	return true;
}

/* Remarks on rules PgBouncer accepts but that can never log anyone in. */
static void rule_warnings(pctx_t *c, const hba_rule_t *r, const loc_t *at)
{
	if (r->db.flags == 0 && r->db.count == 0)
		hba_report(c->diags, HBA_SEV_WARNING, at,
			   "no database names (empty @files): the rule never "
			   "matches");
	if (r->user.flags == 0 && r->user.count == 0)
		hba_report(
			c->diags, HBA_SEV_WARNING, at,
			"no user names (empty @files): the rule never matches");
	if (r->method == HBA_PEER && r->type != HBA_LOCAL)
		hba_report(c->diags, HBA_SEV_WARNING, at,
			   "peer on a %s line always fails: peer needs a Unix "
			   "socket",
			   hba_type_name(r->type));
	if (r->method == HBA_CERT &&
	    (r->type == HBA_LOCAL || r->type == HBA_HOSTNOSSL))
		hba_report(c->diags, HBA_SEV_WARNING, at,
			   "cert on a %s line always fails: cert needs TLS",
			   hba_type_name(r->type));
}

/* ---- rules ---- */

static bool ends_in_backslash(const char *s, size_t n)
{
	while (n > 0 && hba_is_space(s[n - 1]))
		n--;
	return n > 0 && s[n - 1] == '\\';
}

/* Parse one line into R. */
static hba_line_res_t parse_rule(pctx_t *c, const char *s, size_t n,
				 hba_rule_t *r, const loc_t *at)
{
	namelist_t db = {0}, user = {0};
	hba_line_res_t res = HBA_LINE_BAD;
	lexer_t lx;

	hba_lex_init(&lx, s, n, c->tokbuf[0]);
	if (lx.kind == TK_EOL)
		return HBA_LINE_BLANK;
	if (ends_in_backslash(s, n)) {
		fail(c, at,
		     "continuation lines (a trailing backslash) are not "
		     "supported (as in PgBouncer): join the lines");
		return HBA_LINE_BAD;
	}
	memset(r, 0, sizeof(*r));
	r->file = c->hba->file;
	r->line = at->line;
	if (!parse_type(c, &lx, r, at))
		return HBA_LINE_BAD;
	hba_lex_next(&lx);
	if (!name_list(c, &lx, &db, F_DB, at) ||
	    !name_list(c, &lx, &user, F_USER, at))
		goto out;
	if (r->type != HBA_LOCAL && !parse_address(c, &lx, r, at))
		goto out;
	if (!parse_method(c, &lx, r, at) || !parse_options(c, &lx, r, at))
		goto out;
	if (!names_finish(c, &db, &r->db) || !names_finish(c, &user, &r->user))
		goto out;
	rule_warnings(c, r, at);
	res = HBA_LINE_RULE;
out:
	free(db.v);
	free(user.v);
	return res;
}

static bool add_rule(pctx_t *c, const hba_rule_t *r)
{
	hba_t *h = c->hba;
	hba_rule_t *nr;
	size_t cap;

	if (h->count == h->cap) {
		cap = h->cap != 0 ? h->cap * 2 : 16;
		nr = realloc(h->rules, cap * sizeof(*nr));
		if (nr == NULL)
			return c->oom = true, false;
		h->rules = nr;
		h->cap = cap;
	}
	h->rules[h->count++] = *r;
	return true;
}

static void pctx_free(pctx_t *c)
{
	int i;

	for (i = 0; i <= HBA_MAX_INCLUDE_DEPTH; i++)
		free(c->tokbuf[i]);
}

hba_t *hba_parse(const char *text, size_t len, const char *filename,
		 const hba_ident_t *ident, const hba_reader_t *reader,
		 hba_diags_t *diags)
{
	pctx_t c = {0};
	lines_t ls = {text, text + len, 0};
	loc_t at = {filename, 0, NULL};
	hba_rule_t r;
	const char *s;
	size_t n;

	c.ident = ident;
	c.reader = reader != NULL ? reader : &disk_reader;
	c.diags = diags;
	c.hba = calloc(1, sizeof(*c.hba));
	if (c.hba == NULL)
		goto oom;
	c.hba->file = arena_strndup(&c.hba->arena, filename, strlen(filename));
	if (c.hba->file == NULL || tokbuf(&c, 0) == NULL)
		goto oom;
	if (len > HBA_MAX_FILE_SIZE) {
		hba_report(diags, HBA_SEV_ERROR, &at,
			   "file is larger than %u bytes", HBA_MAX_FILE_SIZE);
		pctx_free(&c);
		hba_free(c.hba);
		return NULL;
	}
	while (hba_line_next(&ls, &s, &n)) {
		at.line = ls.no;
		if (!hba_line_ok(diags, &at, s, n))
			continue;
		if (parse_rule(&c, s, n, &r, &at) != HBA_LINE_RULE)
			goto next;
		if (c.hba->count >= HBA_MAX_RULES) {
			hba_report(
				diags, HBA_SEV_ERROR, &at,
				"more than %d rules: this line and the rest of "
				"the file are ignored",
				HBA_MAX_RULES);
			break;
		}
		if (!add_rule(&c, &r))
			goto oom;
	next:
		if (c.oom)
			goto oom;
	}
	pctx_free(&c);
	return c.hba;
oom:
	at.line = 0;
	hba_report(diags, HBA_SEV_ERROR, &at, "out of memory");
	pctx_free(&c);
	hba_free(c.hba);
	return NULL;
}

hba_t *hba_load(const char *path, const hba_ident_t *ident, hba_diags_t *diags)
{
	loc_t at = {path, 0, NULL};
	char rerr[256];
	char *data;
	size_t len;
	hba_t *h;

	if (!hba_disk_read(NULL, path, HBA_MAX_FILE_SIZE, &data, &len, rerr,
			   sizeof(rerr))) {
		hba_report(diags, HBA_SEV_ERROR, &at,
			   "cannot read hba file: %s", rerr);
		return NULL;
	}
	h = hba_parse(data, len, path, ident, NULL, diags);
	free(data);
	return h;
}

void hba_free(hba_t *hba)
{
	if (hba == NULL)
		return;
	free(hba->rules);
	arena_free(&hba->arena);
	free(hba);
}

size_t hba_rule_count(const hba_t *hba)
{
	return hba != NULL ? hba->count : 0;
}

const hba_rule_t *hba_rule_at(const hba_t *hba, size_t i)
{
	return hba != NULL && i < hba->count ? &hba->rules[i] : NULL;
}

/* ---- matching ---- */

static bool in_names(const hba_names_t *nm, const char *name)
{
	return nm->count != 0 && bsearch(&name, nm->names, nm->count,
					 sizeof(*nm->names), cmp_str) != NULL;
}

static bool addr_match(const hba_rule_t *r, const hba_conn_t *in)
{
	int i, len;

	switch (r->addr_kind) {
	case HBA_ADDR_ALL:
		return true;
	case HBA_ADDR_IPV4:
		if (in->family != AF_INET)
			return false;
		len = 4;
		break;
	case HBA_ADDR_IPV6:
		if (in->family != AF_INET6)
			return false;
		len = 16;
		break;
	case HBA_ADDR_NONE:
	default:
		return false;
	}
	/* The rule address is not masked (see the header comment). */
	for (i = 0; i < len; i++)
		if ((in->addr[i] & r->mask[i]) != r->addr[i])
			return false;
	return true;
}

static bool conn_match(const hba_rule_t *r, const hba_conn_t *in)
{
	if (in->is_unix)
		return r->type == HBA_LOCAL;
	switch (r->type) {
	case HBA_LOCAL:
		return false;
	case HBA_HOSTSSL:
		if (!in->is_tls)
			return false;
		break;
	case HBA_HOSTNOSSL:
		if (in->is_tls)
			return false;
		break;
	case HBA_HOST:
		break;
	}
	return addr_match(r, in);
}

static bool rule_match(const hba_rule_t *r, const hba_conn_t *in)
{
	const char *db = in->database != NULL ? in->database : "";
	const char *user = in->user != NULL ? in->user : "";

	if (!conn_match(r, in))
		return false;
	if (in->is_replication) {
		if (!(r->db.flags & HBA_NAME_REPLICATION))
			return false;
	} else if (!(r->db.flags & HBA_NAME_ALL) &&
		   !((r->db.flags & HBA_NAME_SAMEUSER) && !strcmp(db, user)) &&
		   !in_names(&r->db, db)) {
		return false;
	}
	return (r->user.flags & HBA_NAME_ALL) ||
	       ((r->user.flags & HBA_NAME_SAMEUSER) && !strcmp(db, user)) ||
	       in_names(&r->user, user);
}

hba_method_t hba_match(const hba_t *hba, const hba_conn_t *in,
		       const hba_rule_t **rule_out)
{
	size_t i;

	if (rule_out != NULL)
		*rule_out = NULL;
	if (hba == NULL)
		return HBA_REJECT;
	for (i = 0; i < hba->count; i++) {
		if (rule_match(&hba->rules[i], in)) {
			if (rule_out != NULL)
				*rule_out = &hba->rules[i];
			return hba->rules[i].method;
		}
	}
	return HBA_REJECT;
}

bool hba_conn_set_addr(hba_conn_t *in, const struct sockaddr *sa)
{
	memset(in->addr, 0, sizeof(in->addr));
	switch (sa->sa_family) {
	case AF_INET:
		in->is_unix = false;
		in->family = AF_INET;
		memcpy(in->addr, &((const struct sockaddr_in *)sa)->sin_addr,
		       4);
		return true;
	case AF_INET6:
		in->is_unix = false;
		in->family = AF_INET6;
		memcpy(in->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		       16);
		return true;
	case AF_UNIX:
		in->is_unix = true;
		in->family = AF_UNIX;
		return true;
	default:
		return false;
	}
}
