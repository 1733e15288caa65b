/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Layout of scx_aqmap's arena, shared by the BPF scheduler and userspace.
 * Userspace maps the arena at the same address as BPF (map_extra), so the
 * __arena pointers inside are directly usable by the harness.
 */
#ifndef __AQMAP_ARENA_H
#define __AQMAP_ARENA_H

#include "aqmap_list.h"

#define AQ_AUDIT_MAX_ENTRIES	4096
#define AQ_AUDIT_MAX_STUCK	16
#define AQ_MAX_CPUS		64

/* Scheduler statistics; names are what reports and workload files use. */
struct aq_stats {
	u64 nr_enqueued;		/* ops.enqueue linked a task on a FIFO */
	u64 nr_dispatched;		/* tasks moved from a FIFO to the shared DSQ */
	u64 nr_direct;			/* select_cpu direct dispatches to local */
	u64 nr_reenqueued;		/* SCX_ENQ_REENQ re-enqueues to the shared DSQ */
	u64 nr_dequeued;		/* ops.dequeue calls */
	u64 nr_deq_sched_change;	/* ... with SCX_DEQ_SCHED_CHANGE */
	u64 nr_deq_removed;		/* ... that unlinked a task from a FIFO */
	u64 nr_fifo_changes;		/* enqueue to another FIFO than the task's last one */
	u64 nr_highpri;			/* enqueues marked high priority */
	u64 nr_init_task;		/* ops.init_task */
	u64 nr_exit_task;		/* ops.exit_task */
	u64 nr_enq_lock_fallback;	/* enqueue lock failed: task sent to the shared DSQ */
	u64 nr_pop_lock_fail;		/* pop lock failed: FIFO skipped this round */
	u64 nr_remove_lock_fail;	/* remove gave up after retries (ejects) */
	u64 nr_lock_acquire;		/* list-lock acquisitions (fault-injection clock) */
	u64 nr_lock_injected;		/* acquisitions failed on purpose */
	u64 nr_slab_exhausted;		/* init_task found no free context */
	u64 nr_stale_skipped;		/* lazy variant: popped entries no longer queued */
	u64 nr_cpu_online;		/* ops.cpu_online */
	u64 nr_cpu_offline;		/* ops.cpu_offline */
	u64 nr_aged_dispatch;		/* dispatched out of weighted order: FIFO head overdue */
	u64 nr_keep_ready;		/* re-enqueues after a sched change that kept their wait clock */
	u64 nr_overdue_requeue;		/* ... already waiting past starve_ms: sent to the shared DSQ */
	u64 nr_wake_preempt;		/* wakees that preempted a hog on their CPU (wake_preempt_ns) */
	u64 nr_wake_local;		/* ... that went next on their CPU, not preempting */
	u64 nr_tick_preempt;		/* hogs whose turn a tick ended, as a wakee waited behind them */
};

/*
 * Time spent in one kind of FIFO operation, when the scheduler is loaded with
 * time_ops (aqcheck bench): successful operations only, bpf_ktime around them.
 */
struct aq_op_cost {
	u64 ns;
	u64 nr;
};

struct aq_op_costs {
	struct aq_op_cost enqueue;	/* link at a tail (queue-map: push) */
	struct aq_op_cost dispatch;	/* pop a head (queue-map: pop, stale entries too) */
	struct aq_op_cost dequeue;	/* unlink from the middle (queue-map: nothing to do) */
};

/* One entry seen on a FIFO by the audit. */
struct aq_audit_entry {
	s32 pid;
	s32 fifo;
	u64 enq_seq;
	u64 ops_qseq;		/* kernel qseq of the enqueue that made the entry */
	u32 in_custody;		/* task still QUEUED on the BPF side, on no DSQ */
	u32 found;		/* pid resolved to a task */
};

