/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scx_aqmap's custody ledger: ONE expectation of sched_ext's custody
 * protocol, kept per task by the scheduler in BPF (scx_aqmap.bpf.c), read by
 * aqcheck after every kernel-tier run (harness/run/run.cpp) and enforced by
 * the ops-level simulator, which runs the same scheduler code (ops/sim).
 *
 * The protocol, as 7.2's kernel/sched/ext/ext.c has it: a task enters the BPF
 * scheduler's custody when ops.enqueue() keeps it (links it on a FIFO, or
 * inserts it into a user DSQ; SCX_TASK_IN_CUSTODY) and leaves it exactly once,
 * by ops.dequeue(): on a property change while queued (SCX_DEQ_SCHED_CHANGE),
 * or when it reaches a local or the global DSQ from a user DSQ (deq_flags 0;
 * task_leave_custody()).  An insert into a local DSQ from ops.select_cpu() or
 * ops.enqueue() takes no custody, and no ops.dequeue() follows.  A task that
 * wakes up, gets a CPU or leaves sched_ext is out of custody: the kernel
 * itself WARNs otherwise (scx_disable_task()).
 *
 * The ledger holds what the scheduler believes, as the kernel's
 * selftests/sched_ext/dequeue test does for its toy scheduler: NONE, FIFO
 * (ops.enqueue linked the task) or DISPATCHED (it waits on a user DSQ: put
 * there by ops.enqueue, or popped from its FIFO by ops.dispatch).  Every op
 * that the kernel calls holding the task's rq or pi lock checks the ledger
 * against what that call means, and counts each disagreement by kind.
 *
 * A task that scx_bpf_dsq_reenq() re-enqueues from a user DSQ goes through
 * ops.enqueue() again still in custody, without an ops.dequeue(): the one
 * enqueue that may find a custody open.
 *
 * A custody ends when the task reaches a local DSQ, so the task is out of
 * custody when it is picked.  Only core scheduling may pick a task still in
 * the scheduler's custody, and the kernel then says so with
 * SCX_DEQ_CORE_SCHED_EXEC; on a kernel that cannot core-schedule, such a
 * dequeue is a custody that ended late (a known-bad kernel,
 * kernels/regressions/02-remote-arrival-keeps-custody.patch, shows it).
 *
 * ops.dispatch holds neither lock, so its FIFO -> DISPATCHED step is a
 * compare-and-swap that a racing ops.dequeue can only pre-empt, and nothing
 * is checked there: a pop may well land after the custody it came from ended
 * (ops/README.md, finding 1).  FIFO and DISPATCHED mean the same to every
 * check, "in custody"; the difference is for the reader.
 */
#ifndef __AQMAP_CUSTODY_H
#define __AQMAP_CUSTODY_H

enum aq_custody_state {
	AQ_CUSTODY_NONE,
	AQ_CUSTODY_FIFO,
	AQ_CUSTODY_DISPATCHED,
	AQ_CUSTODY_NR_STATES,
};

/*
 * The kinds of violation: X(id, name in reports, what happened).  One list
 * for the enum, the counters and the names that reports print.
 */
#define AQ_CUSTODY_VIOLATIONS(X)						\
	X(WAKE, "wake-in-custody", "ops.select_cpu of a task in custody")	\
	X(ENQUEUE, "enqueue-in-custody", "ops.enqueue of a task already in custody") \
	X(DEQUEUE, "dequeue-out-of-custody", "ops.dequeue of a task not in custody") \
	X(LEFT_LINKED, "dequeue-left-linked", "ops.dequeue returned with the task still on a FIFO") \
	X(RUN, "run-in-custody", "ops.running of a task in custody")		\
	X(EXIT, "exit-in-custody", "ops.exit_task of a task in custody")	\
	X(AT_PICK, "dequeue-at-pick", "ops.dequeue at pick (SCX_DEQ_CORE_SCHED_EXEC) on a kernel that cannot core-schedule") \


enum aq_custody_violation {
#define AQ_CUSTODY_ENUM(id, name, what)	AQ_CV_##id,
	AQ_CUSTODY_VIOLATIONS(AQ_CUSTODY_ENUM)
#undef AQ_CUSTODY_ENUM
	AQ_CV_NR,
};

/* In the arena (struct qmap_arena), for userspace. */
struct aq_custody {
	u64 nr_taken;			/* custodies begun: ops.enqueue kept the task */
	u64 nr_ended;			/* ... and ended: ops.dequeue of a task in custody */
	u64 nr[AQ_CV_NR];		/* violations by kind */
	s32 last_pid[AQ_CV_NR];		/* the task of each kind's latest violation */
	u32 last_state[AQ_CV_NR];	/* ... and its ledger state then */
};

#ifdef __cplusplus
#include <string>

/* For the C++ readers of the arena (aqcheck, the simulator): the names. */
static const char *const aq_custody_state_names[AQ_CUSTODY_NR_STATES] = {
	"none", "on a FIFO", "dispatched",
};

struct aq_custody_kind {
	const char *name;
	const char *what;
};

static const struct aq_custody_kind aq_custody_kinds[AQ_CV_NR] = {
#define AQ_CUSTODY_KIND(id, name, what)	{ name, what },
	AQ_CUSTODY_VIOLATIONS(AQ_CUSTODY_KIND)
#undef AQ_CUSTODY_KIND
};

/* A ledger state's name; a torn or corrupt one is named, not indexed past the names. */
inline const char *aq_custody_state_name(u32 st)
{
	return st < AQ_CUSTODY_NR_STATES ? aq_custody_state_names[st] : "corrupt";
}

/* The failure line of kind @k, which aqcheck and the simulator both print. */
inline std::string aq_custody_describe(const struct aq_custody &c, int k)
{
	return std::string("custody protocol violated: ") + aq_custody_kinds[k].what + " (" +
	       aq_custody_kinds[k].name + ") x" + std::to_string(c.nr[k]) + ", last pid " +
	       std::to_string(c.last_pid[k]) + " (ledger: " + aq_custody_state_name(c.last_state[k]) + ")";
}
#endif

#endif /* __AQMAP_CUSTODY_H */
