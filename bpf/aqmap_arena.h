/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Layout of scx_aqmap's arena, shared by the BPF scheduler and userspace.
 * Userspace maps the arena at the same address as BPF (map_extra), so the
 * __arena pointers inside are directly usable by the harness.
 */
#ifndef __AQMAP_ARENA_H
#define __AQMAP_ARENA_H

#include "aqmap_list.h"
#include "aq_audit_layout.h"
#include "aqmap_custody.h"

/* The audit layout has a slot per FIFO (C and C++ alike). */
typedef char aq_audit_fifo_slots[QMAP_NR_FIFOS == AQ_NR_FIFOS ? 1 : -1];

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
	struct aq_custody custody;		/* the custody ledger's counts (aqmap_custody.h) */
};

#endif /* __AQMAP_ARENA_H */
