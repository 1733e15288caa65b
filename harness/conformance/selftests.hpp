// `aqcheck selftests`: the kernel's own sched_ext selftest runner (built by
// ci/selftests.sh from the kernel's source), run in the guest for the tests
// that assert the enqueue/dequeue contract.  The custody audit means nothing
// on a kernel that breaks that contract, so a contract test that fails, hangs
// or does not run at all is a FAIL of the kernel, said as such.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace aq {

struct SelftestOptions {
  std::string runner;          // the runner binary
  std::string tests_file;      // first word of each non-comment line: a test name
  std::string tests;           // or: names, comma-separated
  std::string json;            // report path ("" = none)
  std::string kernel_coverage;  // copy the kernel's gcov data of all the tests into DIR/selftests/ (run/kernel_coverage.hpp)
  std::string ktap;            // KTAP v1 path ("" = none)
  int test_timeout_s = 300;    // per runner invocation: SIGKILL after this
  std::string host_command, host_exe;  // set by `aqcheck vm` (hidden); unused here
};

// One test's result line in the runner's output: "ok 3 dequeue # ",
// "ok 3 dequeue # SKIP ", "not ok 3 dequeue # ".
struct SelftestResult {
  std::string name;
  std::string result;  // PASS, SKIP, FAIL
};
std::vector<SelftestResult> parse_runner_output(std::string_view output);

// The kernel's complaints while one test ran (scan_console's rules), split.
// Several tests assert that sched_ext disables their scheduler (the *_fail
// tests, exit): such a line is the test's own business, and kept in the
// report, which is where the host looks for lines the guest has judged.
// Anything else (a WARNING, BUG, Oops or hang) is a kernel problem: a FAIL.
struct SelftestKernelLog {
  std::vector<std::string> scheduler_exits;  // sched_ext: BPF scheduler "X" disabled (...)
  std::vector<std::string> problems;
};
SelftestKernelLog judge_selftest_kernel_log(const std::vector<std::string>& lines);

// The test names of a contract-tests.txt.  Throws std::runtime_error.
std::vector<std::string> read_test_names(const std::string& path);

int selftests_command(const SelftestOptions& o);

}  // namespace aq
