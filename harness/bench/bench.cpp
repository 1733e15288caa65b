#include "bench/bench.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "common/exit_codes.hpp"
#include "common/proc_files.hpp"
#include "common/process.hpp"
#include "common/text.hpp"
#include "report/report.hpp"
#include "run/run.hpp"
#include "sched/scheduler.hpp"

namespace aq::bench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

bool on_path(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  return !find_program(program).empty();
}

SchedOptions sched_options(const Options& o, const std::string& variant, std::uint64_t wake_preempt_us, bool time_ops) {
  SchedOptions s;
  s.variant = variant;
  s.wake_preempt_us = wake_preempt_us;
  s.time_ops = time_ops;
  s.enqueue_delay_us = o.enqueue_delay_us;
  return s;
}

// The scheduler of one config, attached for as long as this lives.
class Attached {
 public:
  Attached(const SchedOptions& s) : sched_(Scheduler::load(s)) {
    sched_->attach();
    if (!wait_sched_ext_state("enabled", 5000)) throw LoadError("sched_ext did not reach state 'enabled'");
  }
  ~Attached() {
    sched_->detach();
    wait_sched_ext_state("disabled", 5000);
  }
  // Why the scheduler is gone, or "" while it runs.
  std::string ejected() const {
    if (auto e = sched_->exit_info()) return fmt::format("{}: {} {}", exit_kind_name(e->kind), e->reason, e->msg);
    if (sched_ext_state() != "enabled") return fmt::format("sched_ext state '{}'", sched_ext_state());
    return "";
  }
  const qmap_arena& arena() const { return sched_->arena(); }

 private:
  std::unique_ptr<Scheduler> sched_;
};

OpCost op_cost_of(const qmap_arena& qa) {
  const auto& c = qa.op_costs;
  const auto mean = [](const aq_op_cost& k) {
    return k.nr ? static_cast<double>(k.ns) / static_cast<double>(k.nr) : 0.0;
  };
  OpCost out{mean(c.enqueue), mean(c.dispatch), mean(c.dequeue), c.enqueue.nr, c.dispatch.nr, c.dequeue.nr,
             qa.stats.nr_dispatched, qa.stats.nr_stale_skipped, 0};
  if (out.nr_dispatched)
    out.list_ns_per_task = static_cast<double>(c.enqueue.ns + c.dispatch.ns + c.dequeue.ns) /
                           static_cast<double>(out.nr_dispatched);
  return out;
}

std::string fmt_value(double v) { return v >= 100 ? fmt::format("{:.0f}", v) : fmt::format("{:.3g}", v); }

std::string reproduction(const Options& o, const std::string& kernel) {
  RunConfig rc;
  rc.host_exe = o.host_exe;
  const auto cmd = o.host_command.empty() ? o.command_line : o.host_command;
  return fmt::format("{} vm --kernel {} -- {}   # kernel {}", rerun_executable(rc), rerun_kernel(kernel), cmd, kernel);
}

