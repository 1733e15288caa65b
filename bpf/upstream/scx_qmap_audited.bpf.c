/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Mainline's scx_qmap, unchanged, with aqcheck's audit compiled alongside.
 *
 * This file #includes tools/sched_ext/scx_qmap.bpf.c from Debian's
 * linux-source of the kernel under test (the build puts that directory on
 * the include path; nothing of it is copied into this project) and adds
 * three syscall programs the harness runs through BPF_PROG_TEST_RUN:
 *
 * - aqu_audit: each of the five FIFOs walked under its own lock, with the
 *   rules scx_aqmap's audit applies (struct aq_audit): consistent ends,
 *   q_prev/q_next agreeing, every node's @fifo naming the FIFO it is on,
 *   the walk reaching the tail, fifo->idx naming its slot.  Each entry's
 *   task is then looked up for the stale-entry rule: on a FIFO while the
 *   kernel no longer holds it QUEUED for the scheduler, in two audits.
 *   Mainline keeps no per-FIFO length or in/out counters, so there is no
 *   conservation rule; its qseq is not kept either, so custody is "QUEUED
 *   or QUEUEING and on no DSQ" without the enqueue's qseq.  It also counts
 *   the high-priority entries, for the harness to hold nr_highpri_queued
 *   to them (harness/sched/qmap_upstream.cpp).
 * - aqu_audit_waits: every task's wait for a CPU (aq_wait_audit.bpf.h) and,
 *   for the ones past the bound, the FIFO mainline has them on.
 * - aqu_count_free: the task_ctx slab's free list, counted under
 *   qa_task_lock: whole again after detach, or a context leaked.
 *
 * The locks are taken with interrupts off: a syscall program runs with them
 * on, and an interrupt that spins on another CPU's rq lock while that CPU's
 * ops.dequeue spins on the FIFO lock held here is a deadlock rqspinlock
 * cannot see (docs/kernel-tier.md "The audit's interrupt-time deadlock").
 */
#include "scx_qmap.bpf.c"

/*
 * The kfuncs used here that mainline's scx/common.bpf.h does not declare (it
 * builds with BPF_NO_KFUNC_PROTOTYPES, so vmlinux.h declares none).
 */
int bpf_res_spin_lock_irqsave(struct bpf_res_spin_lock *lock, unsigned long *flags) __ksym;
void bpf_res_spin_unlock_irqrestore(struct bpf_res_spin_lock *lock, unsigned long *flags) __ksym;
int bpf_iter_task_new(struct bpf_iter_task *it, struct task_struct *task, unsigned int flags) __ksym __weak;
struct task_struct *bpf_iter_task_next(struct bpf_iter_task *it) __ksym __weak;
void bpf_iter_task_destroy(struct bpf_iter_task *it) __ksym __weak;

#include "aq_audit_layout.h"
#include "aq_wait_audit.bpf.h"
#include "qmap_upstream_audit.h"

const volatile u64 aqu_stuck_after_ms = 4000;

struct aq_audit aqu_au;
struct aq_wait_audit aqu_waits;
struct aqu_facts aqu_facts;

/* A FIFO entry's identity for the stale rule: FIFO and mainline's enqueue stamp. */
static u64 aqu_entry_seq(s32 fifo, task_ctx_t *taskc)
{
	return ((u64)fifo << 56) | (taskc->core_sched_seq & ((1ULL << 56) - 1));
}

static void aqu_fail(struct aq_audit *au, u32 status, s32 fifo, task_ctx_t *node, u64 a, u64 b)
{
	if (au->status != AQ_AUDIT_OK && au->status != AQ_AUDIT_TRUNCATED)
		return;		/* keep the first failure */
	au->status = status;
	au->bad_fifo = fifo;
	au->bad_pid = node ? node->pid : -1;
	au->bad_val[0] = a;
	au->bad_val[1] = b;
}

/*
 * Check FIFO @i under its lock and append its entries to the audit area.
 * The walk's counts live in .bss, not in registers: the verifier then treats
 * them as unknown and the walk's states converge.
 */
