// The performance gate's rules: minimum ratios to EEVDF from a checked-in file
// (ci/gate-thresholds.json, schema in docs/release-gate.md "Thresholds"), and
// the largest drop allowed against a previous report's medians.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace aq::bench {

struct ThresholdsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Thresholds {
  std::string path;
  // config -> metric -> the least median ratio to EEVDF that passes
  std::map<std::string, std::map<std::string, double>> min_ratio;
  double max_regression = 0.25;  // against a baseline: a median may drop this fraction at most
};

// Reads and checks a thresholds file: unknown keys, configs or metrics, and
// ratios outside (0, 100], are errors.  Throws ThresholdsError.
Thresholds load_thresholds(const std::string& path, const std::vector<std::string>& configs,
                           const std::vector<std::string>& metrics);

// config -> metric -> median ratio to EEVDF.
using Medians = std::map<std::string, std::map<std::string, double>>;

// The medians of a previous `aqcheck bench` report (schema aqcheck-bench/1),
// or of a gate report's performance section for this kernel series
// (aqcheck-gate/1).  Throws ThresholdsError when it is neither.
Medians load_baseline(const std::string& path, const std::string& kernel_series);

struct Check {
  std::string kind;      // "threshold" or "baseline"
  std::string config, metric;
  double value = 0;      // this run's median ratio
  double limit = 0;      // the least that passes
  double reference = 0;  // baseline: the previous median
  bool passed = false;
  std::string describe() const;
};

std::vector<Check> check_thresholds(const Thresholds& t, const Medians& now);
std::vector<Check> check_baseline(const Medians& before, const Medians& now, double max_regression);

}  // namespace aq::bench
