#include "bench/probes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <sstream>

#include "common/process.hpp"
#include "common/text.hpp"
#include "run/stress.hpp"

namespace aq::bench {
namespace {

// stress-ng's mix from the seed design's table, all at once: CPU hogs with
// 20 ms slices, fork/exit, and pipe ping-pong that waits behind the hogs.
std::map<std::string, double> run_stress_mix(const ProbeContext& c, std::string& error) {
  const auto n = std::to_string(c.cpus);
  const auto yaml = c.work_dir + "/bench-stress.yaml";
  const int rc = run_stress_blocking(c.stress_ng, {"--cpu", n, "--fork", n, "--switch", n},
                                     c.duration_s, yaml);
  const auto ops = read_bogo_ops(yaml);
  std::map<std::string, double> out;
  for (const char* s : {"cpu", "fork", "switch"})
    if (auto it = ops.find(s); it != ops.end() && it->second > 0) out[fmt::format("stress-{}", s)] = it->second;
  if (out.size() != 3) error = fmt::format("stress-ng exited {} and gave {} of 3 bogo-ops figures", rc, out.size());
  return out;
}

// hackbench: groups of senders and receivers over sockets, a fixed amount of
// messages; its time.  Sized to take about a second under TCG on 2 vCPUs.
std::map<std::string, double> run_hackbench(const ProbeContext& c, std::string& error) {
  const auto r = run_process({"hackbench", "--groups", std::to_string(2 * c.cpus), "--loops", "50"},
                             ProcessOptions::timeout(120));
  const auto t = parse_hackbench_time(r.output);
  if (r.exit != 0 || !t) {
    error = fmt::format("hackbench exited {}: {}", r.exit, trim(r.output.substr(r.output.size() > 200 ? r.output.size() - 200 : 0)));
    return {};
  }
  return {{"hackbench", *t}};
}

// cyclictest: one SCHED_OTHER thread waking every ms while stress-ng keeps
// every CPU busy: how long a wakee waits for a CPU behind the hogs.
std::map<std::string, double> run_cyclictest(const ProbeContext& c, std::string& error) {
  StressChild load(c.stress_ng, {"--cpu", std::to_string(c.cpus)}, c.duration_s + 5,
                   c.work_dir + "/bench-cyclictest-load.yaml");
  const auto r = run_process({"cyclictest", "--policy=other", "--threads=1", "--interval=1000", "--verbose", "--quiet",
                              fmt::format("--duration={}", c.duration_s)},
                             ProcessOptions::timeout(c.duration_s + 60));
  load.kill();
  auto samples = parse_cyclictest_samples(r.output);
  // A wakee that waits behind 20 ms slices takes few samples (11 in 2 s were
  // seen); fewer than 10 say nothing.
  if (r.exit != 0 || samples.size() < 10) {
    error = fmt::format("cyclictest exited {} with {} samples", r.exit, samples.size());
    return {};
  }
  return {{"cyclictest-p50", percentile(samples, 50)},
          {"cyclictest-p99", percentile(samples, 99)},
          {"cyclictest-max", percentile(samples, 100)}};
}

}  // namespace

std::string run_cost_mix(const ProbeContext& c) {
  const auto n = std::to_string(c.cpus);
  const int rc = run_stress_blocking(c.stress_ng, {"--cpu", n, "--fork", n, "--switch", n, "--race-sched", n},
                                     c.duration_s, c.work_dir + "/bench-cost.yaml");
  return rc == 0 ? "" : fmt::format("stress-ng exited {}", rc);
}

const std::vector<Probe>& probes() {
  static const std::vector<Probe> all{
      {"stress-mix",
       {{"stress-cpu", "bogo-ops", true, "stress-ng --cpu N, run with --fork N --switch N"},
        {"stress-fork", "bogo-ops", true, "stress-ng --fork N, in the same mix"},
        {"stress-switch", "bogo-ops", true, "stress-ng --switch N (pipe ping-pong), in the same mix"}},
       {"stress-ng"},
       run_stress_mix},
      {"hackbench",
       {{"hackbench", "s", false, "hackbench --groups 2N --loops 50 (processes, sockets): its time"}},
       {"hackbench"},
       run_hackbench},
      {"cyclictest",
       {{"cyclictest-p50", "us", false, "cyclictest wake-up latency, SCHED_OTHER, 1 ms interval, under stress-ng --cpu N"},
        {"cyclictest-p99", "us", false, "... its 99th percentile"},
        {"cyclictest-max", "us", false, "... its maximum"}},
       {"cyclictest", "stress-ng"},
       run_cyclictest},
  };
  return all;
}

std::optional<double> parse_hackbench_time(const std::string& output) {
  static const std::regex time_re(R"(^Time:\s*([0-9]+(?:\.[0-9]+)?)\s*$)");
  for (auto line : lines_of(output)) {
    std::smatch m;
    const std::string l(trim(line));
    if (std::regex_match(l, m, time_re)) return std::stod(m[1]);
  }
  return std::nullopt;
}

std::vector<double> parse_cyclictest_samples(const std::string& output) {
  static const std::regex sample_re(R"(^\s*\d+:\s*(\d+):\s*(\d+)\s*$)");
  std::vector<double> out;
  for (auto line : lines_of(output)) {
    std::smatch m;
    const std::string l(line);
    if (std::regex_match(l, m, sample_re)) out.push_back(std::stod(m[2]));
  }
  return out;
}

double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
  return samples[std::clamp<std::size_t>(rank, 1, samples.size()) - 1];
}

}  // namespace aq::bench
