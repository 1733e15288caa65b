// The simulated sched_ext core: the kernel paths a 7.2 kernel takes around
// scx_aqmap's callbacks, each named after its function in
// kernel/sched/ext/ext.c (Debian linux-source-7.2, 7.2.13) or
// kernel/sched/core.c.  Only what the scheduler can observe is modelled:
// ops_state and qseq, p->scx.dsq, SCX_TASK_QUEUED and SCX_TASK_IN_CUSTODY,
// holding_cpu and sticky_cpu, the dispatch buffer, the DSQs and the rq locks.
// ops/README.md, "The kernel model", lists what is left out and why.
#include "kernel.h"

#include <fmt/format.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace aqops {

namespace {

Kernel *g_kernel;
Task *const kDdspSpent = reinterpret_cast<Task *>(-1L);	// ERR_PTR(-ESRCH)
constexpr int kDspMaxBatch = 32;	// SCX_DSP_DFL_MAX_BATCH
constexpr int kDspMaxLoops = 32;	// SCX_DSP_MAX_LOOPS
constexpr u64 kTickNs = 20000000;	// what a slice expiry adds to the clock
constexpr u64 kStepNs = 1000;		// what a step adds to the clock
constexpr u32 kSimMaxTasks = 64;	// the scheduler's max_tasks here

// The scheduler's options are const volatile globals that libbpf writes
// before load; natively they sit in .rodata.  Make that page writable once,
// as the loader would have written them, and set a slab the size of a
// simulation instead of 16,384 contexts to thread at every schedule.
void load_options()
{
	static bool done;
	if (done)
		return;
	long pg = sysconf(_SC_PAGESIZE);
	auto *addr = (void *)(uintptr_t(&max_tasks) & ~uintptr_t(pg - 1));
	if (mprotect(addr, size_t(pg), PROT_READ | PROT_WRITE))
		throw std::runtime_error("ops sim: cannot make the scheduler's options writable");
	// Laundered: a store through a pointer to a const object may be elided.
	auto *opt = const_cast<u32 *>(&max_tasks);
	asm volatile("" : "+r"(opt));
	*opt = kSimMaxTasks;
	done = true;
}

Fibers &fibers_for(int n)
{
	static std::unique_ptr<Fibers> f;
	if (!f || f->size() != n)
		f = std::make_unique<Fibers>(n);
	return *f;
}

const char *opss_name(long v)
{
	static const char *n[] = { "NONE", "QUEUEING", "QUEUED", "DISPATCHING" };
	return n[v & 3];
}

}  // namespace

Kernel &kernel() { return *g_kernel; }

Kernel::Kernel(const Script &s, const SimConfig &cfg, Chooser &ch, Outcome &out)
	: script_(s), cfg_(cfg), chooser_(ch), out_(out),
	  fibers_(fibers_for(int(s.cpus.size())))
{
	cpus_.resize(s.cpus.size());
	for (int c = 0; c < nr_cpus(); c++) {
		cpus_[c].id = c;
		cpus_[c].local.q.id = SCX_DSQ_LOCAL;
		cpus_[c].local.cpu = c;
	}
	global_.q.id = SCX_DSQ_GLOBAL;
	tasks_.resize(s.tasks.size());
	wait_.resize(s.cpus.size());
	u64 all = (1ul << nr_cpus()) - 1;
	for (size_t i = 0; i < tasks_.size(); i++) {
		Task &t = tasks_[i];
		t.id = int(i);
		t.ts.pid = 100 + int(i);
		snprintf(t.ts.comm, sizeof(t.ts.comm), "t%zu", i);
		t.ts.real_parent = &tasks_[0].ts;
		t.mask.bits[0] = s.tasks[i].mask ? s.tasks[i].mask & all : all;
		if (!t.mask.bits[0])
			t.mask.bits[0] = all;
		t.ts.cpus_ptr = &t.mask;
		t.ts.scx.weight = s.tasks[i].weight;
		t.ts.scx.runnable_node.next = t.ts.scx.runnable_node.prev = &t.ts.scx.runnable_node;
		t.ts.thread_info.cpu = u32(__builtin_ctzl(t.mask.bits[0]));
	}
}

// ---- steps, locks, waits ---------------------------------------------------

void Kernel::step(const char *what)
{
	if (aborting_)
		throw Abort{};
	check_ledger();
	int c = fibers_.current();
	if (c < 0)
		return;
	cpus_[c].where = what;
	fibers_.yield();
	if (aborting_)
		throw Abort{};
}

void Kernel::helper_step(const char *what)
{
	if (cfg_.fine_yields)
		step(what);
}

Cpu &Kernel::this_cpu()
{
	int c = fibers_.current();
	return cpus_[c < 0 ? 0 : c];
}

void Kernel::wait_until(const std::function<bool()> &cond, const char *what)
{
	int c = fibers_.current();
	if (cond())
		return;
	wait_[c] = cond;
	step(what);	// not resumed before cond() holds
	wait_[c] = nullptr;
}

void Kernel::lock(SimLock &l, const char *what)
{
	int c = this_cpu().id;
	if (l.holder == c)
		kernel_bug(fmt::format("cpu{} takes {} twice", c, what));
	step(what);
	wait_until([&l] { return l.holder < 0; }, what);
	l.holder = c;
}

void Kernel::unlock(SimLock &l)
{
	l.holder = -1;
}

void Kernel::set_ops_state(Task *p, long v, const char *what)
{
	p->ts.scx.ops_state.counter = v;
	step(what);
}

