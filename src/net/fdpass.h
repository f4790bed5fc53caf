/* SPDX-License-Identifier: MIT */
/*
 * fdpass.h - file descriptors over a Unix socket (SCM_RIGHTS), for the
 * online restart: the old process's SHOW FDS attaches one descriptor to
 * each row it sends, the new process picks them up with the row.
 *
 * Interface:
 *   net_send_fd()  send bytes with one descriptor attached to the first
 *   net_recv_fd()  receive bytes and, if one came with them, a descriptor
 * Blocking or not is the caller's socket's; neither function logs.
 */
#ifndef PGSWITCH_NET_FDPASS_H
#define PGSWITCH_NET_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* Send LEN bytes of BUF with FD (-1: none) as ancillary data. Returns the
 * bytes sent (the descriptor went with the first of them; the rest, if
 * short, must follow without it), or -1 with errno. */
ssize_t net_send_fd(int sock, const void *buf, size_t len, int fd);
/* Receive up to LEN bytes into BUF. *FD is set to a received descriptor
 * (close-on-exec) or -1. Returns bytes (0: EOF), or -1 with errno. A
 * second descriptor in the same read (the sender misbehaved) is closed
 * and counted in *EXTRA, which may be NULL. */
ssize_t net_recv_fd(int sock, void *buf, size_t len, int *fd, int *extra);

#endif
