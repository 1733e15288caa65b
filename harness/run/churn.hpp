// Churn the harness applies to a running workload's tasks from outside:
// stress-ng has no stressor that renices or re-pins OTHER tasks, and those
// are the property changes that make the kernel dequeue a task that sits
// queued on a FIFO.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace aq {

class Churner {
 public:
  // kinds: "renice" and/or "affinity"; acts on processes of group pgid, one
  // change per interval.
  Churner(pid_t pgid, std::vector<std::string> kinds, std::uint64_t seed,
          std::chrono::milliseconds interval = std::chrono::milliseconds(2));
  ~Churner();  // stops and joins
  Churner(const Churner&) = delete;
  Churner& operator=(const Churner&) = delete;

  std::uint64_t changes() const { return changes_; }

 private:
  void loop(std::uint64_t seed);
  pid_t pgid_;
  std::chrono::milliseconds interval_;
  std::vector<std::string> kinds_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> changes_{0};
  std::thread thread_;
};

// Processes whose process group is pgid (from /proc).
std::vector<pid_t> processes_in_group(pid_t pgid);

}  // namespace aq
