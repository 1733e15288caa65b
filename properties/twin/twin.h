// The userspace twin: the list header's functions run natively over an
// arena-like slab of task contexts.  This interface does not depend on the
// list header, so the property tests, the fuzzer and the checkers are built
// once and linked against any twin (the real header or a mutant); only
// twin.cpp, which #includes AQ_LIST_HEADER, is compiled per implementation.
//
// Contexts are named by their slot in the slab ("handle"), never by pointer,
// so everything a check sees is plain data (Snapshot).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace aq {

constexpr int kNone = -1;	// NULL link / no FIFO
constexpr int kWild = -2;	// pointer outside the slab / fifo array

struct CtxView {
	int next_free = kNone, q_next = kNone, q_prev = kNone, fifo = kNone;
	uint64_t enq_seq = 0;
	int32_t pid = 0;
	uint32_t in_use = 0;
	bool operator==(const CtxView &) const = default;
};

struct FifoView {
	int head = kNone, tail = kNone;
	int32_t idx = 0;
	uint64_t nr_in = 0, nr_popped = 0, nr_removed = 0, len = 0;
	bool operator==(const FifoView &) const = default;
};

// Every field of every context and FIFO, plus the free-list head: the whole
// state of the list code, by value.
struct Snapshot {
	std::vector<CtxView> ctx;
	std::vector<FifoView> fifo;
	int free_head = kNone;
	bool operator==(const Snapshot &) const = default;
};

class Twin {
public:
	explicit Twin(int nr_slots);
	~Twin();
	Twin(const Twin &) = delete;
	Twin &operator=(const Twin &) = delete;

	static int nr_fifos();		// QMAP_NR_FIFOS of the header under test
	static int lock_retries();	// QMAP_LOCK_RETRIES
	int nr_slots() const;

	// The header's operations, one to one.  Return values are the header's.
	int alloc(int32_t pid);			// handle, or kNone (qmap_slab_alloc NULL)
	int free(int handle);			// qmap_slab_free
	int enqueue(int handle, int fifo, uint64_t seq);	// qmap_fifo_enqueue
	int pop(int fifo, int *err);		// qmap_fifo_pop: handle or kNone
	int remove(int handle);			// qmap_fifo_remove

	Snapshot snapshot() const;		// not synchronised: call when quiescent

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

} // namespace aq
