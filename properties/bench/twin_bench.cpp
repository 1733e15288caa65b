// Throughput figures for the twin (the real list header, natively) next to a
// std::list + std::mutex baseline in the same run, and how many rapidcheck
// stateful cases per second the property suite gets through.  Figures only:
// nothing here asserts on timing.
#include "../check/model.h"
#include "../tests/list_commands.h"
#include "../twin/twin.h"

#include <benchmark/benchmark.h>
#include <rapidcheck.h>

#include <list>
#include <mutex>

namespace {

// One task through one FIFO: enqueue then pop (each takes the FIFO lock).
void BM_TwinEnqueuePop(benchmark::State &state)
{
	aq::Twin twin(4);
	int h = twin.alloc(1);
	uint64_t seq = 0;
	int err;
	for (auto _ : state) {
		twin.enqueue(h, 0, ++seq);
		benchmark::DoNotOptimize(twin.pop(0, &err));
	}
	state.SetItemsProcessed(int64_t(state.iterations()) * 2);
}
BENCHMARK(BM_TwinEnqueuePop);

void BM_TwinEnqueueRemove(benchmark::State &state)
{
	aq::Twin twin(4);
	int h = twin.alloc(1);
	uint64_t seq = 0;
	for (auto _ : state) {
		twin.enqueue(h, 0, ++seq);
		benchmark::DoNotOptimize(twin.remove(h));
	}
	state.SetItemsProcessed(int64_t(state.iterations()) * 2);
}
BENCHMARK(BM_TwinEnqueueRemove);

// Baseline: the obvious userspace FIFO.  std::list allocates per node and
// remove uses a saved iterator, i.e. the same O(1) unlink.
struct LockedList {
	std::mutex m;
	std::list<int> q;
};

void BM_ListMutexEnqueuePop(benchmark::State &state)
{
	LockedList l;
	for (auto _ : state) {
		{
			std::lock_guard g(l.m);
			l.q.push_back(1);
		}
		std::lock_guard g(l.m);
		benchmark::DoNotOptimize(l.q.front());
		l.q.pop_front();
	}
	state.SetItemsProcessed(int64_t(state.iterations()) * 2);
}
BENCHMARK(BM_ListMutexEnqueuePop);

void BM_ListMutexEnqueueRemove(benchmark::State &state)
{
	LockedList l;
	for (auto _ : state) {
		std::list<int>::iterator it;
		{
			std::lock_guard g(l.m);
			it = l.q.insert(l.q.end(), 1);
		}
		std::lock_guard g(l.m);
		l.q.erase(it);
	}
	state.SetItemsProcessed(int64_t(state.iterations()) * 2);
}
BENCHMARK(BM_ListMutexEnqueueRemove);

// Stateful property cases per second (generation + twin + all checks after
// every command), at rapidcheck's default sizes.
void BM_RapidcheckCases(benchmark::State &state, aq::props::Mode mode)
{
	rc::detail::TestParams params;
	params.maxSuccess = int(state.range(0));
	params.disableShrinking = true;
	rc::detail::TestMetadata meta;
	meta.id = "bench";
	for (auto _ : state) {
		auto result = rc::detail::checkTestable([mode] { aq::props::check_commands(mode); },
							meta, params);
		if (!result.is<rc::detail::SuccessResult>())
			state.SkipWithError("property failed");
	}
	state.SetItemsProcessed(int64_t(state.iterations()) * state.range(0));
	state.counters["cases/s"] = benchmark::Counter(double(state.iterations() * state.range(0)),
						       benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_RapidcheckCases, sequential, aq::props::Mode::Plain)->Arg(100)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RapidcheckCases, faults, aq::props::Mode::Faults)->Arg(100)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RapidcheckCases, races, aq::props::Mode::Races)->Arg(100)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
