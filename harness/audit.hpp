// Interprets the in-kernel audit's results: list corruption reported by the
// audit program itself, and stale entries, which need two audits to see.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "arena.hpp"

namespace aq {

// One line describing an audit status (empty for OK and TRUNCATED).
std::string describe_audit_failure(const aq_audit& au);

// A stale entry: the same (pid, enqueue sequence) on a FIFO while not in the
// scheduler's custody in two consecutive audits at least min_gap apart.
class StaleTracker {
 public:
  using Clock = std::chrono::steady_clock;
  explicit StaleTracker(std::chrono::milliseconds min_gap = std::chrono::milliseconds(10))
      : min_gap_(min_gap) {}

  // Feed one completed audit's entries; returns a message per newly stale entry.
  std::vector<std::string> observe(const aq_audit& au, Clock::time_point when);

  std::uint64_t stale_entries() const { return reported_.size(); }

 private:
  using Key = std::pair<std::int32_t, std::uint64_t>;  // pid, enqueue sequence
  struct Suspect {
    Clock::time_point first_seen;
    std::uint64_t first_audit;
  };
  std::chrono::milliseconds min_gap_;
  std::map<Key, Suspect> suspects_;  // not in custody in the previous audit
  std::map<Key, bool> reported_;
};

// A scheduler that stops scheduling while its workload runs.  The kernel's
// own watchdog cannot always say so: on a NOHZ system whose CPUs all went
// idle with tasks left queued, no tick and no (sched_ext-scheduled) kworker
// runs to check.  Stress always keeps slices expiring, so ten seconds
// without one enqueue, dispatch or dequeue is a stall.
class StallWatch {
 public:
  static constexpr std::chrono::seconds kLimit{10};
  using Clock = std::chrono::steady_clock;
  bool stalled(const aq_stats& s, Clock::time_point now) {
    const std::uint64_t activity = load(s.nr_enqueued) + load(s.nr_dispatched) + load(s.nr_direct) +
                                   load(s.nr_dequeued) + load(s.nr_reenqueued);
    if (activity != last_ || last_change_ == Clock::time_point{}) {
      last_ = activity;
      last_change_ = now;
    }
    return now - last_change_ >= kLimit;
  }

 private:
  static std::uint64_t load(const std::uint64_t& v) { return __atomic_load_n(&v, __ATOMIC_RELAXED); }
  std::uint64_t last_ = 0;
  Clock::time_point last_change_{};
};

}  // namespace aq
