#include "gate/gate.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/exit_codes.hpp"
#include "common/process.hpp"
#include "common/proc_files.hpp"
#include "common/text.hpp"
#include "gate/cases.hpp"
#include "gate/report.hpp"
#include "report/ktap.hpp"
#include "report/report.hpp"
#include "run/run.hpp"
#include "workload/workload.hpp"

namespace aq::gate {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
  return s;
}

std::string resolve_accel(const std::string& accel) {
  if (accel != "auto") return accel;
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return "tcg";
  ::close(fd);
  return "kvm";
}

// Runs argv with its output in `log`; an interrupt or the timeout takes its
// qemu along (SIGTERM first, so the VM runner cleans up).  Returns the exit
// code, -1 at the timeout, -2 when interrupted.
int run_logged(const std::vector<std::string>& argv, const fs::path& log, int timeout_s) {
  auto o = ProcessOptions::timeout(timeout_s);
  o.log_path = log.string();
  o.term_first = true;
  o.stop = [] { return interrupted_by_signal() != 0; };
  return run_process(argv, o).exit;
}

// The failure reasons a case's own report gives (run: failures[]; fuzz:
// failures[].reasons), and the guest's kernel release.
std::vector<std::string> reasons_in(const json& j) {
  std::vector<std::string> out;
  // A run report: each case's own reasons (the top-level list prefixes them
  // with the case's name).
  if (j.contains("cases") && j["cases"].is_array()) {
    for (const auto& c : j["cases"])
      if (c.is_object() && c.contains("failures") && c["failures"].is_array())
        for (const auto& f : c["failures"])
          if (f.is_string()) out.push_back(f.get<std::string>());
    return out;
  }
  if (!j.contains("failures") || !j["failures"].is_array()) return out;
  for (const auto& f : j["failures"]) {
    if (f.is_string()) out.push_back(f.get<std::string>());
    else if (f.is_object() && f.contains("reasons"))
      for (const auto& r : f["reasons"]) out.push_back(f.value("scenario", "") + ": " + r.get<std::string>());
  }
  return out;
}

// What the gate keeps of a bench report: the figures, not the log.
json performance_of(const json& bench) {
  json out = json::object();
  for (const char* k : {"kernel", "rounds", "duration_s", "verdict", "metrics", "op_costs", "checks"})
    if (bench.contains(k)) out[k] = bench[k];
  return out;
}

