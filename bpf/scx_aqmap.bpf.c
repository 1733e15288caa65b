/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scx_aqmap: a five-level FIFO scheduler whose run queues are doubly-linked
 * lists in a BPF arena.
 *
 * Tasks are placed on one of five FIFOs by weight (as scx_qmap does: weight
 * <= 25 -> 0, <= 50 -> 1, < 200 -> 2, < 400 -> 3, else 4).  Each FIFO is a
 * list threaded through the task's context in the arena (see aqmap_list.h,
 * the one implementation shared with the userspace twin) and guarded by its
 * own bpf_res_spin_lock.  ops.dispatch round-robins over the FIFOs, taking
 * 1, 2, 4, 8 and 16 tasks from FIFO 0..4 in turn, moving them to a shared
 * DSQ and from there to the local one.
 *
 * ops.dequeue really unlinks the task: a task that leaves the scheduler's
 * custody while queued (affinity, nice or policy change) is no longer on any
 * FIFO when the kernel re-enqueues it.  Built with -DAQMAP_LAZY_REMOVAL the
 * scheduler instead behaves like the queue-map scx_qmap did: dequeue leaves
 * the entry behind and dispatch skips entries whose task is no longer
 * queued.  That variant exists only so that aqcheck can prove its stale-entry
 * audit fails on it.
 *
 * Every task carries a custody ledger (aqmap_custody.h): what the scheduler
 * believes of it, none, on a FIFO or dispatched.  The ops the kernel calls
 * under the task's rq or pi lock check it against sched_ext 7.2's protocol
 * (ops.dequeue ends exactly the custodies ops.enqueue took; a task that
 * wakes, runs or exits is out of custody) and count each disagreement by
 * kind, which aqcheck reports as "custody protocol violated".  Built with
 * -DAQMAP_PRE_CUSTODY_DEQUEUE, ops.dequeue ignores the custody end that 7.2
 * added, as a scheduler written for older kernels would: that variant exists
 * only so that aqcheck can prove the ledger's check fails on it.
 *
 * Lock failures never lose a task: enqueue falls back to the shared DSQ,
 * pop leaves the FIFO for the next round, remove retries and, if it still
 * cannot unlink, ejects the scheduler (a stale entry would otherwise stay).
 * Built with -DAQMAP_LOST_TASK the enqueue fallback drops the task instead,
 * so that aqcheck can prove it finds a task that waits on nothing.
 *
 * No task starves on a FIFO.  The weighted order alone gives FIFO 0 one slot
 * in 31, and a task whose affinity or policy keeps changing is re-enqueued at
 * a tail again and again: under such churn FIFO 0's head once waited 30 s.
 * So every task carries ready_at, when it began to wait for a CPU, which a
 * re-enqueue after a property change (SCX_DEQ_SCHED_CHANGE) keeps, as the
 * kernel keeps p->scx.runnable_at.  Dispatch first serves the FIFO whose head
 * has waited longest past starve_ms, if any, then the weighted order; and a
 * re-enqueue of a task that has already waited past starve_ms does not join
 * a tail behind younger tasks but goes to the shared DSQ, which every
 * dispatch consumes first.  A task thus waits at most about starve_ms plus
 * the time it takes to dispatch the overdue tasks ahead of it
 * (docs/kernel-tier.md "Starvation bound").
 *
 * Wakeup preemption (wake_preempt_ns, 2 ms by default, off when 0): a task
 * that wakes up after running less than wake_preempt_ns since it last
 * queued (a task that sleeps often: a pipe partner, a waiting parent) or a
 * new task does not queue behind CPU hogs' 20 ms slices.  It goes straight
 * to its CPU's local DSQ with a slice of wake_preempt_ns, and preempts what
 * runs there if that is a hog (it last queued other than as such a wakee)
 * that has had the CPU for wake_preempt_ns; the hog goes back to its FIFO's
 * tail.  A hog that has not had it yet keeps the CPU until the first tick
 * after it has.  A new task does not preempt its own parent (between fork()
 * and wait() it would lose its turn to its child).  No wakee jumps while a
 * FIFO head has waited a slice, so sleepers and FIFO tasks take turns; and
 * the starvation bound stands.
 *
 * Built with -DAQMAP_QUEUE_MAP the FIFOs are five BPF_MAP_TYPE_QUEUE maps of
 * pids, as scx_qmap had before arena lists: dequeue does nothing, and
 * dispatch skips entries whose task is no longer queued by that enqueue.
 * That build exists only for `aqcheck bench`, which times each list
 * operation in both builds (time_ops) to price the move to arena lists.
 *
 * Everything userspace reads lives in one __arena global (qa), which the
 * harness maps at the same address; aqmap_audit is a syscall program the
 * harness runs periodically to check the lists while they are in use.
 */
#include "aqmap_bpf.h"

char _license[] SEC("license") = "GPL";

/* Scheduler options, set by the loader before load. */
const volatile u64 slice_ns = SCX_SLICE_DFL;
const volatile u32 dsp_batch;
const volatile bool highpri_boosting;
const volatile u32 max_tasks = 16384;
const volatile u64 error_after_enqueues;	/* test knob: scx_bpf_error() after N */
const volatile u32 fail_lock_every;		/* fault injection: fail every Nth acquisition */
const volatile u64 starve_ms = 250;		/* a FIFO head older than this goes first */
const volatile u64 stuck_after_ms = 4000;	/* aqmap_audit_waits lists tasks waiting this long */
const volatile u64 wake_preempt_ns = 2000000;	/* 0: no wakeup preemption */
const volatile bool time_ops;			/* time each list operation (qa.op_costs) */
const volatile u64 enqueue_delay_ns;		/* test knob: busy-wait in every enqueue */
const volatile bool core_sched_possible;	/* the kernel can core-schedule (the loader asks it) */
const volatile bool reenq_shared;		/* every dispatch re-enqueues the shared DSQ (aqcheck --reenq-shared) */

#define SHARED_DSQ	0
#define HIGHPRI_DSQ	1
#define HIGHPRI_WEIGHT	8668
#define NSEC_PER_MSEC	1000000ULL
#define ARENA_PAGES	(1 << 12)
#define AQ_AUDIT_WALK_MAX	(1 << 17)	/* > any max_tasks: a longer walk is a cycle */

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ARENA_PAGES);
	__ulong(map_extra, 1ull << 44);
} arena SEC(".maps");

/* Per-task pointer to its context in the arena slab. */
struct task_ctx_stor_val {
	struct task_ctx __arena *taskc;
	u64 exec_seen;		/* p->se.sum_exec_runtime when it last queued */
	u64 run_at;		/* when it last got a CPU (ops.running) */
	bool sleeper;		/* it last queued on waking after a brief run */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx_stor_val);
} task_ctx_stor SEC(".maps");

