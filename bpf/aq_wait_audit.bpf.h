/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The scheduler-independent half of the wait audit (struct aq_wait_audit):
 * is a task waiting for a CPU, how long by the sched_ext watchdog's own
 * clock, and what the kernel says of it.  Compiled into scx_aqmap and into
 * the audit aqcheck builds alongside mainline's scx_qmap (bpf/upstream/);
 * each adds only where its own FIFOs hold the task.  Needs vmlinux.h and
 * aq_audit_layout.h; uses no macro of either scheduler's headers.
 */
#ifndef __AQ_WAIT_AUDIT_BPF_H
#define __AQ_WAIT_AUDIT_BPF_H

#define AQ_OPSS_STATE_MASK	((1LLU << SCX_OPSS_QSEQ_SHIFT) - 1)

/*
 * Waiting for a CPU as the kernel's sched_ext watchdog sees it: on its rq's
 * runnable_list, i.e. runnable and not running (ext.c: set_task_runnable(),
 * clr_task_runnable()).
 */
static bool aq_task_waiting(struct task_struct *p)
{
	return (u64)p->scx.runnable_node.next != (u64)&p->scx.runnable_node;
}

/*
 * HZ, to turn jiffies into ms.  CONFIG_HZ is not readable without the kernel
 * config (a VM's initramfs has none), so the first scan notes jiffies and
 * ktime and a scan 200 ms later derives HZ from them, rounded to the nearest
 * value Kconfig offers.  0 until then.
 */
static u64 aq_derive_hz(struct aq_wait_audit *wa, u64 jiffies_now, u64 now_ns)
{
	static const u64 hz_choices[] = { 100, 250, 300, 1000 };
	u64 dt, hz, d, best = 0, bestd = ~0ULL;
	int i;

	if (wa->hz)
		return wa->hz;
	if (!wa->calib_ns) {
		wa->calib_ns = now_ns;
		wa->calib_jiffies = jiffies_now;
		return 0;
	}
	dt = now_ns - wa->calib_ns;
	if (dt < 200 * 1000000ULL)
		return 0;
	hz = (jiffies_now - wa->calib_jiffies) * 1000000000ULL / dt;
#pragma unroll
	for (i = 0; i < 4; i++) {
		d = hz > hz_choices[i] ? hz - hz_choices[i] : hz_choices[i] - hz;
		if (d < bestd) {
			bestd = d;
			best = hz_choices[i];
		}
	}
	wa->hz = best;
	return best;
}

/* What the kernel says of @p, which has waited @wait_ms; no FIFO yet (-1). */
static void aq_record_waiter(struct aq_stuck_task *st, struct task_struct *p, u64 wait_ms)
{
	struct scx_dispatch_q *dsq = p->scx.dsq;
	int k;

	st->pid = p->pid;
	st->cpu = p->thread_info.cpu;
	st->wait_ms = wait_ms;
	st->weight = p->scx.weight;
	st->scx_flags = p->scx.flags;
	st->ops_state = (u64)p->scx.ops_state.counter & AQ_OPSS_STATE_MASK;
	st->on_dsq = !!dsq;
	st->dsq_id = dsq ? dsq->id : 0;
	/* Unrolled: the verifier takes no variable offset into a task_struct. */
#pragma unroll
	for (k = 0; k < 16; k++)
		st->comm[k] = p->comm[k];
	st->fifo = -1;
	st->enq_seq = 0;
}

/* The jiffies @p has waited for a CPU; 0 if it became runnable after @now. */
static u64 aq_waited_jiffies(struct task_struct *p, u64 now)
{
	return (s64)(now - p->scx.runnable_at) > 0 ? now - p->scx.runnable_at : 0;
}

/*
 * One scan of every thread into @wa: each sched_ext task's wait by the
 * watchdog's clock, and every task that waited @bound_ms, recorded by
 * aq_record_waiter() and then @locate(st, p), the scheduler's own "on which
 * FIFO".  A macro, not a function: BPF takes no function pointer here.
 */
#define AQ_SCAN_WAITS(wa, bound_ms, locate)					\
	do {									\
		u64 __jiffies = bpf_jiffies64(), __wait_ms, __hz;		\
		struct task_struct *__p;					\
		u32 __n;							\
										\
		__hz = aq_derive_hz((wa), __jiffies, bpf_ktime_get_ns());	\
		(wa)->max_wait_ms = 0;						\
		(wa)->max_wait_pid = -1;					\
		(wa)->nr_waiting = 0;						\
		(wa)->nr_stuck = 0;						\
		bpf_rcu_read_lock();						\
		bpf_for_each(task, __p, NULL, BPF_TASK_ITER_ALL_THREADS) {	\
			if (!aq_task_waiting(__p))				\
				continue;					\
			__wait_ms = __hz ? aq_waited_jiffies(__p, __jiffies) * 1000 / __hz : 0; \
			(wa)->nr_waiting++;					\
			if (__wait_ms > (wa)->max_wait_ms) {			\
				(wa)->max_wait_ms = __wait_ms;			\
				(wa)->max_wait_pid = __p->pid;			\
			}							\
			if (!__hz || __wait_ms < (bound_ms))			\
				continue;					\
			__n = (wa)->nr_stuck++;					\
			if (__n < AQ_AUDIT_MAX_STUCK) {				\
				aq_record_waiter(&(wa)->stuck[__n], __p, __wait_ms); \
				locate(&(wa)->stuck[__n], __p);			\
			}							\
		}								\
		bpf_rcu_read_unlock();						\
		(wa)->seq++;							\
	} while (0)

#endif /* __AQ_WAIT_AUDIT_BPF_H */
