/* SPDX-License-Identifier: MIT */
/*
 * sdnotify.h - systemd service notifications and socket activation,
 * speaking the protocols directly instead of linking libsystemd (as
 * PgBouncer 1.24+ does with it): a state is one datagram of
 * newline-separated VAR=value lines to the AF_UNIX socket in
 * $NOTIFY_SOCKET; activated sockets are fds 3.. named by LISTEN_PID and
 * LISTEN_FDS.
 *
 * No state is kept between calls (each notification opens its own
 * socket: they are rare), and nothing logs: errors are returned as
 * -errno for the caller to report.
 */
#ifndef PGSWITCH_SDNOTIFY_H
#define PGSWITCH_SDNOTIFY_H

#include <stdbool.h>
#include <stddef.h>

/* The first fd systemd passes (SD_LISTEN_FDS_START). */
#define SDN_LISTEN_FDS_START 3

/* Send STATE (e.g. "READY=1") to $NOTIFY_SOCKET, a socket path or an
 * abstract socket written "@name". Never blocks. Returns 1 when sent,
 * 0 when NOTIFY_SOCKET is unset or empty (not run by systemd), -errno
 * on failure. */
int sdn_notify(const char *state);

/* "READY=1": started. */
int sdn_ready(void);
/* "RELOADING=1" with MONOTONIC_USEC, the CLOCK_MONOTONIC time that
 * Type=notify-reload needs to match the reply to its signal. */
int sdn_reloading(void);
/* "READY=1" again, ending a reload. Type=notify-reload has no failure
 * reply, so a failed reload (!OK) is said in STATUS= for `systemctl
 * status`, and the next successful one clears it. */
int sdn_reloaded(bool ok);
/* "STOPPING=1"; with WAITING (SIGTERM, SHUTDOWN WAIT_FOR_CLIENTS) a
 * STATUS= saying why the stop may take a while. */
int sdn_stopping(bool waiting);
/* "STATUS=<text>" for `systemctl status`; "" clears it. A newline in
 * TEXT would start another assignment, so it becomes a space. */
int sdn_status(const char *text);

/* The sockets systemd passed to this process (socket activation). When
 * LISTEN_PID is this process, fds 3 .. 3+LISTEN_FDS-1 are made
 * close-on-exec and non-blocking (the accept loop drains a listener until
 * EAGAIN) and stored in FDS. LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES
 * are removed from the environment in every case, so nothing this
 * process starts inherits them. Returns how many were passed, 0 when
 * none were (or they were meant for another process), -EINVAL when the
 * variables are malformed, -E2BIG when more than MAX were passed (the
 * caller would have to drop some silently), -EBADF when one is not
 * open. */
int sdn_listen_fds(int *fds, int max);

/* Describe an activated FD as the listeners' log lines do: "ADDR:PORT"
 * ("[ADDR]:PORT" for IPv6) or "unix:PATH" ("unix:@NAME" for an abstract
 * socket). Returns 0, or -errno when FD is not a listening stream socket
 * of those families (-ENOTSOCK, -EPROTOTYPE, -EINVAL, -EAFNOSUPPORT). */
int sdn_listener_desc(int fd, char *buf, size_t len);

#endif
