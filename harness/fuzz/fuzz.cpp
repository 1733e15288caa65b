#include "fuzz/fuzz.hpp"
#include "run/kernel_coverage.hpp"

#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

#include <nlohmann/json.hpp>

#include "common/exit_codes.hpp"
#include "common/text.hpp"
#include "fuzz/shrink.hpp"
#include "fuzz/spec.hpp"
#include "common/kmsg.hpp"
#include "report/html.hpp"
#include "report/ktap.hpp"
#include "report/report.hpp"
#include "sched/scheduler.hpp"
#include "workload/workload.hpp"

namespace aq {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Runs a FAIL gets to be confirmed, and to be made small.
constexpr int kConfirmRuns = 2;
constexpr int kMaxShrinkRuns = 12;
// One slow scenario must not make every later estimate absurd.
constexpr int kMaxOverheadS = 60;

std::string kernel_release() {
  utsname u{};
  ::uname(&u);
  return u.release;
}

// Scenario n's seed: far apart for neighbouring n and session seeds (splitmix64).
std::uint64_t scenario_seed(std::uint64_t session_seed, std::uint64_t n) {
  std::uint64_t z = session_seed * 0x9E3779B97F4A7C15ULL + n;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return (z ^ (z >> 31)) & 0x7fffffff;
}

std::uint64_t counter(const CaseResult& r, std::string_view name) {
  if (name.empty()) return 0;
  const auto it = r.counters.find(std::string(name));
  return it == r.counters.end() ? 0 : it->second;
}

using Coverage = std::map<std::string, std::uint64_t>;  // label -> sum

Coverage coverage_of(const CaseResult& r) {
  Coverage c;
  for (const auto& line : kFuzzCoverage)
    for (auto name : line.counters) c[std::string(line.label)] += counter(r, name);
  return c;
}

std::string coverage_text(const Coverage& c) {
  std::string t;
  for (const auto& line : kFuzzCoverage) {
    const auto it = c.find(std::string(line.label));
    t += fmt::format("{}{}={}", t.empty() ? "" : " ", line.label, it == c.end() ? 0 : it->second);
  }
  return t;
}

std::string describe(const FuzzSpec& s) {
  std::vector<std::string> parts;
  for (const auto& st : s.stressors)
    parts.push_back(fmt::format("{}x{}{}", st.name, st.instances, st.method.empty() ? "" : "/" + st.method));
  std::string d = fmt::format("{} s: {}", s.duration_s, fmt::join(parts, " "));
  if (!s.global_options.empty()) d += fmt::format(" (+{})", fmt::join(s.global_options, " "));
  if (!s.churn.empty()) d += fmt::format("; churn {} every {} ms", fmt::join(s.churn, "+"), s.churn_interval_ms);
  if (s.fail_lock_every) d += fmt::format("; fail lock every {}", s.fail_lock_every);
  d += fmt::format("; audit {} ms", s.audit_interval_ms);
  if (s.slice_us) d += fmt::format("; slice {} us", s.slice_us);
  if (s.dsp_batch) d += fmt::format("; batch {}", s.dsp_batch);
  if (s.highpri_boosting) d += "; highpri";
  return d;
}

std::string default_out_dir() {
  const auto now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return fmt::format("out/fuzz-{}", stamp);
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  write_file_atomic(path.string(), text);
}

struct ScenarioRecord {
  FuzzSpec spec;
  std::string verdict;  // PASS, FAIL
  double wall_s = 0;
  std::vector<std::string> failures;
  std::vector<HostStallRetry> host_stall_retries;  // attempts run again because the host stalled
  Coverage coverage;
  std::string spec_file, report_file;  // host paths
  double elapsed_s = 0;        // into the session, when it ended
  Coverage coverage_so_far;    // the session's, this scenario included: the HTML's coverage over time
};

struct FailureRecord {
  std::string scenario;
  std::string klass;
  std::vector<std::string> classes;
  std::vector<std::string> reasons;
  std::string classification;  // reproducible, intermittent, unconfirmed
  int confirm_failed = 0, confirm_runs = 0;
  ShrinkResult shrink;
  std::string shrink_note;
  std::string spec_file, report_file, kernel_log, minimal_spec, minimal_job;  // host paths
  std::string reproduce_fuzz, reproduce_run;
};

class Session {
 public:
  Session(FuzzOptions opts, int budget_s)
      : opts_(std::move(opts)),
        budget_s_(budget_s),
        allowance_s_(shrink_allowance_s(budget_s)),
        start_(Clock::now()),
        kernel_(kernel_release()) {
    out_ = fs::absolute(opts_.out_dir).lexically_normal();
    host_out_ = opts_.host_out.empty() ? out_ : fs::path(opts_.host_out);
    char tmpl[] = "/tmp/aqcheck-fuzz.XXXXXX";
    scratch_ = ::mkdtemp(tmpl) ? tmpl : "/tmp";
  }