void Kernel::fail(const char *check, const std::string &msg)
{
	if (out_.ok) {
		out_.ok = false;
		out_.check = check;
		out_.message = msg;
		if (cfg_.trace)
			out_.trace.push_back(fmt::format("FAIL [{}] {}", check, msg));
	}
	throw Abort{};
}

// scx_bpf_error() is a failure, except the ejection aqmap_list.h documents:
// when a lock fails QMAP_LOCK_RETRIES times in a row the scheduler gives up
// rather than keep a list it cannot vouch for.  So under a burst of injected
// failures that long, an error ends the run (the kernel would disable the
// scheduler and nothing is lost); under shorter bursts it must not happen.
void Kernel::scx_error(const std::string &msg)
{
	if (out_.faults && cfg_.fault_burst >= QMAP_LOCK_RETRIES) {
		ejected_ = true;
		out_.ejected = true;
		if (cfg_.trace)
			out_.trace.push_back("scheduler ejected itself: scx_bpf_error: " + msg);
		throw Abort{};
	}
	fail(check::kScxError, "scx_bpf_error: " + msg);
}

// The holder id of the audit program, which runs outside every CPU's fiber
// (run_audit()): it cannot spin, so a held lock times out at once, as the
// kernel's rqspinlock would after its timeout.
constexpr int kAuditHolder = -1;

int Kernel::res_lock(struct bpf_res_spin_lock *l)
{
	int c = this_cpu().id;
	if (!l->nr)
		l->nr = ++nr_res_locks_;
	if (fibers_.current() < 0) {
		if (l->holder)
			return -ETIMEDOUT;
		l->holder = kAuditHolder;
		return 0;
	}
	step("bpf_res_spin_lock");
	if (faults_on_ && burst_left_ && burst_lock_ == l) {
		burst_left_--;
		return -ETIMEDOUT;
	}
	if (faults_on_ && out_.faults < cfg_.fault_budget && chooser_.fail_lock(out_.steps)) {
		out_.choices.push_back(1);
		out_.faults++;
		burst_left_ = cfg_.fault_burst - 1;
		burst_lock_ = l;
		return -ETIMEDOUT;
	}
	if (faults_on_ && out_.faults < cfg_.fault_budget)
		out_.choices.push_back(0);
	if (l->holder == c + 1)
		return -EDEADLK;
	wait_until([l] { return l->holder == 0; }, "bpf_res_spin_lock (spinning)");
	l->holder = c + 1;
	return 0;
}

void Kernel::res_unlock(struct bpf_res_spin_lock *l)
{
	if (fibers_.current() < 0 && l->holder == kAuditHolder) {
		l->holder = 0;
		return;
	}
	if (l->holder != this_cpu().id + 1)
		kernel_bug("bpf_res_spin_unlock of a lock this CPU does not hold");
	l->holder = 0;
	step("bpf_res_spin_unlock");
}

// ---- lookups -----------------------------------------------------------------

Task *Kernel::task_of(const struct task_struct *p)
{
	for (auto &t : tasks_)
		if (&t.ts == p)
			return &t;
	kernel_bug("a task pointer the kernel never gave out");
	return nullptr;
}

Task *Kernel::task_by_pid(int pid)
{
	for (auto &t : tasks_)
		if (t.ts.pid == pid && t.st != TState::Unborn && t.st != TState::Dead)
			return &t;
	return nullptr;
}

void Kernel::create_dsq(u64 id)
{
	Dsq &d = user_dsqs_.emplace_back();
	d.q.id = id;
}

Dsq *Kernel::user_dsq(u64 id)
{
	for (auto &d : user_dsqs_)
		if (d.q.id == id)
			return &d;
	return nullptr;
}

// find_dsq_for_dispatch()
Dsq *Kernel::find_dsq_for_dispatch(Cpu &rq, u64 id, Task *p)
{
	if (id == SCX_DSQ_LOCAL)
		return &rq.local;
	if (id == SCX_DSQ_GLOBAL)
		return &global_;
	Dsq *d = user_dsq(id);
	if (!d) {
		scx_error(fmt::format("non-existent DSQ 0x{:x} for {}", id, p->ts.comm));
		return &global_;
	}
	return d;
}

bool Kernel::cpu_idle(int c) const
{
	return !cpus_[c].curr && cpus_[c].local.list.empty();
}

// ---- ops callbacks -------------------------------------------------------------

s32 Kernel::op_select_cpu(Task *p, s32 prev, u64 flags)
{
	out_.ops_calls++;
	step("ops.select_cpu");
	return aqmap_select_cpu(&p->ts, prev, flags);
}

void Kernel::op_enqueue(Task *p, u64 flags)
{
	out_.ops_calls++;
	step("ops.enqueue");
	aqmap_enqueue(&p->ts, flags);
}

// The custody check: when ops.dequeue returns, the task is on no FIFO.
void Kernel::op_dequeue(Task *p, u64 flags)
{
	out_.ops_calls++;
	p->custody_out++;
	step("ops.dequeue");
	aqmap_dequeue(&p->ts, flags);
	check_not_linked(p, flags & SCX_DEQ_SCHED_CHANGE ? "ops.dequeue(SCHED_CHANGE)"
							: "ops.dequeue (custody ends)");
}

// ---- enqueue -------------------------------------------------------------------

