/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the in-kernel audits write and the harness reads: the structural audit
 * of the FIFOs and the wait audit of every sched_ext task.  Shared by
 * scx_aqmap (in its arena, aqmap_arena.h) and by the audit aqcheck compiles
 * alongside mainline's scx_qmap (bpf/upstream/, in that object's .bss), so
 * one interpretation (harness/run/audit.hpp) judges both.
 */
#ifndef __AQ_AUDIT_LAYOUT_H
#define __AQ_AUDIT_LAYOUT_H

#define AQ_NR_FIFOS		5
#define AQ_AUDIT_MAX_ENTRIES	4096
#define AQ_AUDIT_MAX_STUCK	16

/* One entry seen on a FIFO by the audit. */
struct aq_audit_entry {
	s32 pid;
	s32 fifo;
	u64 enq_seq;
	u64 ops_qseq;		/* kernel qseq of the enqueue that made the entry */
	u32 in_custody;		/* task still in custody by that enqueue (entry_in_custody()) */
	u32 found;		/* the task was found (scx_aqmap: by pid; mainline: by tid) */
	u64 tid;		/* mainline scx_qmap: p->scx.tid, which finds a self-reaped exiting
				 * thread that no pid lookup does any more; unused by scx_aqmap */
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
	AQ_AUDIT_COUNTER	= 8,	/* a scheduler counter disagrees with its lists in two audits (judged in userspace) */
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
	u64 head_wait_ns[AQ_NR_FIFOS];	/* how long each FIFO's head has waited, 0 if empty */
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

#endif /* __AQ_AUDIT_LAYOUT_H */
