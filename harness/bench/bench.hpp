// `aqcheck bench`: scx_aqmap's throughput and latency as ratios to the
// kernel's default scheduler (EEVDF), measured in one boot, round after
// round, with median and spread; and the price of each FIFO operation in the
// arena-list build against the queue-map build it replaced.  Optionally gated
// by a thresholds file and a previous report.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/probes.hpp"
#include "bench/thresholds.hpp"
#include "sched/scheduler.hpp"

namespace aq::bench {

// A scheduler a round measures: EEVDF (nothing attached) or a scx_aqmap build
// with options.
struct SchedConfig {
  std::string name;           // "eevdf", "aqmap", "aqmap-no-wake-preempt"
  std::string variant;        // "" for EEVDF
  std::uint64_t wake_preempt_us = 0;
  std::string what;
};

// The two builds whose FIFO operations are timed (time_ops), under the stress mix.
struct CostConfig {
  std::string name;           // "arena", "queue-map"
  std::string variant;
};

struct Options {
  int rounds = 3;
  int duration_s = 5;
  std::uint64_t wake_preempt_us = kDefaultWakePreemptUs;  // of the aqmap config
  std::uint64_t enqueue_delay_us = 0;     // test knob: a slowed scx_aqmap in every config
  bool op_costs = true;
  std::string thresholds, baseline_report;
  std::string json, markdown;
  std::string stress_ng = "/usr/bin/stress-ng";
  std::string command_line, host_command, host_exe;
};

struct Spread {
  double median = 0, min = 0, max = 0;
  double rel_spread = 0;  // (max - min) / median
};
Spread spread_of(std::vector<double> v);

struct MetricResult {
  Metric metric;
  std::map<std::string, std::vector<double>> values;  // config -> value per round
  std::map<std::string, std::vector<double>> ratios;  // config (not eevdf) -> ratio to EEVDF per round
};

struct OpCost {
  double enqueue_ns = 0, dispatch_ns = 0, dequeue_ns = 0;  // mean per operation
  std::uint64_t nr_enqueue = 0, nr_dispatch = 0, nr_dequeue = 0;
  std::uint64_t nr_dispatched = 0, nr_stale_skipped = 0;
  double list_ns_per_task = 0;  // all FIFO operations' time / tasks dispatched from a FIFO
};

struct Result {
  std::string kernel;
  int rounds = 0, duration_s = 0;
  std::vector<SchedConfig> configs;
  std::vector<MetricResult> metrics;
  std::map<std::string, std::vector<OpCost>> op_costs;  // cost config -> per round
  std::vector<Check> checks;
  std::vector<std::string> failures;
  bool passed() const { return failures.empty(); }
  Medians medians() const;
};

std::vector<SchedConfig> sched_configs(const Options& o);
const std::vector<CostConfig>& cost_configs();

// Ratio of a config's value to EEVDF's, "> 1 is better" for every metric.
double ratio_to_eevdf(const Metric& m, double value, double eevdf);

int bench_command(const Options& o);

}  // namespace aq::bench
