#include "run/audit.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

namespace aq {

std::vector<std::string> describe_custody_violations(const aq_custody& c) {
  std::vector<std::string> out;
  for (int k = 0; k < AQ_CV_NR; k++)
    if (c.nr[k]) out.push_back(aq_custody_describe(c, k));
  return out;
}

std::string describe_audit_failure(const aq_audit& au) {
  const int f = au.bad_fifo;
  const int pid = au.bad_pid;
  const auto a = au.bad_val[0], b = au.bad_val[1];
  switch (au.status) {
    case AQ_AUDIT_OK:
    case AQ_AUDIT_TRUNCATED:
      return {};
    case AQ_AUDIT_LOCK_FAILED:
      return fmt::format("audit could not take FIFO {}'s lock", f);
    case AQ_AUDIT_BAD_ENDS:
      return fmt::format("corrupted list: FIFO {} ends disagree (head pid {}, value {:#x}, value {:#x})",
                         f, pid, a, b);
    case AQ_AUDIT_BAD_LINK:
      return fmt::format("corrupted list: FIFO {} node pid {} has q_prev {:#x}, expected {:#x}", f, pid,
                         a, b);
    case AQ_AUDIT_BAD_FIFO:
      return fmt::format("corrupted list: FIFO {} node pid {} has fifo {:#x}, expected {:#x}", f, pid, a,
                         b);
    case AQ_AUDIT_CYCLE:
      if (b == ~0ULL)  // a scheduler that keeps no length (mainline scx_qmap)
        return fmt::format("corrupted list: FIFO {} walk from head took {} steps to pid {} and did not end at the tail",
                           f, a, pid);
      return fmt::format("corrupted list: FIFO {} walk from head took {} steps to pid {}, length is {}",
                         f, a, pid, b);
    case AQ_AUDIT_CONSERVATION:
      return fmt::format("conservation mismatch: FIFO {} entries in {} != popped + removed + length {}",
                         f, a, b);
    case AQ_AUDIT_COUNTER:
      // The one such rule: mainline scx_qmap's high-priority count (harness/sched/qmap_upstream.cpp).
      return fmt::format("counter disagrees with the lists in two audits: nr_highpri_queued = {}, "
                         "high-priority entries on the FIFOs = {}",
                         static_cast<std::int64_t>(a), b);
    default:
      return fmt::format("audit returned unknown status {}", au.status);
  }
}

std::vector<std::string> StaleTracker::observe(const aq_audit& au, Clock::time_point when) {
  std::vector<std::string> out;
  std::map<Key, Suspect> now;
  const auto n = std::min<std::uint32_t>(au.nr_entries, AQ_AUDIT_MAX_ENTRIES);
  for (std::uint32_t i = 0; i < n; i++) {
    const aq_audit_entry& e = au.entries[i];
    if (e.in_custody) continue;
    Key key{e.pid, e.enq_seq};
    auto prev = suspects_.find(key);
    Suspect s = prev != suspects_.end() ? prev->second : Suspect{when, au.seq};
    now.emplace(key, s);
    if (prev == suspects_.end() || when - s.first_seen < min_gap_ || reported_.count(key)) continue;
    reported_.emplace(key, true);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when - s.first_seen).count();
    out.push_back(fmt::format(
        "dequeue did not remove: pid {} (enqueue #{}) on FIFO {} while not in the scheduler's custody{} "
        "in audits #{} and #{} ({} ms apart)",
        e.pid, e.enq_seq, e.fifo, e.found ? "" : " (task gone)", s.first_audit, au.seq, ms));
  }
  suspects_ = std::move(now);
  return out;
}

namespace {

// Ids of the kernel's built-in DSQs (enum scx_dsq_id_flags) and scx_aqmap's own.
constexpr std::uint64_t kDsqGlobal = 0x8000000000000001ULL;
constexpr std::uint64_t kDsqLocal = 0x8000000000000002ULL;
constexpr std::uint64_t kSharedDsq = 0, kHighpriDsq = 1;
constexpr std::uint64_t kOpssQueued = 2;    // SCX_OPSS_QUEUED
constexpr std::uint32_t kTaskInCustody = 2;                      // SCX_TASK_IN_CUSTODY

std::string dsq_name(const aq_stuck_task& t) {
  switch (t.dsq_id) {
    case kDsqLocal: return fmt::format("CPU {}'s local DSQ", t.cpu);
    case kDsqGlobal: return "the global DSQ";
    case kSharedDsq: return "the shared DSQ (0)";
    case kHighpriDsq: return "the high-priority DSQ (1)";
    default: return fmt::format("DSQ {:#x}", t.dsq_id);
  }
}

}  // namespace

