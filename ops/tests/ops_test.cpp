// The ops-level twin's tests (ctest -L ops): the small configuration
// explored bounded-exhaustively, generated scripts under PCT and random
// exploration (rapidcheck shrinks a failing script), and replay.
//
// AQ_OPS_SCALE (default 1; the TSan build sets less) scales the amounts.
#include "explore.h"
#include "gen.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <random>

using namespace aqops;

namespace {

double scale()
{
	const char *s = getenv("AQ_OPS_SCALE");
	return s ? atof(s) : 1.0;
}

std::string small_file() { return AQ_OPS_SCRIPTS "/small.txt"; }

// rapidcheck's script generator: 2 CPUs, 3 tasks, up to 6 events per CPU.
rc::Gen<Script> gen_script()
{
	using namespace rc;
	auto task = gen::build<TaskSpec>(
		gen::set(&TaskSpec::weight, gen::element<uint32_t>(1, 20, 50, 100, 300, 1000, 10000)),
		gen::set(&TaskSpec::mask, gen::inRange<uint32_t>(0, 4)),
		gen::set(&TaskSpec::start, gen::element(Start::Queued, Start::Queued, Start::Asleep, Start::Unborn)));
	auto event = gen::mapcat(gen::element(Ev::Wake, Ev::Sleep, Ev::Expire, Ev::Schedule, Ev::Weight,
					      Ev::Affinity, Ev::Exit, Ev::Fork),
				 [](Ev k) {
					 return gen::build<Event>(
						 gen::set(&Event::kind, gen::just(k)),
						 gen::set(&Event::task, k == Ev::Wake || k == Ev::Fork || k == Ev::Weight ||
										k == Ev::Affinity
									? gen::inRange(0, 3)
									: gen::just(-1)),
						 gen::set(&Event::arg, k == Ev::Weight ? gen::element<uint32_t>(1, 50, 1000)
								       : k == Ev::Affinity ? gen::inRange<uint32_t>(1, 4)
											   : gen::just<uint32_t>(0)));
				 });
	return gen::build<Script>(
		gen::set(&Script::tasks, gen::container<std::vector<TaskSpec>>(3, task)),
		gen::set(&Script::cpus, gen::container<std::vector<std::vector<Event>>>(
						2, gen::resize(6, gen::container<std::vector<Event>>(event)))));
}

// Explores @s with @strategy, seeded by the script itself: the same script
// explores the same schedules, so rapidcheck's shrinking sees a function.
void explore_generated(const Script &s, Strategy strategy, uint64_t schedules)
{
	ExploreOptions o;
	o.strategy = strategy;
	o.max_schedules = schedules;
	o.seed = std::hash<std::string>{}(s.str());
	o.sim.fault_budget = 1;
	ExploreResult r = explore(s, o);
	if (r.failure) {
		RC_LOG() << "FAIL [" << r.failure->check << "] " << r.failure->message << "\n"
			 << "replay: " << r.replay << "\n";
		RC_FAIL("a check failed under " + strategy_name(strategy));
	}
}

}  // namespace

TEST(OpsExhaustive, SmallConfigurationBound2WithALockFailure)
{
	ExploreOptions o;
	o.strategy = Strategy::Dfs;
	o.bound = scale() < 1 ? 1 : 2;
	o.sim.fault_budget = 1;
	uint64_t total = 0;
	auto t0 = std::chrono::steady_clock::now();
	for (auto &text : read_script_file(small_file())) {
		ExploreResult r = explore(Script::parse(text), o);
		ASSERT_FALSE(r.failure) << "[" << r.failure->check << "] " << r.failure->message
					<< "\nreplay: " << r.replay;
		EXPECT_TRUE(r.exhausted);
		total += r.schedules;
	}
	double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	printf("small configuration: %llu schedules, every one within preemption bound %d, %.1f s\n",
	       (unsigned long long)total, o.bound, secs);
}

