// Mainline's scx_qmap (tools/sched_ext of the kernel under test's
// linux-source) as a Scheduler: `aqcheck run --scheduler qmap-upstream`.
// Its own counters are reported under their own names; where a workload's
// coverage floor names an scx_aqmap counter mainline does not keep, the floor
// is re-stated on mainline's nearest counter or dropped, saying why.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sched/scheduler.hpp"
#include "workload/workload.hpp"

namespace aq {

inline constexpr const char* kQmapUpstream = "qmap-upstream";

std::unique_ptr<Scheduler> load_qmap_upstream(const SchedOptions& opts);  // throws LoadError

// Its builds for --variant: "normal" (mainline as it is), then mutants of
// it that exist to prove the checks fail.
std::vector<std::string> qmap_upstream_variants();

// "linux-source-7.2 7.2.13-1": the source this build compiled.
std::string qmap_upstream_source();

// Re-states w's coverage floors for mainline's counters; one note per floor
// changed or dropped.
std::vector<std::string> restate_coverage_for_qmap_upstream(Workload& w);

}  // namespace aq
