/*
 * Loading mainline's scx_qmap (with aqcheck's audit compiled alongside, see
 * bpf/upstream/) the way its own loader, tools/sched_ext/scx_qmap.c, does,
 * without exiting on failure.  C, because it uses mainline's userspace scx
 * headers (scx/common.h, scx/compat.h), whose types clash with scx_aqmap's
 * in the harness's C++.  Plain C types only here.
 */
#ifndef AQ_QMAP_UPSTREAM_LOAD_H
#define AQ_QMAP_UPSTREAM_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* scx_qmap.c's options that change scheduling, by their letter there. */
struct aqu_options {
	uint64_t slice_ns;		/* -s (µs there); 0: SCX_SLICE_DFL */
	uint32_t dsp_batch;		/* -b */
	bool highpri_boosting;		/* -H */
	uint32_t max_tasks;		/* -N; 0: 16384, scx_qmap.c's default */
	uint32_t stall_user_nth;	/* -t: drop every Nth user task (a broken build by knob) */
	uint32_t stall_kernel_nth;	/* -T */
	uint64_t stuck_after_ms;	/* aqcheck's wait-audit bound */
};

/* Mainline's own counters (struct qmap_arena's stats). */
struct aqu_counters {
	uint64_t nr_enqueued, nr_dispatched, nr_reenqueued, nr_dequeued;
	uint64_t nr_ddsp_from_enq, nr_core_sched_execed;
	uint64_t nr_expedited_local, nr_expedited_remote, nr_expedited_lost;
	uint64_t nr_highpri_queued;
};

enum aqu_prog { AQU_AUDIT, AQU_AUDIT_WAITS, AQU_COUNT_FREE };

struct aqu_sched;
struct aq_audit;
struct aq_wait_audit;
struct aqu_facts;

/* 0, or -errno with a message in err. */
int aqu_open_load(const struct aqu_options *o, struct aqu_sched **out, char *err, size_t errlen);
int aqu_attach(struct aqu_sched *s, char *err, size_t errlen);
void aqu_detach(struct aqu_sched *s);
void aqu_destroy(struct aqu_sched *s);
/* Runs one of the audit programs; 0 or -errno. */
int aqu_run(struct aqu_sched *s, enum aqu_prog which);
const struct aq_audit *aqu_audit_result(const struct aqu_sched *s);
const struct aq_wait_audit *aqu_wait_result(const struct aqu_sched *s);
const struct aqu_facts *aqu_facts_result(const struct aqu_sched *s);
void aqu_read_counters(const struct aqu_sched *s, struct aqu_counters *c);
/* The exit mainline's UEI recorded: false while it runs. */
bool aqu_exit_info(const struct aqu_sched *s, int64_t *kind, int64_t *code, const char **reason, const char **msg);

#ifdef __cplusplus
}
#endif

#endif /* AQ_QMAP_UPSTREAM_LOAD_H */