/* Why the scheduler stopped, for userspace (helpers can't write the arena). */
struct aq_exit_info exit_info;

/*
 * One lock per FIFO plus one for the slab, each in its own section as
 * bpf_res_spin_lock requires, and hidden so the skeleton does not re-mmap them.
 * The queue-map build has no lists to lock, and must not have the five
 * sections: see kMaxBpfMaps in harness/sched/scheduler.hpp.
 */
#ifndef AQMAP_QUEUE_MAP
__hidden struct bpf_res_spin_lock qa_q_lock0 SEC(".data.qa_q_lock0");
__hidden struct bpf_res_spin_lock qa_q_lock1 SEC(".data.qa_q_lock1");
__hidden struct bpf_res_spin_lock qa_q_lock2 SEC(".data.qa_q_lock2");
__hidden struct bpf_res_spin_lock qa_q_lock3 SEC(".data.qa_q_lock3");
__hidden struct bpf_res_spin_lock qa_q_lock4 SEC(".data.qa_q_lock4");
#endif
__hidden struct bpf_res_spin_lock qa_slab_lock SEC(".data.qa_slab_lock");

#ifdef AQMAP_MAP_BUDGET_OVER
/* Six maps more, for the unit test that proves the map-count guard can fail. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} budget_over0 SEC(".maps"), budget_over1 SEC(".maps"), budget_over2 SEC(".maps"),
  budget_over3 SEC(".maps"), budget_over4 SEC(".maps"), budget_over5 SEC(".maps");
#endif

static struct bpf_res_spin_lock *qmap_fifo_lock(s32 idx)
{
#ifdef AQMAP_QUEUE_MAP
	return NULL;
#else
	switch (idx) {
	case 0: return &qa_q_lock0;
	case 1: return &qa_q_lock1;
	case 2: return &qa_q_lock2;
	case 3: return &qa_q_lock3;
	case 4: return &qa_q_lock4;
	default: return NULL;
	}
#endif
}

static struct bpf_res_spin_lock *qmap_slab_lock(void)
{
	return &qa_slab_lock;
}

/* The layouts first: the list code below reaches the FIFOs through qa. */
#define AQMAP_LIST_TYPES_ONLY
#include "aqmap_arena.h"
#include "aq_wait_audit.bpf.h"
#undef AQMAP_LIST_TYPES_ONLY

struct qmap_arena __arena qa;

#define stat_inc(name)	__sync_fetch_and_add(&qa.stats.name, 1)

/* Fault injection: treat every fail_lock_every-th list-lock acquisition as failed. */
static bool qmap_lock_fault(void)
{
	u64 n = __sync_add_and_fetch(&qa.stats.nr_lock_acquire, 1);

	if (!fail_lock_every || n % fail_lock_every)
		return false;
	stat_inc(nr_lock_injected);
	return true;
}

#define qmap_fifo_at(fifo, idx)	(&qa.fifos[(u32)(idx) % QMAP_NR_FIFOS])
#include "aqmap_list.h"

#ifdef AQMAP_QUEUE_MAP
/*
 * The queue-map build's FIFOs: the pid and the kernel qseq of each enqueue.
 * Five maps picked by a switch rather than scx_qmap's array of maps, which
 * would add six maps where the object may hold 16 (kMaxBpfMaps).
 */
struct qm_entry {
	s32 pid;
	u32 pad;
	u64 ops_qseq;
};

struct qm_queue {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 16384);
	__type(value, struct qm_entry);
} qm_fifo0 SEC(".maps"), qm_fifo1 SEC(".maps"), qm_fifo2 SEC(".maps"),
  qm_fifo3 SEC(".maps"), qm_fifo4 SEC(".maps");

static void *qm_fifo(s32 idx)
{
	switch (idx) {
	case 0: return &qm_fifo0;
	case 1: return &qm_fifo1;
	case 2: return &qm_fifo2;
	case 3: return &qm_fifo3;
	case 4: return &qm_fifo4;
	default: return NULL;
	}
}
#endif

static s32 weight_to_idx(u32 weight)
{
	if (weight <= 25)
		return 0;
	else if (weight <= 50)
		return 1;
	else if (weight < 200)
		return 2;
	else if (weight < 400)
		return 3;
	else
		return 4;
}

static struct task_ctx __arena *lookup_task_ctx(struct task_struct *p)
{
	struct task_ctx_stor_val *v;

	v = bpf_task_storage_get(&task_ctx_stor, p, NULL, 0);
	if (!v || !v->taskc) {
		scx_bpf_error("task_ctx lookup failed for pid %d", p->pid);
		return NULL;
	}
	return v->taskc;
}

/* @p's context, or NULL: for the custody ledger's checks, which judge and do not eject. */
static struct task_ctx __arena *peek_task_ctx(struct task_struct *p)
{
	struct task_ctx_stor_val *v;

	v = bpf_task_storage_get(&task_ctx_stor, p, NULL, 0);
	return v ? v->taskc : NULL;
}

/*
 * bpf_arena_alloc_pages() as the BPF side must see it: returning an arena
 * pointer.  Debian's kernels declare it so in vmlinux.h (their pahole encodes
 * KF_ARENA_RET as the arena address space); a kernel built with bookworm's
 * pahole 1.24 (ci/build-kernel.sh) declares void *, and the verifier then
 * rejects every use of the slab.  libbpf resolves this "___aq" flavour to the
 * kernel's bpf_arena_alloc_pages.  The ops twin's shim implements the kfunc
 * itself.
 */
#ifdef AQOPS_SHIM_VMLINUX_H
#define arena_alloc_pages bpf_arena_alloc_pages
#else
extern void __arena *bpf_arena_alloc_pages___aq(void *p__map, void __arena *addr__ign, u32 page_cnt, int node_id,
						u64 flags) __ksym;
#define arena_alloc_pages bpf_arena_alloc_pages___aq
#endif

/* ---- the custody ledger (aqmap_custody.h) -------------------------------- */

static void custody_violation(enum aq_custody_violation kind, struct task_struct *p, u32 state)
{
	__sync_fetch_and_add(&qa.custody.nr[kind], 1);
	qa.custody.last_pid[kind] = p->pid;
	qa.custody.last_state[kind] = state;
}

/* ops.select_cpu, ops.enqueue, ops.running, ops.exit_task: @p (@taskc) is out of custody. */
static void custody_expect_none(struct task_struct *p, struct task_ctx __arena *taskc,
				enum aq_custody_violation kind)
{
	u32 state;

