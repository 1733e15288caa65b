// aqops: explore the schedules of an event script against scx_aqmap's
// callbacks under the simulated 7.2 sched_ext core, or replay one.
//
//   aqops explore --script S [--strategy dfs|pct|random] [--bound 2]
//                 [--depth 3] [--seed N] [--schedules N] [--faults N]
//                 [--fine] [--scripts N --events N]  (generated scripts)
//   aqops replay  --replay 'aqops1:...' [--trace]
//
// Exit codes: 0 no failure, 1 a check failed (the replay string and a
// rerun command are printed), 2 bad input.
#include "explore.h"
#include "gen.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>

using namespace aqops;

namespace {

void print_failure(const char *argv0, const ExploreResult &r, const std::string &script)
{
	const Outcome &o = *r.failure;
	fmt::print("FAIL [{}] {}\n", o.check, o.message);
	fmt::print("script: {}\n", script);
	fmt::print("schedule {} ({} steps, {} injected lock failures)\n", r.schedules, o.steps, o.faults);
	fmt::print("replay: {}\n", r.replay);
	fmt::print("rerun: {} replay --trace --replay '{}'\n", argv0, r.replay);
}

}  // namespace

int main(int argc, char **argv)
{
	CLI::App app{ "aqops: scx_aqmap's callbacks under a simulated sched_ext core" };
	app.require_subcommand(1);

	ExploreOptions opt;
	std::vector<std::string> script_texts;
	std::string strategy = "dfs";
	uint64_t nr_scripts = 0;
	int nr_events = 6, nr_tasks = 3, nr_cpus = 2;
	bool shrink = true;
	auto *ex = app.add_subcommand("explore", "explore one script's schedules, or generated scripts'");
	ex->add_option("--script", script_texts, "event script (ops/README.md, 'Scripts'); may repeat");
	std::string script_file;
	ex->add_option("--script-file", script_file, "event scripts, one per line ('#' starts a comment)")
		->check(CLI::ExistingFile);
	ex->add_option("--strategy", strategy, "dfs, pct or random")
		->check(CLI::IsMember({ "dfs", "pct", "random" }));
	ex->add_option("--bound", opt.bound, "dfs: preemption bound")->check(CLI::Range(0, 16));
	ex->add_option("--depth", opt.depth, "pct: bug depth")->check(CLI::Range(1, 16));
	ex->add_option("--seed", opt.seed, "pct, random, generated scripts: seed");
	ex->add_option("--schedules", opt.max_schedules, "schedules per script (0: dfs exhausts, else 1000)");
	ex->add_option("--faults", opt.sim.fault_budget, "injected lock failures per schedule, at most")
		->check(CLI::Range(0, 2));
	ex->add_option("--fault-burst", opt.sim.fault_burst,
		       "an injected failure fails that lock this many times in a row (16: the "
		       "documented ejection)")->check(CLI::Range(1, 64));
	ex->add_flag("--probe-newer-custody", opt.sim.probe_newer_custody,
		     "search for a schedule reaching finding 1's state (ops/README.md) and print it");
	ex->add_flag("--fine", opt.sim.fine_yields, "also switch CPUs at helpers that only read");
	ex->add_option("--scripts", nr_scripts, "generate this many scripts instead of --script");
	ex->add_option("--events", nr_events, "generated scripts: events per CPU")->check(CLI::Range(1, 32));
	ex->add_option("--tasks", nr_tasks, "generated scripts: tasks")->check(CLI::Range(1, 16));
	ex->add_option("--cpus", nr_cpus, "generated scripts: CPUs")->check(CLI::Range(1, 8));
	ex->add_flag("!--no-shrink", shrink, "report the failing script as found, unshrunk");
	double budget = 0;
	ex->add_option("--budget", budget, "generated scripts: stop after this many seconds (0: none)")
		->check(CLI::NonNegativeNumber);

	std::string replay_text;
	bool trace = false;
	auto *rp = app.add_subcommand("replay", "rerun one schedule exactly");
	rp->add_option("--replay", replay_text, "replay string printed by explore")->required();
	rp->add_flag("--trace", trace, "print every step: who ran what, and the state after");

	try {
		app.parse(argc, argv);
	} catch (const CLI::ParseError &e) {
		return app.exit(e) ? 2 : 0;
	}

	try {
		if (rp->parsed()) {
			Replay r = parse_replay(replay_text);
			Outcome o = replay(r, trace);
			for (auto &l : o.trace)
				fmt::print("{}\n", l);
			if (o.ok) {
				fmt::print("PASS ({} steps): the schedule no longer fails\n", o.steps);
				return 0;
			}
			fmt::print("FAIL [{}] {}\n", o.check, o.message);
			return 1;
		}
		opt.strategy = strategy == "dfs" ? Strategy::Dfs : strategy == "pct" ? Strategy::Pct : Strategy::Random;
		if (!script_file.empty())
			for (auto &t : read_script_file(script_file))
				script_texts.push_back(t);
		if (script_texts.empty() == !nr_scripts) {
			fmt::print(stderr, "aqops: give --script or --scripts N\n");
			return 2;
		}
		std::vector<Script> scripts;
		for (auto &t : script_texts)
			scripts.push_back(Script::parse(t));
		auto t0 = std::chrono::steady_clock::now();
		uint64_t total = 0;
		uint64_t nr = nr_scripts ? nr_scripts : scripts.size();
		for (uint64_t i = 0; i < nr; i++) {
			if (budget > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > budget) {
				nr = i;
				break;
			}
			Script s = nr_scripts ? generate_script(opt.seed + i, nr_cpus, nr_tasks, nr_events)
					      : scripts[i];
			ExploreResult r = explore(s, opt);
			total += r.schedules;
			if (r.failure) {
				if (shrink) {
					Script small = shrink_script(s, opt, r.failure->check);
					ExploreResult r2 = explore(small, opt);
					if (r2.failure) {
						fmt::print("shrunk the script from {} to {} events\n",
							   s.nr_events(), small.nr_events());
						s = small;
						r = r2;
					}
				}
				double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
				fmt::print("found after {:.2f} s and {} schedules\n", secs, total);
				print_failure(argv[0], r, s.str());
				return 1;
			}
			if (!nr_scripts)
				fmt::print("{}: {} schedules{}, no failure\n", strategy_name(opt.strategy),
					   r.schedules, r.exhausted ? fmt::format(" (all within bound {})", opt.bound) : "");
		}
		double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
		fmt::print("PASS: {} script(s), {} schedules in {:.1f} s ({:.0f}/s), strategy {}\n",
			   nr, total, secs, total / std::max(secs, 1e-9),
			   strategy_name(opt.strategy));
		return 0;
	} catch (const std::invalid_argument &e) {
		fmt::print(stderr, "aqops: {}\n", e.what());
		return 2;
	}
}