// enqueue_task_scx()
void Kernel::enqueue_task_scx(Cpu &rq, Task *p, u64 enq_flags)
{
	int sticky = p->sticky_cpu;

	if (sticky >= 0)
		p->sticky_cpu = -1;
	if (p->ts.scx.flags & SCX_TASK_QUEUED)
		kernel_bug(fmt::format("{} enqueued twice", p->ts.comm));
	p->ts.scx.flags |= SCX_TASK_QUEUED;
	// set_task_runnable(): runnable_node joins rq->scx.runnable_list
	p->ts.scx.runnable_node.next = nullptr;
	p->ts.scx.runnable_at = clock_;
	do_enqueue_task(rq, p, enq_flags, sticky);
}

// do_enqueue_task()
void Kernel::do_enqueue_task(Cpu &rq, Task *p, u64 enq_flags, int sticky_cpu)
{
	if (sticky_cpu == rq.id) {
		dispatch_enqueue(rq, rq.local, p, enq_flags);	// local_norefill
		return;
	}
	if (p->ddsp_dsq_id != SCX_DSQ_INVALID) {
		direct_dispatch(p, enq_flags);
		return;
	}
	p->ts.scx.ops_qseq = u32(((u64(p->ts.scx.ops_qseq) + 1) & (~0ul >> SCX_OPSS_QSEQ_SHIFT)) ?: 1);
	long qseq = long(u64(p->ts.scx.ops_qseq) << SCX_OPSS_QSEQ_SHIFT);
	if (ops_state(p) != SCX_OPSS_NONE)
		kernel_bug(fmt::format("{} enqueued in ops_state {}", p->ts.comm, opss_name(ops_state(p))));
	set_ops_state(p, SCX_OPSS_QUEUEING | qseq, "ops_state = QUEUEING");

	Cpu &me = this_cpu();
	me.ddsp_task = p;
	op_enqueue(p, enq_flags);
	me.ddsp_task = nullptr;
	if (p->ddsp_dsq_id != SCX_DSQ_INVALID) {
		direct_dispatch(p, enq_flags);
		return;
	}
	// The task is now in the BPF scheduler's custody.
	p->ts.scx.flags |= SCX_TASK_IN_CUSTODY;
	p->custody_in++;
	set_ops_state(p, SCX_OPSS_QUEUED | qseq, "ops_state = QUEUED");
}

// direct_dispatch(): only SCX_DSQ_LOCAL of the task's own rq and user DSQs
// (scx_aqmap inserts nowhere else), so never the deferred remote-local case.
void Kernel::direct_dispatch(Task *p, u64 enq_flags)
{
	Cpu &rq = cpus_[p->ts.thread_info.cpu];
	Dsq *dsq = find_dsq_for_dispatch(rq, p->ddsp_dsq_id, p);
	u64 flags = p->ddsp_enq_flags | enq_flags;

	p->ddsp_dsq_id = SCX_DSQ_INVALID;
	p->ddsp_enq_flags = 0;
	dispatch_enqueue(rq, *dsq, p, flags | SCX_ENQ_CLEAR_OPSS);
}

// task_leave_custody()
bool Kernel::task_leave_custody(Task *p)
{
	if (!(p->ts.scx.flags & SCX_TASK_IN_CUSTODY) || p->sticky_cpu >= 0)
		return false;
	p->ts.scx.flags &= ~SCX_TASK_IN_CUSTODY;
	return true;
}

// local_dsq_post_enq(): a task reaching a local DSQ leaves custody, and a
// preempting insert ends what runs there (resched_curr).
void Kernel::local_dsq_post_enq(Cpu &rq, Task *p)
{
	if (task_leave_custody(p))
		op_dequeue(p, 0);
}

// dispatch_enqueue()
void Kernel::dispatch_enqueue(Cpu &rq, Dsq &dsq, Task *p, u64 enq_flags)
{
	bool is_local = dsq.q.id == SCX_DSQ_LOCAL;

	if (p->dsq)
		kernel_bug(fmt::format("{} inserted into a DSQ while on another", p->ts.comm));
	if (!is_local)
		lock(dsq.lock, "dsq lock");
	if (enq_flags & (SCX_ENQ_HEAD | SCX_ENQ_PREEMPT))
		dsq.list.push_front(p);
	else
		dsq.list.push_back(p);
	p->dsq = &dsq;
	p->ts.scx.dsq = &dsq.q;
	if (is_local) {
		if ((enq_flags & SCX_ENQ_PREEMPT) && cpus_[dsq.cpu].curr)
			cpus_[dsq.cpu].curr->slice = 0;
		local_dsq_post_enq(rq, p);
	} else {
		bool call_dequeue = false;
		if (dsq.q.id == SCX_DSQ_GLOBAL)
			call_dequeue = task_leave_custody(p);
		else
			p->ts.scx.flags |= SCX_TASK_IN_CUSTODY;
		unlock(dsq.lock);
		if (call_dequeue)
			op_dequeue(p, 0);
	}
	if (enq_flags & SCX_ENQ_CLEAR_OPSS)
		set_ops_state(p, SCX_OPSS_NONE, "ops_state = NONE");
}

// ---- dequeue -------------------------------------------------------------------

