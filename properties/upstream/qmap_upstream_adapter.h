/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The twin's list API (what twin/twin.cpp calls, as bpf/aqmap_list.h defines
 * it) on top of mainline scx_qmap's FIFO code.  The mainline code itself is
 * not here: extract_qmap_list.py copies it, verbatim, into a generated header
 * in the build tree (qmap_upstream_list.h) that this file includes.  CMake
 * names this file as the twin's AQ_LIST_HEADER (twin "qmap_upstream").
 *
 * What this file supplies to the mainline code: the few things scx_qmap.bpf.c
 * gets from its scx headers and globals -- u8/__s32, bpf_for, a stand-in
 * struct scx_cmask (a plain struct, not a flexible array: its contents are
 * never used by the list code), the five qa_q_lockN and qa_task_lock (mapped
 * onto the twin's locks, so the lock tests, reset_all_locks() and the
 * preemption points see them), the arena's qa.task_free_head (mapped onto the
 * twin's free-list head), max_tasks, TASK_CTX_STRIDE and scx_bpf_error(),
 * which records the call (per operation and in total) and lets the operation
 * return.  bpf_res_spin_lock() asks qmap_lock_fault() first, exactly as the
 * project's qmap_lock() does, so fault scripts and preemption points work.
 *
 * THE CONTRACT CHECKED FOR MAINLINE (see also properties/README.md, "mainline
 * scx_qmap's lists").  The model (check/model.cpp) is the project's; the
 * adapter states mainline's contract in its terms:
 *
 *  - QMAP_LOCK_RETRIES is 1: mainline never retries.  The model then expects
 *    remove, alloc and free to give up at the first failed acquisition,
 *    leaving everything as it was.
 *  - A failed acquisition must be followed by exactly one scx_bpf_error()
 *    during the same operation (mainline ejects the scheduler instead of
 *    returning an error).  The adapter turns "lock failed AND scx_bpf_error()
 *    recorded" into the lock's error code: enqueue returns it (the task is
 *    not queued: dropped, but never silently), pop returns NULL with *err set,
 *    remove returns it and leaves the task where it was, free returns it
 *    (the context is not put back).  A lock failure WITHOUT scx_bpf_error(),
 *    or scx_bpf_error() without a failed lock (other than slab exhaustion),
 *    returns -EPROTO, which no model state expects: a silent loss is a FAIL.
 *  - Mainline's functions return void / a pointer.  Derived results: enqueue
 *    0 if it neither failed nor erred; remove -ENOENT when mainline took no
 *    lock (its peek saw no FIFO) or its re-check under the lock found the
 *    task gone, 0 when, under the FIFO lock it took, the task was on that FIFO
 *    (mainline's own re-check condition: it then unlinks it).
 *  - Mainline keeps no per-FIFO counters.  The adapter keeps nr_in /
 *    nr_popped / nr_removed / len (hook AQ_UPSTREAM_FIFO_EXTRA), updated with
 *    atomics after each operation from the derived results.  So "counters"
 *    (nr_in == nr_popped + nr_removed + len) is bookkeeping of the adapter
 *    and proves nothing about mainline; "empty" and "walk" (which compare
 *    head/tail/links with len) and "model-counters" do check mainline: they
 *    compare the links with the count of operations that reported success.
 *  - enq_seq and in_use (hook AQ_UPSTREAM_TASK_CTX_EXTRA) are the adapter's:
 *    enq_seq is stamped before mainline's enqueue (mainline stamps
 *    core_sched_seq in qmap_enqueue(), outside the list code); in_use is set
 *    after a successful slab pop and cleared just before the push, restored
 *    if the push's lock failed.  pid is mainline's field, set after the pop
 *    (mainline's qmap_init_task() sets it right after the extracted block).
 *  - Slab exhaustion: mainline calls scx_bpf_error() and returns -ENOMEM; the
 *    model expects alloc to return NULL (and the adapter counts the error).
 *  - ops.exit_task in the twin is "remove if queued, then free".  Mainline's
 *    qmap_exit_task() frees only: the kernel has already called
 *    ops.dequeue() (qmap_dequeue() -> qmap_fifo_remove()) for a queued task.
 *  - Everything else is unchanged: order, conservation, single membership,
 *    link symmetry, unqueued-clean, slab, pop-front, remove-absent, races at
 *    the lock boundary, linearizability under 4 threads, and lock-leak.
 */
#ifndef AQ_QMAP_UPSTREAM_ADAPTER_H
#define AQ_QMAP_UPSTREAM_ADAPTER_H

#include "aqmap_twin_compat.h"

#include <cstdarg>
#include <cstdio>
#include <stdexcept>

typedef uint8_t u8;
typedef int32_t __s32;
typedef uint32_t __u32;
typedef uint64_t __u64;

/* From the scx headers / vmlinux.h.  Never read by the list code. */
struct scx_cmask {
	u32 base;
	u32 nr_bits;
	u64 bits[1];
};
#define bpf_for(i, start, end) for ((i) = (start); (i) < (end); (i)++)

/* The adapter's bookkeeping, appended to mainline's two structs. */
#define AQ_UPSTREAM_TASK_CTX_EXTRA \
	u64 enq_seq;	/* adapter: seq of the last enqueue */ \
	u32 in_use;	/* adapter: 1 between alloc and free */
#define AQ_UPSTREAM_FIFO_EXTRA \
	u64 nr_in, nr_popped, nr_removed, len;	/* adapter, atomics */

struct task_ctx;

namespace aq::upstream {

enum class Op { Enqueue, Pop, Remove, Alloc, Free };

/*
 * One operation in progress on this thread.  A stack, because a preemption
 * point runs another operation inside the current one.
 */
struct Frame {
	Op op;
	struct task_ctx *task = nullptr;	/* Remove: the task */
	Frame *prev = nullptr;
	int errors = 0;			/* scx_bpf_error() calls */
	int lock_failures = 0;
	int first_lock_err = 0;
	bool locked = false;		/* some acquisition succeeded */
	struct qmap_fifo *removed_from = nullptr; /* Remove: the locked FIFO the task was on */
};

inline thread_local Frame *g_frame = nullptr;
inline std::atomic<u64> g_scx_errors{0};	/* every scx_bpf_error() */
inline std::atomic<u64> g_silent{0};		/* contract breaches (-EPROTO) */
inline thread_local char g_last_error[160];

struct Scope {
	Frame f;
	Scope(Op op, struct task_ctx *task = nullptr)
	{
		f.op = op;
		f.task = task;
		f.prev = g_frame;
		g_frame = &f;
	}
	~Scope() { g_frame = f.prev; }
	Scope(const Scope &) = delete;
	Scope &operator=(const Scope &) = delete;
	/*
	 * The operation's error return under mainline's contract, 0 if none:
	 * a failed lock must come with exactly one scx_bpf_error(), and there
	 * is none otherwise, except the one of slab exhaustion (@exhausted).
	 * Anything else is a breach: -EPROTO, and counted.
	 */
	int error(bool exhausted = false) const
	{
		if (f.lock_failures) {
			if (f.errors == 1)
				return f.first_lock_err;
		} else if (f.errors == (exhausted ? 1 : 0)) {
			return 0;
		}
		g_silent.fetch_add(1, std::memory_order_relaxed);
		return -EPROTO;
	}
};

__attribute__((format(printf, 1, 2))) inline void scx_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g_last_error, sizeof(g_last_error), fmt, ap);
	va_end(ap);
	g_scx_errors.fetch_add(1, std::memory_order_relaxed);
	if (g_frame)
		g_frame->errors++;
}

