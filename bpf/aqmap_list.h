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
 *   - qmap_lock_fault(): true to make this acquisition fail (fault injection).
 */
#ifndef __AQMAP_LIST_H
#define __AQMAP_LIST_H

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

#define QMAP_NR_FIFOS		5
#define QMAP_LOCK_RETRIES	8

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
	u32 highpri;
	u32 force_local;
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

/*
 * Userspace readers of the arena (the harness) only need the layouts above.
 */
#ifndef AQMAP_LIST_TYPES_ONLY

/* Take a list lock, honouring fault injection.  0 or -errno. */
static __always_inline int qmap_lock(struct bpf_res_spin_lock *lock)
{
	if (!lock)
		return -ENOENT;
	if (qmap_lock_fault())
		return -ETIMEDOUT;
	return bpf_res_spin_lock(lock);
}

/* Link @taskc at the tail of @fifo under its lock. */
static __always_inline void qmap_fifo_link_tail(struct qmap_fifo __arena *fifo,
						struct task_ctx __arena *taskc)
{
	taskc->fifo = fifo;
	taskc->q_next = NULL;
	taskc->q_prev = fifo->tail;
	if (fifo->tail)
		fifo->tail->q_next = taskc;
	else
		fifo->head = taskc;
	fifo->tail = taskc;
	fifo->nr_in++;
	fifo->len++;
}

/* Unlink @taskc, which is on @fifo, under the FIFO's lock. */
static __always_inline void qmap_fifo_unlink(struct qmap_fifo __arena *fifo,
					     struct task_ctx __arena *taskc)
{
	if (taskc->q_next)
		taskc->q_next->q_prev = taskc->q_prev;
	else
		fifo->tail = taskc->q_prev;
	if (taskc->q_prev)
		taskc->q_prev->q_next = taskc->q_next;
	else
		fifo->head = taskc->q_next;
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
	struct bpf_res_spin_lock *lock = qmap_fifo_lock(fifo->idx);
	int ret;

	ret = qmap_lock(lock);
	if (ret)
		return ret;
	taskc->enq_seq = seq;
	qmap_fifo_link_tail(fifo, taskc);
	bpf_res_spin_unlock(lock);
	return 0;
}

/*
 * Unlink and return the head of @fifo; NULL if it is empty or its lock
 * failed, in which case *@err is the lock error (0 when simply empty).
 */
static __always_inline struct task_ctx __arena *
qmap_fifo_pop(struct qmap_fifo __arena *fifo, int *err)
{
	struct bpf_res_spin_lock *lock = qmap_fifo_lock(fifo->idx);
	struct task_ctx __arena *taskc;

	*err = qmap_lock(lock);
	if (*err)
		return NULL;
	taskc = fifo->head;
	if (taskc) {
		qmap_fifo_unlink(fifo, taskc);
		fifo->nr_popped++;
	}
	bpf_res_spin_unlock(lock);
	return taskc;
}

/*
 * Unlink @taskc from whatever FIFO it is on.  Returns 0 when it was removed,
 * -ENOENT when it was not queued (including when a concurrent pop won the
 * race), or the lock error after QMAP_LOCK_RETRIES failed acquisitions.
 */
static __always_inline int qmap_fifo_remove(struct task_ctx __arena *taskc)
{
	struct qmap_fifo __arena *fifo;
	struct bpf_res_spin_lock *lock;
	int ret = 0, i;

	for (i = 0; i < QMAP_LOCK_RETRIES; i++) {
		/* Unlocked peek: only picks which lock to take. */
		fifo = READ_ONCE(taskc->fifo);
		if (!fifo)
			return -ENOENT;
		lock = qmap_fifo_lock(fifo->idx);
		ret = qmap_lock(lock);
		if (ret)
			continue;
		/* Re-check under the lock: a concurrent pop may have taken it. */
		if (taskc->fifo != fifo) {
			bpf_res_spin_unlock(lock);
			return -ENOENT;
		}
		qmap_fifo_unlink(fifo, taskc);
		fifo->nr_removed++;
		bpf_res_spin_unlock(lock);
		return 0;
	}
	return ret;
}

/*
 * Thread @nr contexts starting at @slab onto the free list headed by *@head.
 * Runs before the scheduler is attached: no lock needed.
 */
static __always_inline void qmap_slab_init(struct task_ctx __arena *slab, u32 nr,
					   struct task_ctx __arena * __arena *head)
{
	u32 i;

	for (i = 0; i < nr && can_loop; i++) {
		slab[i].next_free = (i + 1 < nr) ? &slab[i + 1] : NULL;
		slab[i].fifo = NULL;
		slab[i].q_next = NULL;
		slab[i].q_prev = NULL;
		slab[i].in_use = 0;
	}
	*head = nr ? &slab[0] : NULL;
}

/* Take a context off the free list; NULL if exhausted or the lock failed. */
static __always_inline struct task_ctx __arena *
qmap_slab_alloc(struct task_ctx __arena * __arena *head, s32 pid)
{
	struct bpf_res_spin_lock *lock = qmap_slab_lock();
	struct task_ctx __arena *taskc;

	if (qmap_lock(lock))
		return NULL;
	taskc = *head;
	if (taskc)
		*head = taskc->next_free;
	bpf_res_spin_unlock(lock);
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
	taskc->highpri = 0;
	taskc->force_local = 0;
	return taskc;
}

/*
 * Return @taskc, which must not be queued, to the free list.  A failed lock
 * is retried like remove: a context dropped here would shrink the slab for
 * good.  Returns 0 or the lock error.
 */
static __always_inline int qmap_slab_free(struct task_ctx __arena * __arena *head,
					  struct task_ctx __arena *taskc)
{
	struct bpf_res_spin_lock *lock = qmap_slab_lock();
	int ret = 0, i;

	for (i = 0; i < QMAP_LOCK_RETRIES; i++) {
		ret = qmap_lock(lock);
		if (ret)
			continue;
		taskc->in_use = 0;
		taskc->next_free = *head;
		*head = taskc;
		bpf_res_spin_unlock(lock);
		return 0;
	}
	return ret;
}

#endif /* !AQMAP_LIST_TYPES_ONLY */
#endif /* __AQMAP_LIST_H */