json to_json(const Options& o, const Result& r, const std::string& repro) {
  json configs = json::array();
  for (const auto& c : r.configs)
    configs.push_back({{"name", c.name}, {"variant", c.variant}, {"wake_preempt_us", c.wake_preempt_us}, {"what", c.what}});
  json metrics = json::object();
  for (const auto& m : r.metrics) {
    json ratio = json::object();
    for (const auto& [config, rs] : m.ratios) {
      const auto s = spread_of(rs);
      ratio[config] = {{"median", s.median}, {"min", s.min}, {"max", s.max}, {"rel_spread", s.rel_spread}, {"rounds", rs}};
    }
    metrics[m.metric.name] = {{"unit", m.metric.unit}, {"higher_is_better", m.metric.higher_is_better},
                              {"what", m.metric.what}, {"values", m.values}, {"ratio", ratio}};
  }
  json costs = json::object();
  for (const auto& [name, per_round] : r.op_costs) {
    json rounds = json::array();
    std::vector<double> per_task, enq, dsp, deq;
    for (const auto& c : per_round) {
      rounds.push_back({{"enqueue_ns", c.enqueue_ns}, {"dispatch_ns", c.dispatch_ns}, {"dequeue_ns", c.dequeue_ns},
                        {"nr_enqueue", c.nr_enqueue}, {"nr_dispatch", c.nr_dispatch}, {"nr_dequeue", c.nr_dequeue},
                        {"nr_dispatched", c.nr_dispatched}, {"nr_stale_skipped", c.nr_stale_skipped},
                        {"list_ns_per_task", c.list_ns_per_task}});
      per_task.push_back(c.list_ns_per_task);
      enq.push_back(c.enqueue_ns);
      dsp.push_back(c.dispatch_ns);
      deq.push_back(c.dequeue_ns);
    }
    costs[name] = {{"rounds", rounds},
                   {"median", {{"enqueue_ns", spread_of(enq).median}, {"dispatch_ns", spread_of(dsp).median},
                               {"dequeue_ns", spread_of(deq).median}, {"list_ns_per_task", spread_of(per_task).median}}}};
  }
  if (costs.contains("arena") && costs.contains("queue-map")) {
    const double a = costs["arena"]["median"]["list_ns_per_task"], q = costs["queue-map"]["median"]["list_ns_per_task"];
    costs["arena_over_queue_map"] = q > 0 ? a / q : 0.0;
  }
  json checks = json::array();
  for (const auto& c : r.checks)
    checks.push_back({{"kind", c.kind}, {"config", c.config}, {"metric", c.metric}, {"value", c.value},
                      {"limit", c.limit}, {"reference", c.reference}, {"passed", c.passed}});
  return {{"schema", "aqcheck-bench/1"},
          {"verdict", r.passed() ? "PASS" : "FAIL"},
          {"kernel", r.kernel},
          {"rounds", r.rounds},
          {"duration_s", r.duration_s},
          {"enqueue_delay_us", o.enqueue_delay_us},
          {"thresholds", o.thresholds},
          {"baseline_report", o.baseline_report},
          {"command", o.command_line},
          {"reproduce", repro},
          {"configs", configs},
          {"metrics", metrics},
          {"op_costs", costs},
          {"checks", checks},
          {"failures", r.failures}};
}

std::string to_markdown(const Result& r, const json& j, const std::string& repro) {
  std::string md = fmt::format("## aqcheck bench: {} (kernel {}, {} rounds of {} s)\n\n", r.passed() ? "PASS" : "FAIL",
                               r.kernel, r.rounds, r.duration_s);
  md += "Ratio to EEVDF in the same boot, > 1 is better (times and latencies inverted): median [min, max].\n\n";
  md += "| metric | unit | EEVDF median |";
  for (const auto& c : r.configs)
    if (c.name != "eevdf") md += fmt::format(" {} |", c.name);
  md += "\n|---|---|---:|";
  for (const auto& c : r.configs)
    if (c.name != "eevdf") md += "---:|";
  md += "\n";
  for (const auto& m : r.metrics) {
    const auto eevdf = m.values.count("eevdf") ? spread_of(m.values.at("eevdf")).median : 0;
    md += fmt::format("| {} | {} | {} |", m.metric.name, m.metric.unit, fmt_value(eevdf));
    for (const auto& c : r.configs) {
      if (c.name == "eevdf") continue;
      const auto it = m.ratios.find(c.name);
      if (it == m.ratios.end() || it->second.empty()) {
        md += " - |";
        continue;
      }
      const auto s = spread_of(it->second);
      md += fmt::format(" {:.3f} [{:.3f}, {:.3f}] |", s.median, s.min, s.max);
    }
    md += "\n";
  }
  if (j["op_costs"].contains("arena") && j["op_costs"].contains("queue-map")) {
    md += "\nFIFO operations timed in BPF (time_ops), median ns per operation under the stress mix with "
          "--race-sched (bpf_ktime_get_ns() around each: under TCG the clock reads dominate both builds):\n\n"
          "| build | enqueue | dispatch (pop) | dequeue (unlink) | all FIFO ops per dispatched task |\n"
          "|---|---:|---:|---:|---:|\n";
    for (const char* b : {"arena", "queue-map"}) {
      const auto& m = j["op_costs"][b]["median"];
      md += fmt::format("| {} | {:.0f} | {:.0f} | {} | {:.0f} |\n", b, m["enqueue_ns"].get<double>(),
                        m["dispatch_ns"].get<double>(),
                        std::string(b) == "queue-map" ? std::string("none (lazy)")
                                                      : fmt::format("{:.0f}", m["dequeue_ns"].get<double>()),
                        m["list_ns_per_task"].get<double>());
    }
    md += fmt::format("\nArena lists cost {:.2f}x the queue maps per dispatched task.\n",
                      j["op_costs"]["arena_over_queue_map"].get<double>());
  }
  if (!r.checks.empty()) {
    md += "\n| check | result |\n|---|---|\n";
    for (const auto& c : r.checks) md += fmt::format("| {} | {} |\n", c.describe(), c.passed ? "pass" : "**FAIL**");
  }
  if (!r.failures.empty()) {
    md += "\n**Failures**\n\n";
    for (const auto& f : r.failures) md += "- " + f + "\n";
    md += fmt::format("\nRerun: `{}`\n", repro);
  }
  return md;
}