  int run() {
    std::optional<FuzzSpec> replay;
    if (!opts_.replay.empty()) {
      replay = load_spec(opts_.replay);  // checked by check_fuzz_options already
      opts_.seed = replay->seed;         // the seed that matters is the scenario's
    }
    fmt::print("aqcheck: fuzz: kernel {}, seed {}, budget {}, out {}{}\n", kernel_, opts_.seed,
               format_clock(budget_s_), host_out_.string(),
               opts_.host_out.empty() ? "" : fmt::format(" (guest {})", out_.string()));
    int code = exit_code::pass;
    try {
      if (replay) {
        scenario(*replay);
      } else {
        code = loop();
      }
    } catch (const WorkloadError& e) {
      fmt::print(stderr, "aqcheck: error: bad workload (the fuzz catalogue): {}\n", e.what());
      stop_reason_ = "the workload catalogue could not be read";
      code = exit_code::bad_workload;
    } catch (const LoadError& e) {
      fmt::print(stderr, "aqcheck: error: {}\n", e.what());
      stop_reason_ = fmt::format("the scheduler failed to load: {}", e.what());
      code = exit_code::load_failed;
    }
    if (interrupted_by_signal()) stop_reason_ = fmt::format("interrupted by signal {}", interrupted_by_signal());
    write_summaries();
    std::error_code ec;
    fs::remove_all(scratch_, ec);
    if (code != exit_code::pass) return code;
    return failures_.empty() ? exit_code::pass : exit_code::fail;
  }