inline struct task_ctx **g_free_head;	/* the twin's free-list head */

/* Mainline's "qa" arena object, as far as the list code uses it. */
struct QaView {
	struct task_ctx *&task_free_head;
};

inline int lock(struct bpf_res_spin_lock *lock);
inline void unlock(struct bpf_res_spin_lock *lock) { ::bpf_res_spin_unlock(lock); }

}  // namespace aq::upstream

/* Names the mainline code uses, while it is included. */
#define bpf_res_spin_lock(l)	aq::upstream::lock(l)
#define bpf_res_spin_unlock(l)	aq::upstream::unlock(l)
#define scx_bpf_error(fmt, ...)	aq::upstream::scx_error(fmt, ##__VA_ARGS__)
#define qa			(aq::upstream::QaView{*aq::upstream::g_free_head})
#define qa_q_lock0		(*qmap_fifo_lock(0))
#define qa_q_lock1		(*qmap_fifo_lock(1))
#define qa_q_lock2		(*qmap_fifo_lock(2))
#define qa_q_lock3		(*qmap_fifo_lock(3))
#define qa_q_lock4		(*qmap_fifo_lock(4))
#define qa_task_lock		(*qmap_slab_lock())
#define TASK_CTX_STRIDE		sizeof(struct task_ctx)
/* Mainline's names for its list functions; the twin's API takes them over. */
#define qmap_fifo_enqueue	mainline_qmap_fifo_enqueue
#define qmap_fifo_pop		mainline_qmap_fifo_pop
#define qmap_fifo_remove	mainline_qmap_fifo_remove

/* Mainline's rodata max_tasks (set by the loader): the slab's size. */
static u32 max_tasks;

/* Generated into the build tree by extract_qmap_list.py. */
#include "qmap_upstream_list.h"

#undef bpf_res_spin_lock
#undef bpf_res_spin_unlock
#undef scx_bpf_error
#undef qa
#undef qa_q_lock0
#undef qa_q_lock1
#undef qa_q_lock2
#undef qa_q_lock3
#undef qa_q_lock4
#undef qa_task_lock
#undef qmap_fifo_enqueue
#undef qmap_fifo_pop
#undef qmap_fifo_remove

