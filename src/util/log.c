/* SPDX-License-Identifier: MIT */
#include "util/log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"FATAL", "ERROR", "WARNING",
					  "LOG",   "DEBUG", "NOISE"};

void log_init(log_t *lg)
{
	memset(lg, 0, sizeof(*lg));
	lg->to_stderr = true;
	lg->pid = (int)getpid();
}

int log_open(log_t *lg, const char *path)
{
	if (!path || !*path) {
		log_close(lg);
		return 0;
	}
	FILE *fp = fopen(path, "a");
	if (!fp)
		return -1;
	setvbuf(fp, NULL, _IOLBF, 0);
	log_close(lg);
	lg->fp = fp;
	lg->path = strdup(path);
	return 0;
}

void log_close(log_t *lg)
{
	if (lg->fp)
		fclose(lg->fp);
	lg->fp = NULL;
	free(lg->path);
	lg->path = NULL;
}

void log_vmsg(log_t *lg, log_level_t lvl, const char *fmt, va_list ap)
{
	if (!log_enabled(lg, lvl))
		return;
	char line[4096], ts[64];
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	int n = snprintf(line, sizeof(line), "%s.%03d UTC [%d] %s ", ts,
			 (int)(tv.tv_usec / 1000), lg->pid, level_names[lvl]);
	if (n < 0)
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (lg->fp)
		fprintf(lg->fp, "%s\n", line);
	if (lg->to_stderr && !lg->quiet)
		fprintf(stderr, "%s\n", line);
}

void log_msg(log_t *lg, log_level_t lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lg, lvl, fmt, ap);
	va_end(ap);
}