	if (!taskc)
		return;
	state = READ_ONCE(taskc->custody);
	if (state != AQ_CUSTODY_NONE)
		custody_violation(kind, p, state);
}

/* ops.enqueue kept @taskc's task: linked on a FIFO, or inserted into a user DSQ. */
static void custody_take(struct task_ctx __arena *taskc, u32 where)
{
	taskc->custody = where;
	__sync_fetch_and_add(&qa.custody.nr_taken, 1);
}

/* ops.dispatch popped @taskc's entry for the shared DSQ; a racing dequeue wins. */
static void custody_dispatched(struct task_ctx __arena *taskc)
{
	__sync_val_compare_and_swap(&taskc->custody, AQ_CUSTODY_FIFO, AQ_CUSTODY_DISPATCHED);
}

/* ops.dequeue: custody ends, so it must have begun. */
static void custody_end(struct task_struct *p, struct task_ctx __arena *taskc)
{
	u32 state = READ_ONCE(taskc->custody);

	taskc->custody = AQ_CUSTODY_NONE;
	if (state == AQ_CUSTODY_NONE)
		custody_violation(AQ_CV_DEQUEUE, p, state);
	else
		__sync_fetch_and_add(&qa.custody.nr_ended, 1);
}

/* ops.dequeue at pick: only core scheduling picks a task still in custody. */
static void custody_expect_not_at_pick(struct task_struct *p, struct task_ctx __arena *taskc, u64 deq_flags)
{
	if ((deq_flags & SCX_DEQ_CORE_SCHED_EXEC) && !core_sched_possible)
		custody_violation(AQ_CV_AT_PICK, p, READ_ONCE(taskc->custody));
}

/* ... and when ops.dequeue returns, the task is on no FIFO. */
static void custody_expect_unlinked(struct task_struct *p, struct task_ctx __arena *taskc)
{
	if (READ_ONCE(taskc->fifo))
		custody_violation(AQ_CV_LEFT_LINKED, p, AQ_CUSTODY_NONE);
}

/* The kernel's per-enqueue sequence, kept in the upper bits of ops_state. */
static u64 task_ops_qseq(struct task_struct *p)
{
	return (u64)p->scx.ops_state.counter & ~SCX_OPSS_STATE_MASK;
}

/*
 * Is the entry made by the enqueue that stamped @ops_qseq still what holds
 * @p in our custody?  True while the kernel has it QUEUED from that very
 * enqueue, or still QUEUEING (ops.enqueue linked the entry and has not
 * returned yet: another CPU may pop it in that window), and it sits on no DSQ.
 * Taking QUEUEING for "gone" made the lazy build drop the one entry of a task
 * the kernel then held QUEUED on nothing: a lost task, ejected by the
 * watchdog 30 s later (docs/kernel-tier.md "The lazy build's lost task").
 *
 * True as well while it waits on a user DSQ still in custody
 * (SCX_TASK_IN_CUSTODY) from that enqueue (p->scx.ops_qseq, 7.2's per-task
 * qseq): a dispatch that popped the entry of an older custody can claim the
 * newer one, whose entry then stays linked until the ops.dequeue that ends
 * the custody removes it (ops/README.md, finding 1).
 */
static bool entry_in_custody(struct task_struct *p, u64 ops_qseq)
{
	u64 state = (u64)p->scx.ops_state.counter;
	u64 opss = state & SCX_OPSS_STATE_MASK;
	struct scx_dispatch_q *dsq = p->scx.dsq;

	if (!dsq)
		return (opss == SCX_OPSS_QUEUED || opss == SCX_OPSS_QUEUEING) &&
		       (state & ~SCX_OPSS_STATE_MASK) == ops_qseq;
	return !(dsq->id & SCX_DSQ_FLAG_BUILTIN) && (p->scx.flags & SCX_TASK_IN_CUSTODY) &&
	       ((u64)p->scx.ops_qseq << SCX_OPSS_QSEQ_SHIFT) == ops_qseq;
}

/*
 * A task put on the shared DSQ waits for a CPU it may run on to dispatch.  An
 * idle, tickless CPU never does by itself: wake the task's CPU if it idles.
 */
static void kick_task_cpu(struct task_struct *p)
{
	scx_bpf_kick_cpu(scx_bpf_task_cpu(p), SCX_KICK_IDLE);
}

/*
 * Dispatch on @cpu moved @p to the shared DSQ.  If @p may not run on @cpu,
 * nothing here will consume it: wake an idle CPU that may.
 */
static void kick_if_not_allowed(struct task_struct *p, s32 cpu)
{
	s32 target;

	if (bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
		return;
	target = scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
	if (target < 0)
		target = scx_bpf_task_cpu(p);
	scx_bpf_kick_cpu(target, SCX_KICK_IDLE);
}

/*
 * Wakeup preemption: @p queues (or is dispatched straight to an idle CPU);
 * did it wake (@woke) after running less than wake_preempt_ns since it last
 * queued?  Such a task sleeps often, and may jump the FIFOs.  Kept as
 * sleeper, which also tells a wakee whether what runs on its CPU is a hog.
 */
static bool note_queued(struct task_struct *p, bool woke)
{
	struct task_ctx_stor_val *v;
	u64 exec = p->se.sum_exec_runtime;

	v = bpf_task_storage_get(&task_ctx_stor, p, NULL, 0);
	if (!v)
		return false;
	v->sleeper = woke && exec - v->exec_seen < wake_preempt_ns;
	v->exec_seen = exec;
	return v->sleeper;
}

s32 BPF_STRUCT_OPS(aqmap_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	custody_expect_none(p, peek_task_ctx(p), AQ_CV_WAKE);
	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle) {
		if (wake_preempt_ns)
			note_queued(p, true);
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, 0);
		stat_inc(nr_direct);
	}
	return cpu;
}

/* Lazy variant only: a re-enqueued task whose old entry is still linked. */
static bool lazy_entry_left_behind(struct task_ctx __arena *taskc)
{
#ifdef AQMAP_LAZY_REMOVAL
	return READ_ONCE(taskc->fifo) != NULL;
#else
	return false;
#endif
}

/* Lost-task variant only: the enqueue fallback puts the task nowhere. */
static bool fallback_drops_task(void)
{
#ifdef AQMAP_LOST_TASK
	return true;
#else
	return false;
#endif
}

/*
 * Pre-custody variant only: a dequeue written for kernels before 7.2, where
 * ops.dequeue came only while a task sat in the scheduler's queue.  It ignores
 * the call that 7.2 adds when a dispatched task reaches a local DSQ, so the
 * scheduler never learns that the custody ended.  The variant exists only so
 * that aqcheck can prove its custody ledger check fails on it.
 */