std::string describe_fifo_wait(std::uint64_t wait_ns, int fifo, int pid, const std::string& comm,
                               std::uint64_t bound_ms) {
  const std::uint64_t wait_ms = wait_ns / 1'000'000;
  if (wait_ms < bound_ms) return {};
  return fmt::format("stuck task: pid {} ({}) waited {} ms for a CPU (bound {} ms), on FIFO {} until its dispatch", pid,
                     comm.empty() ? "?" : comm, wait_ms, bound_ms, fifo);
}

std::string describe_stuck_task(const aq_stuck_task& t, std::uint64_t bound_ms) {
  const std::string comm(t.comm, strnlen(t.comm, sizeof t.comm));
  const bool queued = t.ops_state == kOpssQueued;
  const bool custody = t.scx_flags & kTaskInCustody;
  std::string where;
  if (t.fifo >= 0)
    where = fmt::format("on FIFO {}", t.fifo);
  else if (t.on_dsq)
    where = fmt::format("on {}", dsq_name(t));
  else
    where = fmt::format("nowhere: on no FIFO and no DSQ, ops_state {} ({}in custody)",
                        queued ? "QUEUED" : fmt::format("{}", t.ops_state),
                        custody ? "" : "not ");
  const bool lost = t.fifo < 0 && !t.on_dsq && queued && custody;
  return fmt::format("{} task: pid {} ({}) waited {} ms for a CPU (bound {} ms), {}; weight {}, task CPU {}",
                     lost ? "lost" : "stuck", t.pid, comm, t.wait_ms, bound_ms, where, t.weight, t.cpu);
}

std::string describe_lost_node(const aq_stuck_task& first, const aq_wait_audit& second, const aq_audit& between) {
  if (first.fifo < 0 || between.status != AQ_AUDIT_OK) return {};
  const auto n = std::min<std::uint32_t>(between.nr_entries, AQ_AUDIT_MAX_ENTRIES);
  for (std::uint32_t i = 0; i < n; i++)
    if (between.entries[i].pid == first.pid && between.entries[i].fifo == first.fifo) return {};
  const auto listed = std::min<std::uint32_t>(second.nr_stuck, AQ_AUDIT_MAX_STUCK);
  for (std::uint32_t i = 0; i < listed; i++) {
    const auto& t = second.stuck[i];
    if (t.pid == first.pid && t.fifo == first.fifo && t.enq_seq == first.enq_seq)
      return fmt::format("corrupted list: FIFO {} does not reach pid {} ({}), whose node it linked (enqueue {}) and "
                         "never unlinked: a walk from its head under its lock did not meet it while the task waited {} ms",
                         first.fifo, first.pid, std::string(first.comm, strnlen(first.comm, sizeof first.comm)),
                         first.enq_seq, t.wait_ms);
  }
  return {};
}

void HostStalls::tick(Clock::time_point now) {
  if (last_ != Clock::time_point{}) {
    const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_);
    if (gap >= kGap) {
      gaps_.push_back({now, gap});
      if (gaps_.size() > 64) gaps_.pop_front();
      longest_ = std::max(longest_, gap);
      count_++;
    }
  }
  last_ = now;
}

std::string HostStalls::during(Clock::time_point from, Clock::time_point to) const {
  std::chrono::milliseconds total{0}, longest{0};
  int n = 0;
  for (const auto& g : gaps_) {
    if (g.end < from || g.end - g.len > to) continue;
    total += g.len;
    longest = std::max(longest, g.len);
    n++;
  }
  if (!n) return {};
  return fmt::format("{} aqcheck's own SCHED_FIFO loop stood still {} time(s), {:.1f} s in all "
                     "(longest {:.1f} s), within that window: the whole guest was not run (under TCG: steal "
                     "time on the host), so this is not evidence against the scheduler alone",
                     kHostStallMark, n, total.count() / 1000.0, longest.count() / 1000.0);
}

}  // namespace aq