 private:
  int elapsed_s() const {
    return static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start_).count());
  }
  // Seconds left until the budget ends (extra: until the shrink allowance ends too).
  int remaining_s(bool extra) const { return budget_s_ + (extra ? allowance_s_ : 0) - elapsed_s(); }
  int estimate_s(const FuzzSpec& s) const { return s.duration_s + overhead_s_; }

  fs::path host_path(const fs::path& p) const { return host_out_ / p.lexically_relative(out_); }

  int loop() {
    const auto catalogue =
        build_catalogue(find_workload("all", opts_.base.workloads_dir.empty() ? default_workloads_dir()
                                                                            : opts_.base.workloads_dir));
    const auto cpus = static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN));
    for (std::uint64_t n = 1; !interrupted_by_signal(); n++) {
      const int room = remaining_s(false) - overhead_s_;
      if (room < 1) {
        stop_reason_ = fmt::format("budget used: {} s left, a scenario needs at least {} s", remaining_s(false),
                                   overhead_s_ + 1);
        break;
      }
      auto spec = generate_spec(scenario_seed(opts_.seed, n), catalogue, cpus, room);
      spec.name = fmt::format("s{:03}", n);
      const bool failed = !scenario(spec);
      if (failed && opts_.stop_on_fail) {
        stop_reason_ = "stopped at the first FAIL (--stop-on-fail)";
        break;
      }
    }
    return exit_code::pass;
  }

  // One run of a spec, with the kernel log it produced; throws LoadError.
  CaseResult run_spec(const FuzzSpec& spec, std::string& kernel_text) {
    RunConfig cfg = config_of(spec, opts_.base);
    KernelLog klog;
    auto r = run_case_retrying_host_stalls(cfg, case_of(spec), scratch_.string(), seen_ops_);
    kernel_text.clear();
    for (auto& line : klog.read_new()) kernel_text += line + "\n";
    const int overhead = static_cast<int>(r.wall_s) - spec.duration_s + 1;
    overhead_s_ = std::clamp(std::max(overhead_s_, overhead), kScenarioOverheadS, kMaxOverheadS);
    return r;
  }

  std::string replay_command(const fs::path& host_spec) const {
    return fmt::format("{} vm --kernel {} -- fuzz --replay {}{}", rerun_executable(opts_.base), rerun_kernel(kernel_),
                       shell_quote(host_spec.string()), shared_run_options());
  }
  std::string run_command_for(const FuzzSpec& spec, const fs::path& host_job) const {
    std::vector<std::string> args{"run", "--workload", host_job.string()};
    for (auto& o : run_options_of(spec)) args.push_back(o);
    return fmt::format("{} vm --kernel {} -- {}{}", rerun_executable(opts_.base), rerun_kernel(kernel_),
                       shell_join(args), shared_run_options());
  }
  // Session options every scenario shares (not in its spec): only when not the default.
  std::string shared_run_options() const {
    const SchedOptions defaults;
    std::string o;
    if (opts_.base.sched.variant != defaults.variant) o += " --variant " + opts_.base.sched.variant;
    if (opts_.base.sched.stuck_after_ms != defaults.stuck_after_ms)
      o += fmt::format(" --stuck-after-ms {}", opts_.base.sched.stuck_after_ms);
    if (opts_.base.host_stall_retries != RunConfig{}.host_stall_retries)
      o += fmt::format(" --host-stall-retries {}", opts_.base.host_stall_retries);
    return o;
  }

  void write_report(const FuzzSpec& spec, const CaseResult& r, const fs::path& path, const fs::path& spec_path) {
    RunConfig cfg = config_of(spec, opts_.base);
    cfg.json = path.string();
    cfg.command_line = fmt::format("fuzz --replay {}", host_path(spec_path).string());
    RunResult res;
    res.kernel = kernel_;
    res.sched_ext_ops = seen_ops_;
    res.cases.push_back(r);
    fs::create_directories(path.parent_path());
    write_reports(cfg, res, replay_command(host_path(spec_path)));
  }

  // Runs a generated (or replayed) scenario and, on a FAIL, confirms and
  // shrinks it.  Returns whether it passed.
  bool scenario(const FuzzSpec& spec) {
    const auto dir = out_ / "scenarios";
    fs::create_directories(dir);
    const auto spec_path = dir / (spec.name + ".spec.json");
    const auto report_path = dir / (spec.name + ".report.json");
    save_spec(spec, spec_path.string());
    fmt::print("aqcheck: fuzz: {}: {}\n", spec.name, describe(spec));
    std::fflush(stdout);
    std::string kernel_text;
    const auto r = run_spec(spec, kernel_text);
    write_report(spec, r, report_path, spec_path);

    const Coverage coverage = coverage_of(r);
    for (const auto& [k, v] : coverage) session_coverage_[k] += v;
    ScenarioRecord rec{spec,
                       r.passed() ? "PASS" : "FAIL",
                       r.wall_s,
                       r.failures,
                       r.host_stall_retries,
                       coverage,
                       host_path(spec_path).string(),
                       host_path(report_path).string(),
                       std::chrono::duration<double>(Clock::now() - start_).count(),
                       session_coverage_};
    for (const auto& line : kFuzzCoverage)
      scenarios_reaching_[std::string(line.label)] += rec.coverage[std::string(line.label)] > 0;
    for (const auto& [k, v] : r.counters) session_counters_[k] += v;
    scenarios_.push_back(rec);
    fmt::print("fuzz [{:>3}] {}/{} {}  {}\n", scenarios_.size(), format_clock(elapsed_s()), format_clock(budget_s_),
               case_verdict_text(r), coverage_text(session_coverage_));
    for (const auto& f : r.failures) fmt::print("  - {}: {}\n", spec.name, f);
    std::fflush(stdout);
    if (!r.passed() && !interrupted_by_signal()) handle_failure(spec, r, kernel_text, spec_path, report_path);
    return r.passed();
  }

  void handle_failure(const FuzzSpec& spec, const CaseResult& r, const std::string& kernel_text,
                      const fs::path& spec_path, const fs::path& report_path) {
    FailureRecord f;
    f.scenario = spec.name;
    f.reasons = r.failures;
    f.klass = primary_class(r.failures);
    f.classes = classes_of(r.failures);
    const auto dir = out_ / "failures" / spec.name;
    fs::create_directories(dir);
    fs::copy_file(spec_path, dir / "spec.json", fs::copy_options::overwrite_existing);
    fs::copy_file(report_path, dir / "report.json", fs::copy_options::overwrite_existing);
    write_text(dir / "kernel.log", kernel_text);
    f.spec_file = host_path(dir / "spec.json").string();
    f.report_file = host_path(dir / "report.json").string();
    f.kernel_log = host_path(dir / "kernel.log").string();
    fmt::print("aqcheck: fuzz: {}: FAIL ({}); rerunning it {} times, then shrinking (up to {} runs; may use up to "
               "{} s past the budget in all)\n",
               spec.name, f.klass, kConfirmRuns, kMaxShrinkRuns, allowance_s_);

    std::string log;
    int step = 0;
    // A run for confirming or shrinking: within the budget plus the allowance.
    const auto attempt = [&](const FuzzSpec& s, const std::string& what) -> std::optional<std::vector<std::string>> {
      if (interrupted_by_signal() || estimate_s(s) > remaining_s(true)) return std::nullopt;
      FuzzSpec named = s;
      named.name = fmt::format("{}-{}{}", spec.name, what, ++step);
      std::string ktext;
      const auto rr = run_spec(named, ktext);
      log += fmt::format("{} [{}] {} -> {}{}\n", named.name, format_clock(elapsed_s()), describe(s),
                         rr.passed() ? "PASS" : "FAIL", rr.passed() ? "" : " (" + fmt::format("{}", fmt::join(classes_of(rr.failures), ", ")) + ")");
      for (const auto& why : rr.failures) log += fmt::format("    {}\n", why);
      fmt::print("fuzz [{:>3}] {}/{} {} {} -> {}\n", scenarios_.size(), format_clock(elapsed_s()),
                 format_clock(budget_s_), what, named.name, rr.passed() ? "PASS" : primary_class(rr.failures));
      std::fflush(stdout);
      return rr.failures;
    };

    for (int i = 0; i < kConfirmRuns; i++) {
      const auto got = attempt(spec, "rerun");
      if (!got) break;
      f.confirm_runs++;
      const auto classes = classes_of(*got);
      f.confirm_failed += std::find(classes.begin(), classes.end(), f.klass) != classes.end();
    }
    f.classification = f.confirm_runs < kConfirmRuns        ? "unconfirmed"
                       : f.confirm_failed == kConfirmRuns ? "reproducible"
                                                          : "intermittent";

    log += "--- shrinking\n";
    f.shrink = shrink_spec(spec, r.failures, f.klass,
                           [&](const FuzzSpec& s) { return attempt(s, "shrink"); }, kMaxShrinkRuns);
    if (f.shrink.exhausted)
      f.shrink_note = f.shrink.runs >= kMaxShrinkRuns
                          ? fmt::format("stopped after {} runs (the limit); may shrink further", f.shrink.runs)
                          : fmt::format("stopped after {} runs: the budget and its {} s shrink allowance are used up",
                                        f.shrink.runs, allowance_s_);
    else
      f.shrink_note = fmt::format("done: no simpler spec fails the same way ({} runs)", f.shrink.runs);
    for (const auto& st : f.shrink.steps) log += fmt::format("{} {}\n", st.kept ? "kept   " : "dropped", st.change);

    FuzzSpec minimal = f.shrink.minimal;
    minimal.name = spec.name + "-min";
    const auto min_spec = dir / "minimal.spec.json";
    const auto min_job = dir / "minimal.job";
    save_spec(minimal, min_spec.string());
    write_text(min_job, to_job_text(minimal, fmt::format("fuzz scenario {} (seed {}) shrunk: fails with {} ({})",
                                                         spec.name, spec.seed, f.klass, f.classification)));
    f.minimal_spec = host_path(min_spec).string();
    f.minimal_job = host_path(min_job).string();
    f.reproduce_fuzz = replay_command(host_path(min_spec));
    f.reproduce_run = run_command_for(minimal, host_path(min_job));
    write_text(dir / "shrink.log", log);
    write_text(dir / "reproduce.sh",
               fmt::format("#!/bin/sh\n# {}: {} ({}, {}/{} reruns failed the same way); minimal spec: {}\n{}\n"
                           "# the same as a workload file:\n# {}\n",
                           spec.name, f.klass, f.classification, f.confirm_failed, f.confirm_runs, describe(minimal),
                           f.reproduce_fuzz, f.reproduce_run));
    fmt::print("aqcheck: fuzz: {}: {} ({}), minimal: {}\n  shrink: {}\n  reproduce: {}\n  reproduce: {}\n",
               spec.name, f.klass, f.classification, describe(minimal), f.shrink_note, f.reproduce_fuzz,
               f.reproduce_run);
    std::fflush(stdout);
    failures_.push_back(std::move(f));
  }

  json summary_json() const {
    json coverage = json::object();
    for (const auto& line : kFuzzCoverage) {
      const std::string label(line.label);
      json counters = json::object();
      for (auto name : line.counters)
        if (!name.empty()) {
          const auto it = session_counters_.find(std::string(name));
          counters[std::string(name)] = it == session_counters_.end() ? 0 : it->second;
        }
      const auto total = session_coverage_.find(label);
      const auto reach = scenarios_reaching_.find(label);
      coverage[label] = {{"total", total == session_coverage_.end() ? 0 : total->second},
                         {"scenarios", reach == scenarios_reaching_.end() ? 0 : reach->second},
                         {"counters", counters}};
    }
    json scenarios = json::array();
    int passed = 0;
    std::size_t retries = 0;
    for (const auto& s : scenarios_) {
      passed += s.verdict == "PASS";
      json earlier = json::array();
      for (const auto& t : s.host_stall_retries)
        earlier.push_back({{"failures", t.failures}, {"host_stalls", t.host_stalls},
                           {"longest_stall_s", t.longest_stall_s}, {"wall_s", t.wall_s},
                           {"settle_s", t.settle_s}});
      retries += s.host_stall_retries.size();
      scenarios.push_back({{"name", s.spec.name}, {"seed", s.spec.seed}, {"verdict", s.verdict},
                           {"duration_s", s.spec.duration_s}, {"wall_s", s.wall_s}, {"spec", s.spec_file},
                           {"report", s.report_file}, {"failures", s.failures}, {"host_stall_retries", earlier},
                           {"coverage", s.coverage}, {"elapsed_s", std::round(s.elapsed_s * 10) / 10},
                           {"coverage_so_far", s.coverage_so_far}});
    }
    json failures = json::array();
    for (const auto& f : failures_) {
      json steps = json::array();
      for (const auto& st : f.shrink.steps) steps.push_back({{"change", st.change}, {"kept", st.kept}});
      failures.push_back({{"scenario", f.scenario}, {"class", f.klass}, {"classes", f.classes},
                          {"classification", f.classification},
                          {"reruns", {{"runs", f.confirm_runs}, {"failed_same_class", f.confirm_failed}}},
                          {"reasons", f.reasons}, {"spec", f.spec_file}, {"report", f.report_file},
                          {"kernel_log", f.kernel_log}, {"minimal_spec", f.minimal_spec},
                          {"minimal_job", f.minimal_job},
                          {"minimal_failures", f.shrink.failures},
                          {"shrink", {{"runs", f.shrink.runs}, {"note", f.shrink_note}, {"steps", steps}}},
                          {"reproduce", {{"fuzz", f.reproduce_fuzz}, {"run", f.reproduce_run}}}});
    }
    return {{"schema", "aqcheck-fuzz/1"},
            {"verdict", failures_.empty() && !scenarios_.empty() ? "PASS" : (failures_.empty() ? "NONE" : "FAIL")},
            {"kernel", kernel_},
            {"seed", opts_.seed},
            {"budget_s", budget_s_},
            {"shrink_allowance_s", allowance_s_},
            {"elapsed_s", elapsed_s()},
            {"replay", opts_.replay},
            {"command", opts_.base.host_command.empty() ? opts_.base.command_line : opts_.base.host_command},
            {"scenarios_run", scenarios_.size()},
            {"passed", passed},
            {"failed", scenarios_.size() - static_cast<std::size_t>(passed)},
            {"host_stall_retries", retries},
            {"stopped_because", stop_reason_},
            {"coverage", coverage},
            {"failures", failures},
            {"scenarios", scenarios}};
  }

  std::string summary_markdown(const json& j) const {
    std::string m = fmt::format("# aqcheck fuzz: {}\n\nKernel `{}`, seed {}, budget {}, elapsed {}. {} scenario(s): "
                                "{} PASS, {} FAIL{}. {}\n\n",
                                j["verdict"].get<std::string>(), kernel_, opts_.seed, format_clock(budget_s_),
                                format_clock(elapsed_s()), scenarios_.size(), j["passed"].get<int>(),
                                j["failed"].get<std::size_t>(),
                                j["host_stall_retries"].get<std::size_t>()
                                    ? fmt::format(", {} host-stall retries (below)", j["host_stall_retries"].get<std::size_t>())
                                    : "",
                                stop_reason_.empty() ? "" : "Ended: " + stop_reason_ + ".");
    m += "## Coverage\n\n| path | counters | total | scenarios reaching it |\n|---|---|---:|---:|\n";
    for (const auto& line : kFuzzCoverage) {
      const auto& c = j["coverage"][std::string(line.label)];
      std::vector<std::string> names;
      for (auto n : line.counters)
        if (!n.empty()) names.emplace_back(n);
      m += fmt::format("| {} | {} | {} | {} |\n", line.label, fmt::join(names, " + "), c["total"].get<std::uint64_t>(),
                       c["scenarios"].get<int>());
    }
    if (!failures_.empty()) m += "\n## Failures\n";
    for (const auto& f : failures_) {
      m += fmt::format("\n### {}: {} ({}, {}/{} reruns failed the same way)\n\n", f.scenario, f.klass,
                       f.classification, f.confirm_failed, f.confirm_runs);
      for (const auto& why : f.reasons) m += fmt::format("- {}\n", why);
      m += fmt::format("\nShrink: {}. Minimal spec `{}`, workload `{}`.\n\n```sh\n{}\n{}\n```\n", f.shrink_note,
                       f.minimal_spec, f.minimal_job, f.reproduce_fuzz, f.reproduce_run);
    }
    if (j["host_stall_retries"].get<std::size_t>()) {
      m += "\n## Host-stall retries\n\nEvery reason of these attempts carried a host stall (the guest stood still), "
           "so the scenario ran again; its verdict is the last attempt's.\n\n";
      for (const auto& s : scenarios_)
        for (std::size_t i = 0; i < s.host_stall_retries.size(); i++)
          for (const auto& why : s.host_stall_retries[i].failures)
            m += fmt::format("- {} attempt {}: {}\n", s.spec.name, i + 1, why);
    }
    m += "\n## Scenarios\n\n| scenario | verdict | spec | wall s | ";
    for (const auto& line : kFuzzCoverage) m += fmt::format("{} | ", line.label);
    m += "\n|---|---|---|---:|";
    for ([[maybe_unused]] const auto& line : kFuzzCoverage) m += "---:|";
    m += "\n";
    for (const auto& s : scenarios_) {
      const auto n = s.host_stall_retries.size();
      m += fmt::format("| {} | {}{} | {} | {:.1f} | ", s.spec.name, s.verdict,
                       n ? fmt::format(" after {} host-stall retr{}", n, n == 1 ? "y" : "ies") : "", describe(s.spec),
                       s.wall_s);
      for (const auto& line : kFuzzCoverage) m += fmt::format("{} | ", s.coverage.at(std::string(line.label)));
      m += "\n";
    }
    return m;
  }

  void write_summaries() {
    const auto j = summary_json();
    try {
      fs::create_directories(out_);
      write_file_atomic((out_ / "summary.json").string(), j.dump(2) + "\n");
      const auto md = summary_markdown(j);
      write_file_atomic((out_ / "summary.md").string(), md);
      write_file_atomic((out_ / "summary.html").string(), report_html(j));
      if (!opts_.ktap.empty()) write_file_atomic(opts_.ktap, ktap_document(ktap_tests_of(j)));
      fmt::print("\n{}\naqcheck: fuzz: summary {}, {} and {}\n", md, host_path(out_ / "summary.json").string(),
                 host_path(out_ / "summary.md").string(), host_path(out_ / "summary.html").string());
    } catch (const std::exception& e) {
      fmt::print(stderr, "aqcheck: error: writing the fuzz summary: {}\n", e.what());
    }
    fmt::print("aqcheck fuzz verdict: {} ({} scenario(s), {} FAIL, kernel {}, seed {})\n",
               j["verdict"].get<std::string>(), scenarios_.size(), failures_.size(), kernel_, opts_.seed);
    std::fflush(stdout);
  }

  FuzzOptions opts_;
  int budget_s_;
  int allowance_s_;
  Clock::time_point start_;
  std::string kernel_;
  fs::path out_, host_out_, scratch_;
  std::string seen_ops_;
  int overhead_s_ = kScenarioOverheadS;
  std::string stop_reason_;
  Coverage session_coverage_;
  std::map<std::string, int> scenarios_reaching_;
  std::map<std::string, std::uint64_t> session_counters_;
  std::vector<ScenarioRecord> scenarios_;
  std::vector<FailureRecord> failures_;
};

}  // namespace

