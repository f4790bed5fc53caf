/* SPDX-License-Identifier: MIT */
/*
 * main.c - command line, daemonising, signals, listeners; wires the
 * modules together and runs the loop. Nothing else lives here.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/opensslv.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/takeover.h"
#include "auth/auth.h"
#include "auth/hba.h"
#include "config/cfg.h"
#include "conn/conn.h"
#include "net/sock.h"
#include "pool/janitor.h"
#include "pool/pool.h"
#include "switch/bluegreen.h"
#include "switch/shadow.h"
#include "switch/switchover.h"
#include "util/sdnotify.h"

#ifndef PGSWITCH_DEMO_SCRIPT
#define PGSWITCH_DEMO_SCRIPT "demo/demo.sh"
#endif

typedef struct opts {
	bool daemon;
	bool quiet;
	bool reboot;
	int verbose;
	const char *config;
} opts_t;

static void usage(const char *prog)
{
	printf("%s is a connection pooler for PostgreSQL with built-in "
	       "zero-downtime switchover.\n\n"
	       "Usage:\n  %s [OPTION]... CONFIG_FILE\n"
	       "  %s                 (no config: run the demo)\n\n"
	       "Options:\n"
	       "  -d, --daemon         run in background (as a daemon)\n"
	       "  -q, --quiet          run quietly\n"
	       "  -R, --reboot         do an online reboot\n"
	       "  -u, --user=USERNAME  assume identity of USERNAME\n"
	       "  -v, --verbose        increase verbosity\n"
	       "  -V, --version        show version, then exit\n"
	       "  -h, --help           show this help, then exit\n",
	       prog, prog, prog);
}

static void version(void)
{
	printf("PgBouncer 1.25.0 (pgswitch %s)\nlibevent none (own epoll "
	       "loop)\nadns: libc\ntls: %s\n",
	       PGSWITCH_VERSION, OPENSSL_VERSION_TEXT);
}

static void on_listen(ev_loop_t *loop, int fd, void *data, int mask)
{
	pgs_ctx_t *ctx = data;
	(void)loop;
	(void)mask;
	for (int i = 0; i < ctx->nlisteners; i++)
		if (ctx->listeners[i].fd == fd)
			client_accept(ctx, &ctx->listeners[i]);
}

static int add_listener(pgs_ctx_t *ctx, int fd, const char *desc)
{
	if (ctx->nlisteners >= PGS_MAX_LISTENERS) {
		close(fd);
		return -1;
	}
	pgs_listener_t *l = &ctx->listeners[ctx->nlisteners++];
	l->fd = fd;
	l->tcp = sock_is_tcp(fd);
	l->burst = 1;
	snprintf(l->desc, sizeof(l->desc), "%s", desc);
	ev_io_set(ctx->loop, fd, EV_READ, on_listen, ctx);
	log_msg(&ctx->log, LOG_LOG, "listening on %s", desc);
	return 0;
}

static int open_listeners(pgs_ctx_t *ctx)
{
	const cfg_t *cfg = ctx->cfg;
	char err[256] = "";
	char *addrs = strdup(cfg->listen_addr ? cfg->listen_addr : "");
	char *save = NULL;
	for (char *a = strtok_r(addrs, ", ", &save); a;
	     a = strtok_r(NULL, ", ", &save)) {
		int fds[8];
		int n = sock_listen_tcp(a, cfg->listen_port,
					cfg->listen_backlog, cfg->so_reuseport,
					fds, 8, err, sizeof(err));
		if (n < 0) {
			log_msg(&ctx->log, LOG_WARNING,
				"cannot listen on %s: %s", a, err);
			continue;
		}
		for (int i = 0; i < n; i++) {
			char desc[128];
			snprintf(desc, sizeof(desc), "%s:%d", a,
				 cfg->listen_port);
			/* PgBouncer's tcp_defer_accept: woken only once the
			 * startup packet is there (45 s, its value). */
			if (cfg->tcp_defer_accept)
				sock_defer_accept(fds[i], 45);
			add_listener(ctx, fds[i], desc);
		}
	}
	free(addrs);
	if (cfg->unix_socket_dir && *cfg->unix_socket_dir) {
		int fd = sock_listen_unix(cfg->unix_socket_dir,
					  cfg->listen_port, cfg->listen_backlog,
					  cfg->unix_socket_mode, err,
					  sizeof(err));
		if (fd < 0) {
			log_msg(&ctx->log, LOG_WARNING, "cannot listen on %s",
				err);
		} else {
			char desc[300];
			snprintf(desc, sizeof(desc), "unix:%s/.s.PGSQL.%d",
				 cfg->unix_socket_dir, cfg->listen_port);
			add_listener(ctx, fd, desc);
		}
	}
	return ctx->nlisteners > 0 ? 0 : -1;
}

