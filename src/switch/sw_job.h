/* SPDX-License-Identifier: MIT */
/*
 * sw_job.h - one switchover job, shared by the files of src/switch that
 * run its phases (switchover.c: the common machine and the physical
 * mode; sw_logical.c: the logical mode). Private to src/switch.
 */
#ifndef PGSWITCH_SW_JOB_H
#define PGSWITCH_SW_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "pool/pool_types.h"
#include "switch/sw_persist.h"
#include "switch/sw_types.h"
#include "switch/switchover.h"
#include "switch/swc.h"

typedef enum sw_state {
	SW_IDLE,
	SW_CONNECT,
	SW_PREFLIGHT,
	SW_PREWARM,
	SW_FREEZE,
	SW_CAPTURE,
	SW_FENCE,
	SW_CATCHUP,
	SW_PROMOTE,  /* physical: pg_promote, wait for it */
	SW_HANDOVER, /* logical: sequences, reverse slot, subscription off */
	SW_REVERSE,  /* logical, after the resume: the old side subscribes */
	SW_DONE,
	SW_ABORTING,
	SW_NSTATES
} sw_state_t;

const char *sw_state_name(sw_state_t st);

/* What a logical switchover learns in preflight and uses in the freeze
 * (sw_logical.c). The forward subscription lives on the target and
 * reads the old side's slot; the reverse one is made (or re-enabled) on
 * the old side, on a slot created on the target inside the freeze. */
typedef struct sw_logical {
	char sub[SW_NAME_MAX]; /* the forward subscription (target) */
	char sub_oid[16];
	char sub_slot[SW_NAME_MAX]; /* its slot on the old side */
	char *tables;		    /* its relations, "a.t1, a.t2" */
	char rev_sub[SW_NAME_MAX];  /* the reverse one (old side) */
	bool rev_exists;	    /* ... disabled and detached: re-enabled */
	char rev_pub[SW_NAME_MAX];  /* its publication on the target */
	bool rev_pub_exists;
	char rev_slot[SW_NAME_MAX]; /* created on the target in the freeze */
	bool rev_slot_made;
	bool stale_slot;    /* ... left by an aborted switch: dropped */
	bool target_fenced; /* default_transaction_read_only on there */
	bool no_reverse;    /* the target's wal_level is not logical */
	/* The hand-over transaction is out: its commit may land any
	 * moment, so the deadline waits for its answer instead of aborting
	 * (an abort would resume on a side the target no longer follows). */
	bool handing;
	bool undoing; /* aborting: the reverse slot's drop is out */
	char rev_ci[1024 + SW_NAME_MAX +
		    32]; /* the target, from the old side */
	char *seqs;	 /* "('s.a',5),..." read on the old side */
	int seq_polls;	 /* the forward slot's drop, retried */
} sw_logical_t;

typedef struct sw_job {
	pgs_ctx_t *ctx;
	sw_state_t state;
	int step;
	char db[64];
	char old_host[256];
	int old_port;
	char new_host[256];
	int new_port;
	char conn_old[1024];
	char conn_new[1024];
	sw_opts_t o;
	swc_t *old;
	swc_t *neu;
	int ready;
	sw_done_cb done; /* who started it; NULL for pgswitch's own retry */
	void *done_arg;
	int64_t t0;
	int64_t phase_us[SW_NSTATES];
	int64_t phase_start;
	int64_t deadline;
	int64_t freeze_start;
	int64_t freeze_deadline;
	char old_sysid[32];
	char fence_lsn[32];
	bool fenced;
	/* Past the point of no return: pg_promote sent (physical), or the
	 * subscription handed over (logical). */
	bool promoted;
	bool journaled;	     /* a fence journal record exists for this job */
	bool target_checked; /* lift_only: the target is still a standby */
	bool lift_only;	     /* SWITCHOVER db ABORT of a fence left behind */
	int prewarm_started;
	int prewarm_ready;
	char warm_lsn[32]; /* flushed before the freeze */
	bool warm_caught;  /* ... and replayed by the target */
	int64_t prewarm_deadline;
	int64_t p50_hold_us, p99_hold_us;
	sw_persist_t *writer; /* SW_DONE: the new target being persisted */
	bool cancelled_long;
	int polls;
	int held;
	int sessions;
	uint64_t errors_at_start;
	uint64_t errors;
	int64_t max_hold_us;
	uint64_t timer;
	uint64_t deadline_timer;
	PGresult *res; /* the result being handled, during a callback */
	sw_logical_t lg;
	int64_t thaw_at; /* when the freeze ended (0: not yet) */
	char result[64];
	char detail[512];
	char persisted[512];
} sw_job_t;