// ops_dequeue()
void Kernel::ops_dequeue(Cpu &rq, Task *p, u64 deq_flags)
{
	p->ts.scx.runnable_node.next = &p->ts.scx.runnable_node;	// clr_task_runnable()
	for (;;) {
		long opss = ops_state(p);
		step("ops_dequeue: read ops_state");
		opss = ops_state(p);
		switch (opss & 3) {
		case SCX_OPSS_NONE:
			break;
		case SCX_OPSS_QUEUEING:
			kernel_bug(fmt::format("ops_dequeue: {} QUEUEING under its rq lock", p->ts.comm));
			break;
		case SCX_OPSS_QUEUED:
			if (!(p->ts.scx.flags & SCX_TASK_IN_CUSTODY)) {
				wait_until([this, p, opss] {
					return ops_state(p) != opss || (p->ts.scx.flags & SCX_TASK_IN_CUSTODY);
				}, "ops_dequeue: QUEUED, custody passing");
				continue;
			}
			p->ts.scx.ops_state.counter = SCX_OPSS_NONE;	// the cmpxchg won
			break;
		case SCX_OPSS_DISPATCHING:
			wait_until([this, p] { return (ops_state(p) & 3) != SCX_OPSS_DISPATCHING; },
				   "ops_dequeue: wait DISPATCHING");
			if (ops_state(p) != SCX_OPSS_NONE)
				kernel_bug("ops_dequeue: BUG_ON(ops_state != NONE) after DISPATCHING");
			break;
		}
		break;
	}
	if (task_leave_custody(p))
		op_dequeue(p, deq_flags);
}

void Kernel::task_unlink_from_dsq(Task *p, Dsq &dsq)
{
	for (auto it = dsq.list.begin(); it != dsq.list.end(); ++it)
		if (*it == p) {
			dsq.list.erase(it);
			return;
		}
	kernel_bug(fmt::format("{} unlinked from a DSQ it is not on", p->ts.comm));
}

// dispatch_dequeue()
void Kernel::dispatch_dequeue(Cpu &rq, Task *p)
{
	Dsq *dsq = p->dsq;

	if (!dsq) {
		if (p->holding_cpu >= 0)
			p->holding_cpu = -1;
		return;
	}
	bool is_local = dsq == &rq.local;
	if (!is_local)
		lock(dsq->lock, "dsq lock (dequeue)");
	if (p->holding_cpu < 0)
		task_unlink_from_dsq(p, *dsq);
	else
		p->holding_cpu = -1;	// dispatch_to_local_dsq()/consume lost the race
	p->dsq = nullptr;
	p->ts.scx.dsq = nullptr;
	if (!is_local)
		unlock(dsq->lock);
}

// dequeue_task_scx(): SCHED_CHANGE unless the task sleeps
void Kernel::dequeue_task_scx(Cpu &rq, Task *p, u64 core_flags)
{
	u64 deq_flags = core_flags;

	if (!(deq_flags & SCX_DEQ_SLEEP))
		deq_flags |= SCX_DEQ_SCHED_CHANGE;
	if (!(p->ts.scx.flags & SCX_TASK_QUEUED))
		return;
	ops_dequeue(rq, p, deq_flags);
	p->ts.scx.flags &= ~SCX_TASK_QUEUED;
	dispatch_dequeue(rq, p);
	p->ddsp_dsq_id = SCX_DSQ_INVALID;
	p->ddsp_enq_flags = 0;
}

// ---- dispatch ------------------------------------------------------------------

// move_remote_task_to_local_dsq(): @src locked on entry, @dst on return.
void Kernel::move_remote_task_to_local_dsq(Task *p, Cpu &src, Cpu &dst)
{
	p->sticky_cpu = dst.id;
	p->migrating = true;
	dequeue_task_scx(src, p, 0);	// deactivate_task()
	p->ts.thread_info.cpu = u32(dst.id);	// set_task_cpu()
	unlock(src.rq);			// switch_rq_lock()
	lock(dst.rq, "rq lock (migrate)");
	if (!allowed(p, dst.id))
		kernel_bug(fmt::format("{} migrated to cpu{} outside its mask", p->ts.comm, dst.id));
	enqueue_task_scx(dst, p, 0);	// activate_task()
	p->migrating = false;
}

// consume_dispatch_q(), with consume_remote_task() and
// unlink_dsq_and_lock_src_rq() inline: @rq's lock is dropped to take the
// task's, and dequeue may win the race (holding_cpu).
bool Kernel::consume_dispatch_q(Cpu &rq, Dsq &dsq)
{
retry:
	if (dsq.list.empty())
		return false;
	lock(dsq.lock, "dsq lock (consume)");
	for (Task *p : dsq.list) {
		Cpu &trq = cpus_[p->ts.thread_info.cpu];
		if (&trq == &rq) {
			task_unlink_from_dsq(p, dsq);
			unlock(dsq.lock);
			// move_local_task_to_local_dsq()
			rq.local.list.push_back(p);
			p->dsq = &rq.local;
			p->ts.scx.dsq = &rq.local.q;
			local_dsq_post_enq(rq, p);
			return true;
		}
		if (allowed(p, rq.id)) {
			unlock(rq.rq);
			task_unlink_from_dsq(p, dsq);
			p->holding_cpu = rq.id;
			unlock(dsq.lock);
			lock(trq.rq, "rq lock (consume remote)");
			if (p->holding_cpu == rq.id) {
				move_remote_task_to_local_dsq(p, trq, rq);
				return true;
			}
			unlock(trq.rq);
			lock(rq.rq, "rq lock (consume lost)");
			goto retry;
		}
	}
	unlock(dsq.lock);
	return false;
}

