/* SPDX-License-Identifier: MIT */
/*
 * sw_report.c - SHOW SWITCHOVER's rows: a job's report, a fence a stopped
 * pgswitch left behind, and switchover_state_file entries the config does
 * not agree with. Rows go out through the caller's callback. Also the
 * names of the phases' sub-steps, for the log.
 */
#include <stdio.h>
#include <string.h>

#include "config/cfg.h"
#include "switch/sw_job.h"

const pgp_field_t *sw_report_fields(void)
{
	static const pgp_field_t f[SW_REPORT_COLS] = {
		{"database", PGP_OID_TEXT, -1},
		{"state", PGP_OID_TEXT, -1},
		{"result", PGP_OID_TEXT, -1},
		{"detail", PGP_OID_TEXT, -1},
		{"total_ms", PGP_OID_TEXT, -1},
		{"freeze_ms", PGP_OID_TEXT, -1},
		{"phases", PGP_OID_TEXT, -1},
		{"clients_held", PGP_OID_INT4, 4},
		{"max_added_latency_ms", PGP_OID_TEXT, -1},
		{"errors_returned", PGP_OID_INT4, 4},
		{"target", PGP_OID_TEXT, -1},
		{"persisted", PGP_OID_TEXT, -1},
		{"prewarmed", PGP_OID_TEXT, -1},
		{"p50_added_latency_ms", PGP_OID_TEXT, -1},
		{"p99_added_latency_ms", PGP_OID_TEXT, -1},
	};
	return f;
}

void sw_report_row(const sw_job_t *j, sw_row_cb cb, void *arg)
{
	char total[32], frz[32], phases[512], held[16], lat[32], tgt[300];
	char warm[32], p50[32], p99[32];
	int64_t end = j->state == SW_IDLE ? j->phase_start : ev_time_us();
	snprintf(total, sizeof(total), "%.1f", (double)(end - j->t0) / 1000.0);
	int64_t frz_end = j->thaw_at		? j->thaw_at
			  : j->state == SW_IDLE ? end
						: ev_time_us();
	snprintf(frz, sizeof(frz), "%.1f",
		 j->freeze_start ? (double)(frz_end - j->freeze_start) / 1000.0
				 : 0.0);
	size_t off = 0;
	phases[0] = 0;
	for (int i = SW_CONNECT; i < SW_NSTATES; i++) {
		if (!j->phase_us[i])
			continue;
		off += (size_t)snprintf(phases + off, sizeof(phases) - off,
					"%s%s=%.1f", off ? " " : "",
					sw_state_name((sw_state_t)i),
					(double)j->phase_us[i] / 1000.0);
		if (off >= sizeof(phases))
			break;
	}
	char errs[24];
	snprintf(errs, sizeof(errs), "%llu", (unsigned long long)j->errors);
	snprintf(held, sizeof(held), "%d", j->held);
	snprintf(lat, sizeof(lat), "%.1f", (double)j->max_hold_us / 1000.0);
	snprintf(tgt, sizeof(tgt), "%s:%d", j->new_host, j->new_port);
	snprintf(warm, sizeof(warm), "%d/%d", j->prewarm_ready,
		 j->prewarm_started);
	snprintf(p50, sizeof(p50), "%.1f", (double)j->p50_hold_us / 1000.0);
	snprintf(p99, sizeof(p99), "%.1f", (double)j->p99_hold_us / 1000.0);
	const char *v[SW_REPORT_COLS] = {j->db,	    sw_state_name(j->state),
					 j->result, j->detail,
					 total,	    frz,
					 phases,    held,
					 lat,	    errs,
					 tgt,	    j->persisted,
					 warm,	    p50,
					 p99};
	cb(arg, v, SW_REPORT_COLS);
}

