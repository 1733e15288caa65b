#include "conformance/selftests.hpp"
#include "run/kernel_coverage.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/exit_codes.hpp"
#include "common/kmsg.hpp"
#include "common/proc_files.hpp"
#include "common/process.hpp"
#include "common/text.hpp"
#include "report/ktap.hpp"
#include "report/report.hpp"
#include "run/run.hpp"
#include "vm/vm.hpp"

namespace aq {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `runner -t filter`, stdout and stderr together.  The runner only looks
// at SIGTERM between tests, and some tests wait without a timeout of their
// own: SIGKILL at the timeout (exit -1).
ProcessResult run_runner(const std::string& runner, const std::string& filter, int timeout_s) {
  return run_process({runner, "-t", filter}, ProcessOptions::timeout(timeout_s));
}

std::string last_lines(std::string_view text, std::size_t n) {
  auto lines = lines_of(text);
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
  std::string out;
  for (auto l : lines) out += std::string(l) + "\n";
  return out;
}

// A test that failed because its BPF program did not load says nothing of
// the kernel's contract: libbpf's own line, or "" when it loaded.
std::string load_failure(std::string_view output) {
  if (!contains(output, "Failed to load skel") && !contains(output, "failed to load BPF skeleton")) return {};
  for (auto line : lines_of(output))
    if (line.starts_with("libbpf: ")) return std::string(trim(line));
  return "Failed to load skel";
}

}  // namespace

SelftestKernelLog judge_selftest_kernel_log(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  SelftestKernelLog out;
  for (auto& p : scan_console(text)) {
    (is_scheduler_exit(p) ? out.scheduler_exits : out.problems).push_back(std::move(p));
  }
  return out;
}

std::vector<SelftestResult> parse_runner_output(std::string_view output) {
  std::vector<SelftestResult> out;
  for (auto line : lines_of(output)) {
    line = trim(line);
    const bool failed = line.starts_with("not ok ");
    if (!failed && !line.starts_with("ok ")) continue;
    auto rest = line.substr(failed ? 7 : 3);
    const auto space = rest.find(' ');
    if (space == std::string_view::npos || rest.substr(0, space).find_first_not_of("0123456789") != std::string_view::npos)
      continue;
    rest = rest.substr(space + 1);
    const auto hash = rest.find(" #");
    const auto name = trim(rest.substr(0, hash));
    if (name.empty()) continue;
    const bool skip = hash != std::string_view::npos && rest.substr(hash).find("SKIP") != std::string_view::npos;
    out.push_back({std::string(name), failed ? "FAIL" : skip ? "SKIP" : "PASS"});
  }
  return out;
}

std::vector<std::string> read_test_names(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read", path));
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string first;
    if (words >> first && !first.starts_with('#')) names.push_back(first);
  }
  if (names.empty()) throw std::runtime_error(fmt::format("{}: names no test", path));
  return names;
}

