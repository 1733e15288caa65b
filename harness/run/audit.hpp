// Interprets the in-kernel audit's results: list corruption reported by the
// audit program itself, and stale entries, which need two audits to see.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sched/arena.hpp"

namespace aq {

// One line describing an audit status (empty for OK and TRUNCATED).
std::string describe_audit_failure(const aq_audit& au);

// The custody ledger's verdict (bpf/aqmap_custody.h): one "custody protocol
// violated: ..." line per kind of violation the scheduler counted.
std::vector<std::string> describe_custody_violations(const aq_custody& c);

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

// One line for a task the wait audit found waiting at least bound_ms for a
// CPU, saying where it is: "stuck task: ... on FIFO 0", "... on the shared
// DSQ", or "lost task: ... nowhere" when the scheduler holds it (QUEUED, in
// custody) on no FIFO and no DSQ.
std::string describe_stuck_task(const aq_stuck_task& t, std::uint64_t bound_ms);

// The same for a task that waited past bound_ms on FIFO `fifo` and was then
// dispatched between two wait scans (the scheduler's own measure, taken at
// dispatch): "stuck task: ... on FIFO k until its dispatch".  "" while the
// longest such wait is within the bound.
std::string describe_fifo_wait(std::uint64_t wait_ns, int fifo, int pid, const std::string& comm,
                               std::uint64_t bound_ms);

// A node lost from its list: the wait audit found `first` stuck "on FIFO k",
// a structural audit then walked FIFO k under its lock (`between`), and a
// second wait audit (`second`) still found the task linked on FIFO k by the
// same enqueue.  It was linked all along, so a walk that did not meet it
// means it is not reachable from the head: "corrupted list: FIFO k ...".
// "" when the walk met it, the second scan saw another linking (it moved), or
// the walk is not whole (failed or truncated).  A list mutant can lose the
// node of a task (even aqcheck's own thread) before any link looks wrong.
std::string describe_lost_node(const aq_stuck_task& first, const aq_wait_audit& second, const aq_audit& between);

// Times the observer itself could not run.  aqcheck's loop is SCHED_FIFO and
// wakes every few ms, so a gap of a second or more means the whole guest
// stood still: under TCG, the host did not run the vCPUs (steal).  A wait or
// a stall that spans such a gap is reported with it, never excused.
//
// Every reason so marked contains kHostStallMark.  A case whose every reason
// has it failed because of the host: `run` and `fuzz` run it again, visibly
// (run.hpp, run_case_retrying_host_stalls), and fuzz ranks the class last.
inline constexpr std::string_view kHostStallMark = "; host stall:";

class HostStalls {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kGap{1000};
  // Call once per loop iteration.
  void tick(Clock::time_point now);
  // After the loop's own long work (a detach and attach under --cycles, a
  // restart: seconds of BPF verification under TCG): the time it took is the
  // loop at work, not the guest standing still.  Measuring starts again now.
  void resume(Clock::time_point now) { last_ = now; }
  // "" or "; host stall: ..." for the stalls within [from, to].
  std::string during(Clock::time_point from, Clock::time_point to) const;
  std::chrono::milliseconds longest() const { return longest_; }
  std::uint64_t count() const { return count_; }

 private:
  struct Gap {
    Clock::time_point end;
    std::chrono::milliseconds len;
  };
  Clock::time_point last_{};
  std::deque<Gap> gaps_;  // the recent ones
  std::chrono::milliseconds longest_{0};
  std::uint64_t count_ = 0;
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
