// Stateful rapidcheck commands for the list header, run against the twin and
// checked against aq::Model.  Shared by the property tests, the fuzzer (which
// builds them from bytes with the explicit constructors and runs them the
// same way) and twin_bench: one implementation of every check.
//
// Every command: checkPreconditions (valid in this model state, also while
// shrinking), apply (the model's update, via the contract in model.cpp), run
// (the twin does it; results compared; then EVERY invariant is checked) and
// show (how it appears in a shrunk counterexample).
#pragma once

#include "../check/invariants.h"
#include "../check/model.h"
#include "../twin/aqmap_twin_compat.h"
#include "../twin/twin.h"

#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <map>
#include <optional>
#include <ostream>
#include <string>

namespace aq::props {

inline constexpr int kSlots = 6;	// small: exhaustion and reuse happen often

struct Sut {
	Twin twin{kSlots};
	std::map<int32_t, int> handle;	// live pid -> slot
};

// What a property generates: plain ops, ops with lock failures, also
// deterministic races at preemption points, or only the scheduler's requeue
// path (alloc/enqueue/pop/move, with lock failures).
enum class Mode { Plain, Faults, Races, Requeue };

using Cmd = rc::state::Command<Model, Sut>;

inline Model initial_model() { return Model(kSlots, Twin::nr_fifos(), Twin::lock_retries()); }

// A fault script for one command's acquisitions: mostly none or a few
// random failures, sometimes enough to exhaust every retry.
inline std::vector<bool> gen_faults(Mode mode)
{
	if (mode != Mode::Faults && mode != Mode::Requeue)
		return {};
	using namespace rc;
	return *gen::weightedOneOf<std::vector<bool>>({
		{3, gen::just(std::vector<bool>{})},
		{5, gen::container<std::vector<bool>>(
			    *gen::inRange(1, 11), gen::weightedElement<bool>({{1, true}, {2, false}}))},
		// Every retry of a remove/free fails; whatever follows may not
		// (Requeue: always succeeds, so a move's enqueue step does run).
		{1, gen::map(gen::container<std::vector<bool>>(
				     mode == Mode::Requeue ? 0 : *gen::inRange(0, 3), gen::arbitrary<bool>()),
			     [](std::vector<bool> tail) {
				     std::vector<bool> s(size_t(Twin::lock_retries()), true);
				     s.insert(s.end(), tail.begin(), tail.end());
				     return s;
			     })},
	});
}

// Base: runs the twin under the command's fault script and checks all
// invariants afterwards against the model's next state.
struct ListCmd : Cmd {
	std::vector<bool> faults;

	// The model's side: mutate @m as the contract says; store expectations.
	struct Expect {
		int ret = 0, err = 0;
		int32_t pid = -1;
		uint64_t seq = 0;
	};
	virtual Expect spec(Model &m) const = 0;
	// The twin's side, under the fault policy; returns what it observed and
	// adds contract violations for this op to @r.
	virtual void exec(const Model &s0, const Expect &e, Sut &sut, const Snapshot &before,
			  Report &r) const = 0;
	virtual void show_op(std::ostream &os) const = 0;

	void apply(Model &m) const override { spec(m); }

	void run(const Model &s0, Sut &sut) const override
	{
		Model s1 = s0;
		const Expect e = spec(s1);
		const Snapshot before = sut.twin.snapshot();
		Report r;
		FaultPolicy p;
		p.script = faults;
		set_fault_policy(std::move(p));
		exec(s0, e, sut, before, r);
		clear_fault_policy();
		if (locks_held_by_me() != 0)
			r.add(check::kLockLeak, std::to_string(locks_held_by_me()) +
							" lock(s) still held after the operation");
		const Snapshot after = sut.twin.snapshot();
		check_structure(after, r);
		check_against_model(after, s1, sut.handle, r);
		if (!r.ok())
			RC_FAIL(r.str());
	}

