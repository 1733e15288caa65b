/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scx_aqmap run-queue lists: ONE implementation compiled into the BPF
 * scheduler and, natively, into the userspace twin (properties/).
 *
 * Each of the five priority FIFOs is a doubly-linked list threaded through
 * the per-task context (q_next, q_prev, fifo) in the BPF arena and guarded
 * by its own bpf_res_spin_lock.  Every list mutation happens under that
 * lock, and so does every per-FIFO counter update, which makes
 *
 *     nr_in == nr_popped + nr_removed + len
 *
 * hold whenever the lock is free.  A context's @fifo is the membership
 * truth: it is non-NULL exactly while the context is linked on that FIFO,
 * and it is only ever read for a decision under that FIFO's lock.
 *
 * Lock failures (bpf_res_spin_lock() returning -EDEADLK or -ETIMEDOUT)
 * never touch a list:
 *   - enqueue returns the error; the caller must place the task elsewhere
 *     (the scheduler falls back to its shared DSQ and counts it);
 *   - pop returns NULL and reports the error through @err; the entries stay
 *     queued for the next dispatch round;
 *   - remove retries up to QMAP_LOCK_RETRIES acquisitions, because a task
 *     left linked after ops.dequeue() would be a stale entry; if every try
 *     fails it returns the error and the scheduler ejects itself
 *     (scx_bpf_error) rather than keep a list it can no longer vouch for.
 *
 * The slab of task contexts is a singly-linked free list under its own lock.
 *
 * The includer provides, before including this file:
 *   - __arena, u32/s32/u64 and bool (vmlinux.h in BPF; aqmap_twin_compat.h natively),
 *   - struct bpf_res_spin_lock with bpf_res_spin_lock()/bpf_res_spin_unlock(),
 *   - qmap_fifo_lock(idx) and qmap_slab_lock(): the lock of a FIFO / the slab,
 *   - qmap_lock_fault(): true to make this acquisition fail (fault injection),
 *   - optionally qmap_fifo_at(fifo, idx) (see below).
 */
#ifndef __AQMAP_LIST_TYPES
#define __AQMAP_LIST_TYPES

#ifndef ENOENT
#define ENOENT		2
#endif
#ifndef ENOMEM
#define ENOMEM		12
#endif
#ifndef EDEADLK
#define EDEADLK		35
#endif
#ifndef ETIMEDOUT
#define ETIMEDOUT	110
#endif

/*
 * Keeps the compiler from merging the two arms of "next ? next->x : fifo->y"
 * into one pointer select: on BPF that select loses the arena address-space
 * cast on one arm and the verifier rejects the store.
 */
#define qmap_arm_barrier()	asm volatile("" ::: "memory")

#define QMAP_NR_FIFOS		5
/*
 * A timed-out acquisition has already spun 250 ms (the rqspinlock timeout):
 * 16 of them tolerate a lock holder whose vCPU the host stalls for 4 s, as
 * under TCG and in steal-heavy cloud VMs; 8 (2 s) ejected healthy runs.
 */
#define QMAP_LOCK_RETRIES	16

struct qmap_fifo;

struct task_ctx {
	struct task_ctx __arena *next_free;	/* only valid on the free list */
	struct task_ctx __arena *q_next;	/* NULL if tail or not queued */
	struct task_ctx __arena *q_prev;	/* NULL if head or not queued */
	struct qmap_fifo __arena *fifo;		/* FIFO we are on, NULL if none */
	u64 enq_seq;				/* global sequence of the last enqueue */
	u64 ops_qseq;				/* kernel's ops_state qseq of that enqueue */
	s32 pid;
	s32 last_fifo;				/* FIFO of the previous enqueue, -1 if none */
	u32 in_use;				/* 1 between alloc and free */
	u32 keep_ready;				/* next enqueue keeps ready_at (sched change) */
	u32 custody;				/* the scheduler's custody ledger (aqmap_custody.h) */
	u32 pad;
	u64 ready_at;				/* ns: since when the task waits for a CPU */
};

struct qmap_fifo {
	struct task_ctx __arena *head;
	struct task_ctx __arena *tail;
	s32 idx;
	u32 pad;
	/* Updated under the FIFO's lock only. */
	u64 nr_in;		/* entries linked by enqueue */
	u64 nr_popped;		/* entries unlinked by pop */
	u64 nr_removed;		/* entries unlinked by remove (ops.dequeue) */
	u64 len;		/* entries linked now */
};

#endif /* __AQMAP_LIST_TYPES */

/*
 * Readers of the arena layout (the harness, or the scheduler before it has
 * declared its arena) define AQMAP_LIST_TYPES_ONLY and get the types alone.
 */
