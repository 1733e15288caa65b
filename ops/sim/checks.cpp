// What must hold of the scheduler and the simulated kernel together, checked
// where it must hold:
//   - custody (after every ops.dequeue and whenever a task gets a CPU): the
//     task is on no FIFO.  Nothing can link it meanwhile: that takes an
//     ops.enqueue of it, under its rq lock, which the caller holds.
//   - at quiescent points (no CPU inside a kernel path: the end of set-up,
//     of the script, and between the drain's steps):
//       list: properties/check's structure and counter invariants;
//       stale: a FIFO entry's task is in the scheduler's custody from that
//              entry's enqueue (qseq): QUEUED on no DSQ, or on a user DSQ
//              with SCX_TASK_IN_CUSTODY; and has not exited;
//       audit: the kernel tier's audit program (aqmap_audit), run here as
//              aqcheck runs it, judges each entry's custody as the model
//              does: the stale-entry rule it feeds must never call an entry
//              in custody stale (ops/README.md, finding 1);
//       place: every runnable task is in exactly one place: running, on one
//              DSQ, or QUEUED in the scheduler's custody on one FIFO;
//       order: since the last quiescent point, entries joined the FIFOs
//              only at the tail, and pops took heads (removals may take any);
//       context: a context is in use for each task between init_task and
//              exit_task, one each, and for nothing else;
//       ledger: the scheduler's custody ledger agrees with the kernel: a
//              task is in custody by it exactly while SCX_TASK_IN_CUSTODY.
//   - ledger (at every step): the scheduler counted no custody violation
//     (bpf/aqmap_custody.h: the same counts the kernel tier reads).
// The liveness bound is kernel.cpp's drain(); kernel WARN/BUG conditions
// and scx_bpf_error() fail where they happen.
#include "kernel.h"
#include "invariants.h"

#include <fmt/format.h>

#include <algorithm>

