// How long the host has kept the guest from running.
//
// A TCG guest whose vCPU threads the host does not run stands still while its
// clock, the host's, goes on.  Short freezes are the run's business: every
// reason they cause carries the host-stall mark and the case runs again
// (docs/host-stalls.md "Inside the guest: the mark and the retry"); from
// 15 s that includes sched_ext ejecting the scheduler
// (kernel/watchdog.c: is_softlockup() calls scx_softlockup() at 3/4 of the
// 20 s soft-lockup threshold).  A long one is the guest kernel's: at 20 s it
// reports a soft lockup, at 21 s an RCU stall (which the guest watchdog takes
// for a hang), and the guest is not to be trusted afterwards: a 7.2 guest
// frozen 30 s hung at its next CPU hotplug (ci/tests/test_host_stall.py).
// Such a boot is lost to the host, not a
// verdict: `aqcheck vm` ends it as soon as the freeze reaches
// kHostFreezeLostS and boots again, saying so.
//
// The evidence is the host's, since the guest cannot tell a host freeze from
// its own lockup: qemu stopped (SIGSTOP), a qemu thread that waited for a host
// CPU (schedstat run_delay: the host's CPUs were busy), or aqcheck's own loop
// not run (the host machine itself stood still: steal).  An idle guest is not
// frozen: its vCPU threads sleep and wait for nothing.
//
// The host's scheduler is not the only way to stop a guest: qemu's vCPU
// threads can block inside qemu (its big lock, held by a thread blocked on
// the host's I/O; a multi-threaded TCG exclusive section), and then nothing
// above moves.  The guest watchdog says when its 1 s poll came back late
// (guest_stood_still, vm.hpp); a guest that stood still while qemu used next
// to no CPU was stopped outside itself, since a guest kernel that locks up
// spins its vCPUs.  So each reading also keeps qemu's CPU time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <string>

namespace aq::vm_detail {

inline constexpr double kHostFreezeLostS = 20;
// A guest standstill during which qemu used less CPU than this (CPU-seconds
// per second) was not the guest's own doing.
inline constexpr double kQemuBlockedShare = 0.25;
// How much of a reported standstill qemu_least_cpu_share looks at (the
// readings at its edges hold busy time), and how late the report may come.
inline constexpr double kStandstillCoverage = 0.75;
inline constexpr double kStandstillReportLagS = 20;

// One reading, against the previous one.
struct FreezeSample {
  double wall_s = 0;        // since the previous reading
  double runner_gap_s = 0;  // aqcheck's own loop not run (it polls every 100 ms)
  bool qemu_stopped = false;
  double qemu_wait_s = 0;   // the longest any qemu thread waited for a host CPU
};

// How much of a reading the guest did not run, and why ("" when it ran).
struct FreezeJudgement {
  double lost_s = 0;
  const char* why = "";
};
FreezeJudgement judge_freeze_sample(const FreezeSample& s);

class HostFreezeMeter {
 public:
  using Clock = std::chrono::steady_clock;
  // Each reading is appended to @log (if not empty): seconds since the
  // first, and what it measured, for a failure that needs explaining.
  HostFreezeMeter(pid_t qemu, const std::filesystem::path& log);
  ~HostFreezeMeter();
  // Called every iteration of the runner's loop; reads /proc once a second.
  void poll(Clock::time_point now);
  // Feeds one reading (poll's, or a test's), with qemu's CPU time in it.
  void add(const FreezeSample& s, double qemu_cpu_s = 0);
  // The freeze under way: consecutive readings the guest mostly did not run.
  double current_s() const { return current_s_; }
  const std::string& current_why() const { return why_; }
  // The least qemu CPU-seconds per second (a runner gap counts as none) of any stretch of consecutive readings at least
  // kStandstillCoverage * @standstill_s long within the last @standstill_s +
  // kStandstillReportLagS: where a standstill the guest reported lies.  Its
  // report comes after the standstill, late by however long the thawed guest
  // took to run its watchdog (seconds of soft-lockup backtraces on a serial
  // console), and a busy guest uses 2 CPU-s/s meanwhile: the last
  // @standstill_s alone would then count busy time in.  -1 without such a
  // stretch.
  double qemu_least_cpu_share(double standstill_s) const;

 private:
  pid_t qemu_;
  Clock::time_point last_poll_{}, last_read_{};
  double gap_s_ = 0;  // runner gaps since the last reading
  std::map<long, unsigned long long> run_delay_ns_;  // per qemu thread
  double qemu_cpu_s_ = -1, io_full_s_ = -1, t_s_ = 0;
  struct Reading {
    double t_s, wall_s, cpu_s;
  };
  std::deque<Reading> readings_;  // the last few minutes
  std::FILE* log_ = nullptr;
  double current_s_ = 0;
  std::string why_;
};

}  // namespace aq::vm_detail
