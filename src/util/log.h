/* SPDX-License-Identifier: MIT */
/*
 * log.h - PgBouncer-format log lines:
 *   2026-01-01 12:00:00.123 UTC [pid] LOG message
 * The logger is an object owned by the process context, not a global, so
 * tests and a future per-worker loop can each own one.
 */
#ifndef PGSWITCH_LOG_H
#define PGSWITCH_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

typedef enum log_level {
	LOG_FATAL,
	LOG_ERROR,
	LOG_WARNING,
	LOG_LOG,
	LOG_DEBUG,
	LOG_NOISE,
} log_level_t;

typedef struct log {
	FILE *fp;    /* logfile, or NULL */
	char *path;  /* logfile path, for reopen on SIGHUP */
	int verbose; /* 0: LOG and above; 1: DEBUG; 2: NOISE */
	bool quiet;  /* -q: nothing to stderr */
	bool to_stderr;
	int pid;
} log_t;

void log_init(log_t *lg);
/* (Re)open the logfile; returns -1 with errno on failure (old file kept). */
int log_open(log_t *lg, const char *path);
void log_close(log_t *lg);
void log_msg(log_t *lg, log_level_t lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(log_t *lg, log_level_t lvl, const char *fmt, va_list ap);

static inline bool log_enabled(const log_t *lg, log_level_t lvl)
{
	return lvl <= LOG_LOG || (int)lvl - (int)LOG_LOG <= lg->verbose;
}

#endif
