// The twin's bpf_res_spin_lock and its test instrumentation.  Independent of
// the list header, so it is compiled once and shared by every mutant build.
#include "aqmap_twin_compat.h"

#include <sched.h>
#include <time.h>

namespace {

struct bpf_res_spin_lock g_fifo_locks[AQ_TWIN_MAX_FIFOS];
struct bpf_res_spin_lock g_slab_lock;
std::atomic<u64> g_next_token{1};
std::atomic<u64> g_timeout_ns{250'000'000};	// RES_DEF_TIMEOUT in the kernel

struct ThreadState {
	u64 token = g_next_token.fetch_add(1, std::memory_order_relaxed);
	int held = 0;
	aq::FaultPolicy policy;
	bool has_policy = false;
	u64 acquisitions = 0;
	u64 injected = 0;
	// Preemption point.
	std::function<void()> preempt_fn;
	aq::LockPoint preempt_point = aq::LockPoint::Acquire;
	u64 preempt_left = 0;
	bool preempt_fired = false;
	bool in_hook = false;	// hooks are off while a preemption runs
};

ThreadState &self()
{
	thread_local ThreadState ts;
	return ts;
}

u64 now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return u64(ts.tv_sec) * 1'000'000'000u + u64(ts.tv_nsec);
}

void maybe_preempt(aq::LockPoint point)
{
	ThreadState &ts = self();
	if (!ts.preempt_fn || ts.in_hook || ts.preempt_point != point)
		return;
	if (ts.preempt_left--)
		return;
	auto fn = std::move(ts.preempt_fn);
	ts.preempt_fn = nullptr;
	ts.preempt_fired = true;
	ts.in_hook = true;
	fn();
	ts.in_hook = false;
}

} // namespace

int bpf_res_spin_lock(struct bpf_res_spin_lock *lock)
{
	ThreadState &ts = self();
	// Only this thread can have stored its own token, so a relaxed read is
	// exact for the "do I hold it" question.
	if (lock->owner.load(std::memory_order_relaxed) == ts.token)
		return -EDEADLK;

	u64 deadline = 0;
	for (unsigned spins = 0;; spins++) {
		u32 expected = 0;
		if (lock->locked.load(std::memory_order_relaxed) == 0 &&
		    lock->locked.compare_exchange_weak(expected, 1, std::memory_order_acquire,
						       std::memory_order_relaxed))
			break;
		// Reading the clock every spin would dominate; the holder's
		// critical sections are a handful of stores.
		if ((spins & 63) == 63) {
			u64 now = now_ns();
			if (!deadline)
				deadline = now + g_timeout_ns.load(std::memory_order_relaxed);
			else if (now >= deadline)
				return -ETIMEDOUT;
			// Fewer cores than threads: let a preempted holder run.
			sched_yield();
		}
	}
	lock->owner.store(ts.token, std::memory_order_relaxed);
	ts.held++;
	return 0;
}

void bpf_res_spin_unlock(struct bpf_res_spin_lock *lock)
{
	ThreadState &ts = self();
	lock->owner.store(0, std::memory_order_relaxed);
	lock->locked.store(0, std::memory_order_release);
	ts.held--;
	maybe_preempt(aq::LockPoint::Release);
}

struct bpf_res_spin_lock *qmap_fifo_lock(int idx)
{
	if (idx < 0 || idx >= AQ_TWIN_MAX_FIFOS)
		return nullptr;
	return &g_fifo_locks[idx];
}

struct bpf_res_spin_lock *qmap_slab_lock(void)
{
	return &g_slab_lock;
}

bool qmap_lock_fault(void)
{
	ThreadState &ts = self();
	if (ts.in_hook)
		return false;
	maybe_preempt(aq::LockPoint::Acquire);
	u64 n = ts.acquisitions++;
	if (!ts.has_policy)
		return false;
	const aq::FaultPolicy &p = ts.policy;
	bool fail = (n < p.script.size() && p.script[n]) || n == p.fail_at ||
		    (p.fail_every && (n + 1) % p.fail_every == 0) || (p.decide && p.decide(n));
	ts.injected += fail;
	return fail;
}

namespace aq {

void set_fault_policy(FaultPolicy p)
{
	ThreadState &ts = self();
	ts.policy = std::move(p);
	ts.has_policy = true;
	ts.acquisitions = 0;
	ts.injected = 0;
}

void clear_fault_policy()
{
	ThreadState &ts = self();
	ts.policy = FaultPolicy{};
	ts.has_policy = false;
	ts.acquisitions = 0;
	ts.injected = 0;
}

u64 lock_acquisitions() { return self().acquisitions; }
u64 lock_injected() { return self().injected; }

void set_preemption(LockPoint point, u64 nth, std::function<void()> fn)
{
	ThreadState &ts = self();
	ts.preempt_point = point;
	ts.preempt_left = nth;
	ts.preempt_fn = std::move(fn);
	ts.preempt_fired = false;
}

bool preemption_fired() { return self().preempt_fired; }

void clear_preemption()
{
	ThreadState &ts = self();
	ts.preempt_fn = nullptr;
	ts.preempt_fired = false;
}

u64 thread_token() { return self().token; }
int locks_held_by_me() { return self().held; }
void set_lock_timeout_ns(u64 ns) { g_timeout_ns.store(ns, std::memory_order_relaxed); }
u64 lock_timeout_ns() { return g_timeout_ns.load(std::memory_order_relaxed); }

void reset_all_locks()
{
	for (auto &l : g_fifo_locks) {
		l.owner.store(0);
		l.locked.store(0);
	}
	g_slab_lock.owner.store(0);
	g_slab_lock.locked.store(0);
	self().held = 0;
}

} // namespace aq
