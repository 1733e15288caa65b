#include "vm/host_freeze.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "common/proc_files.hpp"

namespace aq::vm_detail {
namespace {

namespace fs = std::filesystem;

// A reading counts as frozen when the guest missed most of it; a vCPU thread
// that waits a little for a busy host CPU is ordinary.
constexpr double kFrozenShare = 0.75;
// aqcheck's loop polls every 100 ms: a gap this long is the host's.
constexpr double kRunnerGapS = 2;

fs::path proc_path(pid_t pid, const char* name) { return fs::path("/proc") / std::to_string(pid) / name; }

// /proc/<pid>/stat's state letter (after the parenthesised comm).
char process_state(pid_t pid) {
  const auto stat = slurp(proc_path(pid, "stat")).value_or("");
  const auto close = stat.rfind(") ");
  return close != std::string::npos && close + 2 < stat.size() ? stat[close + 2] : '?';
}

}  // namespace

FreezeJudgement judge_freeze_sample(const FreezeSample& s) {
  FreezeJudgement j;
  if (s.qemu_stopped && s.wall_s > j.lost_s) j = {s.wall_s, "qemu was stopped: SIGSTOP"};
  if (s.runner_gap_s > j.lost_s)
    j = {s.runner_gap_s, "aqcheck itself was not run either: the host machine stood still, steal"};
  if (s.qemu_wait_s > j.lost_s) j = {s.qemu_wait_s, "qemu's threads waited for a host CPU: the host's CPUs were busy"};
  if (s.wall_s <= 0 || j.lost_s < kFrozenShare * s.wall_s) return {};
  return j;
}

HostFreezeMeter::HostFreezeMeter(pid_t qemu) : qemu_(qemu) {}

void HostFreezeMeter::add(const FreezeSample& s) {
  const auto j = judge_freeze_sample(s);
  if (j.lost_s <= 0) {
    current_s_ = 0;
    why_.clear();
    return;
  }
  current_s_ += s.wall_s;
  why_ = j.why;
}

void HostFreezeMeter::poll(Clock::time_point now) {
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  if (last_poll_ != Clock::time_point{} && seconds(now - last_poll_) >= kRunnerGapS)
    gap_s_ += seconds(now - last_poll_);
  last_poll_ = now;
  const bool first = last_read_ == Clock::time_point{};
  if (!first && seconds(now - last_read_) < 1) return;

  FreezeSample s;
  s.wall_s = first ? 0 : seconds(now - last_read_);
  s.runner_gap_s = std::min(gap_s_, s.wall_s);
  s.qemu_stopped = process_state(qemu_) == 'T';
  // schedstat: "<on-CPU ns> <run_delay ns> <timeslices>", per thread.
  std::error_code ec;
  for (const auto& task : fs::directory_iterator(proc_path(qemu_, "task"), ec)) {
    long tid = 0;
    unsigned long long on_cpu = 0, delay = 0;
    std::istringstream(task.path().filename().string()) >> tid;
    std::istringstream(slurp(task.path() / "schedstat").value_or("")) >> on_cpu >> delay;
    const auto [it, inserted] = run_delay_ns_.try_emplace(tid, delay);
    if (!inserted && delay >= it->second)
      s.qemu_wait_s = std::max(s.qemu_wait_s, static_cast<double>(delay - it->second) / 1e9);
    it->second = delay;
  }
  last_read_ = now;
  gap_s_ = 0;
  if (!first) add(s);
}

}  // namespace aq::vm_detail