static bool dequeue_ignores_custody_end(u64 deq_flags)
{
#ifdef AQMAP_PRE_CUSTODY_DEQUEUE
	return !(deq_flags & SCX_DEQ_SCHED_CHANGE);
#else
	return false;
#endif
}

/*
 * Since when @taskc waits for a CPU: now, unless this enqueue follows a
 * property change, which does not end the wait (nor does the kernel's
 * watchdog clock, p->scx.runnable_at, restart).
 */
static void stamp_ready(struct task_ctx __arena *taskc)
{
	if (taskc->keep_ready && taskc->ready_at)
		stat_inc(nr_keep_ready);
	else
		taskc->ready_at = bpf_ktime_get_ns();
	taskc->keep_ready = 0;
}

/* Has @taskc waited past starve_ms already (its wait clock was kept)? */
static bool overdue(struct task_ctx __arena *taskc)
{
	return bpf_ktime_get_ns() - taskc->ready_at > starve_ms * NSEC_PER_MSEC;
}

/*
 * The FIFO whose head has waited longest past @age_ns, or -1.  An unlocked
 * peek that only picks a FIFO: a head popped meanwhile costs one pop.
 */
static s32 fifo_waiting_past(u64 age_ns)
{
	u64 now = bpf_ktime_get_ns(), oldest = now - age_ns;
	struct task_ctx __arena *head;
	s32 i, pick = -1;
	u64 ready;

	/* Nothing has waited longer than the uptime (and now - age would wrap). */
	if (now < age_ns)
		return -1;
	bpf_for(i, 0, QMAP_NR_FIFOS) {
		head = READ_ONCE(qa.fifos[i].head);
		if (!head)
			continue;
		ready = head->ready_at;
		if (ready && ready < oldest) {
			oldest = ready;
			pick = i;
		}
	}
	return pick;
}

/* Does a DSQ that ops.dispatch consumes before the FIFOs hold a task? */
static bool dispatch_serves_dsq_first(void)
{
	return scx_bpf_dsq_nr_queued(HIGHPRI_DSQ) || scx_bpf_dsq_nr_queued(SHARED_DSQ);
}

/* The FIFO whose head has waited longest past starve_ms, or -1. */
static s32 overdue_fifo(void)
{
	return fifo_waiting_past(starve_ms * NSEC_PER_MSEC);
}

/*
 * Wakeup preemption, part one: does @p, being enqueued with @enq_flags, skip
 * the FIFOs for its CPU's local DSQ?  A wakee or a new task (it never ran)
 * that ran briefly, unless a FIFO head has waited a slice already.  Wakees
 * that jump never reach ops.dispatch: a pipe pair ping-ponging through its
 * CPU's local DSQ kept every FIFO task off that CPU until the starvation
 * guard's starve_ms (cpu 0.30x EEVDF, fork 0.08x, when that was the bound).
 * Nor while the DSQs that dispatch serves first hold a task: tasks popped
 * from the FIFOs onto the shared DSQ are no FIFO heads, and in mix-all a dozen
 * waited there 4.2 s while wakees ping-ponged through the local DSQs.
 */
static bool wake_jumps_queue(struct task_struct *p, u64 enq_flags)
{
	bool woke = (enq_flags & SCX_ENQ_WAKEUP) || !p->se.sum_exec_runtime;

	if (!wake_preempt_ns)
		return false;
	return note_queued(p, woke) && !dispatch_serves_dsq_first() && fifo_waiting_past(slice_ns) < 0;
}

/*
 * Part two: does it preempt what runs there?  Only a task that last queued
 * other than as a sleeper: preempted or out of slice, a CPU hog.  Preempting
 * a waker, about to sleep, would send it to a FIFO tail behind the hogs (a
 * pipe ping-pong then waits out their slices at every turn).  And only
 * once it has had the CPU for wake_preempt_ns, as long as the wakee's own
 * slice: a hog preempted as soon as it got the CPU went back to its FIFO's
 * tail again and again (cpu 0.34x EEVDF).  Wall time since ops.running, as
 * a running task's sum_exec_runtime is brought up to date only at ticks.
 * A new task preempts too.  No wakee or new task preempts its own parent:
 * between fork() and wait() the parent would lose its turn to its own child.
 * A child that never preempted made its parent wait out a hog's slice on the
 * other CPU (fork 0.58x EEVDF; 0.78x when it did, with part three).
 */
static bool had_its_turn(struct task_struct *p)
{
	struct task_ctx_stor_val *v;

	v = bpf_task_storage_get(&task_ctx_stor, p, NULL, 0);
	return v && !v->sleeper && bpf_ktime_get_ns() - v->run_at >= wake_preempt_ns;
}

static bool cpu_runs_hog(s32 cpu, struct task_struct *wakee)
{
	struct task_struct *curr;

	curr = scx_bpf_cpu_curr(cpu);
	if (!curr || !curr->pid || curr->pid == wakee->real_parent->pid)
		return false;
	return had_its_turn(curr);
}

/* Test knob: every enqueue busy-waits enqueue_delay_ns (a slowed build). */
static void enqueue_delay(void)
{
	u64 t0;

	if (!enqueue_delay_ns)
		return;
	t0 = bpf_ktime_get_ns();
	bpf_repeat(1 << 20) {
		if (bpf_ktime_get_ns() - t0 >= enqueue_delay_ns)
			break;
	}
}

/* ---- the FIFOs' operations, timed for `aqcheck bench` ------------------ */

static u64 op_clock(void)
{
	return time_ops ? bpf_ktime_get_ns() : 0;
}

static void op_cost_add(struct aq_op_cost __arena *cost, u64 t0)
{
	if (!time_ops)
		return;
	__sync_fetch_and_add(&cost->ns, bpf_ktime_get_ns() - t0);
	__sync_fetch_and_add(&cost->nr, 1);
}

/* Queue @taskc (@p) at FIFO @idx's tail: 0, or the error of a failed lock or a full queue. */
static int fifo_push(s32 idx, struct task_struct *p, struct task_ctx __arena *taskc, u64 seq)
{
	u64 t0 = op_clock();
	int ret;
#ifdef AQMAP_QUEUE_MAP
	struct qm_entry e = { .pid = p->pid, .ops_qseq = taskc->ops_qseq };
	void *q = qm_fifo(idx);

	ret = q ? bpf_map_push_elem(q, &e, 0) : -ENOENT;
#else
	ret = qmap_fifo_enqueue(&qa.fifos[(u32)idx % QMAP_NR_FIFOS], taskc, seq);
#endif
	if (!ret)
		op_cost_add(&qa.op_costs.enqueue, t0);
	return ret;
}

