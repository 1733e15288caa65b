// The only translation unit that sees the list implementation: it includes
// the header named by AQ_LIST_HEADER (a compile definition set by CMake), so
// the same suite runs against bpf/aqmap_list.h or any patched copy of it.
#include "aqmap_twin_compat.h"

#ifndef AQ_LIST_HEADER
#error "AQ_LIST_HEADER must name the list header under test"
#endif
#include AQ_LIST_HEADER

#include "twin.h"

#include <stdexcept>

static_assert(QMAP_NR_FIFOS <= AQ_TWIN_MAX_FIFOS, "twin has too few FIFO locks");

namespace aq {
namespace {
// The FIFO array of the live twin, for qmap_fifo_at(); one twin at a time,
// created and destroyed while no operation runs.
std::atomic<qmap_fifo *> g_fifos{nullptr};
}  // namespace
}  // namespace aq

struct qmap_fifo *aq_twin_fifo_at(int idx)
{
	qmap_fifo *f = aq::g_fifos.load(std::memory_order_relaxed);
	return f && idx >= 0 && idx < QMAP_NR_FIFOS ? &f[idx] : nullptr;
}

namespace aq {

struct Twin::Impl {
	std::vector<task_ctx> slab;
	qmap_fifo fifos[QMAP_NR_FIFOS] = {};
	task_ctx *free_head = nullptr;

	int handle_of(const task_ctx *t) const
	{
		if (!t)
			return kNone;
		if (t < slab.data() || t >= slab.data() + slab.size())
			return kWild;
		return int(t - slab.data());
	}
	int fifo_of(const qmap_fifo *f) const
	{
		if (!f)
			return kNone;
		if (f < fifos || f >= fifos + QMAP_NR_FIFOS)
			return kWild;
		return int(f - fifos);
	}
	task_ctx *ctx(int handle)
	{
		if (handle < 0 || size_t(handle) >= slab.size())
			throw std::out_of_range("twin: bad handle");
		return &slab[handle];
	}
	qmap_fifo *fifo(int idx)
	{
		if (idx < 0 || idx >= QMAP_NR_FIFOS)
			throw std::out_of_range("twin: bad fifo");
		return &fifos[idx];
	}
};

Twin::Twin(int nr_slots) : impl_(std::make_unique<Impl>())
{
	g_fifos.store(impl_->fifos);
	// A fresh twin starts with free locks even if a (mutant) run leaked one.
	reset_all_locks();
	impl_->slab.resize(nr_slots);
	for (int i = 0; i < QMAP_NR_FIFOS; i++)
		impl_->fifos[i].idx = i;
	qmap_slab_init(impl_->slab.data(), u32(nr_slots), &impl_->free_head);
}

Twin::~Twin()
{
	g_fifos.store(nullptr);
}

int Twin::nr_fifos() { return QMAP_NR_FIFOS; }
int Twin::lock_retries() { return QMAP_LOCK_RETRIES; }
int Twin::nr_slots() const { return int(impl_->slab.size()); }

int Twin::alloc(int32_t pid)
{
	return impl_->handle_of(qmap_slab_alloc(&impl_->free_head, pid));
}

int Twin::free(int handle)
{
	return qmap_slab_free(&impl_->free_head, impl_->ctx(handle));
}

int Twin::enqueue(int handle, int fifo, uint64_t seq)
{
	return qmap_fifo_enqueue(impl_->fifo(fifo), impl_->ctx(handle), seq);
}

int Twin::pop(int fifo, int *err)
{
	return impl_->handle_of(qmap_fifo_pop(impl_->fifo(fifo), err));
}

int Twin::remove(int handle)
{
	return qmap_fifo_remove(impl_->ctx(handle));
}

Snapshot Twin::snapshot() const
{
	Snapshot s;
	s.ctx.reserve(impl_->slab.size());
	for (const task_ctx &t : impl_->slab)
		s.ctx.push_back(CtxView{impl_->handle_of(t.next_free), impl_->handle_of(t.q_next),
					impl_->handle_of(t.q_prev), impl_->fifo_of(t.fifo), t.enq_seq,
					t.pid, t.in_use});
	for (const qmap_fifo &f : impl_->fifos)
		s.fifo.push_back(FifoView{impl_->handle_of(f.head), impl_->handle_of(f.tail), f.idx,
					  f.nr_in, f.nr_popped, f.nr_removed, f.len});
	s.free_head = impl_->handle_of(impl_->free_head);
	return s;
}

} // namespace aq
