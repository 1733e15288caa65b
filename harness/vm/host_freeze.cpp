#include "vm/host_freeze.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
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

HostFreezeMeter::HostFreezeMeter(pid_t qemu, const fs::path& log) : qemu_(qemu) {
  if (!log.empty() && (log_ = std::fopen(log.c_str(), "w")))
    std::fputs("# t_s wall_s qemu_cpu_s qemu_stopped qemu_wait_s runner_gap_s host_io_full_s\n", log_);
}

HostFreezeMeter::~HostFreezeMeter() {
  if (log_) std::fclose(log_);
}

double HostFreezeMeter::qemu_least_cpu_share(double standstill_s) const {
  const double from = t_s_ - standstill_s - kStandstillReportLagS, stretch = kStandstillCoverage * standstill_s;
  double least = -1;
  for (auto first = readings_.rbegin(); first != readings_.rend() && first->t_s > from; ++first) {
    double wall = 0, cpu = 0;
    for (auto it = first; it != readings_.rend() && it->t_s > from; ++it) {
      wall += it->wall_s;
      cpu += it->cpu_s;
      if (wall < stretch) continue;
      if (least < 0 || cpu / wall < least) least = cpu / wall;
      break;
    }
  }
  return least;
}

void HostFreezeMeter::add(const FreezeSample& s, double qemu_cpu_s) {
  t_s_ += s.wall_s;
  readings_.push_back({t_s_, s.wall_s, s.runner_gap_s > 0.5 * s.wall_s ? 0 : qemu_cpu_s});
  while (!readings_.empty() && readings_.front().t_s < t_s_ - 600) readings_.pop_front();
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
  // qemu's stat, read once: its state letter, and its CPU time (utime and
  // stime, fields 14 and 15, its exited threads' too).
  const auto stat = proc_stat_after_comm(proc_path(qemu_, "stat"));
  s.qemu_stopped = !stat.empty() && stat[0] == 'T';
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
  // qemu's CPU time and the host's "full" I/O stall time: the first
  // explains a standstill, the second may.
  double cpu_s = -1;
  if (!stat.empty()) {
    std::istringstream fields(stat);
    std::string f;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 13 && fields >> f; i++) {
    }
    if (fields >> utime >> stime) cpu_s = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  double io_full_s = -1;
  if (const auto psi = slurp("/proc/pressure/io").value_or(""); psi.find("full ") != std::string::npos) {
    const auto total = psi.find("total=", psi.find("full "));
    if (total != std::string::npos) io_full_s = std::strtod(psi.c_str() + total + 6, nullptr) / 1e6;
  }
  const double cpu_used = qemu_cpu_s_ >= 0 && cpu_s >= qemu_cpu_s_ ? cpu_s - qemu_cpu_s_ : 0;
  const double io_stall = io_full_s_ >= 0 && io_full_s >= io_full_s_ ? io_full_s - io_full_s_ : 0;
  qemu_cpu_s_ = cpu_s;
  io_full_s_ = io_full_s;
  last_read_ = now;
  gap_s_ = 0;
  if (first) return;
  add(s, cpu_used);
  if (log_) {
    std::fprintf(log_, "%.1f %.2f %.2f %d %.2f %.2f %.2f\n", t_s_, s.wall_s, cpu_used, s.qemu_stopped ? 1 : 0,
                 s.qemu_wait_s, s.runner_gap_s, io_stall);
    std::fflush(log_);
  }
}

}  // namespace aq::vm_detail
