/* SPDX-License-Identifier: MIT */
/*
 * hba_int.h - what hba.c shares with hba_ident.c: the line splitter, the
 * tokenizer both file formats use, located diagnostics and the file
 * reader. Not for other modules.
 */
#ifndef PGSWITCH_HBA_INT_H
#define PGSWITCH_HBA_INT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth/hba_types.h"

#define SHOW_MAX     64 /* bytes of a token quoted in a message */
#define DIAG_MSG_MAX 512

/* Where a token came from; FROM is the @file reference that led here. */
typedef struct loc {
	const char *file;
	int line;
	const struct loc *from;
} loc_t;

/* Splits a buffer into lines; NO is the number of the last one. */
typedef struct lines {
	const char *p, *end;
	int no;
} lines_t;

typedef enum tok_kind {
	TK_WORD,
	TK_QUOTED,
	TK_COMMA,
	TK_EOL,
	TK_BAD, /* unterminated quote */
} tok_kind_t;

/* VAL holds the current token's value; it has room for the whole line. */
typedef struct lexer {
	const char *pos, *end;
	tok_kind_t kind;
	char *val;
	size_t vlen;
} lexer_t;

typedef enum hba_line_res {
	HBA_LINE_BLANK,
	HBA_LINE_RULE,
	HBA_LINE_BAD,
} hba_line_res_t;

typedef struct ident_entry {
	char *map, *sys, *pg;
	int line;
	bool pg_all;
	bool is_regex;
	bool pg_has_ref; /* PG-USERNAME holds \1 */
	regex_t re;
} ident_entry_t;

struct hba_ident {
	char *file;
	ident_entry_t *entries;
	size_t count, cap;
};

/* Add a diagnostic at AT (D may be NULL). Returns false, for errors. */
bool hba_report(hba_diags_t *d, hba_sev_t sev, const loc_t *at, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));
/* S made safe to quote in a message; OUT needs SHOW_MAX + 4 bytes. */
const char *hba_show(char out[SHOW_MAX + 4], const char *s);

bool hba_line_next(lines_t *ls, const char **start, size_t *len);
/* Length and NUL checks; false (with an error diagnostic) to skip it. */
bool hba_line_ok(hba_diags_t *d, const loc_t *at, const char *s, size_t n);

const char *hba_tok_kind_name(tok_kind_t k);
bool hba_is_space(char ch);
/* Start tokenizing S[0..N); BUF must hold N + 1 bytes. */
void hba_lex_init(lexer_t *lx, const char *s, size_t n, char *buf);
tok_kind_t hba_lex_next(lexer_t *lx);

/* hba_read_fn for files on disk. */
bool hba_disk_read(void *arg, const char *path, size_t max, char **data,
		   size_t *len, char *ebuf, size_t elen);

#endif
