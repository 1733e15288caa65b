// Reference model of the list header's contract: one std::deque per FIFO,
// a membership map, the per-FIFO counters, and the documented reaction to
// lock failures.  Sequential and header-independent; shared by the stateful
// properties, the fuzzer and the benchmarks.
#pragma once

#include <cerrno>
#include <cstdint>
#include <deque>
#include <map>
#include <ostream>
#include <vector>

namespace aq {

// Outcome of the lock acquisitions of one operation, in the order the list
// code makes them: acquisition i fails iff fail[i].  The model consumes it
// exactly like the twin's FaultPolicy::script is consumed, so model and twin
// agree on which acquisition failed.
struct FaultScript {
	std::vector<bool> fail;
	size_t pos = 0;
	bool next_fails() { return pos < fail.size() ? bool(fail[pos++]) : (pos++, false); }
	bool any() const
	{
		for (bool f : fail)
			if (f)
				return true;
		return false;
	}
};
std::ostream &operator<<(std::ostream &os, const std::vector<bool> &script);

struct ModelFifo {
	std::deque<int32_t> q;		// pids, head first
	uint64_t nr_in = 0, nr_popped = 0, nr_removed = 0;
	bool operator==(const ModelFifo &) const = default;
};

struct Model {
	static constexpr int kNotQueued = -1;

	int capacity = 0;		// slab slots
	int retries = 16;		// QMAP_LOCK_RETRIES (contract: remove, alloc and free retry)
	std::vector<ModelFifo> fifos;
	std::map<int32_t, int> where;		// live pid -> FIFO or kNotQueued
	std::map<int32_t, uint64_t> enq_seq;	// live pid -> seq of its last enqueue
	int32_t next_pid = 1;
	uint64_t next_seq = 1;

	Model() = default;
	Model(int capacity, int nr_fifos, int retries)
		: capacity(capacity), retries(retries), fifos(size_t(nr_fifos)) {}

	bool live(int32_t pid) const { return where.count(pid) != 0; }
	bool queued(int32_t pid) const { auto it = where.find(pid); return it != where.end() && it->second >= 0; }
	std::vector<int32_t> live_pids() const;
	std::vector<int32_t> unqueued_pids() const;
	std::vector<int32_t> queued_pids() const;

	// The contract, operation by operation.  Each returns what the header
	// must return and updates the model as the header must update the lists.
	bool alloc(int32_t pid, FaultScript &fs);		// false: NULL expected
	int free(int32_t pid, FaultScript &fs);			// pid must be unqueued
	int enqueue(int32_t pid, int fifo, uint64_t seq, FaultScript &fs);
	int32_t pop(int fifo, int *err, FaultScript &fs);	// pid or -1
	int remove(int32_t pid, FaultScript &fs);
	// ops.exit_task: unlink if queued (remove's retries), then free.
	int exit(int32_t pid, FaultScript &fs);
	// ops.enqueue onto another FIFO: remove (unless absent), then enqueue.
	int move(int32_t pid, int fifo, uint64_t seq, FaultScript &fs);
};

} // namespace aq
