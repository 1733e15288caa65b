#include "bench/thresholds.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

namespace aq::bench {
namespace {

using nlohmann::json;

json read_json_file(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) throw ThresholdsError(fmt::format("cannot read {} {}", what, path));
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw ThresholdsError(fmt::format("{} {} is not JSON: {}", what, path, e.what()));
  }
}

bool known(const std::vector<std::string>& names, const std::string& n) {
  return std::find(names.begin(), names.end(), n) != names.end();
}

Medians medians_of(const json& perf, const std::string& path) {
  Medians out;
  if (!perf.is_object() || !perf.contains("metrics") || !perf["metrics"].is_object())
    throw ThresholdsError(fmt::format("baseline {}: no metrics", path));
  for (const auto& [metric, m] : perf["metrics"].items()) {
    if (!m.contains("ratio") || !m["ratio"].is_object()) continue;
    for (const auto& [config, r] : m["ratio"].items())
      if (r.is_object() && r.contains("median") && r["median"].is_number())
        out[config][metric] = r["median"].get<double>();
  }
  return out;
}

}  // namespace

std::string Check::describe() const {
  if (kind == "threshold")
    return fmt::format("{} {}: ratio to EEVDF {:.3f} {} threshold {:.3f}", config, metric, value,
                       passed ? ">=" : "<", limit);
  return fmt::format("{} {}: ratio to EEVDF {:.3f} {} {:.3f} (baseline {:.3f} less the allowed drop)", config, metric,
                     value, passed ? ">=" : "<", limit, reference);
}

Thresholds load_thresholds(const std::string& path, const std::vector<std::string>& configs,
                           const std::vector<std::string>& metrics) {
  const auto j = read_json_file(path, "thresholds file");
  const auto bad = [&](const std::string& why) { return ThresholdsError(fmt::format("thresholds file {}: {}", path, why)); };
  if (!j.is_object()) throw bad("not a JSON object");
  if (j.value("schema", "") != "aqcheck-thresholds/1") throw bad("schema is not \"aqcheck-thresholds/1\"");
  Thresholds t;
  t.path = path;
  for (const auto& [key, v] : j.items()) {
    if (key == "schema" || key == "comment") continue;
    if (key == "max_regression") {
      if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() >= 1) throw bad("max_regression must be in (0, 1)");
      t.max_regression = v.get<double>();
    } else if (key == "min_ratio") {
      if (!v.is_object()) throw bad("min_ratio must be an object of configs");
      for (const auto& [config, per] : v.items()) {
        if (!known(configs, config) || config == "eevdf") throw bad(fmt::format("unknown config '{}'", config));
        if (!per.is_object()) throw bad(fmt::format("min_ratio.{} must be an object of metrics", config));
        for (const auto& [metric, r] : per.items()) {
          if (!known(metrics, metric)) throw bad(fmt::format("unknown metric '{}'", metric));
          if (!r.is_number() || r.get<double>() <= 0 || r.get<double>() > 100)
            throw bad(fmt::format("min_ratio.{}.{} must be a number in (0, 100]", config, metric));
          t.min_ratio[config][metric] = r.get<double>();
        }
      }
    } else {
      throw bad(fmt::format("unknown key '{}'", key));
    }
  }
  return t;
}

Medians load_baseline(const std::string& path, const std::string& kernel_series) {
  const auto j = read_json_file(path, "baseline report");
  const auto schema = j.is_object() ? j.value("schema", "") : "";
  if (schema == "aqcheck-bench/1") return medians_of(j, path);
  if (schema == "aqcheck-gate/1") {
    if (!j.contains("performance") || !j["performance"].contains(kernel_series))
      throw ThresholdsError(fmt::format("baseline {}: the gate report has no performance figures for kernel {}", path,
                                        kernel_series));
    return medians_of(j["performance"][kernel_series], path);
  }
  throw ThresholdsError(fmt::format("baseline {}: schema is neither aqcheck-bench/1 nor aqcheck-gate/1", path));
}

std::vector<Check> check_thresholds(const Thresholds& t, const Medians& now) {
  std::vector<Check> out;
  for (const auto& [config, per] : t.min_ratio)
    for (const auto& [metric, min] : per) {
      Check c{"threshold", config, metric, 0, min, 0, false};
      if (auto ci = now.find(config); ci != now.end())
        if (auto mi = ci->second.find(metric); mi != ci->second.end()) {
          c.value = mi->second;
          c.passed = c.value >= min;
        }
      out.push_back(c);
    }
  return out;
}

std::vector<Check> check_baseline(const Medians& before, const Medians& now, double max_regression) {
  std::vector<Check> out;
  for (const auto& [config, per] : before)
    for (const auto& [metric, old] : per) {
      const auto ci = now.find(config);
      if (ci == now.end()) continue;
      const auto mi = ci->second.find(metric);
      if (mi == ci->second.end()) continue;
      const double limit = old * (1 - max_regression);
      out.push_back(Check{"baseline", config, metric, mi->second, limit, old, mi->second >= limit});
    }
  return out;
}

}  // namespace aq::bench