void write_file(const std::string& path, const std::string& text) {
  if (path.empty()) return;
  if (const auto dir = fs::path(path).parent_path(); !dir.empty()) fs::create_directories(dir);
  std::ofstream(path) << text;
}

}  // namespace

Spread spread_of(std::vector<double> v) {
  Spread s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  s.min = v.front();
  s.max = v.back();
  s.rel_spread = s.median > 0 ? (s.max - s.min) / s.median : 0;
  return s;
}

double ratio_to_eevdf(const Metric& m, double value, double eevdf) {
  if (value <= 0 || eevdf <= 0) return 0;
  return m.higher_is_better ? value / eevdf : eevdf / value;
}

Medians Result::medians() const {
  Medians out;
  for (const auto& m : metrics)
    for (const auto& [config, rs] : m.ratios) out[config][m.metric.name] = spread_of(rs).median;
  return out;
}

std::vector<SchedConfig> sched_configs(const Options& o) {
  return {{"eevdf", "", 0, "the kernel's default scheduler (nothing attached)"},
          {"aqmap", "normal", o.wake_preempt_us,
           fmt::format("scx_aqmap as built, --wake-preempt-us {}", o.wake_preempt_us)},
          {"aqmap-no-wake-preempt", "normal", 0, "scx_aqmap without wakeup preemption (--wake-preempt-us 0)"}};
}

const std::vector<CostConfig>& cost_configs() {
  static const std::vector<CostConfig> all{{"arena", "normal"}, {"queue-map", kQueueMapVariant}};
  return all;
}