// finish_dispatch(): claim the task from the qseq recorded at insert.
void Kernel::finish_dispatch(Cpu &rq, const BufEnt &e)
{
	Task *p = e.p;
	for (;;) {
		step("finish_dispatch: read ops_state");
		long opss = ops_state(p);
		switch (opss & 3) {
		case SCX_OPSS_DISPATCHING:
		case SCX_OPSS_NONE:
			return;		// someone else already got to it
		case SCX_OPSS_QUEUED:
			if (u64(opss & ~3l) != e.qseq)
				return;	// dispatched or dequeued and re-enqueued since
			p->ts.scx.ops_state.counter = SCX_OPSS_DISPATCHING;	// the cmpxchg
			break;
		case SCX_OPSS_QUEUEING:
			wait_until([this, p, opss] { return ops_state(p) != opss; },
				   "finish_dispatch: wait QUEUEING");
			continue;
		}
		break;
	}
	step("finish_dispatch: DISPATCHING");
	if (!(p->ts.scx.flags & SCX_TASK_QUEUED))
		kernel_bug(fmt::format("finish_dispatch: {} not queued (BUG_ON)", p->ts.comm));
	Dsq *dsq = find_dsq_for_dispatch(rq, e.dsq_id, p);
	if (dsq->q.id != SCX_DSQ_LOCAL) {
		dispatch_enqueue(rq, *dsq, p, e.enq_flags | SCX_ENQ_CLEAR_OPSS);
		return;
	}
	// dispatch_to_local_dsq()
	Cpu &src = cpus_[p->ts.thread_info.cpu];
	if (&src == &rq) {
		dispatch_enqueue(rq, rq.local, p, e.enq_flags | SCX_ENQ_CLEAR_OPSS);
		return;
	}
	p->holding_cpu = rq.id;
	set_ops_state(p, SCX_OPSS_NONE, "ops_state = NONE (to remote local)");
	unlock(rq.rq);
	lock(src.rq, "rq lock (dispatch to local)");
	Cpu *locked = &src;
	if (p->holding_cpu == rq.id) {
		if (!allowed(p, rq.id)) {
			// task_can_run_on_remote_rq(..., enforce = true)
			scx_error(fmt::format("SCX_DSQ_LOCAL[_ON] target CPU {} not allowed for {}",
					      rq.id, p->ts.comm));
			p->holding_cpu = -1;
			dispatch_enqueue(src, global_, p, e.enq_flags);
		} else {
			move_remote_task_to_local_dsq(p, src, rq);
			locked = &rq;
		}
	}
	if (locked != &rq) {
		unlock(locked->rq);
		lock(rq.rq, "rq lock (back)");
	}
}

// flush_dispatch_buf()
void Kernel::flush_dispatch_buf(Cpu &rq)
{
	std::vector<BufEnt> buf;
	buf.swap(rq.buf);
	rq.nr_dispatched += int(buf.size());
	for (auto &e : buf)
		finish_dispatch(rq, e);
}

void Kernel::dsq_insert(Task *p, u64 dsq_id, u64 slice, u64 enq_flags)
{
	Cpu &me = this_cpu();

	if (slice)
		p->slice = slice;
	if (me.ddsp_task) {
		// mark_direct_dispatch()
		Task *d = me.ddsp_task;
		me.ddsp_task = kDdspSpent;
		if (d != p) {
			scx_error(d == kDdspSpent ? fmt::format("{} already direct-dispatched", p->ts.comm)
						  : fmt::format("direct-dispatch of {} while enqueueing {}",
								p->ts.comm, d->ts.comm));
			return;
		}
		p->ddsp_dsq_id = dsq_id;
		p->ddsp_enq_flags = enq_flags;
		return;
	}
	if (!me.in_dispatch) {
		scx_error("scx_bpf_dsq_insert outside select_cpu, enqueue and dispatch");
		return;
	}
	if (int(me.buf.size()) >= kDspMaxBatch) {
		scx_error("dispatch buffer overflow");
		return;
	}
	me.buf.push_back({ p, u64(ops_state(p) & ~3l), dsq_id, enq_flags });
}

// scx_bpf_dsq_move_to_local()
bool Kernel::move_to_local(u64 dsq_id)
{
	Cpu &me = this_cpu();
	if (!me.in_dispatch) {
		scx_error("scx_bpf_dsq_move_to_local outside dispatch");
		return false;
	}
	flush_dispatch_buf(me);
	Dsq *dsq = user_dsq(dsq_id);
	if (!dsq) {
		scx_error(fmt::format("invalid DSQ ID 0x{:x}", dsq_id));
		return false;
	}
	if (consume_dispatch_q(me, *dsq)) {
		me.nr_dispatched++;
		return true;
	}
	return false;
}

// balance_one() and scx_dispatch_sched(), with @rq locked
void Kernel::balance(Cpu &rq, Task *prev)
{
	bool prev_queued = prev && (prev->ts.scx.flags & SCX_TASK_QUEUED);

	if (prev_queued && prev->slice)
		return;		// keep running prev
	if (!rq.local.list.empty())
		return;
	if (consume_dispatch_q(rq, global_))
		return;
	for (int loops = kDspMaxLoops; loops; loops--) {
		rq.nr_dispatched = 0;
		rq.in_dispatch = true;
		out_.ops_calls++;
		step("ops.dispatch");
		aqmap_dispatch(rq.id, prev_queued ? &prev->ts : nullptr);
		flush_dispatch_buf(rq);
		rq.in_dispatch = false;
		if (prev_queued && prev->slice)
			return;
		if (!rq.local.list.empty())
			return;
		if (consume_dispatch_q(rq, global_))
			return;
		if (!rq.nr_dispatched)
			return;
	}
}