/* A listening socket an online restart brought over (already listening,
 * already logged as PgBouncer does: "got pooler socket"). */
static int takeover_listener(pgs_ctx_t *ctx, int fd, const char *desc)
{
	if (ctx->nlisteners >= PGS_MAX_LISTENERS)
		return -1;
	pgs_listener_t *l = &ctx->listeners[ctx->nlisteners++];
	l->fd = fd;
	l->tcp = sock_is_tcp(fd);
	l->burst = 1;
	snprintf(l->desc, sizeof(l->desc), "%s", desc);
	ev_io_set(ctx->loop, fd, EV_READ, on_listen, ctx);
	return 0;
}

/* Socket activation: systemd's sockets replace listen_addr, listen_port
 * and unix_socket_dir for listening, as in PgBouncer. */
static int adopt_listeners(pgs_ctx_t *ctx, const int *fds, int n)
{
	log_msg(&ctx->log, LOG_LOG,
		"socket activation: %d socket(s) from systemd; listen_addr, "
		"listen_port and unix_socket_dir are not used for listening",
		n);
	for (int i = 0; i < n; i++) {
		char desc[320];
		int rc = sdn_listener_desc(fds[i], desc, sizeof(desc));
		if (rc == 0) {
			add_listener(ctx, fds[i], desc);
			continue;
		}
		log_msg(&ctx->log, LOG_WARNING,
			"fd %d from systemd is not a usable listening socket: "
			"%s",
			fds[i], strerror(-rc));
		close(fds[i]);
	}
	return ctx->nlisteners > 0 ? 0 : -1;
}

/*
 * RELOAD, above the pool and the switchover (after nginx's
 * ngx_init_cycle): the new config is read into its own object, the
 * switchover lays its targets over it (the state file, a switch being
 * persisted), and only a valid one is swapped in.
 */
static int app_reload(pgs_ctx_t *ctx, char *err, size_t errlen)
{
	cfg_t *ncfg = pool_cfg_read(ctx, err, errlen);
	if (!ncfg)
		return -1;
	sw_overlay_cfg(ncfg);
	sw_pin_cfg(ctx, ncfg);
	int rc = pool_cfg_apply(ctx, ncfg, err, errlen);
	shadow_reattach(ctx);
	return rc;
}

/* A notification systemd did not get is worth a line, not an exit. */
static void told_systemd(pgs_ctx_t *ctx, int rc, const char *what)
{
	if (rc < 0)
		log_msg(&ctx->log, LOG_WARNING,
			"cannot notify systemd ($NOTIFY_SOCKET) of %s: %s",
			what, strerror(-rc));
}