/*
 * ops.dequeue's part: unlink @taskc from its FIFO (0, -ENOENT if it was on
 * none, or a lock error).  The queue-map build leaves the entry, to be
 * skipped at dispatch.
 */
static int fifo_remove(struct task_ctx __arena *taskc)
{
#ifdef AQMAP_QUEUE_MAP
	return -ENOENT;
#else
	u64 t0 = op_clock();
	int ret = qmap_fifo_remove(taskc);

	if (!ret)
		op_cost_add(&qa.op_costs.dequeue, t0);
	return ret;
#endif
}

/* ops.enqueue's insert into user DSQ @dsq_id: the task stays in custody there. */
static void enqueue_on_dsq(struct task_struct *p, struct task_ctx __arena *taskc, u64 dsq_id,
			   u64 enq_flags)
{
	scx_bpf_dsq_insert(p, dsq_id, slice_ns, enq_flags);
	custody_take(taskc, AQ_CUSTODY_DISPATCHED);
	kick_task_cpu(p);
}

void BPF_STRUCT_OPS(aqmap_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx __arena *taskc;
	s32 idx = weight_to_idx(p->scx.weight);
	u64 seq;

	enqueue_delay();
	if (!(taskc = lookup_task_ctx(p)))
		return;
	/*
	 * A task that scx_bpf_dsq_reenq() takes off a user DSQ comes back through
	 * ops.enqueue() still in custody, with no ops.dequeue() between
	 * (Documentation/scheduler/sched-ext.rst): only --reenq-shared does that.
	 */
	if (!(reenq_shared && (enq_flags & SCX_ENQ_REENQ) && READ_ONCE(taskc->custody) == AQ_CUSTODY_DISPATCHED))
		custody_expect_none(p, taskc, AQ_CV_ENQUEUE);
	if (error_after_enqueues && qa.stats.nr_enqueued + 1 >= error_after_enqueues) {
		scx_bpf_error("aqmap test knob: error after %llu enqueues", error_after_enqueues);
		return;
	}

	if (enq_flags & SCX_ENQ_REENQ) {
		stat_inc(nr_reenqueued);
		if (!reenq_shared) {
			enqueue_on_dsq(p, taskc, SHARED_DSQ, enq_flags);
			return;
		}
		/* --reenq-shared: back on its FIFO, in custody like any enqueue. */
	}

	stamp_ready(taskc);

	if (highpri_boosting && p->scx.weight >= HIGHPRI_WEIGHT) {
		stat_inc(nr_highpri);
		enqueue_on_dsq(p, taskc, HIGHPRI_DSQ, enq_flags);
		return;
	}

	/* Next on its CPU; a hog running there goes back to its FIFO's tail. */
	if (wake_jumps_queue(p, enq_flags)) {
		if (cpu_runs_hog(scx_bpf_task_cpu(p), p)) {
			stat_inc(nr_wake_preempt);
			enq_flags |= SCX_ENQ_PREEMPT;
		} else {
			stat_inc(nr_wake_local);
		}
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, wake_preempt_ns, enq_flags);
		kick_task_cpu(p);
		return;
	}

	/*
	 * The lazy variant can't link a node twice: the new custody goes to the
	 * shared DSQ and the old entry stays, stale, like a queue-map entry did.
	 */
	if (lazy_entry_left_behind(taskc)) {
		enqueue_on_dsq(p, taskc, SHARED_DSQ, enq_flags);
		return;
	}

	if (READ_ONCE(taskc->fifo)) {
		scx_bpf_error("enqueue of pid %d already on FIFO %d", p->pid,
			      taskc->fifo->idx);
		return;
	}

	/* Starvation guard: an overdue task does not queue behind younger ones. */
	if (overdue(taskc)) {
		stat_inc(nr_overdue_requeue);
		enqueue_on_dsq(p, taskc, SHARED_DSQ, enq_flags);
		return;
	}

	if (taskc->last_fifo >= 0 && taskc->last_fifo != idx)
		stat_inc(nr_fifo_changes);
	taskc->last_fifo = idx;
	taskc->ops_qseq = task_ops_qseq(p);
	seq = __sync_add_and_fetch(&qa.enq_seq, 1);

	if (fifo_push(idx, p, taskc, seq)) {
		stat_inc(nr_enq_lock_fallback);
		if (fallback_drops_task())
			return;
		enqueue_on_dsq(p, taskc, SHARED_DSQ, enq_flags);
		return;
	}
	custody_take(taskc, AQ_CUSTODY_FIFO);
	stat_inc(nr_enqueued);
	kick_task_cpu(p);
}

/* The custody ledger; and for wakeup preemption, when @p got its CPU, to give it a turn. */
void BPF_STRUCT_OPS(aqmap_running, struct task_struct *p)
{
	struct task_ctx_stor_val *v;

	v = bpf_task_storage_get(&task_ctx_stor, p, NULL, 0);
	custody_expect_none(p, v ? v->taskc : NULL, AQ_CV_RUN);
	if (wake_preempt_ns && v)
		v->run_at = bpf_ktime_get_ns();
}

/*
 * Wakeup preemption, part three: a wakee that found a hog yet to have its
 * wake_preempt_ns waits on the local DSQ; the first tick after the hog has
 * had it ends its turn.  Without this the wakee waited out the hog's whole
 * slice (cyclictest p50 9.6 ms, switch 0.63x EEVDF; with it 3.6 ms, 0.83x).
 */
void BPF_STRUCT_OPS(aqmap_tick, struct task_struct *p)
{
	if (!wake_preempt_ns || !scx_bpf_dsq_nr_queued(SCX_DSQ_LOCAL) || !had_its_turn(p))
		return;
	scx_bpf_task_set_slice(p, 0);
	stat_inc(nr_tick_preempt);
}

/*
 * ops.dequeue's removal: unlink @taskc from its FIFO, if it is on one.  False
 * when the lock failed every retry, and the scheduler ejects itself.  The lazy
 * build leaves the entry behind.
 */
static bool unlink_on_dequeue(struct task_struct *p, struct task_ctx __arena *taskc, u64 deq_flags)
{
	int ret;

#ifdef AQMAP_LAZY_REMOVAL
	return true;
#endif
	if (deq_flags & SCX_DEQ_SCHED_CHANGE)
		taskc->keep_ready = 1;
	ret = fifo_remove(taskc);
	if (!ret) {
		stat_inc(nr_deq_removed);
	} else if (ret != -ENOENT) {
		stat_inc(nr_remove_lock_fail);
		scx_bpf_error("dequeue: pid %d left on its FIFO: lock failed %d times (%d)",
			      p->pid, QMAP_LOCK_RETRIES, ret);
		return false;
	}
	return true;
}

