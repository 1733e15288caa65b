// Real threads on shared FIFOs through the twin's real locks.  Every
// operation is recorded with invocation/response timestamps from one shared
// atomic clock (so "a responded before b was invoked" is exact); after each
// window the threads quiesce and the window's history is checked for
// linearizability against the sequential contract (check/linearizability.h),
// ending in the state actually observed, and all structural invariants are
// checked.  Lock timeouts and injected failures are legal outcomes: the
// contract makes them no-ops, so they need no special casing.
//
// Ownership mirrors the scheduler: a task that is not queued is held by
// exactly one thread (initially dealt out; later whoever popped or removed
// it), and only its holder enqueues it.  Any thread may pop any FIFO or try
// to remove any task, which is where the races are.
#include "../check/invariants.h"
#include "../check/linearizability.h"
#include "../twin/aqmap_twin_compat.h"
#include "../twin/twin.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <atomic>
#include <barrier>
#include <sstream>
#include <thread>

namespace aq::props {
namespace {

constexpr int kThreads = 4;
constexpr int kTasks = 12;
constexpr int kOpsPerWindow = 6;	// per thread: 24-op windows for the checker
constexpr int kMaxWindows = 6;

struct ThreadOp {
	enum Kind { Enq, Pop, Rem } kind;
	int fifo;	// Enq, Pop
	int target;	// Rem: any task, queued or not
};

void showValue(const ThreadOp &op, std::ostream &os)
{
	switch (op.kind) {
	case ThreadOp::Enq: os << "enqueue(held task, fifo " << op.fifo << ")"; break;
	case ThreadOp::Pop: os << "pop(fifo " << op.fifo << ")"; break;
	case ThreadOp::Rem: os << "remove(#" << op.target << ")"; break;
	}
}

struct Plan {
	std::vector<std::vector<ThreadOp>> ops;	// per thread
	std::vector<int> fail_every;		// per thread; 0: no injected faults
};

void showValue(const Plan &p, std::ostream &os)
{
	for (size_t t = 0; t < p.ops.size(); t++) {
		os << "thread " << t << " (fail every " << p.fail_every[t] << "):";
		for (const ThreadOp &op : p.ops[t]) {
			os << ' ';
			showValue(op, os);
		}
		os << '\n';
	}
}

rc::Gen<Plan> gen_plan(int nr_fifos)
{
	using namespace rc;
	// Few FIFOs in play, so threads actually collide.
	auto op = gen::construct<ThreadOp>(
		gen::weightedElement<ThreadOp::Kind>(
			{{4, ThreadOp::Enq}, {3, ThreadOp::Pop}, {2, ThreadOp::Rem}}),
		gen::inRange(0, std::min(nr_fifos, 2)), gen::inRange(0, kTasks));
	auto per_thread = gen::resize(
		kOpsPerWindow * kMaxWindows, gen::container<std::vector<ThreadOp>>(op));
	return gen::construct<Plan>(
		gen::container<std::vector<std::vector<ThreadOp>>>(kThreads, per_thread),
		gen::container<std::vector<int>>(
			kThreads, gen::weightedElement<int>({{3, 0}, {1, 3}, {1, 7}})));
}

struct Worker {
	std::vector<int> held;		// tasks this thread owns (not queued)
	std::vector<LinOp> log;		// this window's ops
	bool leaked = false;
};

std::string run_plan(const Plan &plan)
{
	Twin twin(kTasks);
	std::vector<Worker> w(kThreads);
	for (int i = 0; i < kTasks; i++) {
		int h = twin.alloc(i + 1);
		if (h < 0)
			return "setup: alloc failed";
		w[size_t(i % kThreads)].held.push_back(h);
	}

	size_t longest = 0;
	for (const auto &v : plan.ops)
		longest = std::max(longest, v.size());
	const int windows = int((longest + kOpsPerWindow - 1) / kOpsPerWindow);

	std::atomic<uint64_t> clock{1}, seq{1};
	std::atomic<bool> stop{false};
	std::barrier sync(kThreads + 1);
	// A leaked lock (mutants) must not stall the run for long; a timed-out
	// acquisition is a legal no-op outcome anyway.
	const uint64_t saved_timeout = lock_timeout_ns();
	set_lock_timeout_ns(20'000'000);

	auto body = [&](int t) {
		Worker &me = w[size_t(t)];
		const auto &ops = plan.ops[size_t(t)];
		if (plan.fail_every[size_t(t)]) {
			FaultPolicy p;
			p.fail_every = u64(plan.fail_every[size_t(t)]);
			set_fault_policy(p);
		}
		for (int win = 0; win < windows; win++) {
			sync.arrive_and_wait();
			for (size_t i = size_t(win) * kOpsPerWindow;
			     i < std::min(ops.size(), size_t(win + 1) * kOpsPerWindow) &&
			     !stop.load(std::memory_order_relaxed);
			     i++) {
				const ThreadOp &op = ops[i];
				LinOp rec{LinOp::Pop, t};
				if (op.kind == ThreadOp::Enq) {
					if (me.held.empty())
						continue;
					rec.kind = LinOp::Enqueue;
					rec.handle = me.held.back();
					rec.fifo = op.fifo;
					uint64_t s = seq.fetch_add(1);
					rec.inv = clock.fetch_add(1);
					rec.ret = twin.enqueue(rec.handle, op.fifo, s);
					rec.resp = clock.fetch_add(1);
					if (!rec.ret)
						me.held.pop_back();
				} else if (op.kind == ThreadOp::Pop) {
					rec.fifo = op.fifo;
					rec.inv = clock.fetch_add(1);
					rec.handle = twin.pop(op.fifo, &rec.ret);
					rec.resp = clock.fetch_add(1);
					if (rec.handle >= 0)
						me.held.push_back(rec.handle);
				} else {
					rec.kind = LinOp::Remove;
					rec.handle = op.target;
					rec.inv = clock.fetch_add(1);
					rec.ret = twin.remove(op.target);
					rec.resp = clock.fetch_add(1);
					if (!rec.ret)
						me.held.push_back(op.target);
				}
				me.log.push_back(rec);
				me.leaked |= locks_held_by_me() != 0;
			}
			sync.arrive_and_wait();
		}
		clear_fault_policy();
	};

	std::vector<std::thread> threads;
	for (int t = 0; t < kThreads; t++)
		threads.emplace_back(body, t);

	std::string failure;
	FifoState state(static_cast<size_t>(Twin::nr_fifos()));	// all empty at the start
	for (int win = 0; win < windows; win++) {
		sync.arrive_and_wait();		// window starts
		sync.arrive_and_wait();		// all threads quiescent
		if (!failure.empty())
			continue;
		const Snapshot snap = twin.snapshot();
		Report r;
		check_structure(snap, r);
		std::vector<LinOp> history;
		std::vector<int> owners(kTasks);
		for (auto &wk : w) {
			history.insert(history.end(), wk.log.begin(), wk.log.end());
			wk.log.clear();
			if (wk.leaked)
				r.add(check::kLockLeak, "a worker still holds a lock after an operation");
			for (int h : wk.held)
				owners[size_t(h)]++;
		}
		FifoState end = fifo_contents(snap);
		for (const auto &q : end)
			for (int h : q)
				owners[size_t(h)]++;
		for (int h = 0; h < kTasks; h++)
			if (owners[size_t(h)] != 1)
				r.add(check::kConserved, "#" + std::to_string(h) + " is held/queued " +
								 std::to_string(owners[size_t(h)]) + " times");
		LinResult lin = check_linearizable(history, state, end);
		if (!lin.ok)
			r.add(check::kLinearizable, "window " + std::to_string(win) + ": " + lin.why);
		if (!r.ok()) {
			failure = r.str();
			stop.store(true);
		}
		state = std::move(end);
	}
	for (auto &th : threads)
		th.join();
	set_lock_timeout_ns(saved_timeout);
	return failure;
}

}  // namespace

RC_GTEST_PROP(ListConcurrency, LinearizableUnderThreads, ())
{
	const Plan plan = *gen_plan(Twin::nr_fifos());
	const std::string failure = run_plan(plan);
	if (!failure.empty())
		RC_FAIL(failure);
}

}  // namespace aq::props
