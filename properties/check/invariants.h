// The one implementation of the list invariants, used by the properties,
// the concurrency test and the fuzzer.  Checks work on a Snapshot (plain
// data), never dereference anything, and collect every violation instead of
// stopping at the first, so a report names all checks a bug trips.
//
// Check names are stable: the mutant kill matrix greps for "[name]".
#pragma once

#include "model.h"
#include "../twin/twin.h"

#include <map>
#include <string>
#include <vector>

namespace aq {

namespace check {
// Structural (model-free).
inline constexpr const char *kEmpty = "empty";		// head NULL <=> tail NULL <=> len 0
inline constexpr const char *kEnds = "ends";		// head->q_prev, tail->q_next NULL
inline constexpr const char *kLinks = "links";		// next->prev == node, prev->next == node
inline constexpr const char *kOwner = "owner";		// node on FIFO f has fifo == f
inline constexpr const char *kWalk = "walk";		// head reaches tail in exactly len steps
inline constexpr const char *kSingle = "single";	// a context on at most one FIFO, once
inline constexpr const char *kUnqueued = "unqueued-clean";	// unqueued: fifo and links NULL
inline constexpr const char *kCounters = "counters";	// nr_in == nr_popped + nr_removed + len
inline constexpr const char *kSlab = "slab";		// free list vs in_use, no loss
// Against the reference model.
inline constexpr const char *kOrder = "order";		// FIFO contents == model, in order
inline constexpr const char *kConserved = "conserved";	// no task lost or duplicated
inline constexpr const char *kModelCounters = "model-counters";
// Per-operation contract.
inline constexpr const char *kPopFront = "pop-front";	// pop returns the model's front
inline constexpr const char *kRemoveAbsent = "remove-absent";	// -ENOENT, nothing changes
inline constexpr const char *kEnqueueError = "enqueue-error";	// failed lock reported
inline constexpr const char *kPopError = "pop-error";	// failed lock: err set, list intact
inline constexpr const char *kRemoveRetry = "remove-retry";	// retries, then reports
inline constexpr const char *kResult = "result";	// any other return value
inline constexpr const char *kLockLeak = "lock-leak";	// no lock held after an op
inline constexpr const char *kRace = "race";		// preempted op == serial order
inline constexpr const char *kLinearizable = "linearizable";	// concurrent histories
}  // namespace check

struct Violation {
	std::string check;
	std::string what;
};

class Report {
public:
	void add(const char *check, std::string what) { v_.push_back({check, std::move(what)}); }
	bool ok() const { return v_.empty(); }
	const std::vector<Violation> &violations() const { return v_; }
	std::string str() const;	// one "[check] what" per line
	void merge(const Report &o) { v_.insert(v_.end(), o.v_.begin(), o.v_.end()); }

private:
	std::vector<Violation> v_;
};

// Structural invariants of every FIFO, context and the free list.
void check_structure(const Snapshot &s, Report &r);

// The snapshot agrees with the model: contents and order per FIFO, counters,
// membership and liveness of every pid.  @handle maps live pids to the slots
// the twin gave them.
void check_against_model(const Snapshot &s, const Model &m,
			 const std::map<int32_t, int> &handle, Report &r);

// FIFO contents by slot, following q_next from head (bounded by the slab
// size, so a cycle cannot hang it).  For callers that need the lists only.
std::vector<std::vector<int>> fifo_contents(const Snapshot &s);

}  // namespace aq
