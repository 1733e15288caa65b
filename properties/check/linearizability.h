// Wing & Gong linearizability check (with Lowe's memoisation of
// (linearised set, abstract state) pairs, as in WGL/Knossos/porcupine) of a
// concurrent history of FIFO operations against the sequential contract of
// the list header.  All FIFOs form one object: remove(task) acts on
// whichever FIFO holds the task, so per-queue locality does not split it.
//
// Histories are checked window by window: the caller quiesces all threads
// between windows and passes the observed state at both ends, so each search
// is small (<= 64 ops) and the end state must be one a linearisation reaches.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aq {

struct LinOp {
	enum Kind : uint8_t { Enqueue, Pop, Remove } kind;
	int thread = 0;
	int handle = -1;	// enqueue/remove: the task; pop: what it returned (-1: NULL)
	int fifo = -1;		// enqueue/pop: the FIFO
	int ret = 0;		// enqueue/remove return; pop: *err
	uint64_t inv = 0, resp = 0;	// logical timestamps, inv < resp
};
std::string to_string(const LinOp &op);

using FifoState = std::vector<std::vector<int>>;	// per FIFO, handles head first

struct LinResult {
	bool ok = false;
	uint64_t states_explored = 0;
	std::string why;	// on failure: the history, for the report
};

LinResult check_linearizable(const std::vector<LinOp> &history, const FifoState &start,
			     const FifoState &end);

}  // namespace aq
