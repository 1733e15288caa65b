// What `aqcheck bench` measures, as data: each probe is a program run for a
// round under one scheduler, and the metrics it yields.  The runner knows no
// probe; adding one is adding a record here.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace aq::bench {

struct Metric {
  std::string name;        // "stress-switch": thresholds and reports use it
  std::string unit;        // "bogo-ops", "s", "us"
  bool higher_is_better;   // the ratio to EEVDF is always "> 1 is better": inverted for times
  std::string what;        // one line for the report
};

struct ProbeContext {
  int duration_s = 5;      // of each timed probe
  int cpus = 2;            // online CPUs: load sizes scale with them
  std::string stress_ng = "/usr/bin/stress-ng";
  std::string work_dir;    // scratch files (stress-ng's YAML)
};

struct Probe {
  std::string name;
  std::vector<Metric> metrics;
  std::vector<std::string> programs;  // what it needs on PATH (or absolute)
  // Runs the probe (blocking) and returns a value per metric, or the reason it could not.
  std::map<std::string, double> (*run)(const ProbeContext&, std::string& error);
};

const std::vector<Probe>& probes();

// What the FIFO operations are timed under (bench's op costs): the stress mix
// with stress-ng --race-sched re-pinning and re-policing its children, so
// that dequeues unlink tasks from FIFOs too.  Returns "" or why it failed.
std::string run_cost_mix(const ProbeContext& c);

// For tests and parsing: the values a probe's output gives.
std::optional<double> parse_hackbench_time(const std::string& output);
// cyclictest -v lines "thread: cycle: latency": every latency sample, in us.
std::vector<double> parse_cyclictest_samples(const std::string& output);
// The p-th percentile (0..100) of samples, nearest rank; 0 when empty.
double percentile(std::vector<double> samples, double p);

}  // namespace aq::bench