// set_next_task_scx(): the picked task leaves its local DSQ and runs.
void Kernel::set_next_task(Cpu &rq, Task *p)
{
	if (p->ts.scx.flags & SCX_TASK_QUEUED) {
		ops_dequeue(rq, p, SCX_DEQ_CORE_SCHED_EXEC);
		dispatch_dequeue(rq, p);
	}
	check_not_linked(p, "it got a CPU");
	rq.curr = p;
	p->st = TState::Running;
	p->ran_at = clock_;
	p->nr_runs++;
	if (!p->slice)
		p->slice = SCX_SLICE_DFL;
	out_.ops_calls++;
	step("ops.running");
	aqmap_running(&p->ts);
}

// The migration stopper on @rq's CPU: it preempts @p, which
// put_prev_task_scx() hands back through ops.enqueue, then moves it to a CPU
// of its new mask (migration_cpu_stop() -> move_queued_task()).
void Kernel::migration_stop(Cpu &rq, Task *p)
{
	p->ts.se.sum_exec_runtime += clock_ - p->ran_at;
	rq.curr = nullptr;
	p->st = TState::Runnable;
	p->slice = 0;
	do_enqueue_task(rq, p, 0, -1);
	if (allowed(p, rq.id))
		return;		// the mask changed back meanwhile
	Cpu &dst = move_queued_task(rq, p);
	unlock(dst.rq);
	lock(rq.rq, "rq lock (back from migration)");
}

// move_queued_task(): dequeue @p from @rq (locked), move it to the first CPU
// of its mask, enqueue it there.  Returns that CPU, its rq locked instead.
Cpu &Kernel::move_queued_task(Cpu &rq, Task *p)
{
	dequeue_task_scx(rq, p, 0);
	Cpu &dst = cpus_[__builtin_ctzl(p->mask.bits[0])];
	p->ts.thread_info.cpu = u32(dst.id);
	p->migrating = true;
	unlock(rq.rq);
	lock(dst.rq, "rq lock (move_queued_task)");
	enqueue_task_scx(dst, p, 0);
	p->migrating = false;
	return dst;
}

// __schedule() on this CPU: balance, pick, put_prev_task_scx(), set_next.
void Kernel::schedule(bool expire)
{
	Cpu &rq = this_cpu();
	lock(rq.rq, "rq lock (schedule)");
	Task *prev = rq.curr;
	if (prev && prev->migrate_pending) {
		prev->migrate_pending = false;
		if (prev->ts.scx.flags & SCX_TASK_QUEUED) {
			migration_stop(rq, prev);
			prev = nullptr;
		}
	}
	if (prev && expire) {
		clock_ += kTickNs;
		out_.ops_calls++;
		step("ops.tick");
		aqmap_tick(&prev->ts);
		prev->slice = 0;
	}
	if (prev)
		prev->ts.se.sum_exec_runtime += clock_ - prev->ran_at;
	balance(rq, prev);
	bool prev_queued = prev && (prev->ts.scx.flags & SCX_TASK_QUEUED);
	Task *next = nullptr;
	if (prev_queued && prev->slice)
		next = prev;
	else if (!rq.local.list.empty())
		next = rq.local.list.front();
	else if (prev_queued)
		next = prev;	// nothing else to run: keep prev (no SCX_OPS_ENQ_LAST)
	if (next == prev) {
		if (prev) {
			prev->ran_at = clock_;
			if (!prev->slice)
				prev->slice = SCX_SLICE_DFL;
		}
		unlock(rq.rq);
		return;
	}
	if (prev_queued) {
		// put_prev_task_scx()
		prev->st = TState::Runnable;
		rq.curr = nullptr;
		if (prev->slice)
			dispatch_enqueue(rq, rq.local, prev, SCX_ENQ_HEAD);
		else
			do_enqueue_task(rq, prev, 0, -1);
	}
	rq.curr = nullptr;
	if (next && next->dsq == &rq.local)
		set_next_task(rq, next);
	else if (!rq.local.list.empty())
		set_next_task(rq, rq.local.list.front());
	unlock(rq.rq);
}

// ---- the events --------------------------------------------------------------

// task_rq_lock(): p->pi_lock, then the lock of the rq the task is on.
Cpu &Kernel::task_rq_lock(Task *p)
{
	lock(p->pi, "pi lock");
	for (;;) {
		Cpu &rq = cpus_[p->ts.thread_info.cpu];
		lock(rq.rq, "rq lock (task_rq_lock)");
		if (&rq == &cpus_[p->ts.thread_info.cpu] && !p->migrating)
			return rq;
		unlock(rq.rq);
		wait_until([p] { return !p->migrating; }, "task_rq_lock: wait migrating");
	}
}

void Kernel::task_rq_unlock(Cpu &rq, Task *p)
{
	unlock(rq.rq);
	unlock(p->pi);
}

// try_to_wake_up() -> select_task_rq_scx() -> ttwu_do_activate()
void Kernel::ev_wake(Task *p)
{
	if (p->st != TState::Sleeping)
		return;
	lock(p->pi, "pi lock (wakeup)");
	if (p->st != TState::Sleeping) {
		unlock(p->pi);
		return;
	}
	// A task still switching out is woken once it is off its CPU (ttwu's
	// wait on p->on_cpu, under the pi lock).
	wait_until([this, p] {
		for (auto &c : cpus_)
			if (c.curr == p)
				return false;
		return true;
	}, "ttwu: wait on_cpu");
	p->st = TState::Runnable;
	Cpu &me = this_cpu();
	int prev = int(p->ts.thread_info.cpu);
	me.ddsp_task = p;
	s32 cpu = op_select_cpu(p, prev, SCX_WAKE_TTWU);
	me.ddsp_task = nullptr;
	if (cpu < 0 || cpu >= nr_cpus() || !allowed(p, cpu))
		cpu = allowed(p, prev) ? prev : __builtin_ctzl(p->mask.bits[0]);
	p->ts.thread_info.cpu = u32(cpu);	// set_task_cpu()
	Cpu &rq = cpus_[cpu];
	lock(rq.rq, "rq lock (wakeup)");
	enqueue_task_scx(rq, p, SCX_ENQ_WAKEUP);
	task_rq_unlock(rq, p);
}