namespace aqops {

namespace {

int slot_of(const struct task_ctx *t)
{
	if (!t)
		return aq::kNone;
	const struct task_ctx *slab = qa.task_ctxs;
	if (t < slab || t >= slab + qa.max_tasks)
		return aq::kWild;
	return int(t - slab);
}

int fifo_index(const struct qmap_fifo *f)
{
	if (!f)
		return aq::kNone;
	if (f < qa.fifos || f >= qa.fifos + QMAP_NR_FIFOS)
		return aq::kWild;
	return int(f - qa.fifos);
}

aq::Snapshot snapshot()
{
	aq::Snapshot s;
	for (u32 i = 0; i < qa.max_tasks; i++) {
		const struct task_ctx &t = qa.task_ctxs[i];
		aq::CtxView v;
		v.next_free = slot_of(t.next_free);
		v.q_next = slot_of(t.q_next);
		v.q_prev = slot_of(t.q_prev);
		v.fifo = fifo_index(t.fifo);
		v.enq_seq = t.enq_seq;
		v.pid = t.pid;
		v.in_use = t.in_use;
		s.ctx.push_back(v);
	}
	for (int f = 0; f < QMAP_NR_FIFOS; f++) {
		const struct qmap_fifo &q = qa.fifos[f];
		aq::FifoView v;
		v.head = slot_of(q.head);
		v.tail = slot_of(q.tail);
		v.idx = q.idx;
		v.nr_in = q.nr_in;
		v.nr_popped = q.nr_popped;
		v.nr_removed = q.nr_removed;
		v.len = q.len;
		s.fifo.push_back(v);
	}
	s.free_head = slot_of(qa.task_free_head);
	return s;
}

}  // namespace

// The FIFO the context of @pid is linked on, -1 if none.
int Kernel::fifo_of_pid(int pid) const
{
	for (u32 i = 0; i < qa.max_tasks; i++) {
		const struct task_ctx &t = qa.task_ctxs[i];
		if (t.in_use && t.pid == pid && t.fifo)
			return fifo_index(t.fifo);
	}
	return -1;
}

void Kernel::check_not_linked(Task *p, const char *after)
{
	int f = fifo_of_pid(p->ts.pid);
	if (f >= 0)
		fail(check::kCustody, fmt::format("{} is still on FIFO {} after {}", p->ts.comm, f, after));
}

// The audit program on the quiescent arena, as aqcheck runs it.  No fault is
// injected into its acquisitions (faults_on_ is the script's), and a lock a
// CPU still holds (a mutant's) times out at once (res_lock).
const struct aq_audit &Kernel::run_audit()
{
	aqmap_audit(nullptr);
	return qa.audit;
}

// The audit's verdict on FIFO @f's entry @e against the model's (@in_custody).
void Kernel::check_audit_verdict(const char *when, const struct aq_audit &au, const struct task_ctx &e, size_t f,
				 bool in_custody)
{
	if (au.status != AQ_AUDIT_OK)
		return;		// the list check says why
	for (u32 j = 0; j < au.nr_entries; j++) {
		const struct aq_audit_entry &a = au.entries[j];
		if (a.pid != e.pid || a.enq_seq != e.enq_seq)
			continue;
		if (bool(a.in_custody) != in_custody)
			fail(check::kAudit, fmt::format("at {}: the audit judges pid {}'s entry on FIFO {} {}in "
							"custody, but it is {}",
							when, e.pid, f, a.in_custody ? "" : "not ",
							in_custody ? "in custody" : "stale"));
		return;
	}
	fail(check::kAudit, fmt::format("at {}: the audit did not see pid {}'s entry on FIFO {}", when, e.pid, f));
}

void Kernel::check_ledger()
{
	for (int k = 0; k < AQ_CV_NR; k++)
		if (qa.custody.nr[k])
			fail(check::kLedger, aq_custody_describe(qa.custody, k));
}

void Kernel::check_ledger_agrees(const char *when)
{
	for (u32 i = 0; i < qa.max_tasks; i++) {
		const struct task_ctx &c = qa.task_ctxs[i];
		Task *p = c.in_use ? task_by_pid(c.pid) : nullptr;
		if (!p)
			continue;	// check_contexts' business
		bool kernel_has = p->ts.scx.flags & SCX_TASK_IN_CUSTODY;
		if ((c.custody != AQ_CUSTODY_NONE) != kernel_has)
			fail(check::kLedger,
			     fmt::format("at {}: the ledger has {} {} but the kernel has it {}in custody", when,
					 p->ts.comm, aq_custody_state_name(c.custody), kernel_has ? "" : "not "));
	}
}

void Kernel::check_quiescent(const char *when)
{
	aq::Snapshot s = snapshot();
	aq::Report r;
	aq::check_structure(s, r);
	if (!r.ok())
		fail(check::kList, fmt::format("at {}: {}", when, r.str()));

	auto contents = aq::fifo_contents(s);
	check_order(when, contents);
	check_contexts(when);
	const struct aq_audit &au = run_audit();
	std::vector<int> on_fifo(tasks_.size(), 0);
	for (size_t f = 0; f < contents.size(); f++) {
		for (int h : contents[f]) {
			const struct task_ctx &e = qa.task_ctxs[h];
			Task *p = nullptr;
			for (auto &t : tasks_)
				if (t.ts.pid == e.pid)
					p = &t;
			if (!p || p->st == TState::Dead || p->st == TState::Unborn) {
				fail(check::kStale, fmt::format("at {}: FIFO {} holds pid {}, which has exited",
								when, f, e.pid));
			}
			on_fifo[p->id]++;
			long st = p->ts.scx.ops_state.counter;
			long opss = st & 3;
			bool running = false;
			for (auto &c : cpus_)
				running |= c.curr == p;
			// In custody by this entry's enqueue: QUEUEING/QUEUED with its
			// qseq; or, after a dispatch that claimed a newer custody than
			// the entry it popped (ops/README.md, finding 1), on a user DSQ,
			// still in custody (7.2's
			// SCX_TASK_IN_CUSTODY) from the enqueue that linked this entry.
			bool queued = (opss == SCX_OPSS_QUEUED || opss == SCX_OPSS_QUEUEING) &&
				      u64(st & ~3l) == e.ops_qseq && !p->dsq;
			bool on_user_dsq = p->dsq && p->dsq->q.id != SCX_DSQ_LOCAL &&
					   (p->ts.scx.flags & SCX_TASK_IN_CUSTODY) &&
					   u64(p->ts.scx.ops_qseq) << SCX_OPSS_QSEQ_SHIFT == e.ops_qseq;
			if (on_user_dsq && !queued) {
				out_.newer_custody_entries++;
				if (cfg_.probe_newer_custody)
					fail(check::kProbe, fmt::format("at {}: {} waits on a user DSQ while the "
									"entry of its custody is on FIFO {}",
									when, p->ts.comm, f));
			}
			check_audit_verdict(when, au, e, f, queued || on_user_dsq);
			if ((!queued && !on_user_dsq) || running)
				fail(check::kStale,
				     fmt::format("at {}: FIFO {} holds {} (qseq {}) but it is {} #{}, {}{}{}",
						 when, f, p->ts.comm, e.ops_qseq >> SCX_OPSS_QSEQ_SHIFT,
						 opss == SCX_OPSS_QUEUED ? "QUEUED" : "not QUEUED",
						 p->ts.scx.ops_qseq, p->dsq ? "on a DSQ" : "on no DSQ",
						 p->ts.scx.flags & SCX_TASK_IN_CUSTODY ? ", in custody" : "",
						 running ? ", running" : ""));
		}
	}

	std::vector<int> on_dsq(tasks_.size(), 0);
	auto count = [&](const Dsq &d) {
		for (Task *p : d.list) {
			on_dsq[p->id]++;
			if (p->dsq != &d)
				fail(check::kPlace, fmt::format("at {}: {} is on a DSQ it does not name",
								when, p->ts.comm));
		}
	};
	for (auto &c : cpus_)
		count(c.local);
	for (auto &d : user_dsqs_)
		count(d);
	count(global_);

	for (auto &t : tasks_) {
		int running = 0;
		for (auto &c : cpus_)
			running += c.curr == &t;
		// A task on a user DSQ whose FIFO entry awaits the ops.dequeue that
		// ends its custody is in one place: the scheduler's custody.
		bool custody_dsq = t.dsq && t.dsq->q.id != SCX_DSQ_LOCAL;
		int places = running + on_dsq[t.id] + (custody_dsq ? 0 : on_fifo[t.id]);
		bool runnable = t.st == TState::Runnable || t.st == TState::Running;
		if (runnable && places != 1)
			fail(check::kPlace,
			     fmt::format("at {}: runnable {} is in {} places (running {}, DSQs {}, FIFOs {})",
					 when, t.ts.comm, places, running, on_dsq[t.id], on_fifo[t.id]));
		if (!runnable && places)
			fail(check::kPlace, fmt::format("at {}: {} is not runnable but is queued somewhere",
							when, t.ts.comm));
	}
	check_ledger();
	check_ledger_agrees(when);
}

void Kernel::check_order(const char *when, const std::vector<std::vector<int>> &contents)
{
	fifo_seen_.resize(contents.size());
	fifo_popped_seen_.resize(contents.size());
	for (size_t f = 0; f < contents.size(); f++) {
		std::vector<std::pair<int, u64>> cur;
		for (int h : contents[f])
			cur.emplace_back(qa.task_ctxs[h].pid, qa.task_ctxs[h].enq_seq);
		const auto &old = fifo_seen_[f];
		// Pops take the head: while an older entry survives, every pop since
		// took one of the entries ahead of it.
		u64 pops = qa.fifos[f].nr_popped - fifo_popped_seen_[f];
		fifo_popped_seen_[f] = qa.fifos[f].nr_popped;
		for (size_t i = 0; i < old.size(); i++) {
			if (std::find(cur.begin(), cur.end(), old[i]) == cur.end())
				continue;
			if (pops > i)
				fail(check::kOrder, fmt::format("at {}: FIFO {} popped {} entries, but pid {} "
								"was behind only {}",
								when, f, pops, old[i].first, i));
			break;
		}
		size_t last = 0;
		bool newer = false;
		for (auto &e : cur) {
			auto it = std::find(old.begin(), old.end(), e);
			if (it == old.end()) {
				newer = true;
				continue;
			}
			size_t pos = size_t(it - old.begin()) + 1;
			if (newer || pos < last)
				fail(check::kOrder, fmt::format("at {}: FIFO {} has pid {} (enqueue {}) behind "
								"an entry linked after it",
								when, f, e.first, e.second));
			last = pos;
		}
		fifo_seen_[f] = std::move(cur);
	}
}

void Kernel::check_contexts(const char *when)
{
	std::vector<int> n(tasks_.size(), 0);
	for (u32 i = 0; i < qa.max_tasks; i++) {
		const struct task_ctx &c = qa.task_ctxs[i];
		if (!c.in_use)
			continue;
		Task *p = nullptr;
		for (auto &t : tasks_)
			if (t.ts.pid == c.pid)
				p = &t;
		if (!p || !p->inited)
			fail(check::kContext, fmt::format("at {}: context #{} in use for pid {}, {}", when, i,
							  c.pid, p ? "whose exit_task ran" : "no task"));
		n[p->id]++;
	}
	for (auto &t : tasks_)
		if (t.inited && n[t.id] != 1)
			fail(check::kContext, fmt::format("at {}: {} has {} contexts in use", when, t.ts.comm,
							  n[t.id]));
}

std::string Kernel::state_str() const
{
	static const char *st[] = { "unborn", "asleep", "runnable", "running", "dead" };
	std::string s;
	for (auto &t : tasks_) {
		long o = t.ts.scx.ops_state.counter;
		int f = fifo_of_pid(t.ts.pid);
		s += fmt::format("{}:{}@{} {}#{}{}{}{} ", t.ts.comm, st[int(t.st)], t.ts.thread_info.cpu,
				 "NiQD"[o & 3], o >> SCX_OPSS_QSEQ_SHIFT,
				 t.ts.scx.flags & SCX_TASK_IN_CUSTODY ? " cust" : "",
				 t.dsq ? (t.dsq->q.id == SCX_DSQ_LOCAL ? fmt::format(" L{}", t.dsq->cpu)
								       : fmt::format(" D{:x}", t.dsq->q.id & 0xff))
				       : "",
				 f >= 0 ? fmt::format(" F{}", f) : "");
	}
	for (auto &c : cpus_)
		s += fmt::format("| cpu{} {}{} ", c.id, c.curr ? c.curr->ts.comm : "-",
				 c.rq.holder >= 0 ? fmt::format(" (rq held by cpu{})", c.rq.holder) : "");
	return s;
}

}  // namespace aqops