	void show(std::ostream &os) const override
	{
		show_op(os);
		if (!faults.empty())
			os << " faults=" << faults;
	}
};

inline std::string ret_str(int ret) { return std::to_string(ret); }

// enqueue's contract, wherever enqueue is called (enqueue, move).
inline void check_enqueue(int got, int want, Report &r)
{
	if (want && !got)
		r.add(check::kEnqueueError, "enqueue returned 0 although its lock failed");
	else if (got != want)
		r.add(check::kResult, "enqueue returned " + ret_str(got) + ", model " + ret_str(want));
}

// remove's contract, wherever remove is called (remove, move, exit): an
// unqueued task gives -ENOENT and changes nothing; a queued one is unlinked
// unless every one of the retries fails, and then the error is returned.
inline void check_remove(const Model &s0, int32_t pid, int got, int want,
			 const std::vector<bool> &faults, const Snapshot &before, const Sut &sut,
			 Report &r)
{
	if (!s0.queued(pid)) {
		const bool same = sut.twin.snapshot() == before;
		if (got != -ENOENT || !same)
			r.add(check::kRemoveAbsent, "remove of an unqueued task returned " + ret_str(got) +
							    (same ? "" : " and changed the lists"));
	} else if (got != want) {
		r.add(FaultScript{faults}.any() ? check::kRemoveRetry : check::kResult,
		      "remove returned " + ret_str(got) + ", model " + ret_str(want) + " (contract: " +
			      std::to_string(Twin::lock_retries()) +
			      " acquisitions before giving up)");
	}
}

struct Alloc : ListCmd {
	int32_t pid;
	Alloc(int32_t pid, std::vector<bool> f) : pid(pid) { faults = std::move(f); }
	explicit Alloc(const Model &m, Mode mode = Mode::Plain) : pid(m.next_pid)
	{
		faults = gen_faults(mode);
	}
	void checkPreconditions(const Model &m) const override { RC_PRE(!m.live(pid)); }
	Expect spec(Model &m) const override
	{
		FaultScript fs{faults};
		m.next_pid = std::max(m.next_pid, pid + 1);
		return {m.alloc(pid, fs) ? 0 : -1};
	}
	void exec(const Model &, const Expect &e, Sut &sut, const Snapshot &, Report &r) const override
	{
		int h = sut.twin.alloc(pid);
		if (h >= 0)
			sut.handle[pid] = h;
		if ((h >= 0) != (e.ret == 0))
			r.add(check::kResult, "alloc(pid " + std::to_string(pid) + ") gave slot " +
						      std::to_string(h) + ", model expects " +
						      (e.ret ? "NULL" : "a context"));
	}
	void show_op(std::ostream &os) const override { os << "alloc(pid " << pid << ")"; }
};

struct Enqueue : ListCmd {
	int32_t pid;
	int fifo;
	Enqueue(int32_t pid, int fifo, std::vector<bool> f) : pid(pid), fifo(fifo) { faults = std::move(f); }
	explicit Enqueue(const Model &m, Mode mode = Mode::Plain)
	{
		auto cand = m.unqueued_pids();
		RC_PRE(!cand.empty());
		pid = *rc::gen::elementOf(cand);
		fifo = *rc::gen::inRange(0, int(m.fifos.size()));
		faults = gen_faults(mode);
	}
	void checkPreconditions(const Model &m) const override
	{
		RC_PRE(m.live(pid) && !m.queued(pid));
	}
	Expect spec(Model &m) const override
	{
		FaultScript fs{faults};
		uint64_t seq = m.next_seq++;
		return {m.enqueue(pid, fifo, seq, fs), 0, -1, seq};
	}
	void exec(const Model &, const Expect &e, Sut &sut, const Snapshot &, Report &r) const override
	{
		int ret = sut.twin.enqueue(sut.handle.at(pid), fifo, e.seq);
		check_enqueue(ret, e.ret, r);
	}
	void show_op(std::ostream &os) const override
	{
		os << "enqueue(pid " << pid << ", fifo " << fifo << ")";
	}
};

struct Pop : ListCmd {
	int fifo;
	Pop(int fifo, std::vector<bool> f) : fifo(fifo) { faults = std::move(f); }
	explicit Pop(const Model &m, Mode mode = Mode::Plain)
	{
		fifo = *rc::gen::inRange(0, int(m.fifos.size()));
		faults = gen_faults(mode);
	}
	Expect spec(Model &m) const override
	{
		FaultScript fs{faults};
		Expect e;
		e.pid = m.pop(fifo, &e.err, fs);
		return e;
	}
	void exec(const Model &, const Expect &e, Sut &sut, const Snapshot &before,
		  Report &r) const override
	{
		int err = 12345;
		int h = sut.twin.pop(fifo, &err);
		int32_t pid = h >= 0 ? sut.twin.snapshot().ctx[size_t(h)].pid : -1;
		if (e.err) {
			if (!err || h != kNone)
				r.add(check::kPopError, "pop's lock failed but it returned " +
								std::to_string(h) + " with err " +
								std::to_string(err));
			if (sut.twin.snapshot().fifo != before.fifo)
				r.add(check::kPopError, "pop's lock failed but the FIFOs changed");
		} else if (err || pid != e.pid) {
			r.add(check::kPopFront, "pop returned pid " + std::to_string(pid) + " err " +
							std::to_string(err) + ", model front " +
							std::to_string(e.pid));
		}
	}
	void show_op(std::ostream &os) const override { os << "pop(fifo " << fifo << ")"; }
};

// What the remove step of a compound command (move, exit) returns, judged
// on a copy of the model as it stands before the command.
inline int remove_step(Model m, int32_t pid, const std::vector<bool> &faults)
{
	FaultScript fs{faults};
	return m.remove(pid, fs);
}

// A command on one live task (queued or not), picked from the model.
struct OnLiveTask : ListCmd {
	int32_t pid;
	OnLiveTask(int32_t pid, std::vector<bool> f) : pid(pid) { faults = std::move(f); }
	explicit OnLiveTask(const Model &m, Mode mode = Mode::Plain)
	{
		auto cand = m.live_pids();
		RC_PRE(!cand.empty());
		pid = *rc::gen::elementOf(cand);
		faults = gen_faults(mode);
	}
	void checkPreconditions(const Model &m) const override { RC_PRE(m.live(pid)); }
};

struct Remove : OnLiveTask {
	using OnLiveTask::OnLiveTask;
	Expect spec(Model &m) const override
	{
		FaultScript fs{faults};
		return {m.remove(pid, fs)};
	}
	void exec(const Model &s0, const Expect &e, Sut &sut, const Snapshot &before,
		  Report &r) const override
	{
		int ret = sut.twin.remove(sut.handle.at(pid));
		check_remove(s0, pid, ret, e.ret, faults, before, sut, r);
	}
	void show_op(std::ostream &os) const override { os << "remove(pid " << pid << ")"; }
};

// ops.enqueue of a task that may still be queued elsewhere: remove, then
// enqueue on the new FIFO.
struct Move : ListCmd {
	int32_t pid;
	int fifo;
	bool change = false;	// Requeue: a queued task goes to another FIFO
	Move(int32_t pid, int fifo, std::vector<bool> f) : pid(pid), fifo(fifo) { faults = std::move(f); }
	explicit Move(const Model &m, Mode mode = Mode::Plain)
	{
		auto cand = m.live_pids();
		RC_PRE(!cand.empty());
		pid = *rc::gen::elementOf(cand);
		fifo = *rc::gen::inRange(0, int(m.fifos.size()));
		change = mode == Mode::Requeue;
		RC_PRE(!change || m.where.at(pid) != fifo);
		faults = gen_faults(mode);
	}
	void checkPreconditions(const Model &m) const override
	{
		RC_PRE(m.live(pid));
		RC_PRE(!change || m.where.at(pid) != fifo);
	}
	Expect spec(Model &m) const override
	{
		FaultScript fs{faults};
		uint64_t seq = m.next_seq++;
		int removed = remove_step(m, pid, faults);
		Expect e{m.move(pid, fifo, seq, fs), 0, -1, seq};
		e.err = removed;
		return e;
	}
	void exec(const Model &s0, const Expect &e, Sut &sut, const Snapshot &before,
		  Report &r) const override
	{
		int h = sut.handle.at(pid);
		int ret = sut.twin.remove(h);
		check_remove(s0, pid, ret, e.err, faults, before, sut, r);
		if (!ret || ret == -ENOENT) {
			ret = sut.twin.enqueue(h, fifo, e.seq);
			if (!e.err || e.err == -ENOENT)
				check_enqueue(ret, e.ret, r);
		}
		if (ret != e.ret && r.ok())
			r.add(check::kResult, "move returned " + ret_str(ret) + ", model " + ret_str(e.ret));
	}
	void show_op(std::ostream &os) const override
	{
		os << (change ? "change" : "move") << "(pid " << pid << ", fifo " << fifo << ")";
	}
};

// ops.exit_task: a queued task is removed first, then its context is freed.
struct Exit : OnLiveTask {
	using OnLiveTask::OnLiveTask;
	Expect spec(Model &m) const override
	{
		FaultScript fs{faults};
		int removed = remove_step(m, pid, faults);
		Expect e{m.exit(pid, fs)};
		e.err = removed;
		return e;
	}
	void exec(const Model &s0, const Expect &e, Sut &sut, const Snapshot &before,
		  Report &r) const override
	{
		int h = sut.handle.at(pid);
		int ret = sut.twin.remove(h);
		check_remove(s0, pid, ret, e.err, faults, before, sut, r);
		if (!ret || ret == -ENOENT) {
			ret = sut.twin.free(h);
			if (!ret)
				sut.handle.erase(pid);
		}
		if (ret != e.ret)
			r.add(check::kResult, "exit returned " + ret_str(ret) + ", model " + ret_str(e.ret));
	}
	void show_op(std::ostream &os) const override { os << "exit(pid " << pid << ")"; }
};

// A single list operation, as the two halves of a Race.
struct Op {
	enum Kind { Enq, Pop, Rem } kind;
	int32_t pid = -1;
	int fifo = 0;
	std::string str() const
	{
		switch (kind) {
		case Enq: return "enqueue(pid " + std::to_string(pid) + ", fifo " + std::to_string(fifo) + ")";
		case Pop: return "pop(fifo " + std::to_string(fifo) + ")";
		case Rem: return "remove(pid " + std::to_string(pid) + ")";
		}
		return "?";
	}
	bool valid(const Model &m) const
	{
		return kind == Pop || (kind == Enq ? m.live(pid) && !m.queued(pid) : m.live(pid));
	}
	// Whether this op takes a lock in state @m (remove of an unqueued task
	// does not), i.e. whether a preemption point inside it is reached.
	bool locks(const Model &m) const { return kind != Rem || m.queued(pid); }
	struct Result {
		int ret = 0, err = 0;
		int32_t pid = -1;
		bool operator==(const Result &) const = default;
	};
	Result spec(Model &m, uint64_t seq) const
	{
		FaultScript none;
		Result r;
		switch (kind) {
		case Enq: r.ret = m.enqueue(pid, fifo, seq, none); break;
		case Pop: r.pid = m.pop(fifo, &r.err, none); break;
		case Rem: r.ret = m.remove(pid, none); break;
		}
		return r;
	}
	Result exec(Sut &sut, uint64_t seq) const
	{
		Result r;
		switch (kind) {
		case Enq: r.ret = sut.twin.enqueue(sut.handle.at(pid), fifo, seq); break;
		case Pop: {
			int h = sut.twin.pop(fifo, &r.err);
			// Name the popped context by slot: its pid field is only
			// trustworthy once the twin is quiescent again.
			for (auto [p, hh] : sut.handle)
				if (hh == h)
					r.pid = p;
			break;
		}
		case Rem: r.ret = sut.twin.remove(sut.handle.at(pid)); break;
		}
		return r;
	}
};

// Deterministic race: @inner runs at @point (just before the first lock
// acquisition, or just after the first release) inside @outer.  A correct
// list makes that equivalent to inner-then-outer (Acquire: outer has not
// taken its lock yet) or outer-then-inner (Release: outer is done), because
// every list access of an operation happens under its one lock, and remove's
// unlocked peek is re-checked.  The inner op never involves outer's task
// (except that a pop may take it), so the two are single atomic list steps.
struct Race : ListCmd {
	Op outer, inner;
	LockPoint point;