std::optional<json> read_json(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  auto j = json::parse(in, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// aqcheck's own error lines, or the last lines of the log.
std::vector<std::string> errors_in(const fs::path& log) {
  const auto text = slurp(log).value_or("");
  std::vector<std::string> errors, tail;
  for (auto line : lines_of(text)) {
    if (line.find("aqcheck: error:") != std::string_view::npos) errors.emplace_back(line);
    if (!trim(line).empty()) tail.emplace_back(line);
  }
  if (!errors.empty()) return errors;
  if (tail.size() > 3) tail.erase(tail.begin(), tail.end() - 3);
  return tail;
}

// The run's own placeholders; the case's directory fills in the rest.
Outcome run_case(const Case& c, const fs::path& out_root, Placeholders ph, bool informational_gates) {
  const auto dir = out_root / "cases" / replace_all(c.id, "/", "_");
  fs::create_directories(dir);
  const auto report = dir / "report.json";
  const auto log = dir / "output.log";
  fs::remove(report);
  ph.report = report.string();
  ph.out = dir.string();
  const auto argv = command_of(c, ph);
  Outcome o{c.id, c.section, c.kernel, c.what, "FAIL", -1, 0, {}, c.expect.reason_prefix, c.blind_spot, "",
            shell_join(argv), report.string(), log.string()};
  const auto t0 = Clock::now();
  o.exit = run_logged(argv, log, c.timeout_s);
  o.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();

  auto j = read_json(report);
  if (!j) j = read_json(dir / "fuzz" / "summary.json");
  const auto reasons = j ? reasons_in(*j) : std::vector<std::string>{};
  if (j && j->contains("kernel") && (*j)["kernel"].is_string()) o.kernel_release = (*j)["kernel"].get<std::string>();

  if (o.exit == -1) {
    o.reasons = {fmt::format("no verdict within {} s: killed (log {})", c.timeout_s, log.string())};
  } else if (o.exit == -2) {
    o.reasons = {"interrupted"};
  } else if (c.expect.reason_prefix.empty()) {
    if (o.exit == c.expect.exit) {
      o.verdict = "PASS";
    } else if (c.informational && !informational_gates && o.exit == exit_code::fail && j) {
      o.verdict = "INFO";  // a finding in mainline: reported, not gating
      o.reasons = reasons.empty() ? std::vector<std::string>{"FAIL, with no reason in its report"} : reasons;
    } else {
      o.reasons = reasons.empty() ? errors_in(log) : reasons;
      o.reasons.insert(o.reasons.begin(), fmt::format("exit {} (expected {})", o.exit, c.expect.exit));
    }
  } else {
    const auto caught = std::find_if(reasons.begin(), reasons.end(),
                                     [&](const std::string& r) { return r.starts_with(c.expect.reason_prefix); });
    if (o.exit == c.expect.exit && caught != reasons.end()) {
      o.verdict = "PASS";
      o.reasons = {*caught};
    } else if (o.exit == exit_code::pass) {
      o.reasons = {fmt::format("negative control passed: the suite can no longer see {}", c.blind_spot)};
    } else {
      o.reasons = reasons.empty() ? errors_in(log) : reasons;
      o.reasons.insert(o.reasons.begin(),
                       fmt::format("negative control ended with exit {} and without a reason starting '{}'", o.exit,
                                   c.expect.reason_prefix));
    }
  }
  return o;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from <= s.size()) {
    const auto at = s.find(sep, from);
    out.push_back(s.substr(from, at == std::string::npos ? std::string::npos : at - from));
    if (at == std::string::npos) break;
    from = at + 1;
  }
  return out;
}

std::string clock_text(double s) {
  const int t = static_cast<int>(s);
  return fmt::format("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
}

}  // namespace

int gate_command(const Options& o) {
  Profile profile;
  if (o.profile == "smoke") profile = Profile::smoke;
  else if (o.profile == "release") profile = Profile::release;
  else {
    fmt::print(stderr, "aqcheck: error: bad --profile '{}': smoke or release\n", o.profile);
    return exit_code::usage;
  }
  const auto kernels = split(o.kernels, ',');
  for (const auto& k : kernels)
    if (k.empty() || k.find_first_not_of("0123456789.") != std::string::npos || k.find('.') == std::string::npos) {
      fmt::print(stderr, "aqcheck: error: bad --kernels '{}': series such as 7.2,7.3\n", o.kernels);
      return exit_code::usage;
    }
  int si = 0, sn = 0;
  char tail = 0;
  if (std::sscanf(o.shard.c_str(), "%d/%d%c", &si, &sn, &tail) != 2 || sn < 1 || si < 1 || si > sn) {
    fmt::print(stderr, "aqcheck: error: bad --shard '{}': I/N with 1 <= I <= N\n", o.shard);
    return exit_code::usage;
  }
  std::vector<std::string> workloads;
  for (const auto& w : find_workload("all", default_workloads_dir())) workloads.push_back(w.name);
  std::vector<Regression> regressions;
  try {
    regressions = read_regressions(fs::path(default_workloads_dir()).parent_path().string());
  } catch (const std::exception& e) {
    fmt::print(stderr, "aqcheck: error: {}\n", e.what());
    return exit_code::usage;
  }
  auto every = cases_for(profile, kernels, workloads, regressions);
  if (!o.only.empty()) {
    std::erase_if(every, [&](const Case& c) { return c.id.find(o.only) == std::string::npos; });
    if (every.empty()) {
      fmt::print(stderr, "aqcheck: error: no gate case matches --case {} (profile {}, kernels {})\n", o.only,
                 o.profile, o.kernels);
      return exit_code::usage;
    }
  }
  // A shard may be empty (more shards than cases): it passes, and merge
  // still counts it.
  const auto cases = shard(every, si, sn);
  if (o.list) {
    for (const auto& c : cases) fmt::print("{}\n", c.id);
    return exit_code::pass;
  }
  const std::string accel = resolve_accel(o.accel);
  if (const auto f = first_unreadable({o.thresholds, o.baseline_report}); !f.empty()) {
    fmt::print(stderr, "aqcheck: error: gate: cannot read {}\n", f);
    return exit_code::usage;
  }
  Placeholders placeholders;
  placeholders.aqcheck = fs::read_symlink("/proc/self/exe").string();
  placeholders.source = fs::path(default_workloads_dir()).parent_path().string();
  placeholders.cache = o.cache_dir;
  placeholders.accel = accel;
  placeholders.thresholds =
      o.thresholds.empty() ? placeholders.source + "/ci/gate-thresholds.json" : fs::absolute(o.thresholds).string();
  placeholders.baseline_report = o.baseline_report.empty() ? "" : fs::absolute(o.baseline_report).string();
  placeholders.negative_variant = o.negative_variant;
  install_signal_handlers();
  const fs::path out = fs::absolute(o.out_dir);
  fs::create_directories(out);
  fmt::print("aqcheck: gate: profile {}, kernels {}, shard {}, {} case(s), accel {}, out {}\n", o.profile, o.kernels,
             o.shard, cases.size(), accel, out.string());
  std::fflush(stdout);
  Report r;
  r.profile = o.profile;
  r.kernels = kernels;
  r.shards = {o.shard};
  r.command = o.command_line;
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < cases.size(); i++) {
    const auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
    fmt::print("gate [{}/{}] {} {} ...\n", i + 1, cases.size(), clock_text(elapsed()), cases[i].id);
    std::fflush(stdout);
    auto outcome = run_case(cases[i], out, placeholders, o.mainline_gates);
    if (interrupted_by_signal()) {
      fmt::print(stderr, "aqcheck: error: gate interrupted by signal {}: no report written\n", interrupted_by_signal());
      return exit_code::internal;
    }
    fmt::print("gate [{}/{}] {} {} {} ({:.0f} s){}\n", i + 1, cases.size(), clock_text(elapsed()), outcome.id,
               outcome.verdict, outcome.wall_s, outcome.verdict == "PASS" ? "" : ": " + outcome.reasons.front());
    if (outcome.verdict == "FAIL") fmt::print("  rerun: {}\n", outcome.rerun);
    std::fflush(stdout);
    if (cases[i].section == "performance")
      if (const auto j = read_json(outcome.report); j && j->value("schema", "") == "aqcheck-bench/1")
        r.performance[cases[i].kernel] = performance_of(*j);
    r.cases.push_back(std::move(outcome));
  }
  r.elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
  try {
    write_reports(r, out.string());
    if (!o.ktap.empty()) write_file_atomic(o.ktap, ktap_document(ktap_tests_of(to_json(r))));
  } catch (const std::exception& e) {
    fmt::print(stderr, "aqcheck: error: writing the gate report: {}\n", e.what());
    return exit_code::internal;
  }
  fmt::print("aqcheck gate verdict: {} ({} case(s), profile {}, kernels {}, shard {}); {}/gate.md\n",
             r.passed() ? "PASS" : "FAIL", r.cases.size(), o.profile, o.kernels, o.shard, out.string());
  return r.passed() ? exit_code::pass : exit_code::fail;
}