static void on_signal(ev_loop_t *loop, int fd, void *data, int mask)
{
	pgs_ctx_t *ctx = data;
	struct signalfd_siginfo si;
	(void)mask;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			log_msg(&ctx->log, LOG_LOG,
				"got SIGHUP, re-reading config");
			told_systemd(ctx, sdn_reloading(), "RELOADING=1");
			int rc = app_reload(ctx, NULL, 0);
			told_systemd(ctx, sdn_reloaded(rc == 0), "READY=1");
			break;
		case SIGTERM:
			if (ctx->shutdown != PGS_RUNNING) {
				log_msg(&ctx->log, LOG_LOG,
					"got SIGTERM while shutting down, fast "
					"exit");
				ev_stop(loop);
				break;
			}
			log_msg(&ctx->log, LOG_LOG,
				"got SIGTERM, shutting down, waiting for all "
				"clients disconnect");
			pgs_shutdown_begin(ctx, PGS_SHUTDOWN_WAIT_CLIENTS);
			break;
		case SIGINT:
			if (ctx->shutdown != PGS_RUNNING) {
				log_msg(&ctx->log, LOG_LOG,
					"got SIGINT while shutting down, fast "
					"exit");
				ev_stop(loop);
				break;
			}
			log_msg(&ctx->log, LOG_LOG,
				"got SIGINT, shutting down, waiting for all "
				"servers connections to be released");
			pgs_shutdown_begin(ctx, PGS_SHUTDOWN_WAIT_SERVERS);
			break;
		case SIGQUIT:
			log_msg(&ctx->log, LOG_LOG, "got SIGQUIT, fast exit");
			ctx->shutdown = PGS_SHUTDOWN_NOW;
			ev_stop(loop);
			break;
		case SIGUSR1:
			if (ctx->paused_all || ctx->suspended) {
				log_msg(&ctx->log, LOG_LOG,
					"got SIGUSR1, but already "
					"paused/suspended");
				break;
			}
			log_msg(&ctx->log, LOG_LOG,
				"got SIGUSR1, pausing all activity");
			ctx->paused_all = true;
			break;
		case SIGUSR2:
			if (ctx->shutdown != PGS_RUNNING) {
				log_msg(&ctx->log, LOG_LOG,
					"got SIGUSR2 while shutting down, "
					"ignoring");
			} else if (ctx->paused_all || ctx->suspended) {
				log_msg(&ctx->log, LOG_LOG,
					"got SIGUSR2, continuing from %s",
					ctx->suspended ? "SUSPEND" : "PAUSE");
				if (ctx->suspended)
					admin_suspend_end(ctx);
				ctx->paused_all = ctx->suspended = false;
				janitor_run(ctx);
			} else {
				log_msg(&ctx->log, LOG_LOG,
					"got SIGUSR2, but not "
					"paused/suspended");
			}
			break;
		default:
			break;
		}
	}
}

static int setup_signals(pgs_ctx_t *ctx)
{
	sigset_t set;
	sigemptyset(&set);
	int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	ctx->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (ctx->signal_fd < 0)
		return -1;
	return ev_io_set(ctx->loop, ctx->signal_fd, EV_READ, on_signal, ctx);
}

/* The after-iteration hook's state: whether systemd has been told that
 * shutdown began, however it began (signal or console SHUTDOWN). */
typedef struct iter_hook {
	pgs_ctx_t *ctx;
	bool told_stopping;
} iter_hook_t;

static void after_iter(ev_loop_t *loop, void *data)
{
	iter_hook_t *h = data;
	(void)loop;
	admin_suspend_step(h->ctx);
	conn_txq_run(h->ctx);
	pool_free_justfree(h->ctx);
	if (h->ctx->shutdown != PGS_RUNNING && !h->told_stopping) {
		h->told_stopping = true;
		pgs_shutdown_t mode = h->ctx->shutdown;
		told_systemd(h->ctx,
			     sdn_stopping(mode == PGS_SHUTDOWN_WAIT_CLIENTS),
			     "STOPPING=1");
		if (mode == PGS_SHUTDOWN_WAIT_SERVERS)
			told_systemd(h->ctx,
				     sdn_status("shutting down, waiting for "
						"server connections to be "
						"released"),
				     "STATUS");
	}
}

static int parse_args(int argc, char **argv, opts_t *o)
{
	static const struct option lo[] = {
		{"daemon", no_argument, NULL, 'd'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"reboot", no_argument, NULL, 'R'},
		{"user", required_argument, NULL, 'u'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "dqvRu:Vh", lo, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->daemon = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'R':
			o->reboot = true;
			break;
		case 'u':
			fprintf(stderr, "-u is not supported: start pgswitch "
					"as the target user\n");
			return 1;
		case 'V':
			version();
			return 0;
		case 'h':
			usage(argv[0]);
			return 0;
		default:
			usage(argv[0]);
			return 1;
		}
	}
	if (optind < argc)
		o->config = argv[optind];
	return -1;
}