	Race(Op outer, Op inner, LockPoint point) : outer(outer), inner(inner), point(point) {}
	explicit Race(const Model &m, Mode = Mode::Races)
	{
		using namespace rc;
		const int nf = int(m.fifos.size());
		auto unq = m.unqueued_pids(), live = m.live_pids();
		auto gen_op = [&](int32_t avoid) {
			Op o{*gen::element(Op::Enq, Op::Pop, Op::Rem)};
			o.fifo = *gen::inRange(0, nf);
			std::vector<int32_t> c;
			for (int32_t p : (o.kind == Op::Enq ? unq : live))
				if (p != avoid)
					c.push_back(p);
			if (o.kind != Op::Pop) {
				RC_PRE(!c.empty());
				o.pid = *gen::elementOf(c);
			}
			return o;
		};
		outer = gen_op(-1);
		inner = gen_op(outer.pid);
		point = *gen::element(LockPoint::Acquire, LockPoint::Release);
	}
	void checkPreconditions(const Model &m) const override
	{
		RC_PRE(outer.valid(m) && inner.valid(m));
		RC_PRE(inner.kind == Op::Pop || inner.pid != outer.pid);
	}
	bool inner_first(const Model &s0) const
	{
		return point == LockPoint::Acquire && outer.locks(s0);
	}
	struct Both {
		Op::Result outer, inner;
	};
	Both spec_both(Model &m) const
	{
		Both b;
		uint64_t seq = m.next_seq;
		m.next_seq += 2;
		if (inner_first(m)) {
			b.inner = inner.spec(m, seq + 1);
			b.outer = outer.spec(m, seq);
		} else {
			b.outer = outer.spec(m, seq);
			b.inner = inner.spec(m, seq + 1);
		}
		return b;
	}
	Expect spec(Model &m) const override
	{
		Expect e;
		e.seq = m.next_seq;
		spec_both(m);
		return e;
	}
	void exec(const Model &s0, const Expect &e, Sut &sut, const Snapshot &, Report &r) const override
	{
		Model tmp = s0;
		const Both want = spec_both(tmp);
		Both got;
		set_preemption(point, 0, [&] { got.inner = inner.exec(sut, e.seq + 1); });
		got.outer = outer.exec(sut, e.seq);
		const bool fired = preemption_fired();
		clear_preemption();	// before running inner by hand: it takes locks too
		if (!fired)
			got.inner = inner.exec(sut, e.seq + 1);
		auto str = [](const Op::Result &x) {
			return "ret " + std::to_string(x.ret) + " err " + std::to_string(x.err) + " pid " +
			       std::to_string(x.pid);
		};
		if (!(got.outer == want.outer))
			r.add(check::kRace, "outer " + outer.str() + ": " + str(got.outer) + ", model " +
						    str(want.outer));
		if (!(got.inner == want.inner))
			r.add(check::kRace, "inner " + inner.str() + ": " + str(got.inner) + ", model " +
						    str(want.inner));
	}
	void show_op(std::ostream &os) const override
	{
		os << "race{" << outer.str() << " preempted "
		   << (point == LockPoint::Acquire ? "before its lock" : "after its unlock") << " by "
		   << inner.str() << "}";
	}
};

// Runs one stateful property: a generated command sequence from the initial
// model, every command checked.
inline void check_commands(Mode mode)
{
	Sut sut;
	auto gen = [mode](const Model &m) {
		using namespace rc::state::gen;
		if (mode == Mode::Races)
			return rc::gen::weightedOneOf<std::shared_ptr<const Cmd>>(
				{{3, execOneOfWithArgs<Alloc, Enqueue, Pop, Remove, Move, Exit>()(m, mode)},
				 {2, execOneOfWithArgs<Race>()(m, mode)}});
		if (mode == Mode::Requeue)
			return execOneOfWithArgs<Alloc, Enqueue, Pop, Move>()(m, mode);
		return execOneOfWithArgs<Alloc, Enqueue, Pop, Remove, Move, Exit>()(m, mode);
	};
	rc::state::check(initial_model(), sut, gen);
}

}  // namespace aq::props
