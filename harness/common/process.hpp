// A child process run to completion with a deadline: the one fork/exec/wait
// loop the gate (cases as `aqcheck vm` commands), the selftests (the kernel's
// runner) and the benchmark (hackbench, cyclictest) share.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace aq {

struct ProcessOptions {
  static ProcessOptions timeout(int s) {
    ProcessOptions o;
    o.timeout_s = s;
    return o;
  }
  int timeout_s = 0;              // 0: none
  std::string log_path;           // stdout and stderr go here; "" captures them in ProcessResult::output
  bool inherit_output = false;    // stdout and stderr stay the caller's (neither captured nor logged)
  bool term_first = false;        // at the end: SIGTERM the group, SIGKILL 3 s later (else SIGKILL at once)
  std::function<bool()> stop;     // polled; true ends the child as a timeout does
};

struct ProcessResult {
  std::string output;             // stdout and stderr, when captured
  int exit = -1;                  // exit code, 128+signal; -1 at the timeout, -2 when stopped
  double wall_s = 0;
};

// The first executable regular file `name` on $PATH, or an empty path.
std::filesystem::path find_program(std::string_view name);

// Runs argv (PATH lookup) in a process group of its own, stdin from /dev/null,
// so a timeout takes the child's own children (qemu, stressors) along.
// Throws std::runtime_error when it cannot fork.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& o);

}  // namespace aq