RC_GTEST_PROP(OpsGenerated, RandomSchedulesOfGeneratedScripts, ())
{
	explore_generated(*gen_script(), Strategy::Random, uint64_t(40 * scale()) + 1);
}

RC_GTEST_PROP(OpsGenerated, PctSchedulesOfGeneratedScripts, ())
{
	explore_generated(*gen_script(), Strategy::Pct, uint64_t(40 * scale()) + 1);
}

TEST(OpsReplay, AReplayStringRerunsItsScheduleExactly)
{
	Script s = generate_script(5, 2, 3, 6);
	ExploreOptions o;
	o.strategy = Strategy::Random;
	o.max_schedules = 1;
	o.sim.fault_budget = 1;
	o.seed = 99;
	// Record one schedule's choices through a failing-free run, then replay.
	ExploreResult r = explore(s, o);
	ASSERT_FALSE(r.failure);
	struct Rec : Chooser {
		std::mt19937_64 rng{ 3 };
		int pick(const std::vector<int> &opts, bool, size_t) override { return int(rng() % opts.size()); }
		bool fail_lock(size_t) override { return rng() % 8 == 0; }
	} rec;
	Outcome first = run_schedule(s, o.sim, rec);
	std::string text = replay_string(s, o.sim, first.choices);
	Replay rp = parse_replay(text);
	EXPECT_EQ(rp.script.str(), s.str());
	Outcome again = replay(rp, true);
	EXPECT_EQ(again.choices, first.choices);
	EXPECT_EQ(again.steps, first.steps);
	EXPECT_EQ(again.faults, first.faults);
	EXPECT_EQ(again.ok, first.ok);
	EXPECT_FALSE(again.trace.empty());
}

TEST(OpsReplay, MalformedInputIsRefusedWithAReason)
{
	for (const char *bad : { "", "aqops2:f0:1m0q;d:", "aqops1:x:1m0q;d:", "aqops1:f0:1m0z;d:",
				 "aqops1:f0:1m0q;w7:", "aqops1:f0:1m0q;d:!", "aqops1:f0:1m0q;q:" })
		EXPECT_THROW(parse_replay(bad), std::invalid_argument) << bad;
}

TEST(OpsScript, TextFormRoundTrips)
{
	for (uint64_t seed = 0; seed < 50; seed++) {
		Script s = generate_script(seed, 3, 4, 5);
		EXPECT_EQ(Script::parse(s.str()).str(), s.str());
	}
}

// ops/README.md, finding 1: a dispatch that popped an older entry claims the
// task's newer custody; the newer entry stays linked while the task waits on
// the shared DSQ, until the ops.dequeue that ends custody removes it.  The
// race exists (DFS reaches it: preemption bound 3, one lock failure that
// widens the dequeue's window) and no check fails on it: not the ledger, and
// not the audit, whose custody predicate the kernel tier's stale-entry rule
// uses (the kill matrix's finding1 column runs the predicate from before).
TEST(OpsFinding, ADispatchCanClaimANewerCustodyThanTheEntryItPopped)
{
	auto texts = read_script_file(AQ_OPS_SCRIPTS "/finding1.txt");
	ASSERT_EQ(texts.size(), 1u);
	Script s = Script::parse(texts[0]);
	ExploreOptions o;
	o.strategy = Strategy::Dfs;
	o.bound = 3;
	o.sim.fault_budget = 1;
	ExploreResult clean = explore(s, o);
	ASSERT_FALSE(clean.failure) << "[" << clean.failure->check << "] " << clean.failure->message;
	EXPECT_TRUE(clean.exhausted);
	o.sim.probe_newer_custody = true;
	ExploreResult probe = explore(s, o);
	ASSERT_TRUE(probe.failure) << "DFS no longer reaches finding 1's state";
	EXPECT_EQ(probe.failure->check, check::kProbe);
	printf("reached after %llu schedules: %s\n", (unsigned long long)probe.schedules, probe.replay.c_str());
}
