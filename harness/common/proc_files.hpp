// Reading the small text files of /proc and /sys (and any other file whole),
// shared by the harness, the VM runner and the guest watchdog.
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>

namespace aq {

// The whole file, or nullopt if it cannot be opened.
inline std::optional<std::string> slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A /proc/<pid>[/task/<tid>]/stat file's fields from the state letter on
// (field 3), split off after the parenthesised comm, which may itself hold
// spaces and parentheses; "" when unreadable.
inline std::string proc_stat_after_comm(const std::filesystem::path& stat_file) {
  const auto stat = slurp(stat_file).value_or("");
  const auto close = stat.rfind(") ");
  return close == std::string::npos ? std::string{} : stat.substr(close + 2);
}

// The first of @paths that is given but cannot be read, or "": the options
// that name input files are checked before anything runs (a bad one is one
// error line and exit_code::usage, no half report).
inline std::string first_unreadable(std::initializer_list<std::string> paths) {
  for (const auto& p : paths)
    if (!p.empty() && !std::ifstream(p)) return p;
  return {};
}

// The running kernel's release (uname -r), for reports and rerun commands.
inline std::string kernel_release() {
  std::ifstream in("/proc/sys/kernel/osrelease");
  std::string r;
  std::getline(in, r);
  return r;
}

// Seconds since boot (/proc/uptime), as the kernel log stamps its lines.
inline double uptime_s() {
  std::ifstream in("/proc/uptime");
  double up = 0;
  in >> up;
  return up;
}

// All CPUs' time from /proc/stat's aggregate "cpu" line, in jiffies: busy
// (user, nice, system, irq, softirq, steal) and total (busy, idle, iowait).
struct CpuTimes {
  unsigned long long busy = 0, total = 0;
};
inline CpuTimes parse_cpu_times(const std::string& proc_stat) {
  CpuTimes t;
  if (proc_stat.rfind("cpu ", 0) != 0) return t;
  unsigned long long v[8] = {};
  std::sscanf(proc_stat.c_str() + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
              &v[5], &v[6], &v[7]);
  t.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  t.total = t.busy + v[3] + v[4];
  return t;
}
inline CpuTimes read_cpu_times() { return parse_cpu_times(slurp("/proc/stat").value_or("")); }
// The busy share of all CPUs between two readings (1 when nothing elapsed).
inline double busy_share(const CpuTimes& before, const CpuTimes& after) {
  if (after.total <= before.total) return 1;
  return static_cast<double>(after.busy - before.busy) / static_cast<double>(after.total - before.total);
}

}  // namespace aq