void BPF_STRUCT_OPS(aqmap_dequeue, struct task_struct *p, u64 deq_flags)
{
	struct task_ctx __arena *taskc;

	if (dequeue_ignores_custody_end(deq_flags))
		return;
	stat_inc(nr_dequeued);
	if (deq_flags & SCX_DEQ_SCHED_CHANGE)
		stat_inc(nr_deq_sched_change);
	if (!(taskc = lookup_task_ctx(p)))
		return;
	custody_expect_not_at_pick(p, taskc, deq_flags);
	custody_end(p, taskc);
	if (unlink_on_dequeue(p, taskc, deq_flags))
		custody_expect_unlinked(p, taskc);
}

/*
 * The longest wait of a task dispatched from a FIFO: for the report, and for
 * aqcheck's wait bound, which a task that was dispatched between two wait
 * audits would otherwise pass unseen.
 */
static void note_fifo_wait(struct task_ctx __arena *taskc, s32 fifo, s32 pid)
{
	u64 wait = bpf_ktime_get_ns() - taskc->ready_at;

	if (taskc->ready_at && (s64)wait > 0 && wait > qa.max_fifo_wait_ns) {
		qa.max_fifo_wait_ns = wait;	/* racy max: a statistic */
		qa.max_fifo_wait_fifo = fifo;
		qa.max_fifo_wait_pid = pid;
	}
}

/*
 * Move @p, popped from a FIFO by dispatch on @cpu, to the shared DSQ; false
 * if its entry is stale (lazy builds: dequeue left it, @ops_qseq is gone).
 */
static bool dispatch_task(struct task_struct *p, u64 ops_qseq, s32 cpu)
{
#if defined(AQMAP_LAZY_REMOVAL) || defined(AQMAP_QUEUE_MAP)
	if (!entry_in_custody(p, ops_qseq)) {
		stat_inc(nr_stale_skipped);
		return false;
	}
#endif
	scx_bpf_dsq_insert(p, SHARED_DSQ, slice_ns, 0);
	kick_if_not_allowed(p, cpu);
	stat_inc(nr_dispatched);
	return true;
}

enum pop_result {
	POP_EMPTY,		/* nothing popped (or the lock failed) */
	POP_SKIPPED,		/* popped a stale entry or an exited task */
	POP_DISPATCHED,
};

/* Pop FIFO @idx's head, by dispatch on @cpu, and dispatch its task. */
static enum pop_result fifo_pop_dispatch(s32 idx, s32 cpu)
{
	struct task_struct *p;
	bool ok;
	u64 t0 = op_clock();
#ifdef AQMAP_QUEUE_MAP
	struct qm_entry e;
	void *q = qm_fifo(idx);

	if (!q || bpf_map_pop_elem(q, &e))
		return POP_EMPTY;
	op_cost_add(&qa.op_costs.dispatch, t0);
	p = bpf_task_from_pid(e.pid);
	if (!p)
		return POP_SKIPPED;
	ok = dispatch_task(p, e.ops_qseq, cpu);
#else
	struct task_ctx __arena *taskc;
	int err;

	taskc = qmap_fifo_pop(&qa.fifos[(u32)idx % QMAP_NR_FIFOS], &err);
	if (!taskc) {
		if (err)
			stat_inc(nr_pop_lock_fail);
		return POP_EMPTY;
	}
	op_cost_add(&qa.op_costs.dispatch, t0);
	p = bpf_task_from_pid(taskc->pid);
	if (!p)
		return POP_SKIPPED;
	ok = dispatch_task(p, taskc->ops_qseq, cpu);
	if (ok) {
		custody_dispatched(taskc);
		note_fifo_wait(taskc, idx, p->pid);
	}
#endif
	bpf_task_release(p);
	return ok ? POP_DISPATCHED : POP_SKIPPED;
}

/*
 * Starvation guard: dispatch overdue FIFO heads before the weighted order.
 * True when that used up the batch or the dispatch slots.
 */
static bool dispatch_overdue(s32 cpu, u32 *batch)
{
	enum pop_result r;
	s32 idx, n;

	bpf_for(n, 0, 2 * QMAP_NR_FIFOS) {
		idx = overdue_fifo();
		if (idx < 0)
			return false;
		r = fifo_pop_dispatch(idx, cpu);
		if (r == POP_EMPTY)
			return false;
		if (r == POP_SKIPPED)
			continue;
		stat_inc(nr_aged_dispatch);
		if (!--*batch || !scx_bpf_dispatch_nr_slots())
			return true;
	}
	return false;
}

void BPF_STRUCT_OPS(aqmap_dispatch, s32 cpu, struct task_struct *prev)
{
	struct aq_cpu_ctx __arena *cpuc;
	u32 batch = dsp_batch ?: 1;
	enum pop_result r;
	int i;

	/*
	 * --reenq-shared: have the kernel re-enqueue the shared DSQ while other
	 * CPUs dispatch into it.  Its reenq_user() must wait out a task that a
	 * dispatcher has inserted but not yet released (SCX_OPSS_DISPATCHING),
	 * or the dispatcher's last store clobbers the re-enqueue and the task is
	 * lost (kernels/regressions/01-reenq-skips-dispatching-wait.patch).
	 */
	if (reenq_shared)
		scx_bpf_dsq_reenq(SHARED_DSQ, 0);

	if (scx_bpf_dsq_move_to_local(HIGHPRI_DSQ) || scx_bpf_dsq_move_to_local(SHARED_DSQ))
		return;

	if (dispatch_overdue(cpu, &batch)) {
		scx_bpf_dsq_move_to_local(SHARED_DSQ);
		return;
	}

	cpuc = &qa.cpus[(u32)cpu % AQ_MAX_CPUS];

	for (i = 0; i < QMAP_NR_FIFOS; i++) {
		/* Advance the cursor when this FIFO's turn is used up. */
		if (!cpuc->dsp_cnt) {
			cpuc->dsp_idx = (cpuc->dsp_idx + 1) % QMAP_NR_FIFOS;
			cpuc->dsp_cnt = 1 << cpuc->dsp_idx;
		}

		bpf_repeat(BPF_MAX_LOOPS) {
			r = fifo_pop_dispatch(cpuc->dsp_idx % QMAP_NR_FIFOS, cpu);
			if (r == POP_EMPTY)
				break;
			if (r == POP_SKIPPED)
				continue;

			batch--;
			cpuc->dsp_cnt--;
			if (!batch || !scx_bpf_dispatch_nr_slots()) {
				scx_bpf_dsq_move_to_local(SHARED_DSQ);
				return;
			}
			if (!cpuc->dsp_cnt)
				break;
		}
		cpuc->dsp_cnt = 0;
	}
	scx_bpf_dsq_move_to_local(SHARED_DSQ);
}