static void aqu_audit_fifo(struct aq_audit *au, s32 i)
{
	struct qmap_fifo __arena *fifo = &qa.fifos[i];
	struct bpf_res_spin_lock *lock = qa_q_lock(i);
	u32 *steps = &aqu_facts.fifo_len[i % AQ_NR_FIFOS];
	task_ctx_t *node, *prev = NULL, *head, *tail;
	unsigned long flags;
	u32 n;

	*steps = 0;
	if (!lock || bpf_res_spin_lock_irqsave(lock, &flags)) {
		aqu_fail(au, AQ_AUDIT_LOCK_FAILED, i, NULL, 0, 0);
		return;
	}
	if (fifo->idx != i)
		aqu_fail(au, AQ_AUDIT_BAD_FIFO, i, NULL, fifo->idx, i);
	head = fifo->head;
	tail = fifo->tail;
	if (!head != !tail)
		aqu_fail(au, AQ_AUDIT_BAD_ENDS, i, head, (u64)tail, 0);
	else if (head && (head->q_prev || tail->q_next))
		aqu_fail(au, AQ_AUDIT_BAD_ENDS, i, head, (u64)head->q_prev, (u64)tail->q_next);

	node = head;
	bpf_repeat(BPF_MAX_LOOPS) {
		if (!node || *steps > max_tasks)
			break;
		if (node->fifo != fifo) {
			aqu_fail(au, AQ_AUDIT_BAD_FIFO, i, node, (u64)node->fifo, (u64)fifo);
			break;
		}
		if (node->q_prev != prev) {
			aqu_fail(au, AQ_AUDIT_BAD_LINK, i, node, (u64)node->q_prev, (u64)prev);
			break;
		}
		if (node->highpri)
			aqu_facts.highpri_linked++;
		n = au->nr_entries;
		if (n < AQ_AUDIT_MAX_ENTRIES) {
			struct aq_audit_entry *e = &au->entries[n];

			e->pid = node->pid;
			e->fifo = i;
			e->enq_seq = aqu_entry_seq(i, node);
			e->ops_qseq = 0;
			e->tid = node->tid;
			au->nr_entries = n + 1;
		} else if (au->status == AQ_AUDIT_OK) {
			au->status = AQ_AUDIT_TRUNCATED;
		}
		prev = node;
		node = node->q_next;
		(*steps)++;
	}
	/* Stopped before the end (a cycle: more nodes than the slab has), or the end is not the tail. */
	if ((au->status == AQ_AUDIT_OK || au->status == AQ_AUDIT_TRUNCATED) && (node || prev != tail))
		aqu_fail(au, AQ_AUDIT_CYCLE, i, prev, *steps, ~0ULL);	/* no length kept */
	bpf_res_spin_unlock_irqrestore(lock, &flags);
}

/* In the scheduler's custody: QUEUED (or being queued) for it, on no DSQ. */
static bool aqu_in_custody(struct task_struct *p)
{
	u64 opss = (u64)p->scx.ops_state.counter & AQ_OPSS_STATE_MASK;

	return (opss == SCX_OPSS_QUEUED || opss == SCX_OPSS_QUEUEING) && !p->scx.dsq;
}

SEC("syscall")
int aqu_audit(void *ctx)
{
	struct aq_audit *au = &aqu_au;
	u64 t0 = bpf_ktime_get_ns(), dt;
	u32 j;

	QMAP_TOUCH_ARENA();
	if (!qa.task_ctxs)
		return 0;	/* before qmap_init() */
	au->status = AQ_AUDIT_OK;
	au->bad_fifo = -1;
	au->bad_pid = -1;
	au->nr_entries = 0;
	aqu_facts.highpri_linked = 0;

	/* Unrolled: each FIFO's lock is then a constant for the verifier. */
	aqu_audit_fifo(au, 0);
	aqu_audit_fifo(au, 1);
	aqu_audit_fifo(au, 2);
	aqu_audit_fifo(au, 3);
	aqu_audit_fifo(au, 4);
	aqu_facts.nr_highpri_queued = qa.nr_highpri_queued;

	/*
	 * No kfunc under a list lock: the tasks are looked up after, by scx tid
	 * (SCX_OPS_TID_TO_TASK, which mainline sets), not by pid.  A thread that
	 * reaps itself loses its pid in exit_notify() and still runs, is
	 * preempted and queued (SCX_OPS_ENQ_EXITING) before its last schedule:
	 * by pid it looked gone, and its entry on a slow FIFO stale.
	 */
	bpf_for(j, 0, AQ_AUDIT_MAX_ENTRIES) {
		struct aq_audit_entry *e = &au->entries[j];
		struct task_struct *p;

		if (j >= au->nr_entries)
			break;
		bpf_rcu_read_lock();
		p = scx_bpf_tid_to_task(e->tid);
		e->found = !!p;
		e->in_custody = p ? aqu_in_custody(p) : 0;
		bpf_rcu_read_unlock();
	}

	dt = bpf_ktime_get_ns() - t0;
	au->ns = dt;
	if (dt > au->max_ns)
		au->max_ns = dt;
	au->seq++;
	return 0;
}

/* The FIFO mainline has @p on (taskc->fifo), and its enqueue stamp. */
static void aqu_locate(struct aq_stuck_task *st, struct task_struct *p)
{
	task_ctx_t *taskc = lookup_task_ctx(p);
	struct qmap_fifo __arena *fifo;

	if (!taskc)
		return;
	fifo = READ_ONCE(taskc->fifo);
	if (fifo) {
		st->fifo = fifo->idx;
		st->enq_seq = aqu_entry_seq(fifo->idx, taskc);
	}
}

SEC("syscall")
int aqu_audit_waits(void *ctx)
{
	struct aq_wait_audit *wa = &aqu_waits;

	QMAP_TOUCH_ARENA();
	if (!qa.task_ctxs)
		return 0;
	AQ_SCAN_WAITS(wa, aqu_stuck_after_ms, aqu_locate);
	return 0;
}

SEC("syscall")
int aqu_count_free(void *ctx)
{
	task_ctx_t *t;
	unsigned long flags;
	u64 n = 0;

	QMAP_TOUCH_ARENA();
	aqu_facts.max_tasks = max_tasks;
	if (bpf_res_spin_lock_irqsave(&qa_task_lock, &flags))
		return 0;
	t = qa.task_free_head;
	bpf_repeat(BPF_MAX_LOOPS) {
		if (!t || n > max_tasks)
			break;
		n++;
		t = t->next_free;
	}
	bpf_res_spin_unlock_irqrestore(&qa_task_lock, &flags);
	aqu_facts.slab_free = n;
	aqu_facts.slab_walks++;
	return 0;
}