// sched_fork()/sched_ext_fork() -> ops.init_task, then wake_up_new_task()
void Kernel::ev_fork(Task *p)
{
	if (p->st != TState::Unborn)
		return;
	p->st = TState::Runnable;	// claimed: no second fork, no wakeup
	struct scx_init_task_args args = { true };
	out_.ops_calls++;
	step("ops.init_task");
	if (aqmap_init_task(&p->ts, &args)) {
		p->st = TState::Dead;	// fork failed
		return;
	}
	p->inited = true;
	p->ts.real_parent = this_cpu().curr ? &this_cpu().curr->ts : &tasks_[0].ts;
	lock(p->pi, "pi lock (new task)");	// wake_up_new_task()
	Cpu &me = this_cpu();
	me.ddsp_task = p;
	s32 cpu = op_select_cpu(p, me.id, SCX_WAKE_FORK);
	me.ddsp_task = nullptr;
	if (cpu < 0 || cpu >= nr_cpus() || !allowed(p, cpu))
		cpu = __builtin_ctzl(p->mask.bits[0]);
	p->ts.thread_info.cpu = u32(cpu);
	Cpu &rq = cpus_[cpu];
	lock(rq.rq, "rq lock (new task)");
	enqueue_task_scx(rq, p, 0);
	task_rq_unlock(rq, p);
}

// set_user_nice()/__set_cpus_allowed_ptr(): dequeue (SAVE), change, enqueue
// (RESTORE); a queued task no longer allowed where it is then moves
// (move_queued_task(): dequeue, set_task_cpu, enqueue on the new rq).
void Kernel::ev_set_property(Task *p, const Event &e)
{
	if (p->st == TState::Unborn || p->st == TState::Dead)
		return;
	Cpu *rq = &task_rq_lock(p);
	bool queued = p->ts.scx.flags & SCX_TASK_QUEUED;
	bool running = rq->curr == p;
	if (queued && !running)
		dequeue_task_scx(*rq, p, 0);
	if (e.kind == Ev::Weight) {
		p->ts.scx.weight = e.arg ? e.arg : 1;
	} else {
		u64 m = e.arg & ((1ul << nr_cpus()) - 1);
		p->mask.bits[0] = m ? m : (1ul << nr_cpus()) - 1;
	}
	if (running && queued && !allowed(p, rq->id)) {
		// affine_move_task(): the migration stopper will preempt it on its
		// CPU (see schedule()); until then it runs on.
		p->migrate_pending = true;
		p->slice = 0;
	}
	if (queued && !running) {
		enqueue_task_scx(*rq, p, 0);
		if (!allowed(p, rq->id))
			rq = &move_queued_task(*rq, p);
	}
	task_rq_unlock(*rq, p);
}

// The running task sleeps (dequeue_task_scx with DEQUEUE_SLEEP, then
// __schedule), or exits (the same, then sched_ext_dead() -> ops.exit_task).
void Kernel::ev_sleep_or_exit(bool exit)
{
	Cpu &rq = this_cpu();
	lock(rq.rq, "rq lock (block)");
	Task *p = rq.curr;
	if (p) {
		p->st = exit ? TState::Dead : TState::Sleeping;
		dequeue_task_scx(rq, p, SCX_DEQ_SLEEP);
	}
	unlock(rq.rq);
	schedule(false);
	if (p && exit) {
		Cpu &trq = task_rq_lock(p);
		struct scx_exit_task_args args = { false };
		p->inited = false;
		out_.ops_calls++;
		step("ops.exit_task");
		aqmap_exit_task(&p->ts, &args);
		task_rq_unlock(trq, p);
	}
}

void Kernel::run_event(int c, const Event &e)
{
	Task *p = e.task >= 0 ? &tasks_[e.task] : nullptr;
	if (cfg_.trace)
		out_.trace.push_back(fmt::format("cpu{} event {}", c, event_str(e)));
	switch (e.kind) {
	case Ev::Wake: ev_wake(p); break;
	case Ev::Fork: ev_fork(p); break;
	case Ev::Weight: case Ev::Affinity: ev_set_property(p, e); break;
	case Ev::Sleep: ev_sleep_or_exit(false); break;
	case Ev::Exit: ev_sleep_or_exit(true); break;
	case Ev::Expire: schedule(true); break;
	case Ev::Schedule: schedule(false); break;
	}
	cpus_[c].where = "idle";
}

// ---- running fibers --------------------------------------------------------------