s32 BPF_STRUCT_OPS(aqmap_init_task, struct task_struct *p, struct scx_init_task_args *args)
{
	struct task_ctx_stor_val *v;
	struct task_ctx __arena *taskc;

	stat_inc(nr_init_task);
	v = bpf_task_storage_get(&task_ctx_stor, p, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!v)
		return -ENOMEM;
	taskc = qmap_slab_alloc(&qa.task_free_head, p->pid);
	if (!taskc) {
		stat_inc(nr_slab_exhausted);
		return -ENOMEM;
	}
	taskc->custody = AQ_CUSTODY_NONE;
	v->taskc = taskc;
	return 0;
}

void BPF_STRUCT_OPS(aqmap_exit_task, struct task_struct *p, struct scx_exit_task_args *args)
{
	struct task_ctx_stor_val *v;
	struct task_ctx __arena *taskc;

	stat_inc(nr_exit_task);
	v = bpf_task_storage_get(&task_ctx_stor, p, NULL, 0);
	if (!v || !v->taskc)
		return;
	taskc = v->taskc;
	v->taskc = NULL;
	custody_expect_none(p, taskc, AQ_CV_EXIT);

	if (READ_ONCE(taskc->fifo)) {
#ifdef AQMAP_LAZY_REMOVAL
		/* The stale entry must go before its node is reused. */
		qmap_fifo_remove(taskc);
#else
		scx_bpf_error("exit_task: pid %d still on FIFO %d", p->pid, taskc->fifo->idx);
		return;
#endif
	}
	if (qmap_slab_free(&qa.task_free_head, taskc))
		scx_bpf_error("exit_task: slab lock failed, pid %d's context lost", p->pid);
}

void BPF_STRUCT_OPS(aqmap_cpu_online, s32 cpu)
{
	stat_inc(nr_cpu_online);
}

void BPF_STRUCT_OPS(aqmap_cpu_offline, s32 cpu)
{
	stat_inc(nr_cpu_offline);
}

void BPF_STRUCT_OPS(aqmap_dump, struct scx_dump_ctx *dctx)
{
	struct task_ctx __arena *taskc;
	s32 i;

	/*
	 * Unlocked, best-effort walk: scx_bpf_dump() may not be called with a
	 * list lock held.  Bounded, so a corrupted list still terminates.
	 */
	bpf_for(i, 0, QMAP_NR_FIFOS) {
		scx_bpf_dump("AQMAP FIFO[%d] len=%llu:", i, qa.fifos[i].len);
		taskc = qa.fifos[i].head;
		bpf_repeat(4096) {
			if (!taskc)
				break;
			scx_bpf_dump(" %d", taskc->pid);
			taskc = taskc->q_next;
		}
		scx_bpf_dump("\n%s", "");
	}
}

s32 BPF_STRUCT_OPS_SLEEPABLE(aqmap_init)
{
	struct task_ctx __arena *slab;
	u32 nr_pages;
	s32 ret, i;

	ret = scx_bpf_create_dsq(SHARED_DSQ, -1);
	if (ret)
		return ret;
	ret = scx_bpf_create_dsq(HIGHPRI_DSQ, -1);
	if (ret)
		return ret;

	nr_pages = (max_tasks * sizeof(struct task_ctx) + 4095) / 4096;
	slab = arena_alloc_pages(&arena, NULL, nr_pages, NUMA_NO_NODE, 0);
	if (!slab)
		return -ENOMEM;

	qa.task_ctxs = slab;
	qa.max_tasks = max_tasks;
	bpf_for(i, 0, QMAP_NR_FIFOS)
		qa.fifos[i].idx = i;
	qmap_slab_init(slab, max_tasks, &qa.task_free_head);
	qa.initialized = 1;
	return 0;
}

void BPF_STRUCT_OPS(aqmap_exit, struct scx_exit_info *ei)
{
	exit_info.kind = ei->kind;
	exit_info.exit_code = ei->exit_code;
	bpf_probe_read_kernel_str(exit_info.reason, sizeof(exit_info.reason), ei->reason);
	bpf_probe_read_kernel_str(exit_info.msg, sizeof(exit_info.msg), ei->msg);
}

/* ---- the audit --------------------------------------------------------- */

/*
 * The audit works on the arena through plain pointers, cast once (see the
 * pointer note in aqmap_list.h): clang-19 otherwise merges the adjacent
 * stores below onto an uncast base.
 */
static void audit_fail(struct aq_audit *au, u32 status, s32 fifo,
		       struct task_ctx *node, u64 a, u64 b)
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
 * The entry count lives in the arena, not in a register: the verifier then
 * treats it as unknown and the walk's states converge.
 */
/*
 * The audit runs from a syscall (BPF_PROG_TEST_RUN) with interrupts on, and
 * must take a FIFO lock with them off.  Otherwise an interrupt on the
 * auditing CPU, say a wakeup of a task on the other CPU, spins on that CPU's
 * rq lock while the audit holds the FIFO lock, and the other CPU, in
 * ops.dequeue under that rq lock, spins on the FIFO lock: an rq-lock/FIFO-lock
 * ABBA that rqspinlock cannot see and only its timeouts end, 16 of them in
 * ops.dequeue, with both CPUs' interrupts off.  Seen as 30 s standstills of
 * the whole guest in affinity-churn, then the kernel's soft-lockup and RCU
 * stall reports and a dequeue that failed "16 times (-110)".  The struct_ops
 * callbacks run with interrupts off already.
 */
static __always_inline int audit_lock(struct bpf_res_spin_lock *lock, unsigned long *flags)
{
	return bpf_res_spin_lock_irqsave(lock, flags);
}

static __always_inline void audit_unlock(struct bpf_res_spin_lock *lock, unsigned long *flags)
{
	bpf_res_spin_unlock_irqrestore(lock, flags);
}