int selftests_command(const SelftestOptions& o) {
  std::vector<std::string> names;
  try {
    if (!o.tests_file.empty()) names = read_test_names(o.tests_file);
    for (const auto& t : lines_of(o.tests))
      for (std::size_t from = 0; from <= t.size();) {
        const auto comma = t.find(',', from);
        const auto name = trim(t.substr(from, comma == std::string_view::npos ? std::string_view::npos : comma - from));
        if (!name.empty()) names.emplace_back(name);
        if (comma == std::string_view::npos) break;
        from = comma + 1;
      }
  } catch (const std::runtime_error& e) {
    fmt::print(stderr, "aqcheck: error: selftests: {}\n", e.what());
    return exit_code::usage;
  }
  if (names.empty()) {
    fmt::print(stderr, "aqcheck: error: selftests: name the tests (--tests or --tests-file)\n");
    return exit_code::usage;
  }
  if (::access(o.runner.c_str(), X_OK) != 0) {
    fmt::print(stderr, "aqcheck: error: selftests: no runner at {} (build it: ci/selftests.sh --kernel SERIES)\n",
               o.runner);
    return exit_code::usage;
  }
  if (const int code = check_can_attach("selftests"); code != exit_code::pass) return code;
  if (!o.kernel_coverage.empty())
    if (const int code = begin_kernel_coverage(); code != exit_code::pass) return code;

  const std::string kernel = kernel_release();
  fmt::print("aqcheck: selftests: kernel {}, {} contract test(s), runner {}\n", kernel, names.size(), o.runner);
  std::map<std::string, SelftestResult> results;
  std::map<std::string, std::string> outputs;
  std::map<std::string, double> walls;
  std::map<std::string, std::vector<std::string>> scheduler_exits;
  std::vector<std::string> failures;
  std::set<std::string> no_result;  // their failure is said already: the runner gave no result line
  KernelLog klog;                   // one reader: a line logged between two tests goes to the next
  for (const auto& name : names) {
    if (results.count(name)) continue;  // `-t` matches substrings: an earlier run may have covered it
    std::fflush(stdout);
    const auto inv = run_runner(o.runner, name, o.test_timeout_s);
    const auto kernel_said = judge_selftest_kernel_log(klog.read_new());
    for (const auto& line : kernel_said.problems)
      failures.push_back(fmt::format("kernel conformance: selftest {}: kernel problem: {}", name, line));
    scheduler_exits[name] = kernel_said.scheduler_exits;
    for (const auto& r : parse_runner_output(inv.output))
      if (std::find(names.begin(), names.end(), r.name) != names.end() && !results.count(r.name)) {
        results[r.name] = r;
        outputs[r.name] = last_lines(inv.output, 60);
        walls[r.name] = inv.wall_s;
      }
    if (!results.count(name)) {
      const auto why = inv.exit < 0 ? fmt::format("killed after {} s without a result (the runner hangs)", o.test_timeout_s)
                                    : fmt::format("runner exited {} without a result line", inv.exit);
      results[name] = {name, "FAIL"};
      no_result.insert(name);
      outputs[name] = last_lines(inv.output, 60);
      walls[name] = inv.wall_s;
      failures.push_back(fmt::format("kernel conformance: selftest {}: {}", name, why));
    }
  }
  for (const auto& name : names) {
    const auto& r = results[name];
    fmt::print("aqcheck: selftests: {:<28} {} ({:.1f} s)\n", name, r.result, walls[name]);
    if (const auto why = load_failure(outputs[name]); r.result == "FAIL" && !why.empty())
      failures.push_back(fmt::format("kernel conformance: selftest {} could not load its BPF program ({}): the "
                                     "contract it asserts is unproven on this kernel",
                                     name, why));
    else if (r.result == "FAIL" && !no_result.count(name))
      failures.push_back(fmt::format("kernel conformance: selftest {} FAILED: this kernel breaks the sched_ext "
                                     "contract it asserts, so aqcheck's custody audit means nothing here",
                                     name));
    if (r.result == "SKIP")
      failures.push_back(fmt::format("kernel conformance: selftest {} skipped: the contract it asserts is unproven "
                                     "on this kernel",
                                     name));
  }
  std::fflush(stdout);
  if (!o.kernel_coverage.empty())
    if (const int code = end_kernel_coverage(o.kernel_coverage, "selftests", "selftests"); code != exit_code::pass)
      return code;
  if (!o.json.empty()) {
    nlohmann::json tests = nlohmann::json::array();
    for (const auto& name : names)
      tests.push_back({{"name", name}, {"result", results[name].result}, {"wall_s", walls[name]},
                       {"output", outputs[name]}, {"kernel_log", scheduler_exits[name]}});
    const nlohmann::json j{{"schema", "aqcheck-selftests/1"},
                           {"verdict", failures.empty() ? "PASS" : "FAIL"},
                           {"kernel", kernel},
                           {"runner", o.runner},
                           {"tests", tests},
                           {"failures", failures}};
    try {
      write_file_atomic(o.json, j.dump(2) + "\n");
      if (!o.ktap.empty()) write_file_atomic(o.ktap, ktap_document(ktap_tests_of(j)));
    } catch (const std::exception& e) {
      fmt::print(stderr, "aqcheck: error: writing {}: {}\n", o.json, e.what());
      return exit_code::internal;
    }
  }
  for (const auto& f : failures) fmt::print("  - {}\n", f);
  fmt::print("aqcheck selftests verdict: {} ({} test(s), kernel {})\n", failures.empty() ? "PASS" : "FAIL", names.size(),
             kernel);
  return failures.empty() ? exit_code::pass : exit_code::fail;
}

}  // namespace aq
