// Exploring the schedules of one event script:
//   dfs     bounded-exhaustive: every schedule with at most `bound`
//           preemptions (a switch away from a CPU that could go on), each
//           once, in depth-first order (stateless: each schedule re-runs
//           from the start with a prefix of choices);
//   pct     probabilistic concurrency testing: random CPU priorities and
//           depth-1 priority change points (finds a bug of depth d with
//           probability >= 1/(n k^(d-1)) per run);
//   random  a uniformly random CPU at every choice point.
// Every schedule is a choice sequence; with the script it is the replay
// string, "aqops1:<script>:<choices>", which reruns exactly that schedule.
#pragma once

#include "sim.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace aqops {

enum class Strategy { Dfs, Pct, Random };

struct ExploreOptions {
	Strategy strategy = Strategy::Dfs;
	int bound = 2;			// dfs: preemption bound
	int depth = 3;			// pct: bug depth d
	uint64_t seed = 1;		// pct, random
	uint64_t max_schedules = 0;	// 0: dfs until exhausted; pct/random: 1000
	double fault_rate = 0.05;	// pct/random: chance a lock acquisition fails
	SimConfig sim;
};

struct ExploreResult {
	uint64_t schedules = 0;
	bool exhausted = false;		// dfs covered every schedule within the bound
	std::optional<Outcome> failure;	// the first failing schedule
	std::string replay;		// its replay string
};

ExploreResult explore(const Script &script, const ExploreOptions &opt);

// Replay strings.
std::string replay_string(const Script &script, const SimConfig &cfg, const std::vector<uint8_t> &choices);
struct Replay {
	Script script;
	SimConfig sim;
	std::vector<uint8_t> choices;
};
Replay parse_replay(const std::string &s);	// throws std::invalid_argument
Outcome replay(const Replay &r, bool trace);

std::string strategy_name(Strategy s);

}  // namespace aqops