#if !defined(AQMAP_LIST_TYPES_ONLY) && !defined(__AQMAP_LIST_FUNCS)
#define __AQMAP_LIST_FUNCS

/*
 * The FIFO of index @idx, which @fifo (loaded from a node) points at.  The BPF
 * side returns its own global's address instead: stores through a pointer
 * loaded from the arena lose their address-space cast in clang-19 when both
 * the raw and the cast value are live.
 */
#ifndef qmap_fifo_at
#define qmap_fifo_at(fifo, idx)	(fifo)
#endif

/*
 * A note on pointers.  Every function below converts its __arena pointers to
 * plain ones once, at the top, and dereferences only those; __arena values
 * are kept for storing into links.  On BPF each conversion is one explicit
 * arena cast: left to itself clang-19 sometimes derives a store address from
 * the uncast copy of a pointer (e.g. merging the NULL stores of an unlink),
 * which the verifier rejects.  Natively the conversions are no-ops.
 */

/* Take a list lock, honouring fault injection.  0 or -errno. */
static __always_inline int qmap_lock(struct bpf_res_spin_lock *lock)
{
	if (!lock)
		return -ENOENT;
	if (qmap_lock_fault())
		return -ETIMEDOUT;
	return bpf_res_spin_lock(lock);
}

/* Link @taskc_a at the tail of @fifo_a under its lock. */
static __always_inline void qmap_fifo_link_tail(struct qmap_fifo __arena *fifo_a,
						struct task_ctx __arena *taskc_a)
{
	struct qmap_fifo *fifo = (struct qmap_fifo *)fifo_a;
	struct task_ctx *taskc = (struct task_ctx *)taskc_a;
	struct task_ctx *tail = (struct task_ctx *)fifo->tail;

	taskc->fifo = fifo_a;
	taskc->q_next = NULL;
	taskc->q_prev = fifo->tail;
	if (tail) {
		tail->q_next = taskc_a;
		qmap_arm_barrier();
	} else {
		fifo->head = taskc_a;
		qmap_arm_barrier();
	}
	fifo->tail = taskc_a;
	fifo->nr_in++;
	fifo->len++;
}

/* Unlink @taskc_a, which is on @fifo_a, under the FIFO's lock. */
static __always_inline void qmap_fifo_unlink(struct qmap_fifo __arena *fifo_a,
					     struct task_ctx __arena *taskc_a)
{
	struct qmap_fifo *fifo = (struct qmap_fifo *)fifo_a;
	struct task_ctx *taskc = (struct task_ctx *)taskc_a;
	struct task_ctx *next = (struct task_ctx *)taskc->q_next;
	struct task_ctx *prev = (struct task_ctx *)taskc->q_prev;

	if (next) {
		next->q_prev = taskc->q_prev;
		qmap_arm_barrier();
	} else {
		fifo->tail = taskc->q_prev;
		qmap_arm_barrier();
	}
	if (prev) {
		prev->q_next = taskc->q_next;
		qmap_arm_barrier();
	} else {
		fifo->head = taskc->q_next;
		qmap_arm_barrier();
	}
	taskc->q_next = NULL;
	taskc->q_prev = NULL;
	taskc->fifo = NULL;
	fifo->len--;
}

/*
 * Append @taskc to the tail of @fifo and stamp it with @seq.  @taskc must not
 * be queued.  Returns 0, or the lock error with nothing changed.
 */
static __always_inline int qmap_fifo_enqueue(struct qmap_fifo __arena *fifo,
					     struct task_ctx __arena *taskc, u64 seq)
{
	struct bpf_res_spin_lock *lock = qmap_fifo_lock(((struct qmap_fifo *)fifo)->idx);
	int ret;

	ret = qmap_lock(lock);
	if (ret)
		return ret;
	((struct task_ctx *)taskc)->enq_seq = seq;
	qmap_fifo_link_tail(fifo, taskc);
	bpf_res_spin_unlock(lock);
	return 0;
}

/*
 * Unlink and return the head of @fifo_a; NULL if it is empty or its lock
 * failed, in which case *@err is the lock error (0 when simply empty).
 */
static __always_inline struct task_ctx __arena *
qmap_fifo_pop(struct qmap_fifo __arena *fifo_a, int *err)
{
	struct qmap_fifo *fifo = (struct qmap_fifo *)fifo_a;
	struct bpf_res_spin_lock *lock = qmap_fifo_lock(fifo->idx);
	struct task_ctx __arena *taskc;

	*err = qmap_lock(lock);
	if (*err)
		return NULL;
	taskc = fifo->head;
	if (taskc) {
		qmap_fifo_unlink(fifo_a, taskc);
		fifo->nr_popped++;
	}
	bpf_res_spin_unlock(lock);
	return taskc;
}