static void audit_fifo(struct aq_audit *au, s32 i, u64 now)
{
	struct qmap_fifo __arena *fifo_a = &qa.fifos[i];
	struct qmap_fifo *fifo = (struct qmap_fifo *)fifo_a;
	struct bpf_res_spin_lock *lock = qmap_fifo_lock(i);
	struct task_ctx *node, *prev = NULL;
	struct task_ctx *head, *tail;
	unsigned long flags;
	u64 steps = 0, len;
	u32 n;

	if (!lock || audit_lock(lock, &flags)) {
		audit_fail(au, AQ_AUDIT_LOCK_FAILED, i, NULL, 0, 0);
		return;
	}

	len = fifo->len;
	if (fifo->nr_in != fifo->nr_popped + fifo->nr_removed + len)
		audit_fail(au, AQ_AUDIT_CONSERVATION, i, NULL, fifo->nr_in,
			   fifo->nr_popped + fifo->nr_removed + len);
	head = (struct task_ctx *)fifo->head;
	tail = (struct task_ctx *)fifo->tail;
	if (!head != !tail || !head != !len)
		audit_fail(au, AQ_AUDIT_BAD_ENDS, i, head, (u64)fifo->tail, len);
	else if (head && (head->q_prev || tail->q_next))
		audit_fail(au, AQ_AUDIT_BAD_ENDS, i, head, (u64)head->q_prev, (u64)tail->q_next);
	/* A head stamped after @now (a concurrent enqueue) has waited 0. */
	au->head_wait_ns[(u32)i % QMAP_NR_FIFOS] =
		head && head->ready_at && (s64)(now - head->ready_at) > 0 ? now - head->ready_at : 0;

	/*
	 * An open-coded iterator rather than a counted loop: the verifier then
	 * need not tell iterations apart (bpf_repeat is allowed under the lock).
	 */
	node = head;
	bpf_repeat(AQ_AUDIT_WALK_MAX) {
		if (!node || steps > len)
			break;
		if (node->fifo != fifo_a) {
			audit_fail(au, AQ_AUDIT_BAD_FIFO, i, node, (u64)node->fifo, (u64)fifo_a);
			break;
		}
		if ((struct task_ctx *)node->q_prev != prev) {
			audit_fail(au, AQ_AUDIT_BAD_LINK, i, node, (u64)node->q_prev,
				   (u64)(struct task_ctx __arena *)prev);
			break;
		}
		n = au->nr_entries;
		if (n < AQ_AUDIT_MAX_ENTRIES) {
			struct aq_audit_entry *e = &au->entries[n];

			e->pid = node->pid;
			e->fifo = i;
			e->enq_seq = node->enq_seq;
			e->ops_qseq = node->ops_qseq;
			au->nr_entries = n + 1;
		} else if (au->status == AQ_AUDIT_OK) {
			au->status = AQ_AUDIT_TRUNCATED;
		}
		prev = node;
		node = (struct task_ctx *)node->q_next;
		steps++;
	}
	if (au->status == AQ_AUDIT_OK || au->status == AQ_AUDIT_TRUNCATED) {
		if (steps != len || prev != tail)
			audit_fail(au, AQ_AUDIT_CYCLE, i, prev, steps, len);
	}
	audit_unlock(lock, &flags);
}

/*
 * Run by the harness through BPF_PROG_TEST_RUN.  Entries are snapshotted
 * under each FIFO's lock; the tasks are looked up only after it is released,
 * since no kfunc may be called with a list lock held.
 */
SEC("syscall")
int aqmap_audit(void *ctx)
{
	struct aq_audit *au = (struct aq_audit *)&qa.audit;
	u64 t0 = bpf_ktime_get_ns(), dt;
	u32 j;

	if (!qa.initialized)
		return 0;
	au->status = AQ_AUDIT_OK;
	au->bad_fifo = -1;
	au->bad_pid = -1;
	au->nr_entries = 0;

	/* Unrolled: each FIFO's lock is then a constant for the verifier. */
	audit_fifo(au, 0, t0);
	audit_fifo(au, 1, t0);
	audit_fifo(au, 2, t0);
	audit_fifo(au, 3, t0);
	audit_fifo(au, 4, t0);

	bpf_for(j, 0, AQ_AUDIT_MAX_ENTRIES) {
		struct aq_audit_entry *e = &au->entries[j];
		struct task_struct *p;

		if (j >= au->nr_entries)
			break;
		p = bpf_task_from_pid(e->pid);

		e->found = !!p;
		e->in_custody = p ? entry_in_custody(p, e->ops_qseq) : 0;
		if (p)
			bpf_task_release(p);
	}

	dt = bpf_ktime_get_ns() - t0;
	au->ns = dt;
	if (dt > au->max_ns)
		au->max_ns = dt;
	au->seq++;
	return 0;
}

/* ---- the wait audit ----------------------------------------------------- */

/* The FIFO @p is linked on, and the enqueue that linked it, if any. */
static void locate_on_fifo(struct aq_stuck_task *st, struct task_struct *p)
{
	struct task_ctx_stor_val *v;
	struct qmap_fifo *fifo;

	v = bpf_task_storage_get(&task_ctx_stor, p, NULL, 0);
	if (v && v->taskc) {
		fifo = (struct qmap_fifo *)READ_ONCE(v->taskc->fifo);
		if (fifo) {
			st->fifo = fifo->idx;
			st->enq_seq = v->taskc->enq_seq;
		}
	}
}

/*
 * Run by the harness through BPF_PROG_TEST_RUN, less often than aqmap_audit
 * (it visits every thread): each sched_ext task's wait by the watchdog's own
 * clock, and every task that waited stuck_after_ms, with where it is, so a
 * task the scheduler lost or starves is named long before the kernel's 30 s
 * watchdog ejects the scheduler without saying where the task was.
 */
SEC("syscall")
int aqmap_audit_waits(void *ctx)
{
	struct aq_wait_audit *wa = (struct aq_wait_audit *)&qa.waits;

	if (!qa.initialized)
		return 0;
	AQ_SCAN_WAITS(wa, stuck_after_ms, locate_on_fifo);
	return 0;
}

SEC(".struct_ops.link")
struct sched_ext_ops aqmap_ops = {
	.select_cpu		= (void *)aqmap_select_cpu,
	.enqueue		= (void *)aqmap_enqueue,
	.dequeue		= (void *)aqmap_dequeue,
	.dispatch		= (void *)aqmap_dispatch,
	.running		= (void *)aqmap_running,
	.tick			= (void *)aqmap_tick,
	.init_task		= (void *)aqmap_init_task,
	.exit_task		= (void *)aqmap_exit_task,
	.cpu_online		= (void *)aqmap_cpu_online,
	.cpu_offline		= (void *)aqmap_cpu_offline,
	.dump			= (void *)aqmap_dump,
	.init			= (void *)aqmap_init,
	.exit			= (void *)aqmap_exit,
	.name			= "aqmap",
};
