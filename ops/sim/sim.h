// The public face of the ops-level twin: run one schedule of an event script
// against scx_aqmap's callbacks under the simulated 7.2 sched_ext core, with
// a Chooser deciding every interleaving and injected lock failure.
#pragma once

#include "script.h"

#include <cstdint>
#include <string>
#include <vector>

namespace aqops {

// Decides each choice point of a schedule.
class Chooser {
public:
	virtual ~Chooser() = default;
	// Which CPU runs the next step.  @options are the CPUs that can run;
	// options[0] is the non-preemptive default (the CPU that ran the last step
	// if it still can, else the lowest).  @preempt: picking any other option
	// preempts a CPU that could have gone on.  Returns an index into @options.
	virtual int pick(const std::vector<int> &options, bool preempt, size_t step) = 0;
	// Does this list-lock acquisition fail (-ETIMEDOUT)?  Asked only while
	// the run's fault budget lasts.
	virtual bool fail_lock(size_t step) = 0;
};

struct SimConfig {
	bool fine_yields = false;	// also yield at helpers that only read
	int fault_budget = 0;		// injected lock failures per schedule, at most
	int fault_burst = 1;		// consecutive failures of that lock per injected one
	int drain_rounds = 0;		// liveness bound in scheduling rounds; 0: 2*tasks+2
	size_t max_steps = 50000;	// a schedule longer than this is a livelock
	bool trace = false;		// keep a readable trace of every step
	bool probe_newer_custody = false;	// stop at finding 1's state (check "probe")
};

struct Outcome {
	bool ok = true;
	std::string check;	// which check failed ("custody", "liveness", ...)
	std::string message;
	std::vector<uint8_t> choices;	// every decision, in order: replays the run
	std::vector<std::string> trace;
	size_t steps = 0;
	int faults = 0;
	bool ejected = false;	// the scheduler ejected itself as documented (see kernel.cpp)
	// Quiescent points at which a task waited on a user DSQ while the FIFO
	// entry of its current custody was still linked (ops/README.md, finding 1).
	uint64_t newer_custody_entries = 0;
	uint64_t ops_calls = 0;	// scheduler callbacks invoked
};

// Runs one schedule.  Not reentrant: one simulator per process.
Outcome run_schedule(const Script &script, const SimConfig &cfg, Chooser &chooser);

// The check names (stable: the kill matrix and the tests grep for them).
namespace check {
inline constexpr const char *kProbe = "probe";		// not a check: the state --probe searches for
inline constexpr const char *kKernel = "kernel";	// a kernel WARN/BUG the ops would trip
inline constexpr const char *kScxError = "scx-error";	// scx_bpf_error() without injected faults' license
inline constexpr const char *kPlace = "place";		// runnable task in != 1 place
inline constexpr const char *kStale = "stale";		// FIFO entry whose task is not in custody by it
inline constexpr const char *kAudit = "audit";		// the kernel tier's audit judges custody otherwise
inline constexpr const char *kCustody = "custody";	// ops.dequeue/running left the task linked
inline constexpr const char *kLedger = "ledger";	// the scheduler's custody ledger (bpf/aqmap_custody.h)
inline constexpr const char *kLiveness = "liveness";	// runnable task did not run within the bound
inline constexpr const char *kList = "list";		// properties/check structure and counters
inline constexpr const char *kOrder = "order";		// a FIFO serves its entries in the order linked
inline constexpr const char *kContext = "context";	// a context in use per live task, none else
inline constexpr const char *kDeadlock = "deadlock";	// every CPU blocked
inline constexpr const char *kLivelock = "livelock";	// max_steps exceeded
}  // namespace check

}  // namespace aqops
