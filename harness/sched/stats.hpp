// Named access to the scheduler's counters (struct aq_stats).  These names are
// what progress lines, reports and workload `expect:` lines use.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "sched/arena.hpp"

namespace aq {

struct StatField {
  std::string_view name;
  u64 aq_stats::*field;
};

#define AQ_STAT(n) StatField{#n, &aq_stats::n}
inline constexpr std::array kStatFields{
    AQ_STAT(nr_enqueued),         AQ_STAT(nr_dispatched),        AQ_STAT(nr_direct),
    AQ_STAT(nr_reenqueued),       AQ_STAT(nr_dequeued),          AQ_STAT(nr_deq_sched_change),
    AQ_STAT(nr_deq_removed),      AQ_STAT(nr_fifo_changes),      AQ_STAT(nr_highpri),
    AQ_STAT(nr_init_task),        AQ_STAT(nr_exit_task),         AQ_STAT(nr_enq_lock_fallback),
    AQ_STAT(nr_pop_lock_fail),    AQ_STAT(nr_remove_lock_fail),  AQ_STAT(nr_lock_acquire),
    AQ_STAT(nr_lock_injected),    AQ_STAT(nr_slab_exhausted),    AQ_STAT(nr_stale_skipped),
    AQ_STAT(nr_cpu_online),       AQ_STAT(nr_cpu_offline),       AQ_STAT(nr_aged_dispatch),
    AQ_STAT(nr_keep_ready),       AQ_STAT(nr_overdue_requeue),   AQ_STAT(nr_wake_preempt),
    AQ_STAT(nr_wake_local),       AQ_STAT(nr_tick_preempt),
};
#undef AQ_STAT
// Every field of struct aq_stats is listed: a counter missing here would read
// as 0 in every report and progress line.
static_assert(kStatFields.size() * sizeof(u64) == sizeof(aq_stats), "kStatFields must list every aq_stats field");

// A consistent-enough copy of the live counters (each read atomically).
inline std::map<std::string, std::uint64_t> read_stats(const aq_stats& s) {
  std::map<std::string, std::uint64_t> out;
  for (const auto& f : kStatFields)
    out.emplace(std::string(f.name), __atomic_load_n(&(s.*f.field), __ATOMIC_RELAXED));
  return out;
}

}  // namespace aq
