#include "run/churn.hpp"

#include <dirent.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace aq {

std::vector<pid_t> processes_in_group(pid_t pgid) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end || pid <= 0) continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string stat;
    std::getline(in, stat);
    // "pid (comm) state ppid pgrp ...": comm may hold spaces, so parse after ')'.
    auto rp = stat.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream rest(stat.substr(rp + 2));
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (rest >> state >> ppid >> pgrp && pgrp == pgid) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

Churner::Churner(pid_t pgid, std::vector<std::string> kinds, std::uint64_t seed,
                 std::chrono::milliseconds interval)
    : pgid_(pgid), interval_(interval), kinds_(std::move(kinds)) {
  if (!kinds_.empty()) thread_ = std::thread([this, seed] { loop(seed); });
}

Churner::~Churner() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Churner::loop(std::uint64_t seed) {
  // Part of the observer, not of the workload: keep acting however loaded
  // (or stalled) the sched_ext-scheduled tasks are.
  sched_param rt{};
  rt.sched_priority = 5;
  ::sched_setscheduler(0, SCHED_FIFO, &rt);
  std::mt19937_64 rng(seed);
  const long ncpu = ::sysconf(_SC_NPROCESSORS_ONLN);
  std::vector<pid_t> pids;
  auto refreshed = std::chrono::steady_clock::time_point{};
  while (!stop_) {
    auto now = std::chrono::steady_clock::now();
    if (now - refreshed > std::chrono::milliseconds(100)) {
      pids = processes_in_group(pgid_);
      refreshed = now;
    }
    if (!pids.empty()) {
      pid_t pid = pids[rng() % pids.size()];
      const auto& kind = kinds_[rng() % kinds_.size()];
      if (kind == "renice") {
        int nice = static_cast<int>(rng() % 40) - 20;
        if (::setpriority(PRIO_PROCESS, static_cast<id_t>(pid), nice) == 0) changes_++;
      } else if (ncpu > 1) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (long c = 0; c < ncpu; c++)
          if (rng() & 1) CPU_SET(c, &set);
        if (!CPU_COUNT(&set)) CPU_SET(rng() % ncpu, &set);
        if (::sched_setaffinity(pid, sizeof set, &set) == 0) changes_++;
      }
    }
    std::this_thread::sleep_for(interval_);
  }
}

}  // namespace aq
