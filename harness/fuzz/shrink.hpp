// What a fuzz FAIL is (its failure class) and how it is made small: the
// shrinker greedily simplifies a failing spec while the same class of failure
// still occurs.  Both are pure: the shrinker runs specs through a callback,
// so it is tested without a kernel (tests/fuzz_test.cpp).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "run/audit.hpp"
#include "fuzz/spec.hpp"

namespace aq {

// One row of the classifier: a failure reason that starts with `prefix` (and
// contains `also`, when given) is of class `klass`.  The first matching row
// wins, so the more specific rows come first; the table's order is also the
// classes' severity, for picking a scenario's primary class.
struct FailureClassRule {
  std::string_view prefix;
  std::string_view also;
  std::string_view klass;
};

inline constexpr FailureClassRule kFailureClasses[] = {
    {"corrupted list", "", "list-corruption"},
    {"conservation mismatch", "", "list-corruption"},
    {"audit failed", "", "list-corruption"},
    {"audit could not take", "", "list-corruption"},
    {"dequeue did not remove", "", "stale-entry"},
    {"scheduler ejected: runnable task stall", "", "kernel-watchdog-stall"},
    {"scheduler ejected", "", "ejected"},
    {"sched_ext state changed", "", "ejected"},
    {"scheduler stall", "", "scheduler-stall"},
    {"stuck task", "", "stuck-task"},
    {"lost task", "", "stuck-task"},
    // After the symptoms it explains: a lost task's custody ends at detach,
    // never taken in the ledger (docs/kernel-tier.md "The custody ledger").
    {"custody protocol violated", "", "custody-protocol"},
    {"slab not whole", "", "slab-leak"},
    {"kernel log:", "", "kernel-log"},
    {"fault injection:", "", "fault-injection"},
    {"stress-ng", "", "stress-ng"},  // "stress-ng failed", "stress-ng still running"
    {"no coverage", "", "coverage"},
};
inline constexpr std::string_view kOtherClass = "other";
// A reason run's checks marked with a host stall (kHostStallMark, audit.hpp) is
// of class host-stall whatever it starts with, and that class ranks last: the
// guest stood still, so such a FAIL says nothing about the scheduler alone.
inline constexpr std::string_view kHostStallClass = "host-stall";

// The class of one failure reason.
std::string classify_reason(std::string_view reason);
// Every class among the reasons, most severe first, each once.
std::vector<std::string> classes_of(const std::vector<std::string>& reasons);
// The most severe class, or "" for no reasons (a PASS).
std::string primary_class(const std::vector<std::string>& reasons);

// Runs one spec and returns its failure reasons (empty: PASS), or nullopt
// when it may not run any more (time allowance used up).
using SpecRunner = std::function<std::optional<std::vector<std::string>>(const FuzzSpec&)>;

struct ShrinkStep {
  std::string change;   // e.g. "drop stressor fork", "halve duration 12 -> 6 s"
  bool kept = false;    // the failure class still occurred: the change stays
};

struct ShrinkResult {
  FuzzSpec minimal;                   // the smallest spec still failing with the class
  std::vector<std::string> failures;  // its reasons, from the last run that failed
  std::vector<ShrinkStep> steps;      // every run, in order
  int runs = 0;
  bool exhausted = false;             // stopped by max_runs or the runner, not by having nothing left to try
};

// The candidate simplifications of a spec, most effective first: drop one
// stressor, remove one churn kind, remove fault injection, halve one
// stressor's instances, halve the duration, drop one global option, put one
// scheduler option back to its default.
std::vector<std::pair<std::string, FuzzSpec>> shrink_candidates(const FuzzSpec& spec);

// Greedy: tries the candidates of the current spec in order and keeps the
// first that still fails with `klass`, then starts over from it; ends when no
// candidate keeps the failure, after max_runs runs, or when the runner says
// stop.
ShrinkResult shrink_spec(const FuzzSpec& failing, const std::vector<std::string>& failures,
                         const std::string& klass, const SpecRunner& run, int max_runs);

}  // namespace aq
