#include "audit.hpp"

#include <fmt/format.h>

namespace aq {

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
      return fmt::format("corrupted list: FIFO {} walk from head took {} steps to pid {}, length is {}",
                         f, a, pid, b);
    case AQ_AUDIT_CONSERVATION:
      return fmt::format("conservation mismatch: FIFO {} entries in {} != popped + removed + length {}",
                         f, a, b);
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

}  // namespace aq