static int load_config(pgs_ctx_t *ctx, const char *path)
{
	cfg_diags_t d;
	cfg_diags_init(&d);
	ctx->cfg = cfg_load(path, &d);
	for (size_t i = 0; i < d.n; i++)
		log_msg(&ctx->log,
			d.items[i].sev == CFG_ERROR ? LOG_ERROR : LOG_WARNING,
			"%s:%d: %s", d.items[i].file, d.items[i].line,
			d.items[i].msg);
	cfg_diags_free(&d);
	if (!ctx->cfg) {
		log_msg(&ctx->log, LOG_FATAL,
			"cannot load config file %s: see errors above", path);
		return -1;
	}
	sw_overlay_cfg(ctx->cfg);
	return 0;
}

static int daemonize(pgs_ctx_t *ctx)
{
	if (!ctx->cfg->logfile || !*ctx->cfg->logfile) {
		log_msg(&ctx->log, LOG_FATAL,
			"in daemon mode logfile must be set");
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	setsid();
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	ctx->log.to_stderr = false;
	ctx->log.pid = (int)getpid();
	return 0;
}

static void write_pidfile(pgs_ctx_t *ctx)
{
	const char *pf = ctx->cfg->pidfile;
	if (!pf || !*pf)
		return;
	FILE *f = fopen(pf, "w");
	if (!f) {
		log_msg(&ctx->log, LOG_WARNING, "cannot write pidfile %s: %s",
			pf, strerror(errno));
		return;
	}
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
}

static int run_demo(char **argv)
{
	const char *script = getenv("PGSWITCH_DEMO");
	if (!script)
		script = PGSWITCH_DEMO_SCRIPT;
	setenv("PGSWITCH_BIN", argv[0], 0);
	execl("/bin/bash", "bash", script, (char *)NULL);
	fprintf(stderr, "cannot run the demo script %s: %s\n", script,
		strerror(errno));
	return 1;
}

/* Free everything the context owns (keeps leak checkers meaningful). */
static void shutdown_ctx(pgs_ctx_t *ctx)
{
	shadow_free(ctx);
	bg_free(ctx);
	sw_free(ctx);
	pool_free_all(ctx);
	istr_table_free(&ctx->istr);
	conn_mem_free(ctx);
	conn_txq_free(ctx);
	conn_tls_free(ctx);
	conn_vars_free(ctx);
	for (int i = 0; i < ctx->nlisteners; i++)
		if (ctx->listeners[i].fd >= 0)
			close(ctx->listeners[i].fd);
	if (ctx->signal_fd >= 0)
		close(ctx->signal_fd);
	if (ctx->authfile)
		auth_file_free(ctx->authfile);
	hba_free(ctx->hba);
	hba_ident_free(ctx->ident);
	cfg_free(ctx->cfg);
	free(ctx->cfg_path);
	ev_destroy(ctx->loop);
	log_close(&ctx->log);
}

int main(int argc, char **argv)
{
	opts_t o;
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (!o.config)
		return run_demo(argv);

	pgs_ctx_t ctx;
	memset(&ctx, 0, sizeof(ctx));
	log_init(&ctx.log);
	ctx.log.quiet = o.quiet;
	ctx.log.verbose = o.verbose;
	char *abs = realpath(o.config, NULL);
	ctx.cfg_path = abs ? abs : strdup(o.config);
	if (load_config(&ctx, ctx.cfg_path) < 0) {
		free(ctx.cfg_path);
		return 1;
	}
	if (ctx.cfg->verbose > ctx.log.verbose)
		ctx.log.verbose = ctx.cfg->verbose;
	if (ctx.cfg->logfile && *ctx.cfg->logfile &&
	    log_open(&ctx.log, ctx.cfg->logfile) < 0)
		log_msg(&ctx.log, LOG_WARNING, "cannot open logfile %s: %s",
			ctx.cfg->logfile, strerror(errno));
	if (geteuid() == 0)
		log_msg(&ctx.log, LOG_WARNING,
			"running as root is not recommended");
	/* Before daemonising: LISTEN_PID names the process systemd started. */
	int sa_fds[PGS_MAX_LISTENERS];
	int nsa = sdn_listen_fds(sa_fds, PGS_MAX_LISTENERS);
	if (nsa < 0) {
		log_msg(&ctx.log, LOG_FATAL,
			"cannot use the sockets from systemd (LISTEN_FDS): %s",
			strerror(-nsa));
		return 1;
	}
	if (o.daemon && daemonize(&ctx) < 0)
		return 1;

	/* The one place that wires upward: the core reaches the console and
	 * RELOAD only through these. */
	ctx.hooks.console = &admin_console;
	ctx.hooks.reload = app_reload;
	list_init(&ctx.dbs);
	list_init(&ctx.users);
	list_init(&ctx.pools);
	statlist_init(&ctx.login_clients);
	statlist_init(&ctx.admin_clients);
	statlist_init(&ctx.cancel_servers);
	statlist_init(&ctx.justfree_clients);
	statlist_init(&ctx.justfree_servers);
	RAND_bytes(ctx.mock_key, sizeof(ctx.mock_key));
	ctx.loop = ev_create();
	if (!ctx.loop || setup_signals(&ctx) < 0) {
		log_msg(&ctx.log, LOG_FATAL, "cannot set up the event loop");
		return 1;
	}
	ctx.start_us = ev_now_us(ctx.loop);
	conn_mem_init(&ctx);
	conn_vars_init(&ctx, ctx.cfg->track_extra_parameters);
	pool_load_authfile(&ctx);
	pool_load_hba(&ctx);
	char tlserr[512];
	if (conn_tls_configure(&ctx, true, tlserr, sizeof(tlserr)) < 0)
		log_msg(&ctx.log, LOG_ERROR, "%s", tlserr);
	pool_sync_dbs(&ctx);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		log_msg(&ctx.log, LOG_LOG,
			"kernel file descriptor limit: %llu (hard: %llu); "
			"max_client_conn: %d",
			(unsigned long long)rl.rlim_cur,
			(unsigned long long)rl.rlim_max,
			ctx.cfg->max_client_conn);
	}
	int took = 0;
	if (o.reboot && nsa == 0)
		took = takeover_run(&ctx, takeover_listener);
	if (took < 0)
		_exit(1); /* nothing taken over may be closed politely */
	if (!took && (nsa > 0 ? adopt_listeners(&ctx, sa_fds, nsa)
			      : open_listeners(&ctx)) < 0) {
		log_msg(&ctx.log, LOG_FATAL, "no listening sockets: exiting");
		return 1;
	}
	write_pidfile(&ctx);
	log_msg(&ctx.log, LOG_LOG,
		"process up: PgBouncer 1.25.0 (pgswitch %s), libevent none "
		"(epoll), adns: libc, tls: %s",
		PGSWITCH_VERSION, OPENSSL_VERSION_TEXT);
	bool batched = conn_txq_init(&ctx, ctx.cfg->io_uring);
	log_msg(&ctx.log, LOG_LOG, "batched sends (io_uring): %s",
		batched ? "on" : "off");
	iter_hook_t hook = {.ctx = &ctx};
	ev_set_after_iter(ctx.loop, after_iter, &hook);
	janitor_start(&ctx);
	sw_start(&ctx);
	told_systemd(&ctx, sdn_ready(), "READY=1");
	ev_run(ctx.loop);

	log_msg(&ctx.log, LOG_LOG, "shutting down");
	if (ctx.cfg->pidfile && *ctx.cfg->pidfile)
		unlink(ctx.cfg->pidfile);
	/* SHUTDOWN while suspended: an online restart holds the sockets
	 * now; closing them politely would end its sessions. */
	if (ctx.suspended)
		_exit(0);
	shutdown_ctx(&ctx);
	return 0;
}
