#include "vm/guest_watchdog.hpp"

#include "common/exit_codes.hpp"
#include "common/kmsg.hpp"
#include "common/proc_files.hpp"
#include "vm/vm.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace aq {
namespace {

namespace fs = std::filesystem;

void say(const std::string& line) {
  fmt::print("aqcheck-guest: watchdog: {}\n", line);
  std::fflush(stdout);
}

// A line the host parses (vm.hpp: guest_stood_still, guest_watchdog_ended),
// as a kernel log record: the console prints a record whole, while a
// process's write to the console is cut wherever the kernel's own messages
// land.  Right after a standstill the kernel is printing soft-lockup reports,
// and "aqcheck-guest: w[   43.539198] Hardware name: ..." is what the host got
// (a flake hunt of test_host_stall.py, 2026-12-08): no standstill line, no lost
// boot.  Falls back to stdout without /dev/kmsg.
void announce(const std::string& line) {
  static const int kmsg = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
  const auto record = fmt::format("<4>{}\n", line);  // KERN_WARNING: above any quiet loglevel the console keeps
  if (kmsg < 0 || ::write(kmsg, record.data(), record.size()) != static_cast<ssize_t>(record.size())) {
    fmt::print("{}\n", line);
    std::fflush(stdout);
  }
}

// The kernel stack of every thread of every other aqcheck process: where the
// harness itself is stuck, if it is.
void print_harness_stacks() {
  const auto self = std::to_string(getpid());
  for (const auto& proc : fs::directory_iterator("/proc")) {
    const auto pid = proc.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid == self) continue;
    if (slurp(proc.path() / "comm").value_or("") != "aqcheck\n") continue;
    std::error_code ec;
    for (const auto& task : fs::directory_iterator(proc.path() / "task", ec)) {
      const auto stat = proc_stat_after_comm(task.path() / "stat");
      const char state = stat.empty() ? '?' : stat[0];
      say(fmt::format("aqcheck pid {} tid {} state {} wchan {}", pid, task.path().filename().string(), state,
                      slurp(task.path() / "wchan").value_or("?")));
      std::istringstream stack(slurp(task.path() / "stack").value_or(""));
      for (std::string frame; std::getline(stack, frame);) say("  " + frame);
    }
  }
}

void dump(const std::string& why) {
  say(fmt::format("{}; dumping the harness's stacks, every task with the run queues and busy workqueues, "
                  "CPU backtraces and the sched_ext state",
                  why));
  print_harness_stacks();
  // t: every task's state and stack, each CPU's run queue, busy worker pools
  // (a hang the sched_ext watchdog misses is often a task it does not see).
  for (char key : {'t', 'l', 'D'}) std::ofstream("/proc/sysrq-trigger") << key;
}

}  // namespace

int guest_watchdog(int dump_at_uptime_s) {
  if (!inside_aqcheck_vm()) {
    fmt::print(stderr, "aqcheck: error: guest-watchdog only works inside an aqcheck VM\n");
    return exit_code::usage;
  }
  sched_param rt{};
  rt.sched_priority = 50;
  if (sched_setscheduler(0, SCHED_FIFO, &rt) != 0) say(fmt::format("no SCHED_FIFO: {}", std::strerror(errno)));

  KernelLog klog;
  std::optional<double> end_at;  // set by the first hang report
  double polled_at = uptime_s();
  while (true) {
    pollfd p{klog.fd(), POLLIN, 0};
    poll(&p, klog.fd() >= 0 ? 1 : 0, 1000);
    // Said before any hang report it caused: the host judges the standstill.
    if (const double late = uptime_s() - polled_at - 1; late >= kGuestStoodStillS)
      announce(fmt::format("{}{:.1f} s (its 1 s poll came back that late)", guest_stood_still, late));
    polled_at = uptime_s();
    if (!end_at) {
      for (const auto& line : klog.read_new()) {
        if (!is_hang_report(line)) continue;
        dump(fmt::format("the kernel reports a hang ({})", line));
        end_at = uptime_s() + kHangGraceS;
        break;
      }
    }
    const double now = uptime_s();
    if (end_at && now >= *end_at) {
      say(fmt::format("the run did not end within {} s of the kernel's hang report", kHangGraceS));
      announce(fmt::format("{}the kernel reported a hang (hung task or RCU stall) and the run did not end within {} s",
                           guest_watchdog_ended, kHangGraceS));
      return guest_exit(exit_code::vm_timeout);
    }
    if (!end_at && now >= dump_at_uptime_s) {
      dump(fmt::format("no verdict at {:.0f} s guest uptime, the host's --timeout is near", now));
      return 0;
    }
  }
}

}  // namespace aq
