// Cooperative fibers (Boost.Context): one per simulated CPU.  The explorer runs
// on the main context and resumes one fiber at a time; a fiber runs until its
// next yield point.  Everything is single-threaded, so a schedule is a pure
// function of its choices and replays exactly.
//
// Boost.Context rather than threads or ucontext: a handoff between threads
// costs a futex wake and a wait; glibc's swapcontext makes a sigprocmask
// system call at every switch, and took 80% of the time of a schedule
// (4,300 schedules/s; ops/README.md, "Speed").  Under ThreadSanitizer the
// switches are announced through its fiber API, so the TSan build runs the
// same code.
#pragma once

#include <functional>
#include <memory>
#include <vector>

namespace aqops {

class Fibers {
public:
	explicit Fibers(int n, size_t stack_bytes = 256 * 1024);
	~Fibers();
	Fibers(const Fibers &) = delete;
	Fibers &operator=(const Fibers &) = delete;

	int size() const;
	// (Re)start fiber @i with @body; any earlier run of it is abandoned.
	void start(int i, std::function<void()> body);
	// From the main context: run fiber @i until it yields or returns.
	void resume(int i);
	// From a fiber: back to the main context.  No-op on the main context.
	void yield();
	bool done(int i) const;
	int current() const;	// the running fiber, -1 on the main context

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

}  // namespace aqops