int shrink_allowance_s(int budget_s) { return std::clamp(budget_s / 4, 300, 1800); }

int vm_timeout_for_fuzz(int budget_s) {
  // Boot (about 5 s under TCG, far more on a loaded host), the last
  // scenario's overrun and the summaries: two minutes.
  return budget_s + shrink_allowance_s(budget_s) + 120;
}

int check_fuzz_options(const FuzzOptions& opts, int& budget_s) {
  budget_s = 0;
  if (!opts.budget.empty()) {
    const auto b = parse_budget(opts.budget);
    if (!b) {
      fmt::print(stderr, "aqcheck: error: bad --budget '{}': expected a duration such as 90s, 30m, 2h or 1h30m\n",
                 opts.budget);
      return exit_code::usage;
    }
    if (*b < kScenarioOverheadS + 1 && opts.replay.empty()) {
      fmt::print(stderr, "aqcheck: error: --budget {} is too short for one scenario (at least {} s)\n", opts.budget,
                 kScenarioOverheadS + 1);
      return exit_code::usage;
    }
    budget_s = *b;
  }
  if (opts.replay.empty()) {
    if (budget_s == 0) {
      fmt::print(stderr, "aqcheck: error: fuzz needs --budget (e.g. --budget 30m) or --replay SPEC\n");
      return exit_code::usage;
    }
    return exit_code::pass;
  }
  try {
    const auto spec = load_spec(opts.replay);
    validate_spec_with_stress_ng(spec, opts.base.stress_ng, opts.replay);
    if (budget_s == 0) budget_s = spec.duration_s + kScenarioOverheadS;
  } catch (const SpecError& e) {
    fmt::print(stderr, "aqcheck: error: bad fuzz spec: {}\n", e.what());
    return exit_code::bad_spec;
  }
  return exit_code::pass;
}

int fuzz_command(FuzzOptions opts) {
  int budget_s = 0;
  if (const int code = check_fuzz_options(opts, budget_s); code != exit_code::pass) return code;
  if (const int code = check_can_attach("fuzz"); code != exit_code::pass) return code;
  if (opts.seed == 0) opts.seed = std::random_device{}() & 0x7fffffff;
  if (opts.out_dir.empty()) opts.out_dir = default_out_dir();
  std::error_code ec;
  fs::create_directories(opts.out_dir, ec);
  if (ec || ::access(opts.out_dir.c_str(), W_OK) != 0) {
    fmt::print(stderr, "aqcheck: error: cannot write to --out {}: {}\n", opts.out_dir,
               ec ? ec.message() : "not writable");
    return exit_code::usage;
  }
  const std::string coverage = opts.base.kernel_coverage;
  if (!coverage.empty())
    if (const int code = begin_kernel_coverage(); code != exit_code::pass) return code;
  install_signal_handlers();
  Session session(std::move(opts), budget_s);
  const int code = session.run();
  if (!coverage.empty())
    if (const int saved = end_kernel_coverage(coverage, "fuzz", "fuzz"); saved != exit_code::pass) return saved;
  return code;
}

}  // namespace aq
