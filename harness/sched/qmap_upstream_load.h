/*
 * Loading mainline's scx_qmap (with aqcheck's audit compiled alongside, see
 * bpf/upstream/) the way its own loader, tools/sched_ext/scx_qmap.c, does,
 * without exiting on failure.  C, because it uses mainline's userspace scx
 * headers (scx/common.h, scx/compat.h), whose types clash with scx_aqmap's
 * in the harness's C++.  Plain C types only here.
 *
 * One table of functions per build of the object: mainline as it is, and
 * its mutants (patched copies in the build tree, bpf/CMakeLists.txt) that
 * exist to prove the audit of mainline's lists can fail.
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

struct aqu_api {
	/* 0, or -errno with a message in err. */
	int (*open_load)(const struct aqu_options *o, struct aqu_sched **out, char *err, size_t errlen);
	int (*attach)(struct aqu_sched *s, char *err, size_t errlen);
	void (*detach)(struct aqu_sched *s);
	void (*destroy)(struct aqu_sched *s);
	/* Runs one of the audit programs; 0 or -errno. */
	int (*run)(struct aqu_sched *s, enum aqu_prog which);
	const struct aq_audit *(*audit)(const struct aqu_sched *s);
	const struct aq_wait_audit *(*waits)(const struct aqu_sched *s);
	const struct aqu_facts *(*facts)(const struct aqu_sched *s);
	void (*counters)(const struct aqu_sched *s, struct aqu_counters *c);
	/* The exit mainline's UEI recorded: false while it runs. */
	bool (*exit_info)(const struct aqu_sched *s, int64_t *kind, int64_t *code, const char **reason,
			  const char **msg);
};

/* Mainline as it is. */
const struct aqu_api *aqu_api_mainline(void);
/*
 * Mutants (properties/upstream/mutate.py, bpf/CMakeLists.txt): the new
 * head's q_prev kept at pop; ops.dequeue that unlinks nothing; exit_task
 * that loses the context.
 */
const struct aqu_api *aqu_api_mutant_pop_no_prev_fixup(void);
const struct aqu_api *aqu_api_mutant_dequeue_no_remove(void);
const struct aqu_api *aqu_api_mutant_exit_task_free_drops(void);

#ifdef __cplusplus
}
#endif

#endif /* AQ_QMAP_UPSTREAM_LOAD_H */
