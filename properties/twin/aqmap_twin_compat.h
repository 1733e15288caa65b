/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Native stand-ins for what the BPF side gets from vmlinux.h, bpf_helpers.h
 * and the scheduler, so that the ONE list implementation (the header named by
 * AQ_LIST_HEADER, bpf/aqmap_list.h by default) compiles unchanged in
 * userspace.  Include this, then AQ_LIST_HEADER; nothing else.
 *
 * The lock keeps the kernel's bpf_res_spin_lock() contract, which is what the
 * list code is written against:
 *   0           acquired;
 *   -EDEADLK    the calling thread already holds this lock (AA deadlock);
 *   -ETIMEDOUT  not acquired within a bounded wait (aq::lock_timeout()).
 * It is a real spinning lock, so the concurrency properties exercise the same
 * acquire/release ordering as the scheduler does.
 *
 * Test instrumentation (per thread, see aq::FaultPolicy):
 *   - fault injection: qmap_lock_fault() makes chosen acquisitions fail, as
 *     the scheduler's own fault-injection clock does;
 *   - preemption points: a one-shot callback run just before an acquisition
 *     or just after a release, to play a "concurrent" operation at exactly
 *     the instant a race would need, deterministically and single-threaded.
 */
#ifndef AQMAP_TWIN_COMPAT_H
#define AQMAP_TWIN_COMPAT_H

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

typedef uint32_t u32;
typedef int32_t s32;
typedef uint64_t u64;

/* Arena pointers are plain pointers natively: the slab is ordinary memory. */
#define __arena

/* glibc's <sys/cdefs.h> already has one; it means the same thing. */
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* The BPF verifier's loop-bound helper: natively every loop may continue. */
#define can_loop true

/*
 * READ_ONCE is the one sanctioned unlocked access in the list code (remove's
 * peek at taskc->fifo, only used to pick which lock to take).  The writers
 * are plain aligned stores under the FIFO lock.  The kernel (KCSAN with its
 * default CONFIG_KCSAN_ASSUME_PLAIN_WRITES_ATOMIC) accepts that pairing, so
 * we model it the same way: the kernel's volatile load, in a function
 * ThreadSanitizer does not instrument (it would still instrument an atomic
 * builtin, and report it against the plain stores).  noinline keeps it out
 * of instrumented callers.  Every other access stays fully checked.
 */
template <typename T>
__attribute__((no_sanitize("thread"), noinline)) T aq_read_once(const T &x)
{
	return *(const volatile T *)&x;
}
#define READ_ONCE(x) aq_read_once(x)

struct bpf_res_spin_lock {
	std::atomic<u32> locked{0};
	/* aq::thread_token() of the holder, 0 when free: AA detection. */
	std::atomic<u64> owner{0};
};

int bpf_res_spin_lock(struct bpf_res_spin_lock *lock);
void bpf_res_spin_unlock(struct bpf_res_spin_lock *lock);

/*
 * Like the BPF side, resolve a FIFO by index to the twin's own FIFO array
 * rather than trusting the pointer loaded from a node.
 */
struct qmap_fifo;
struct qmap_fifo *aq_twin_fifo_at(int idx);
#define qmap_fifo_at(fifo, idx) aq_twin_fifo_at(idx)

/* Lock providers the list header calls (globals, like the BPF side's). */
#define AQ_TWIN_MAX_FIFOS 8
struct bpf_res_spin_lock *qmap_fifo_lock(int idx);
struct bpf_res_spin_lock *qmap_slab_lock(void);
bool qmap_lock_fault(void);

namespace aq {

enum class LockPoint { Acquire, Release };

/*
 * Which acquisitions of the current thread fail.  Acquisitions are counted
 * from the last set_fault_policy() (0-based); qmap_lock_fault() is asked once
 * per acquisition attempt, before the lock is touched.  An acquisition fails
 * if any rule says so.
 */
struct FaultPolicy {
	std::vector<bool> script;	/* acquisition i fails iff script[i] */
	u64 fail_at = UINT64_MAX;	/* fail acquisition number k */
	u64 fail_every = 0;		/* fail every Nth (N >= 1), 0: off */
	std::function<bool(u64 n)> decide;	/* arbitrary rule */
};

void set_fault_policy(FaultPolicy p);	/* also resets the counters */
void clear_fault_policy();
u64 lock_acquisitions();		/* attempts since set/clear */
u64 lock_injected();			/* of which failed on purpose */

/*
 * One-shot preemption point: @fn runs (with hooks disabled, so its own lock
 * traffic is neither faulted nor preempted) at the @nth (0-based) occurrence
 * of @point on this thread, counted from this call.
 */
void set_preemption(LockPoint point, u64 nth, std::function<void()> fn);
bool preemption_fired();
void clear_preemption();

/* Per-thread identity used as the lock owner; never 0. */
u64 thread_token();
/* Number of twin locks the calling thread holds now (lock-leak check). */
int locks_held_by_me();
/* Bounded wait of bpf_res_spin_lock(); the kernel uses 1/4 s. */
void set_lock_timeout_ns(u64 ns);
u64 lock_timeout_ns();
/* Reset every twin lock to free (a fresh twin, e.g. after a leaky mutant). */
void reset_all_locks();

} /* namespace aq */

#endif /* AQMAP_TWIN_COMPAT_H */
