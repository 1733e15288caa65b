// The simulated sched_ext core (inside of ops/sim; see sim.h for the face).
// Follows kernel/sched/ext/ext.c of Debian's linux-source-7.2 (7.2.13); the
// functions it models are named in kernel.cpp.  ops/README.md, "The kernel
// model", says what is modelled, what is not, and the locking rules that
// decide which interleavings exist.
#pragma once

#include "fiber.h"
#include "sim.h"
#include "vmlinux.h"

#define AQMAP_LIST_TYPES_ONLY
#include "aqmap_arena.h"
#undef AQMAP_LIST_TYPES_ONLY

#include <deque>
#include <functional>
#include <string>
#include <vector>

// The scheduler under test (bpf/scx_aqmap.bpf.c, compiled natively).
extern "C" {
extern struct qmap_arena qa;
extern const volatile u32 max_tasks;
s32 aqmap_select_cpu(struct task_struct *p, s32 prev_cpu, u64 wake_flags);
void aqmap_enqueue(struct task_struct *p, u64 enq_flags);
void aqmap_dequeue(struct task_struct *p, u64 deq_flags);
void aqmap_dispatch(s32 cpu, struct task_struct *prev);
void aqmap_running(struct task_struct *p);
void aqmap_tick(struct task_struct *p);
s32 aqmap_init_task(struct task_struct *p, struct scx_init_task_args *args);
void aqmap_exit_task(struct task_struct *p, struct scx_exit_task_args *args);
s32 aqmap_init(void);
int aqmap_audit(void *ctx);	// the kernel tier's audit program (SEC("syscall"))
}

namespace aqops {

enum class TState { Unborn, Sleeping, Runnable, Running, Dead };

struct SimLock {
	int holder = -1;	// CPU, -1 when free
};

struct Dsq;

struct Task {
	struct task_struct ts;	// what the scheduler sees
	int id = 0;
	TState st = TState::Unborn;
	struct cpumask mask = {};
	int holding_cpu = -1;		// p->scx.holding_cpu
	int sticky_cpu = -1;		// p->scx.sticky_cpu
	u64 ddsp_dsq_id = SCX_DSQ_INVALID;
	u64 ddsp_enq_flags = 0;
	u64 slice = 0;
	u64 ran_at = 0;			// clock when it last got a CPU
	u64 nr_runs = 0;		// times it got a CPU
	bool inited = false;		// init_task succeeded, exit_task not yet run
	bool stor_live = false;
	alignas(16) unsigned char stor[64];	// its task-storage value
	Dsq *dsq = nullptr;		// == ts.scx.dsq, as the simulator's type
	SimLock pi;			// p->pi_lock
	bool migrating = false;		// p->on_rq == TASK_ON_RQ_MIGRATING
	bool migrate_pending = false;	// running outside its new mask: the stopper is due
	int custody_in = 0, custody_out = 0;	// the kernel's ledger
};

struct Dsq {
	struct scx_dispatch_q q;
	std::deque<Task *> list;
	SimLock lock;
	int cpu = -1;	// local DSQs: its CPU
};

struct BufEnt {
	Task *p;
	u64 qseq;
	u64 dsq_id;
	u64 enq_flags;
};

struct Cpu {
	int id = 0;
	SimLock rq;
	Dsq local;
	Task *curr = nullptr;
	std::vector<BufEnt> buf;	// the dispatch buffer (dsp_ctx)
	int nr_dispatched = 0;		// dspc->nr_tasks
	Task *ddsp_task = nullptr;	// direct_dispatch_task; kDdspSpent after use
	bool in_dispatch = false;
	std::string where = "idle";	// trace: what this CPU is doing
};

// Thrown inside a fiber to unwind it when the run stops.
struct Abort {};

class Kernel {
public:
	Kernel(const Script &s, const SimConfig &cfg, Chooser &ch, Outcome &out);

	void run();	// set-up, the script, the checks, the liveness drain
	void abort_fibers();	// unwind every fiber still running

