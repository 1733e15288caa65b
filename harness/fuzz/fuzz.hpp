// `aqcheck fuzz`: randomized scenarios (fuzz/spec.hpp) under scx_aqmap for a
// time budget, each judged by run's checks (run_case); a FAIL is rerun to
// tell reproducible from intermittent, shrunk (fuzz/shrink.hpp) and written
// out with the commands that reproduce it on the host.
//
//   aqcheck fuzz --budget 30m [--seed N] [--out DIR] [--stop-on-fail]
//   aqcheck fuzz --replay SPEC [--out DIR]
//
// Output directory:
//   summary.json (schema "aqcheck-fuzz/1"), summary.md, summary.html (report/html.hpp)
//   scenarios/<name>.spec.json, scenarios/<name>.report.json
//   failures/<name>/{spec.json,report.json,kernel.log,shrink.log,minimal.spec.json,minimal.job,reproduce.sh}
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "run/run.hpp"

namespace aq {

struct FuzzOptions {
  std::string budget;             // as given ("30m"); required unless replay
  std::uint64_t seed = 0;         // 0: random, printed
  std::string out_dir;            // "" = out/fuzz-<time>
  std::string ktap;               // KTAP v1 of the summary ("" = none)
  std::string replay;             // a spec file: run exactly that scenario
  bool stop_on_fail = false;
  // In a VM: out_dir as the host sees it (the guest's /out/<x> comes back
  // there), so the reproduce commands name host paths.
  std::string host_out;
  RunConfig base;                 // stress_ng, workloads_dir, host_command
};

// The coverage a session reports: each line sums scheduler counters, one
// dequeue (or neighbouring) path per line.
struct CoverageLine {
  std::string_view label;
  std::array<std::string_view, 2> counters;  // "" = unused slot
};
inline constexpr CoverageLine kFuzzCoverage[] = {
    {"removals", {"nr_deq_removed", ""}},
    {"sched_changes", {"nr_deq_sched_change", ""}},
    {"fifo_moves", {"nr_fifo_changes", ""}},
    {"fallbacks", {"nr_enq_lock_fallback", "nr_pop_lock_fail"}},
    {"hotplug", {"nr_cpu_online", "nr_cpu_offline"}},
};

// Seconds a scenario takes beyond its duration before any is measured
// (attach, stress-ng start-up and reaping, hotplug settling, detach).
inline constexpr int kScenarioOverheadS = 8;

// How far past the budget the reruns and shrinking of FAILs may go, in all.
int shrink_allowance_s(int budget_s);

// The `aqcheck vm --timeout` a fuzz session needs when none is given: the
// budget (or the replayed scenario), the shrink allowance, boot and reports.
int vm_timeout_for_fuzz(int budget_s);

// Checks the fuzz options without running anything: the budget, and the
// replay spec (read, parsed, checked against stress-ng).  Prints the one
// error line; returns exit_code::pass, usage or bad_spec.  budget_s receives
// the budget (for a replay without one: what its scenario needs).
int check_fuzz_options(const FuzzOptions& opts, int& budget_s);

// Runs the session here (root, sched_ext); returns an aq::exit_code value.
int fuzz_command(FuzzOptions opts);

}  // namespace aq