/* The phases' sub-steps: a query's result moves j->step on by one, so
 * each enum counts the results its phase has had. */
typedef enum pf_step {
	PF_ASK_TARGET, /* target: in recovery, system id, replay LSN */
	PF_TARGET,     /* ... answered; old side: same system, lag */
	PF_OLD,	       /* ... answered; old side: the oldest transaction */
	PF_LONG_XACT,  /* ... answered: dry run, or the pre-warm */
} pf_step_t;

typedef enum pw_step {
	PW_START,    /* logins to the target; flush the old side */
	PW_FLUSHED,  /* the flush LSN known; poll the target for it */
	PW_REPLAYED, /* (and on) the target's answers */
} pw_step_t;

typedef enum fence_step {
	FE_READ_ONLY, /* ALTER SYSTEM default_transaction_read_only */
	FE_RELOAD,
	FE_TERMINATE, /* other client backends */
	FE_FLUSH,     /* the synchronous commit that gives the fence LSN */
	FE_LSN,
} fence_step_t;

/* Catch-up and promote: entered at CU_ENTERED, CU_POLLED on for each
 * answer of the poll. */
typedef enum cu_step { CU_ENTERED = 1, CU_POLLED = 2 } cu_step_t;

typedef enum abort_step {
	AB_RESET, /* ALTER SYSTEM RESET default_transaction_read_only */
	AB_RELOAD,
	AB_LIFTED,
} abort_step_t;

/* Where in its phase a job is (sw_report.c), for the log of a failure. */
const char *sw_step_name(const sw_job_t *j);

/* A query on control connection C; its result comes back through
 * sw_advance() with j->res set and j->step advanced. False: the job
 * failed (already reported). */
bool sw_ask(sw_job_t *j, swc_t *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same with SQL built by the caller (no length limit but swc's). */
bool sw_ask_sql(sw_job_t *j, swc_t *c, const char *sql);
/* The same, but an error does not fail the job: it is noted in the
 * report's detail and the phase goes on (j->res NULL). */
bool sw_ask_soft(sw_job_t *j, swc_t *c, const char *sql);
void sw_fail(sw_job_t *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sw_enter(sw_job_t *j, sw_state_t st);
void sw_later(sw_job_t *j, long ms);
void sw_advance(sw_job_t *j);
/* Append to the report's detail ("; " between notes). */
void sw_note(sw_job_t *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Repoint the database at the target, resume it, persist the target;
 * the job goes on in state NEXT while the writer runs. */
void sw_cut_over(sw_job_t *j, sw_state_t next);
/* The long-transaction check on the old side (both modes). */
void sw_ask_long_xact(sw_job_t *j);
/* Its verdict on j->res: false if the job was refused. */
bool sw_long_xact_ok(sw_job_t *j);
/* Preflight is over: stop for a dry run, or start the pre-warm. */
void sw_preflight_done(sw_job_t *j);

/* SHOW SWITCHOVER's rows (sw_report.c). */
void sw_report_row(const sw_job_t *j, sw_row_cb cb, void *arg);
void sw_journal_row(const sw_fence_rec_t *r, sw_row_cb cb, void *arg);
void sw_overlay_rows(const cfg_t *cfg, const char *only, sw_row_cb cb,
		     void *arg);

/* The logical mode's phases (sw_logical.c). */
void sw_lg_preflight(sw_job_t *j);
/* The query that is true once the target has applied LSN. */
void sw_lg_caught_sql(const sw_job_t *j, const char *lsn, char *out,
		      size_t cap);
void sw_lg_catchup(sw_job_t *j);
void sw_lg_handover(sw_job_t *j);
void sw_lg_reverse(sw_job_t *j);
/* Aborting: undo what the handover began on the target. True once there
 * is nothing (left) to undo. */
bool sw_lg_undo(sw_job_t *j);
/* The fence step's closing query in logical mode: flush, fence LSN and
 * the old side's sequences in one round trip. */
extern const char *const sw_lg_flush_sql;
void sw_lg_fenced(sw_job_t *j);
/* lift-only job of a logical fence: true if the target still
 * subscribes (so lifting the fence leaves one writable side). */
const char *sw_lg_target_check_sql(void);
void sw_lg_free(sw_job_t *j);
/* The logical phases' sub-step, by name. */
const char *sw_lg_step_name(const sw_job_t *j);

#define sw_val(j, row, col) swc_value((j)->res, (row), (col))

#endif
