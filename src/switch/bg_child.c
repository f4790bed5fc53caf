/* SPDX-License-Identifier: MIT */
#include "switch/bg_child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BG_CHILD_ARGS_MAX 300
#define BG_CHILD_REAP_MS  10

struct bg_child {
	ev_loop_t *loop;
	pid_t pid;
	int fd; /* read end of the child's stderr, -1 once at EOF */
	uint64_t timer;
	bg_child_cb cb;
	void *arg;
	size_t errlen;
	char err[1024];
};

/* bash for pipefail: a failing pg_dump must not pass for a good copy
 * because psql exited 0 on a truncated stream. */
static const char copy_script[] =
	"set -o pipefail; \"$BG_BINDIR/pg_dump\" --schema-only --no-owner "
	"--no-privileges --no-publications --no-subscriptions -d \"$BG_OLD\" "
	"\"$@\" | \"$BG_BINDIR/psql\" -X -q -v ON_ERROR_STOP=1 -d \"$BG_NEW\"";

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = 0;
}

static void reap(ev_loop_t *loop, void *data)
{
	bg_child_t *ch = data;
	ch->timer = 0;
	int st = 0;
	pid_t r = waitpid(ch->pid, &st, WNOHANG);
	if (r == 0) {
		/* EOF comes a moment before the shell's own exit. */
		ch->timer = ev_timer_add(loop, BG_CHILD_REAP_MS, reap, ch);
		return;
	}
	ch->pid = 0;
	bool ok = r > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	trim(ch->err);
	if (!ok && !ch->err[0])
		snprintf(ch->err, sizeof(ch->err), "schema copy exited with %d",
			 r > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	bg_child_cb cb = ch->cb;
	ch->cb = NULL;
	if (cb)
		cb(ch->arg, ok, ch->err);
}

static void on_stderr(ev_loop_t *loop, int fd, void *data, int mask)
{
	bg_child_t *ch = data;
	(void)mask;
	char buf[512];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		/* The first lines say what went wrong; the rest is dropped. */
		size_t room = sizeof(ch->err) - 1 - ch->errlen;
		size_t k = (size_t)n < room ? (size_t)n : room;
		memcpy(ch->err + ch->errlen, buf, k);
		ch->errlen += k;
		ch->err[ch->errlen] = 0;
		return;
	}
	ev_io_del(loop, fd);
	close(fd);
	ch->fd = -1;
	reap(loop, ch);
}

static int fail(char *err, size_t el, const char *what, int e)
{
	snprintf(err, el, "schema copy: %s: %s", what, strerror(e));
	return -1;
}

static int spawn(bg_child_t *ch, const char *bindir, const char *old_ci,
		 const char *new_ci, const char *const *tables, int n, int wfd,
		 char *err, size_t el)
{
	char *argv[BG_CHILD_ARGS_MAX + 8];
	int a = 0;
	argv[a++] = "/bin/bash";
	argv[a++] = "-c";
	argv[a++] = (char *)copy_script;
	argv[a++] = "pgswitch-schema-copy";
	for (int i = 0; i < n && i < BG_CHILD_ARGS_MAX / 2; i++) {
		argv[a++] = "-t";
		argv[a++] = (char *)tables[i];
	}
	argv[a] = NULL;
	size_t cap = strlen(bindir) + strlen(old_ci) + strlen(new_ci) + 64;
	char *envbuf = malloc(cap);
	if (!envbuf)
		return fail(err, el, "malloc", ENOMEM);
	int o1 = snprintf(envbuf, cap, "BG_BINDIR=%s", bindir) + 1;
	int o2 = o1 +
		 snprintf(envbuf + o1, cap - (size_t)o1, "BG_OLD=%s", old_ci) +
		 1;
	snprintf(envbuf + o2, cap - (size_t)o2, "BG_NEW=%s", new_ci);
	char *envp[] = {envbuf, envbuf + o1, envbuf + o2, "PATH=/usr/bin:/bin",
			NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, wfd, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	/* Client and listening sockets are not all close-on-exec: a
	 * long pg_dump must not keep them open (an online restart). */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	int rc = posix_spawn(&ch->pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	free(envbuf);
	if (rc != 0)
		return fail(err, el, "posix_spawn", rc);
	return 0;
}

bg_child_t *bg_child_schema_copy(ev_loop_t *loop, const char *bindir,
				 const char *old_ci, const char *new_ci,
				 const char *const *tables, int n,
				 bg_child_cb cb, void *arg, char *err,
				 size_t el)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		fail(err, el, "pipe", errno);
		return NULL;
	}
	bg_child_t *ch = calloc(1, sizeof(*ch));
	if (!ch) {
		close(p[0]);
		close(p[1]);
		fail(err, el, "calloc", ENOMEM);
		return NULL;
	}
	ch->loop = loop;
	ch->cb = cb;
	ch->arg = arg;
	ch->fd = p[0];
	/* dup2 in the child clears O_CLOEXEC on its fd 2 only. */
	int rc = spawn(ch, bindir, old_ci, new_ci, tables, n, p[1], err, el);
	close(p[1]);
	if (rc < 0) {
		close(p[0]);
		free(ch);
		return NULL;
	}
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	ev_io_set(loop, p[0], EV_READ, on_stderr, ch);
	return ch;
}

void bg_child_free(bg_child_t *ch)
{
	if (!ch)
		return;
	if (ch->fd >= 0) {
		ev_io_del(ch->loop, ch->fd);
		close(ch->fd);
	}
	if (ch->timer)
		ev_timer_del(ch->loop, ch->timer);
	if (ch->pid > 0) {
		kill(ch->pid, SIGTERM);
		/* Bounded: bash passes SIGTERM's default action at once. */
		for (int i = 0; i < 100 && waitpid(ch->pid, NULL, WNOHANG) == 0;
		     i++)
			usleep(10000);
	}
	free(ch);
}