void Kernel::run_fibers(bool choose)
{
	int n = nr_cpus();
	std::vector<int> opts;
	for (;;) {
		opts.clear();
		bool any = false;
		for (int c = 0; c < n; c++) {
			if (fibers_.done(c))
				continue;
			any = true;
			if (!wait_[c] || wait_[c]())
				opts.push_back(c);
		}
		if (!any)
			return;
		if (opts.empty()) {
			std::string who;
			for (int c = 0; c < n; c++)
				if (!fibers_.done(c))
					who += fmt::format(" cpu{}: {};", c, cpus_[c].where);
			out_.ok = false;
			out_.check = check::kDeadlock;
			out_.message = "every CPU is blocked:" + who;
			return;
		}
		if (++out_.steps > cfg_.max_steps) {
			out_.ok = false;
			out_.check = check::kLivelock;
			out_.message = fmt::format("no end after {} steps", cfg_.max_steps);
			return;
		}
		// The default: the CPU that ran last, if it can; else the lowest.
		auto it = std::find(opts.begin(), opts.end(), last_);
		if (it != opts.end())
			std::rotate(opts.begin(), it, it + 1);
		bool preempt = it != opts.end();
		int pick = 0;
		if (choose && opts.size() > 1) {
			pick = chooser_.pick(opts, preempt, out_.steps);
			out_.choices.push_back(uint8_t(pick));
		}
		int c = opts[pick];
		last_ = c;
		clock_ += kStepNs;
		fibers_.resume(c);
		if (ejected_)
			return;
		if (cfg_.trace)
			out_.trace.push_back(fmt::format("  cpu{} > {} | {}", c, cpus_[c].where, state_str()));
		if (!out_.ok)
			return;
	}
}

void Kernel::abort_fibers()
{
	aborting_ = true;
	for (int c = 0; c < nr_cpus(); c++) {
		wait_[c] = nullptr;
		if (!fibers_.done(c))
			fibers_.resume(c);
	}
	aborting_ = false;
}

void Kernel::run_cpu_events(int c, const std::vector<Event> &evs)
{
	fibers_.start(c, [this, c, &evs] {
		try {
			for (auto &e : evs)
				run_event(c, e);
		} catch (const Abort &) {
		}
	});
}

// The liveness bound: every task runnable when the script ends runs within
// drain_rounds rounds in which each CPU has its running task's slice expire.
void Kernel::drain()
{
	int rounds = cfg_.drain_rounds ? cfg_.drain_rounds : 2 * int(tasks_.size()) + 2;
	std::vector<u64> runs0;
	for (auto &t : tasks_)
		runs0.push_back(t.nr_runs);
	static const std::vector<Event> expire = { Event{ Ev::Expire } };
	for (int r = 0; r < rounds; r++) {
		for (int c = 0; c < nr_cpus(); c++) {
			run_cpu_events(c, expire);
			run_fibers(false);
			if (!out_.ok || ejected_)
				return;
			check_quiescent("drain");
			if (!out_.ok)
				return;
		}
	}
	for (auto &t : tasks_) {
		if (t.st != TState::Runnable && t.st != TState::Running)
			continue;
		bool running = false;
		for (auto &c : cpus_)
			running |= c.curr == &t;
		if (t.nr_runs == runs0[t.id] && !running) {
			int f = fifo_of_pid(t.ts.pid);
			out_.ok = false;
			out_.check = check::kLiveness;
			out_.message = fmt::format(
				"{} runnable but not run in {} rounds: ops_state {}, dsq {}, FIFO {}",
				t.ts.comm, rounds, opss_name(ops_state(&t)),
				t.dsq ? (t.dsq->q.id == SCX_DSQ_LOCAL ? fmt::format("local{}", t.dsq->cpu)
								      : fmt::format("{:#x}", t.dsq->q.id))
				      : "none",
				f < 0 ? std::string("none") : std::to_string(f));
			return;
		}
	}
}

void Kernel::run()
{
	// Set-up, one CPU at a time: the scheduler's init, every born task's
	// init_task, and the wakeup of every task that starts queued.
	std::memset(&qa, 0, offsetof(struct qmap_arena, waits));
	std::memset(&qa.custody, 0, sizeof(qa.custody));
	if (aqmap_init())
		throw std::runtime_error("ops sim: aqmap_init failed");
	for (auto &t : tasks_) {
		if (script_.tasks[t.id].start == Start::Unborn)
			continue;
		struct scx_init_task_args args = { false };
		out_.ops_calls++;
		if (aqmap_init_task(&t.ts, &args))
			throw std::runtime_error("ops sim: init_task failed at set-up");
		t.inited = true;
		t.st = TState::Sleeping;
	}
	std::vector<std::vector<Event>> setup(1);
	for (auto &t : tasks_)
		if (script_.tasks[t.id].start == Start::Queued)
			setup[0].push_back(Event{ Ev::Wake, t.id });
	run_cpu_events(0, setup[0]);
	run_fibers(false);
	if (out_.ok && !ejected_)
		check_quiescent("set-up");
	if (out_.ok && !ejected_) {
		for (int c = 0; c < nr_cpus(); c++)
			run_cpu_events(c, script_.cpus[c]);
		faults_on_ = true;	// the script's events only: set-up and drain run clean
		run_fibers(true);
		faults_on_ = false;
		burst_left_ = 0;
	}
	if (out_.ok && !ejected_)
		check_quiescent("end of script");
	if (out_.ok && !ejected_)
		drain();
	abort_fibers();
}

Outcome run_schedule(const Script &script, const SimConfig &cfg, Chooser &chooser)
{
	load_options();
	Outcome out;
	Kernel k(script, cfg, chooser, out);
	g_kernel = &k;
	try {
		k.run();
	} catch (const Abort &) {
		k.abort_fibers();
	}
	g_kernel = nullptr;
	return out;
}

}  // namespace aqops
