/* SPDX-License-Identifier: MIT */
/* sw_types.h - SWITCHOVER options and the fence journal record. */
#ifndef PGSWITCH_SW_TYPES_H
#define PGSWITCH_SW_TYPES_H

#include <stdatomic.h>
#include <stdbool.h>

typedef enum long_xact { LX_REFUSE, LX_WAIT, LX_CANCEL } long_xact_t;

/* How the target follows the old side: a streaming standby promoted at
 * the switch, or a logical subscriber handed the writes (no promotion,
 * reverse replication set up for a rollback). */
typedef enum sw_mode { SW_MODE_PHYSICAL, SW_MODE_LOGICAL } sw_mode_t;

const char *sw_mode_name(sw_mode_t m);

/* What moves: all traffic (writes handed over), or a read-only entry's
 * reads only (seed 002: reads first) — no fence, no promotion or
 * hand-over, the target keeps following the old side. */
typedef enum sw_traffic { SW_TRAFFIC_ALL, SW_TRAFFIC_READ } sw_traffic_t;

#define SW_NAME_MAX 64

typedef struct sw_opts {
	long timeout_ms;
	long long max_lag;
	long max_xact_age_ms;
	long_xact_t on_long_xact;
	bool fence_old;
	bool dry_run;
	sw_mode_t mode;
	sw_traffic_t traffic;
	long min_shadow_reads; /* logical: clean shadow reads required */
	char subscription[SW_NAME_MAX]; /* logical: "" = found on the target */
} sw_opts_t;

/* A fence applied on an old primary and not (yet) resolved: written
 * before the freeze, updated before pg_promote, removed when the
 * switchover ends. A pgswitch restarted after kill -9 finds it. */
typedef struct sw_fence_rec {
	char db[64];
	/* "fence": promote not sent; "promote": sent; "lfence": a logical
	 * switchover's (the target's subscription tells whether it
	 * switched); "unlifted": an aborted one's fence that did not lift */
	char phase[16];
	char old_host[256];
	int old_port;
	char new_host[256];
	int new_port;
	long long since; /* unix seconds */
} sw_fence_rec_t;

#define SW_JOURNAL_MAX 32

/* One switchover_state_file entry: "db host=H port=P". */
typedef struct sw_overlay {
	char db[64];
	char host[256];
	int port;
} sw_overlay_t;

#define SW_OVERLAY_MAX 256

/* A target to persist (sw_persist.h): everything the writer needs, so it
 * can run off the event loop. */
typedef struct sw_persist {
	char db[64];
	char host[256];
	int port;
	char overlay[4096]; /* switchover_state_file, or "" */
	char file[4096];    /* else the line that defines the database */
	int line;
	char name[128];
	char connstr[2048];
	char journal[4200];
	bool drop_journal;
	int rc;
	char out[512]; /* where it went, or why not */
	char journal_err[512];
	atomic_bool done;
} sw_persist_t;

#endif
