#include "fiber.h"

#include <boost/context/fiber.hpp>
#include <boost/context/stack_context.hpp>

#include <stdexcept>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AQOPS_TSAN 1
#endif
#endif
#ifdef AQOPS_TSAN
extern "C" {
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
}
#endif

namespace ctx = boost::context;

namespace aqops {

namespace {

// Hands each fiber its own stack, made once: a schedule starts its fibers
// again and again, and a fresh 256 KiB stack each time costs page faults.
struct KeptStack {
	std::vector<char> *mem;
	ctx::stack_context allocate()
	{
		ctx::stack_context sc;
		sc.size = mem->size();
		sc.sp = mem->data() + mem->size();
		return sc;
	}
	void deallocate(ctx::stack_context &) noexcept {}
};

}  // namespace

struct Fibers::Impl {
	struct Fiber {
		std::vector<char> stack;
		ctx::fiber self;	// the fiber, while suspended
		ctx::fiber main;	// the main context, while the fiber runs
		std::function<void()> body;
		bool done = true;
		void *tsan = nullptr;
	};
	std::vector<Fiber> f;
	void *tsan_main = nullptr;
	int cur = -1;
};

Fibers::Fibers(int n, size_t stack_bytes) : impl_(std::make_unique<Impl>())
{
	impl_->f.resize(n);
	for (auto &fb : impl_->f) {
		fb.stack.resize(stack_bytes);
#ifdef AQOPS_TSAN
		fb.tsan = __tsan_create_fiber(0);
#endif
	}
#ifdef AQOPS_TSAN
	impl_->tsan_main = __tsan_get_current_fiber();
#endif
}

Fibers::~Fibers()
{
	for (auto &fb : impl_->f)
		fb.self = ctx::fiber();	// unwinds a fiber left suspended
#ifdef AQOPS_TSAN
	for (auto &fb : impl_->f)
		__tsan_destroy_fiber(fb.tsan);
#endif
}

int Fibers::size() const { return int(impl_->f.size()); }

// Each fiber is made once and then loops: run the body it was given, report
// done, wait for the next.  A run never leaves frames behind (a body ends by
// returning or by an exception caught inside it), which also keeps
// ThreadSanitizer's shadow stack of each fiber balanced.
void Fibers::start(int i, std::function<void()> body)
{
	auto &fb = impl_->f.at(i);
	if (!fb.done)
		throw std::logic_error("fibers: start of a fiber that is still running");
	fb.body = std::move(body);
	fb.done = false;
	if (fb.self)
		return;
	Impl *impl = impl_.get();
	fb.self = ctx::fiber(std::allocator_arg, KeptStack{ &fb.stack }, [impl, i](ctx::fiber &&main) {
		Impl::Fiber &me = impl->f[i];
		me.main = std::move(main);
		for (;;) {
			me.body();
			me.body = nullptr;
			me.done = true;
			impl->cur = -1;
#ifdef AQOPS_TSAN
			__tsan_switch_to_fiber(impl->tsan_main, 0);
#endif
			me.main = std::move(me.main).resume();
		}
		return std::move(me.main);
	});
}

void Fibers::resume(int i)
{
	auto &fb = impl_->f.at(i);
	if (fb.done || impl_->cur != -1)
		throw std::logic_error("fibers: resume of a finished fiber, or from a fiber");
	impl_->cur = i;
#ifdef AQOPS_TSAN
	__tsan_switch_to_fiber(fb.tsan, 0);
#endif
	fb.self = std::move(fb.self).resume();
}

void Fibers::yield()
{
	int i = impl_->cur;
	if (i < 0)
		return;
	auto &fb = impl_->f[i];
	impl_->cur = -1;
#ifdef AQOPS_TSAN
	__tsan_switch_to_fiber(impl_->tsan_main, 0);
#endif
	fb.main = std::move(fb.main).resume();
	// Resumed: resume() set cur and switched TSan back to this fiber.
}

bool Fibers::done(int i) const { return impl_->f.at(i).done; }
int Fibers::current() const { return impl_->cur; }

}  // namespace aqops