int bench_command(const Options& o) {
  const auto configs = sched_configs(o);
  std::vector<std::string> config_names, metric_names;
  for (const auto& c : configs) config_names.push_back(c.name);
  for (const auto& p : probes())
    for (const auto& m : p.metrics) metric_names.push_back(m.name);

  // Bad input first: nothing is measured for a run that cannot be judged.
  std::optional<Thresholds> thresholds;
  std::optional<Medians> baseline;
  try {
    if (!o.thresholds.empty()) thresholds = load_thresholds(o.thresholds, config_names, metric_names);
    if (!o.baseline_report.empty()) baseline = load_baseline(o.baseline_report, kernel_series(kernel_release()));
  } catch (const ThresholdsError& e) {
    fmt::print(stderr, "aqcheck: error: {}\n", e.what());
    return o.baseline_report.empty() || std::string(e.what()).starts_with("thresholds") ? exit_code::bad_thresholds
                                                                                         : exit_code::bad_report;
  }
  for (const auto& p : probes())
    for (const auto& prog : p.programs) {
      const auto path = prog == "stress-ng" ? o.stress_ng : prog;
      if (!on_path(path)) {
        fmt::print(stderr, "aqcheck: error: bench: {} not found (probe {}): run ci/setup.sh\n", path, p.name);
        return exit_code::missing_tool;
      }
    }
  if (const int code = check_can_attach("bench"); code != exit_code::pass) return code;
  install_signal_handlers();

  Result r;
  r.kernel = kernel_release();
  r.rounds = o.rounds;
  r.duration_s = o.duration_s;
  r.configs = configs;
  for (const auto& p : probes())
    for (const auto& m : p.metrics) r.metrics.push_back({m, {}, {}});
  const auto metric = [&](const std::string& name) -> MetricResult& {
    return *std::find_if(r.metrics.begin(), r.metrics.end(), [&](const auto& m) { return m.metric.name == name; });
  };

  const auto work = fs::temp_directory_path() / fmt::format("aqcheck-bench-{}", ::getpid());
  fs::create_directories(work);
  ProbeContext ctx{o.duration_s, static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN))), o.stress_ng,
                   work.string()};
  const auto t0 = Clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  fmt::print("aqcheck: bench: kernel {}, {} round(s) of {} s per probe, {} CPUs; configs {}\n", r.kernel, o.rounds,
             o.duration_s, ctx.cpus, fmt::join(config_names, ", "));

  try {
    for (int round = 0; round < o.rounds && !interrupted_by_signal(); ++round) {
      // Each round starts with another config, so a drift of the host over
      // the run does not always favour the same one.
      for (std::size_t k = 0; k < configs.size() && !interrupted_by_signal(); ++k) {
        const auto& c = configs[(k + static_cast<std::size_t>(round)) % configs.size()];
        std::unique_ptr<Attached> attached;
        if (!c.variant.empty()) attached = std::make_unique<Attached>(sched_options(o, c.variant, c.wake_preempt_us, false));
        for (const auto& p : probes()) {
          std::string error;
          const auto values = p.run(ctx, error);
          std::string line;
          for (const auto& [name, v] : values) {
            metric(name).values[c.name].push_back(v);
            line += fmt::format(" {} {}", name, fmt_value(v));
          }
          if (!error.empty()) r.failures.push_back(fmt::format("round {} {} {}: {}", round + 1, c.name, p.name, error));
          fmt::print("aqcheck: bench: [{:6.1f} s] round {}/{} {:<19} {:<11}{}{}\n", elapsed(), round + 1, o.rounds,
                     c.name, p.name, line, error.empty() ? "" : "  ERROR " + error);
        }
        if (attached)
          if (const auto why = attached->ejected(); !why.empty())
            r.failures.push_back(fmt::format("round {} {}: the scheduler stopped: {}", round + 1, c.name, why));
      }
      if (!o.op_costs) continue;
      for (const auto& cc : cost_configs()) {
        // No wakeup preemption: every wakeup goes through the FIFOs of both builds.
        Attached attached(sched_options(o, cc.variant, 0, true));
        const auto error = run_cost_mix(ctx);
        const auto cost = op_cost_of(attached.arena());
        r.op_costs[cc.name].push_back(cost);
        if (!error.empty()) r.failures.push_back(fmt::format("round {} op costs {}: {}", round + 1, cc.name, error));
        if (const auto why = attached.ejected(); !why.empty())
          r.failures.push_back(fmt::format("round {} op costs {}: the scheduler stopped: {}", round + 1, cc.name, why));
        fmt::print("aqcheck: bench: [{:6.1f} s] round {}/{} op costs {:<9} enqueue {:.0f} ns, dispatch {:.0f} ns, "
                   "dequeue {:.0f} ns; {:.0f} ns of FIFO operations per dispatched task\n",
                   elapsed(), round + 1, o.rounds, cc.name, cost.enqueue_ns, cost.dispatch_ns, cost.dequeue_ns,
                   cost.list_ns_per_task);
      }
    }
  } catch (const LoadError& e) {
    fmt::print(stderr, "aqcheck: error: {}\n", e.what());
    fs::remove_all(work);
    return exit_code::load_failed;
  }
  fs::remove_all(work);
  if (const int sig = interrupted_by_signal()) {
    fmt::print(stderr, "aqcheck: error: bench interrupted by signal {}: no report written\n", sig);
    return exit_code::internal;
  }

  // Ratios per round against that round's EEVDF figure.
  for (auto& m : r.metrics) {
    const auto eevdf = m.values.find("eevdf");
    if (eevdf == m.values.end()) continue;
    for (const auto& [config, vs] : m.values) {
      if (config == "eevdf") continue;
      for (std::size_t i = 0; i < vs.size() && i < eevdf->second.size(); ++i)
        m.ratios[config].push_back(ratio_to_eevdf(m.metric, vs[i], eevdf->second[i]));
    }
  }
  const auto medians = r.medians();
  if (thresholds) {
    for (auto& c : check_thresholds(*thresholds, medians)) r.checks.push_back(c);
  }
  if (baseline) {
    for (auto& c : check_baseline(*baseline, medians, thresholds ? thresholds->max_regression : 0.25))
      r.checks.push_back(c);
  }
  for (const auto& c : r.checks)
    if (!c.passed) r.failures.push_back(c.describe());

  const auto repro = reproduction(o, r.kernel);
  const auto j = to_json(o, r, repro);
  const auto md = to_markdown(r, j, repro);
  write_file(o.json, j.dump(2) + "\n");
  write_file(o.markdown, md);
  fmt::print("\n{}\n", md);
  for (const auto& f : r.failures) fmt::print("aqcheck: FAIL: {}\n", f);
  fmt::print("aqcheck: bench verdict: {} (kernel {}){}\n", r.passed() ? "PASS" : "FAIL", r.kernel,
             r.passed() ? "" : fmt::format("\naqcheck: rerun: {}", repro));
  return r.passed() ? exit_code::pass : exit_code::fail;
}

}  // namespace aq::bench