int report_merge(const std::vector<std::string>& inputs, const std::string& out_dir) {
  std::vector<Report> parts;
  try {
    for (const auto& p : inputs) parts.push_back(read_report(p));
  } catch (const std::exception& e) {
    fmt::print(stderr, "aqcheck: error: bad gate report: {}\n", e.what());
    return exit_code::bad_report;
  }
  const auto merged = merge(parts);
  try {
    write_reports(merged, out_dir);
  } catch (const std::exception& e) {
    fmt::print(stderr, "aqcheck: error: writing the merged report: {}\n", e.what());
    return exit_code::internal;
  }
  for (const auto& p : merged.problems) fmt::print("  - problem: {}\n", p);
  for (const auto& c : merged.cases)
    if (c.verdict == "FAIL") fmt::print("  - {}: {}\n    rerun: {}\n", c.id, c.reasons.empty() ? "" : c.reasons.front(), c.rerun);
  fmt::print("aqcheck gate verdict: {} ({} report(s), {} case(s)); {}/gate.md\n", merged.passed() ? "PASS" : "FAIL",
             parts.size(), merged.cases.size(), out_dir);
  return merged.passed() ? exit_code::pass : exit_code::fail;
}

int report_compare(const std::string& before, const std::string& after) {
  Report a, b;
  try {
    a = read_report(before);
    b = read_report(after);
  } catch (const std::exception& e) {
    fmt::print(stderr, "aqcheck: error: bad gate report: {}\n", e.what());
    return exit_code::bad_report;
  }
  const auto cmp = compare(a, b);
  fmt::print("{}", cmp.markdown);
  return cmp.regressed ? exit_code::fail : exit_code::pass;
}

}  // namespace aq::gate
