/* SPDX-License-Identifier: MIT */
/*
 * hba_types.h - types for auth_hba_file (pg_hba.conf syntax) and
 * auth_ident_file (pg_ident.conf syntax). Prototypes are in hba.h.
 */
#ifndef PGSWITCH_HBA_TYPES_H
#define PGSWITCH_HBA_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Hard limits. PgBouncer has none (getline() and lists that grow); ours
 * keep one hostile or broken file from taking the process's memory. Each
 * is reported as a located diagnostic, never a crash.
 */
#define HBA_MAX_FILE_SIZE     (16u << 20) /* one hba, ident or @file */
#define HBA_MAX_INCLUDE_BYTES (64u << 20) /* all @files of one load */
#define HBA_MAX_LINE	      65536	  /* bytes, without the newline */
#define HBA_MAX_RULES	      100000
#define HBA_MAX_NAMES	      100000 /* names in one rule's field */
#define HBA_MAX_INCLUDE_DEPTH 8	     /* @file inside @file inside ... */
#define HBA_MAX_IDENT_ENTRIES 100000
#define HBA_MAX_DIAGS	      200 /* kept; the rest are only counted */
#define HBA_MAX_REGEX	      256 /* bytes of an ident regular expression */

typedef enum hba_type {
	HBA_LOCAL,
	HBA_HOST,
	HBA_HOSTSSL,
	HBA_HOSTNOSSL,
} hba_type_t;

/* The methods PgBouncer 1.25 accepts in an hba file. */
typedef enum hba_method {
	HBA_REJECT, /* also the answer when no rule matches */
	HBA_TRUST,
	HBA_MD5,
	HBA_PASSWORD,
	HBA_SCRAM_SHA_256,
	HBA_CERT,
	HBA_PEER,
	HBA_LDAP,
} hba_method_t;

typedef enum hba_addr_kind {
	HBA_ADDR_NONE, /* local rules have no address */
	HBA_ADDR_ALL,
	HBA_ADDR_IPV4,
	HBA_ADDR_IPV6,
} hba_addr_kind_t;

/* hba_names_t.flags */
#define HBA_NAME_ALL	     1u
#define HBA_NAME_SAMEUSER    2u /* db: db == user; user: user == db */
#define HBA_NAME_REPLICATION 4u /* db: physical replication connections */

/* A database or user field: keywords plus sorted, unique literal names. */
typedef struct hba_names {
	unsigned flags;
	const char *const *names;
	size_t count;
} hba_names_t;

typedef struct hba_rule {
	const char *file; /* the hba file's name as given to the loader */
	int line;
	hba_type_t type;
	hba_method_t method;
	hba_addr_kind_t addr_kind;
	uint8_t addr[16]; /* network order; 4 bytes used for IPv4 */
	uint8_t mask[16];
	hba_names_t db;
	hba_names_t user;
	const char *map;	  /* map=NAME (any method), or NULL */
	const char *ldap_options; /* text after "ldap", or NULL; may hold a
				     password, so never log it */
} hba_rule_t;

/* One connection to decide. Zero-initialised = a plain TCP one. */
typedef struct hba_conn {
	bool is_unix; /* Unix socket: only local rules apply */
	bool is_tls;
	/*
	 * Physical replication (replication=true/on/yes/1): only the
	 * "replication" keyword matches the database field. Logical
	 * replication (replication=database) matches as a normal connection,
	 * as in PostgreSQL and PgBouncer, so leave this false for it.
	 */
	bool is_replication;
	int family;	  /* AF_INET or AF_INET6 when !is_unix */
	uint8_t addr[16]; /* network order; 4 bytes used for AF_INET */
	const char *database;
	const char *user;
} hba_conn_t;

typedef enum hba_sev {
	HBA_SEV_WARNING, /* the line is kept */
	HBA_SEV_ERROR,	 /* the line is skipped (or the file unreadable) */
} hba_sev_t;

typedef struct hba_diag {
	hba_sev_t sev;
	char *file; /* file the problem is in (an @file, say) */
	int line;   /* 1-based; 0 for the file as a whole */
	char *msg;
} hba_diag_t;

/*
 * Diagnostics of one or more loads, in file order. Zero-initialised is a
 * valid empty list. Only the first HBA_MAX_DIAGS are kept; errors and
 * warnings count all of them.
 */
typedef struct hba_diags {
	hba_diag_t *items;
	int count;
	int errors;
	int warnings;
	int dropped; /* not kept in items */
} hba_diags_t;

/*
 * Reads the file at PATH for an @file include: on success sets *DATA (a
 * malloc'd buffer, the caller frees it) and *LEN and returns true. A file
 * over MAX bytes, or any failure, returns false with a reason in ERR.
 */
typedef bool (*hba_read_fn)(void *arg, const char *path, size_t max,
			    char **data, size_t *len, char *err, size_t errlen);

typedef struct hba_reader {
	hba_read_fn read;
	void *arg;
} hba_reader_t;

/* hba_ident_parse() flags */
#define HBA_IDENT_REGEX 1u /* PostgreSQL's "/regex" system user names */

typedef struct hba hba_t;
typedef struct hba_ident hba_ident_t;

#endif