/* A fence a stopped pgswitch left behind, as a report row. */
void sw_journal_row(const sw_fence_rec_t *r, sw_row_cb cb, void *arg)
{
	char detail[512], tgt[300];
	bool sent = strcmp(r->phase, "promote") == 0;
	bool unlifted = strcmp(r->phase, "unlifted") == 0;
	snprintf(detail, sizeof(detail),
		 sent	    ? "pg_promote was sent to the target (at %lld) but "
			      "the config does not name it; %s:%d stays "
			      "read-only: point %s at the target and RELOAD"
		 : unlifted ? "a switchover was aborted at %lld but %s:%d did "
			      "not answer to have its fence lifted; pgswitch "
			      "lifts it when it answers (or SWITCHOVER %s "
			      "ABORT)"
			    : "pgswitch stopped during a switchover at %lld; "
			      "%s:%d may still be read-only: run SWITCHOVER %s "
			      "ABORT",
		 r->since, r->old_host, r->old_port, r->db);
	snprintf(tgt, sizeof(tgt), "%s:%d", r->new_host, r->new_port);
	const char *v[SW_REPORT_COLS] = {r->db,	 "fenced", "fence left behind",
					 detail, NULL,	   NULL,
					 NULL,	 NULL,	   NULL,
					 NULL,	 tgt,	   NULL,
					 NULL,	 NULL,	   NULL};
	cb(arg, v, SW_REPORT_COLS);
}

/* switchover_state_file entries the config does not agree with: the
 * operator's config management still names the old host. */
void sw_overlay_rows(const cfg_t *cfg, const char *only, sw_row_cb cb,
		     void *arg)
{
	for (size_t i = 0; i < cfg->ndbs; i++) {
		const cfg_db_t *e = &cfg->dbs[i];
		if (!e->overlaid || (only && *only && strcmp(e->name, only)) ||
		    (e->port == e->file_port && e->host && e->file_host &&
		     strcmp(e->host, e->file_host) == 0))
			continue;
		char detail[768], tgt[300];
		snprintf(detail, sizeof(detail),
			 "%s:%d still names %s:%d; %s keeps %s on %s:%d",
			 e->file ? e->file : "the config", e->line,
			 e->file_host && *e->file_host ? e->file_host
						       : "(unix socket)",
			 e->file_port, cfg->switchover_state_file, e->name,
			 e->host ? e->host : "", e->port);
		snprintf(tgt, sizeof(tgt), "%s:%d", e->host ? e->host : "",
			 e->port);
		const char *v[SW_REPORT_COLS] = {
			e->name, "overlay", "config names the old host",
			detail,	 NULL,	    NULL,
			NULL,	 NULL,	    NULL,
			NULL,	 tgt,	    cfg->switchover_state_file,
			NULL,	 NULL,	    NULL};
		cb(arg, v, SW_REPORT_COLS);
	}
}

static const char *pf_name(pf_step_t st)
{
	static const char *const n[] = {"ask target", "target answered",
					"old side answered",
					"long xact checked"};
	return st >= 0 && st <= PF_LONG_XACT ? n[st] : "?";
}

static const char *pw_name(pw_step_t st)
{
	return st == PW_START	  ? "start"
	       : st == PW_FLUSHED ? "flushed"
				  : "replayed";
}

static const char *fence_name(fence_step_t st)
{
	static const char *const n[] = {"read only", "reload", "terminate",
					"flush", "lsn"};
	return st >= 0 && st <= FE_LSN ? n[st] : "?";
}

static const char *abort_name(abort_step_t st)
{
	static const char *const n[] = {"reset", "reload", "lifted"};
	return st >= 0 && st <= AB_LIFTED ? n[st] : "?";
}

/* Where in its phase a job is, for the log of a failure. */
const char *sw_step_name(const sw_job_t *j)
{
	bool logical = j->o.mode == SW_MODE_LOGICAL;
	switch (j->state) {
	case SW_PREFLIGHT:
		return logical ? sw_lg_step_name(j) : pf_name(j->step);
	case SW_PREWARM:
		return pw_name(j->step);
	case SW_FENCE:
		return fence_name(j->step);
	case SW_CATCHUP:
	case SW_PROMOTE:
		return j->step >= CU_POLLED ? "polled" : "entered";
	case SW_HANDOVER:
	case SW_REVERSE:
		return sw_lg_step_name(j);
	case SW_ABORTING:
		return abort_name(j->step);
	default:
		return "-";
	}
}