	// -- used by the kfunc shims ------------------------------------------
	void step(const char *what);		// a yield point
	void helper_step(const char *what);	// a yield point in fine mode only
	Cpu &this_cpu();
	Task *task_of(const struct task_struct *p);
	Task *task_by_pid(int pid);
	Dsq *user_dsq(u64 id);
	Dsq *find_dsq_for_dispatch(Cpu &rq, u64 id, Task *p);
	void create_dsq(u64 id);
	bool cpu_idle(int c) const;
	int nr_cpus() const { return int(cpus_.size()); }
	Cpu &cpu(int c) { return cpus_[c]; }
	u64 now() const { return clock_; }
	Task *task_at(int i) { return i < int(tasks_.size()) ? &tasks_[i] : nullptr; }
	int res_lock(struct bpf_res_spin_lock *l);
	void res_unlock(struct bpf_res_spin_lock *l);
	void scx_error(const std::string &msg);
	void dsq_insert(Task *p, u64 dsq_id, u64 slice, u64 enq_flags);
	bool move_to_local(u64 dsq_id);
	void fail(const char *check, const std::string &msg);	// throws Abort
	void kernel_bug(const std::string &msg) { fail(check::kKernel, msg); }

private:
	// kernel paths (kernel.cpp), named after ext.c / core.c
	void ev_wake(Task *p);
	void ev_fork(Task *p);
	void ev_set_property(Task *p, const Event &e);
	void ev_sleep_or_exit(bool exit);
	void schedule(bool expire);
	void enqueue_task_scx(Cpu &rq, Task *p, u64 enq_flags);
	void do_enqueue_task(Cpu &rq, Task *p, u64 enq_flags, int sticky_cpu);
	void direct_dispatch(Task *p, u64 enq_flags);
	void dispatch_enqueue(Cpu &rq, Dsq &dsq, Task *p, u64 enq_flags);
	void local_dsq_post_enq(Cpu &rq, Task *p);
	bool task_leave_custody(Task *p);
	void dequeue_task_scx(Cpu &rq, Task *p, u64 core_flags);
	void ops_dequeue(Cpu &rq, Task *p, u64 deq_flags);
	void dispatch_dequeue(Cpu &rq, Task *p);
	void task_unlink_from_dsq(Task *p, Dsq &dsq);
	bool consume_dispatch_q(Cpu &rq, Dsq &dsq);
	void move_remote_task_to_local_dsq(Task *p, Cpu &src, Cpu &dst);
	void finish_dispatch(Cpu &rq, const BufEnt &e);
	void flush_dispatch_buf(Cpu &rq);
	void balance(Cpu &rq, Task *prev);
	void set_next_task(Cpu &rq, Task *p);
	void migration_stop(Cpu &rq, Task *p);
	Cpu &move_queued_task(Cpu &rq, Task *p);
	Cpu &task_rq_lock(Task *p);
	void task_rq_unlock(Cpu &rq, Task *p);
	void lock(SimLock &l, const char *what);
	void unlock(SimLock &l);
	void wait_until(const std::function<bool()> &cond, const char *what);
	long ops_state(Task *p) const { return p->ts.scx.ops_state.counter; }
	void set_ops_state(Task *p, long v, const char *what);
	bool allowed(const Task *p, int c) const { return p->mask.bits[0] & (1ul << c); }

	// ops callbacks: count, trace, and check what must hold after each
	void op_enqueue(Task *p, u64 flags);
	void op_dequeue(Task *p, u64 flags);
	s32 op_select_cpu(Task *p, s32 prev, u64 flags);

	// checks (checks.cpp)
	void check_quiescent(const char *when);
	void check_not_linked(Task *p, const char *after);
	void check_ledger();
	const struct aq_audit &run_audit();
	void check_audit_verdict(const char *when, const struct aq_audit &au, const struct task_ctx &e, size_t f,
				 bool in_custody);
	void check_ledger_agrees(const char *when);
	void check_order(const char *when, const std::vector<std::vector<int>> &contents);
	void check_contexts(const char *when);
	int fifo_of_pid(int pid) const;
	std::string state_str() const;

	void run_cpu_events(int c, const std::vector<Event> &evs);
	void run_event(int c, const Event &e);
	void run_fibers(bool choose);
	void drain();

	const Script &script_;
	const SimConfig &cfg_;
	Chooser &chooser_;
	Outcome &out_;
	std::vector<Task> tasks_;
	std::vector<Cpu> cpus_;
	std::deque<Dsq> user_dsqs_;
	Dsq global_;
	Fibers &fibers_;	// kept across runs: stacks are costly to make
	std::vector<std::function<bool()>> wait_;	// per fiber: may it run?
	u64 clock_ = 1000000000;	// ns; starts at 1 s so "now - age" never wraps
	int last_ = -1;			// CPU of the last step
	int nr_res_locks_ = 0;
	bool aborting_ = false;
	bool ejected_ = false;
	bool faults_on_ = false;
	int burst_left_ = 0;				// failures still due on burst_lock_
	const struct bpf_res_spin_lock *burst_lock_ = nullptr;
	std::vector<std::vector<std::pair<int, u64>>> fifo_seen_;	// last quiescent FIFOs: (pid, enq_seq)
	std::vector<u64> fifo_popped_seen_;				// ... and their nr_popped
};

Kernel &kernel();	// the live one (kfunc shims)

}  // namespace aqops
