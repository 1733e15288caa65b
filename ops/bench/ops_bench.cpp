// Schedules explored per second on one core, per strategy (the aim:
// 10,000/s or more for random exploration), and the context switch the
// simulator is built on against glibc's swapcontext, as a ratio measured in
// the same run (ops/README.md, "Speed").
//
//   build/default/ops/ops_bench [--benchmark_filter=...]
#include "explore.h"
#include "fiber.h"
#include "gen.h"

#include <benchmark/benchmark.h>
#include <ucontext.h>

using namespace aqops;

namespace {

void schedules(benchmark::State &state, Strategy strategy)
{
	ExploreOptions o;
	o.strategy = strategy;
	o.max_schedules = 100;
	o.sim.fault_budget = 1;
	uint64_t n = 0, seed = 0;
	for (auto _ : state) {
		Script s = generate_script(seed++, 2, 3, 6);
		o.seed = seed;
		ExploreResult r = explore(s, o);
		if (r.failure)
			state.SkipWithError(("a check failed: " + r.replay).c_str());
		n += r.schedules;
	}
	state.counters["schedules/s"] = benchmark::Counter(double(n), benchmark::Counter::kIsRate);
}

void BM_Random(benchmark::State &s) { schedules(s, Strategy::Random); }
void BM_Pct(benchmark::State &s) { schedules(s, Strategy::Pct); }
void BM_Dfs(benchmark::State &s) { schedules(s, Strategy::Dfs); }

// One round trip main -> fiber -> main.
void BM_SwitchBoostContext(benchmark::State &state)
{
	Fibers f(1);
	bool stop = false;
	f.start(0, [&] {
		while (!stop)
			f.yield();
	});
	for (auto _ : state)
		f.resume(0);
	stop = true;
	f.resume(0);
}

ucontext_t g_main, g_fib;
void ucontext_body()
{
	for (;;)
		swapcontext(&g_fib, &g_main);
}

void BM_SwitchUcontext(benchmark::State &state)
{
	static std::vector<char> stack(256 * 1024);
	getcontext(&g_fib);
	g_fib.uc_stack.ss_sp = stack.data();
	g_fib.uc_stack.ss_size = stack.size();
	g_fib.uc_link = nullptr;
	makecontext(&g_fib, ucontext_body, 0);
	for (auto _ : state)
		swapcontext(&g_main, &g_fib);
}

}  // namespace

BENCHMARK(BM_Random)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Pct)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Dfs)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SwitchBoostContext);
BENCHMARK(BM_SwitchUcontext);
BENCHMARK_MAIN();