/*
 * Unlink @taskc_a from whatever FIFO it is on.  Returns 0 when it was removed,
 * -ENOENT when it was not queued (including when a concurrent pop won the
 * race), or the lock error after QMAP_LOCK_RETRIES failed acquisitions.
 */
static __always_inline int qmap_fifo_remove(struct task_ctx __arena *taskc_a)
{
	struct task_ctx *taskc = (struct task_ctx *)taskc_a;
	struct qmap_fifo *fifo;
	struct bpf_res_spin_lock *lock;
	int ret = 0, i;
	s32 idx;

	for (i = 0; i < QMAP_LOCK_RETRIES; i++) {
		/* Unlocked peek: only picks which lock to take. */
		fifo = (struct qmap_fifo *)READ_ONCE(taskc->fifo);
		if (!fifo)
			return -ENOENT;
		idx = fifo->idx;
		lock = qmap_fifo_lock(idx);
		ret = qmap_lock(lock);
		if (ret)
			continue;
		/* Re-check under the lock: a concurrent pop may have taken it. */
		fifo = (struct qmap_fifo *)taskc->fifo;
		if (!fifo || fifo->idx != idx) {
			bpf_res_spin_unlock(lock);
			return -ENOENT;
		}
		fifo = (struct qmap_fifo *)qmap_fifo_at(taskc->fifo, idx);
		qmap_fifo_unlink((struct qmap_fifo __arena *)fifo, taskc_a);
		fifo->nr_removed++;
		bpf_res_spin_unlock(lock);
		return 0;
	}
	return ret;
}

/*
 * Thread @nr contexts starting at @slab_a onto the free list headed by *@head.
 * Runs before the scheduler is attached: no lock needed.
 */
static __always_inline void qmap_slab_init(struct task_ctx __arena *slab_a, u32 nr,
					   struct task_ctx __arena * __arena *head)
{
	struct task_ctx *slab = (struct task_ctx *)slab_a;
	u32 i;

	for (i = 0; i < nr && can_loop; i++) {
		slab[i].next_free = (i + 1 < nr) ? &slab_a[i + 1] : NULL;
		slab[i].fifo = NULL;
		slab[i].q_next = NULL;
		slab[i].q_prev = NULL;
		slab[i].in_use = 0;
	}
	*head = nr ? slab_a : NULL;
}

/*
 * Take a context off the free list; NULL if it is exhausted or the lock
 * failed QMAP_LOCK_RETRIES times (a task refused here ejects the scheduler).
 */
static __always_inline struct task_ctx __arena *
qmap_slab_alloc(struct task_ctx __arena * __arena *head, s32 pid)
{
	struct bpf_res_spin_lock *lock = qmap_slab_lock();
	struct task_ctx __arena *taskc_a = NULL;
	struct task_ctx *taskc;
	int i;

	for (i = 0; i < QMAP_LOCK_RETRIES; i++) {
		if (qmap_lock(lock))
			continue;
		taskc_a = *head;
		taskc = (struct task_ctx *)taskc_a;
		if (taskc)
			*head = taskc->next_free;
		bpf_res_spin_unlock(lock);
		break;
	}
	taskc = (struct task_ctx *)taskc_a;
	if (!taskc)
		return NULL;
	taskc->next_free = NULL;
	taskc->q_next = NULL;
	taskc->q_prev = NULL;
	taskc->fifo = NULL;
	taskc->enq_seq = 0;
	taskc->ops_qseq = 0;
	taskc->pid = pid;
	taskc->last_fifo = -1;
	taskc->in_use = 1;
	taskc->keep_ready = 0;
	taskc->ready_at = 0;
	return taskc_a;
}

/*
 * Return @taskc_a, which must not be queued, to the free list.  A failed lock
 * is retried like remove: a context dropped here would shrink the slab for
 * good.  Returns 0 or the lock error.
 */
static __always_inline int qmap_slab_free(struct task_ctx __arena * __arena *head,
					  struct task_ctx __arena *taskc_a)
{
	struct bpf_res_spin_lock *lock = qmap_slab_lock();
	struct task_ctx *taskc = (struct task_ctx *)taskc_a;
	int ret = 0, i;

	for (i = 0; i < QMAP_LOCK_RETRIES; i++) {
		ret = qmap_lock(lock);
		if (ret)
			continue;
		taskc->in_use = 0;
		taskc->next_free = *head;
		*head = taskc_a;
		bpf_res_spin_unlock(lock);
		return 0;
	}
	return ret;
}

#endif /* __AQMAP_LIST_FUNCS */