/* Audit verdict codes (aq_audit.status). */
enum aq_audit_status {
	AQ_AUDIT_OK		= 0,
	AQ_AUDIT_LOCK_FAILED	= 1,	/* could not take a FIFO's lock */
	AQ_AUDIT_BAD_ENDS	= 2,	/* head/tail/len disagree, or head->q_prev/tail->q_next set */
	AQ_AUDIT_BAD_LINK	= 3,	/* next->prev != node or prev->next != node */
	AQ_AUDIT_BAD_FIFO	= 4,	/* node->fifo does not point at the FIFO it is on */
	AQ_AUDIT_CYCLE		= 5,	/* walk did not reach tail in len steps */
	AQ_AUDIT_CONSERVATION	= 6,	/* nr_in != nr_popped + nr_removed + len */
	AQ_AUDIT_TRUNCATED	= 7,	/* more entries than AQ_AUDIT_MAX_ENTRIES (not a failure) */
};

/* Written by the audit program, read by the harness after each run. */
struct aq_audit {
	u64 seq;		/* audits completed */
	u64 ns;			/* duration of the last audit (bpf_ktime) */
	u64 max_ns;
	u32 status;		/* enum aq_audit_status of the last audit */
	s32 bad_fifo;		/* FIFO at fault */
	s32 bad_pid;		/* node at fault (pid), -1 if none */
	u32 pad;
	u64 bad_val[4];		/* values involved, meaning per status */
	u32 nr_entries;
	u32 pad2;
	u64 head_wait_ns[QMAP_NR_FIFOS];	/* how long each FIFO's head has waited, 0 if empty */
	struct aq_audit_entry entries[AQ_AUDIT_MAX_ENTRIES];
};

/*
 * A sched_ext task that has waited for a CPU at least stuck_after_ms, as the
 * kernel measures it (p->scx.runnable_at, the sched_ext watchdog's clock),
 * and where it is: on a FIFO, on a DSQ, or nowhere.
 */
struct aq_stuck_task {
	s32 pid;
	s32 fifo;		/* FIFO it is linked on, -1 if none */
	s32 cpu;		/* task_cpu() */
	u32 on_dsq;		/* p->scx.dsq set */
	u64 dsq_id;		/* that DSQ's id */
	u64 ops_state;		/* p->scx.ops_state's state (SCX_OPSS_*), without qseq */
	u32 scx_flags;		/* p->scx.flags (SCX_TASK_IN_CUSTODY, ...) */
	u32 weight;
	u64 enq_seq;		/* on a FIFO: the enqueue that linked it (task_ctx.enq_seq) */
	u64 wait_ms;
	char comm[16];
};

/* Written by the aqmap_audit_waits program: every sched_ext task's wait. */
struct aq_wait_audit {
	u64 seq;		/* scans completed */
	u64 calib_ns, calib_jiffies;	/* first scan: to derive HZ */
	u64 hz;			/* 0 until derived (the first 200 ms) */
	u64 max_wait_ms;	/* longest wait of any task now waiting */
	s32 max_wait_pid;
	u32 nr_waiting;		/* sched_ext tasks runnable and not running */
	u32 nr_stuck;		/* of which waited >= stuck_after_ms (listed up to AQ_AUDIT_MAX_STUCK) */
	u32 pad;
	struct aq_stuck_task stuck[AQ_AUDIT_MAX_STUCK];
};

struct aq_cpu_ctx {
	u64 dsp_idx;		/* FIFO being dispatched from */
	u64 dsp_cnt;		/* tasks left in this FIFO's turn */
};

/* Exit info recorded by ops.exit for userspace. */
struct aq_exit_info {
	s64 kind;
	s64 exit_code;
	char reason[128];
	char msg[1024];
};

struct qmap_arena {
	struct aq_stats stats;
	struct qmap_fifo fifos[QMAP_NR_FIFOS];
	struct aq_cpu_ctx cpus[AQ_MAX_CPUS];
	u64 enq_seq;				/* global enqueue sequence */
	u64 nr_high_queued;			/* high-priority tasks queued now */
	u32 max_tasks;
	u32 initialized;
	struct task_ctx __arena *task_ctxs;	/* the slab */
	struct task_ctx __arena *task_free_head;
	struct aq_exit_info exit;
	u64 max_fifo_wait_ns;			/* longest wait of a task popped from a FIFO */
	s32 max_fifo_wait_fifo;			/* ... and its FIFO */
	s32 max_fifo_wait_pid;			/* ... and its pid (a racy max: may not match) */
	struct aq_op_costs op_costs;
	struct aq_wait_audit waits;
	struct aq_audit audit;
};

#endif /* __AQMAP_ARENA_H */
