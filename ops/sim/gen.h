// Seeded event scripts for overnight exploration (aqops explore --scripts),
// and a greedy shrinker for the script of a failure.  The rapidcheck
// generator of the tests (tests/ops_test.cpp) makes the same kind of script
// and shrinks with rapidcheck's own shrinking.
#pragma once

#include "explore.h"

#include <cstdint>

namespace aqops {

Script generate_script(uint64_t seed, int nr_cpus, int nr_tasks, int events_per_cpu);

// Drops events, then tasks' starting queued, while the script still fails
// @check under @opt (each try explores it again).  Returns the smallest found.
Script shrink_script(const Script &s, const ExploreOptions &opt, const std::string &check);

}  // namespace aqops