#define QMAP_NR_FIFOS		QMAP_UPSTREAM_NR_FIFOS
#define QMAP_LOCK_RETRIES	1	/* mainline does not retry */

namespace aq::upstream {

/* Before every acquisition, as the project's qmap_lock(): fault injection
 * and the Acquire preemption point.  Under the lock, remove notes whether
 * the task is on the FIFO whose lock it took. */
inline int lock(struct bpf_res_spin_lock *l)
{
	int ret = qmap_lock_fault() ? -ETIMEDOUT : ::bpf_res_spin_lock(l);
	Frame *f = g_frame;
	if (!f)
		return ret;
	if (ret) {
		if (!f->lock_failures++)
			f->first_lock_err = ret;
		return ret;
	}
	if (f->op == Op::Remove && !f->locked) {
		/* Under lock A the field may be changing only if it is not A
		 * (a writer holds another FIFO's lock): READ_ONCE, like remove's
		 * peek in the project's header. */
		struct qmap_fifo *on = READ_ONCE(f->task->fifo);
		if (on && qmap_fifo_lock(on->idx) == l)
			f->removed_from = on;
	}
	f->locked = true;
	return ret;
}

inline void count(u64 &field, int delta)
{
	__atomic_fetch_add(&field, u64(int64_t(delta)), __ATOMIC_RELAXED);
}

}  // namespace aq::upstream

/* ---- The twin's API (bpf/aqmap_list.h's signatures). ---- */

static inline int qmap_fifo_enqueue(struct qmap_fifo *fifo, struct task_ctx *taskc, u64 seq)
{
	using namespace aq::upstream;
	taskc->enq_seq = seq;	/* not queued: the caller owns it */
	Scope s(Op::Enqueue);
	mainline_qmap_fifo_enqueue(fifo, taskc);
	int ret = s.error();
	if (!ret) {
		count(fifo->nr_in, 1);
		count(fifo->len, 1);
	}
	return ret;
}

static inline struct task_ctx *qmap_fifo_pop(struct qmap_fifo *fifo, int *err)
{
	using namespace aq::upstream;
	Scope s(Op::Pop);
	struct task_ctx *taskc = mainline_qmap_fifo_pop(fifo);
	*err = s.error();
	if (taskc && !*err) {
		count(fifo->nr_popped, 1);
		count(fifo->len, -1);
	}
	return taskc;
}

static inline int qmap_fifo_remove(struct task_ctx *taskc)
{
	using namespace aq::upstream;
	Scope s(Op::Remove, taskc);
	mainline_qmap_fifo_remove(taskc);
	int ret = s.error();
	if (ret)
		return ret;
	if (!s.f.removed_from)
		return -ENOENT;
	/* Unlinked by mainline under the lock of the FIFO its re-check saw. */
	count(s.f.removed_from->nr_removed, 1);
	count(s.f.removed_from->len, -1);
	return 0;
}

static inline void qmap_slab_init(struct task_ctx *slab, u32 nr, struct task_ctx **head)
{
	aq::upstream::g_free_head = head;
	max_tasks = nr;
	qmap_upstream_slab_init((u8 *)slab, nr);
}

static inline struct task_ctx *qmap_slab_alloc(struct task_ctx **head, s32 pid)
{
	using namespace aq::upstream;
	if (head != g_free_head)
		throw std::logic_error("qmap_upstream: one slab at a time");
	Scope s(Op::Alloc);
	struct task_ctx *taskc = nullptr;
	s32 ret = qmap_upstream_slab_alloc(&taskc);
	/* -ENOMEM (exhausted) comes with scx_bpf_error() but no lock failure. */
	if (s.error(ret == -ENOMEM) || ret)
		return nullptr;
	taskc->pid = pid;
	taskc->enq_seq = 0;
	taskc->in_use = 1;
	return taskc;
}

static inline int qmap_slab_free(struct task_ctx **head, struct task_ctx *taskc)
{
	using namespace aq::upstream;
	if (head != g_free_head)
		throw std::logic_error("qmap_upstream: one slab at a time");
	taskc->in_use = 0;	/* not on the free list until the push */
	Scope s(Op::Free);
	qmap_upstream_slab_free(taskc);
	int ret = s.error();
	if (ret)
		taskc->in_use = 1;
	return ret;
}

/* For properties/upstream/mainline_contract_test.cpp (defined in twin.cpp's TU). */
u64 aq_upstream_scx_errors() { return aq::upstream::g_scx_errors.load(); }
u64 aq_upstream_contract_breaches() { return aq::upstream::g_silent.load(); }
const char *aq_upstream_last_error() { return aq::upstream::g_last_error; }

#endif /* AQ_QMAP_UPSTREAM_ADAPTER_H */
