// `aqcheck bench` without a kernel: its probes' parsers, its statistics, and
// the thresholds and baseline rules that decide its verdict.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "bench/bench.hpp"
#include "bench/probes.hpp"
#include "bench/thresholds.hpp"
#include "sched/scheduler.hpp"
#include "sched/skeleton_maps.hpp"
#include "scx_aqmap.skel.h"
#include "scx_aqmap_overmaps.skel.h"

namespace {

namespace fs = std::filesystem;
using namespace aq::bench;

std::string write_temp(const std::string& name, const std::string& text) {
  const auto p = fs::temp_directory_path() / ("aq_bench_test_" + name);
  std::ofstream(p) << text;
  return p.string();
}

TEST(BenchProbes, ParseHackbenchAndCyclictestOutput) {
  EXPECT_EQ(parse_hackbench_time("Running in process mode with 4 groups using 40 file descriptors each\n"
                                 "Each sender will pass 50 messages of 100 bytes\nTime: 1.234\n"),
            1.234);
  EXPECT_FALSE(parse_hackbench_time("hackbench: fork: Resource temporarily unavailable\n"));
  const auto samples = parse_cyclictest_samples(
      "Max CPUs = 2\n# /dev/cpu_dma_latency set to 0us\nThread 0 Interval: 1500\n"
      "       0:       0:     112\n       0:       1:      89\n       0:       2:   20001\n");
  EXPECT_EQ(samples, (std::vector<double>{112, 89, 20001}));
}

TEST(BenchStatistics, PercentileMedianSpreadAndRatios) {
  std::vector<double> v;
  for (int i = 1; i <= 100; i++) v.push_back(i);
  EXPECT_EQ(percentile(v, 50), 50);
  EXPECT_EQ(percentile(v, 99), 99);
  EXPECT_EQ(percentile(v, 100), 100);
  EXPECT_EQ(percentile({}, 50), 0);
  const auto s = spread_of({3, 1, 2, 10});
  EXPECT_EQ(s.median, 2.5);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 10);
  EXPECT_DOUBLE_EQ(s.rel_spread, 9 / 2.5);
  // "> 1 is better" for both kinds: throughput as is, times inverted.
  EXPECT_DOUBLE_EQ(ratio_to_eevdf({"stress-switch", "bogo-ops", true, ""}, 50, 100), 0.5);
  EXPECT_DOUBLE_EQ(ratio_to_eevdf({"hackbench", "s", false, ""}, 4, 2), 0.5);
  EXPECT_EQ(ratio_to_eevdf({"hackbench", "s", false, ""}, 0, 2), 0);
}

TEST(BenchThresholds, TheCheckedInFileLoadsAndNamesOnlyRealConfigsAndMetrics) {
  std::vector<std::string> configs, metrics;
  for (const auto& c : sched_configs(Options{})) configs.push_back(c.name);
  for (const auto& p : probes())
    for (const auto& m : p.metrics) metrics.push_back(m.name);
  const auto t = load_thresholds(AQ_SOURCE_DIR "/ci/gate-thresholds.json", configs, metrics);
  EXPECT_FALSE(t.min_ratio.empty());
  EXPECT_GT(t.max_regression, 0);
}

TEST(BenchThresholds, BadFilesAreOneErrorEach) {
  const std::vector<std::string> configs{"eevdf", "aqmap"}, metrics{"stress-cpu"};
  const auto load = [&](const std::string& text) { return load_thresholds(write_temp("t.json", text), configs, metrics); };
  EXPECT_THROW(load("{"), ThresholdsError);
  EXPECT_THROW(load(R"({"schema": "aqcheck-thresholds/2"})"), ThresholdsError);
  EXPECT_THROW(load(R"({"schema": "aqcheck-thresholds/1", "min_ratios": {}})"), ThresholdsError);
  EXPECT_THROW(load(R"({"schema": "aqcheck-thresholds/1", "min_ratio": {"aqmapp": {}}})"), ThresholdsError);
  EXPECT_THROW(load(R"({"schema": "aqcheck-thresholds/1", "min_ratio": {"eevdf": {}}})"), ThresholdsError);
  EXPECT_THROW(load(R"({"schema": "aqcheck-thresholds/1", "min_ratio": {"aqmap": {"stress-cpuu": 1}}})"),
               ThresholdsError);
  EXPECT_THROW(load(R"({"schema": "aqcheck-thresholds/1", "min_ratio": {"aqmap": {"stress-cpu": -1}}})"),
               ThresholdsError);
  EXPECT_THROW(load(R"({"schema": "aqcheck-thresholds/1", "max_regression": 1.5})"), ThresholdsError);
  EXPECT_THROW(load_thresholds("/nonexistent/t.json", configs, metrics), ThresholdsError);
  const auto ok = load(R"({"schema": "aqcheck-thresholds/1", "max_regression": 0.1, "min_ratio": {"aqmap": {"stress-cpu": 0.9}}})");
  EXPECT_EQ(ok.min_ratio.at("aqmap").at("stress-cpu"), 0.9);
  EXPECT_EQ(ok.max_regression, 0.1);
}

TEST(BenchThresholds, AMetricBelowItsMinimumOrMissingFails) {
  Thresholds t;
  t.min_ratio["aqmap"] = {{"stress-switch", 0.5}, {"stress-fork", 0.8}};
  const Medians now{{"aqmap", {{"stress-switch", 0.6}, {"stress-fork", 0.7}}}};
  const auto checks = check_thresholds(t, now);
  ASSERT_EQ(checks.size(), 2u);
  for (const auto& c : checks) EXPECT_EQ(c.passed, c.metric == "stress-switch") << c.describe();
  EXPECT_EQ(checks[0].describe(), "aqmap stress-fork: ratio to EEVDF 0.700 < threshold 0.800");
  // A metric the run did not measure cannot pass.
  EXPECT_FALSE(check_thresholds(t, {}).front().passed);
}

TEST(BenchBaseline, ADropPastTheLimitFailsFromABenchOrAGateReport) {
  const nlohmann::json metrics = {
      {"stress-switch", {{"ratio", {{"aqmap", {{"median", 0.8}}}}}}},
      {"stress-cpu", {{"ratio", {{"aqmap", {{"median", 1.0}}}}}}}};
  const auto bench = write_temp("bench.json", nlohmann::json{{"schema", "aqcheck-bench/1"}, {"metrics", metrics}}.dump());
  const auto gate = write_temp(
      "gate.json", nlohmann::json{{"schema", "aqcheck-gate/1"}, {"performance", {{"7.2", {{"metrics", metrics}}}}}}.dump());
  for (const auto& path : {bench, gate}) {
    const auto before = load_baseline(path, "7.2");
    ASSERT_EQ(before.at("aqmap").at("stress-switch"), 0.8) << path;
    const auto checks = check_baseline(before, {{"aqmap", {{"stress-switch", 0.5}, {"stress-cpu", 0.95}}}}, 0.25);
    ASSERT_EQ(checks.size(), 2u);
    for (const auto& c : checks) EXPECT_EQ(c.passed, c.metric == "stress-cpu") << c.describe();
  }
  EXPECT_THROW(load_baseline(gate, "7.3"), ThresholdsError);  // no figures for that kernel
  EXPECT_THROW(load_baseline(write_temp("x.json", R"({"schema": "aqcheck-report/1"})"), "7.2"), ThresholdsError);
}

}  // namespace

namespace {

// The guard for libbpf 1.4.6's stale arena-map pointer (scheduler.hpp).
TEST(SchedulerBuilds, EveryObjectStaysWithinLibbpfsFirstMapCapacity) {
  const auto counts = aq::scheduler_map_counts();
  ASSERT_GE(counts.size(), 7u);  // every scx_aqmap build; mainline scx_qmap has its own libbpf
  for (const auto& [name, n] : counts) {
    EXPECT_GT(n, 0) << name << ": could not open its object";
    EXPECT_LE(n, aq::kMaxBpfMaps) << name << " has " << n << " maps";
  }
}

// The guard can fail: a build with six maps more than scx_aqmap is over it.
TEST(SchedulerBuilds, ABuildOverTheMapBudgetIsSeen) {
  const int over = aq::skeleton_map_count<scx_aqmap_overmaps>();
  const int normal = over - 6;  // the six extra maps of -DAQMAP_MAP_BUDGET_OVER
  EXPECT_GT(over, aq::kMaxBpfMaps);
  const auto counts = aq::scheduler_map_counts();
  EXPECT_EQ(counts.front(), (std::pair<std::string, int>{"normal", normal}));
}

// aqcheck loads scx_aqmap with the harness's default, which must be the
// scheduler's own (bench's "aqmap" config is "as built").
TEST(SchedulerBuilds, TheHarnessesWakePreemptionDefaultIsTheSchedulers) {
  scx_aqmap* skel = scx_aqmap::open();
  ASSERT_NE(skel, nullptr);
  EXPECT_EQ(skel->rodata->wake_preempt_ns, aq::kDefaultWakePreemptUs * 1000);
  scx_aqmap::destroy(skel);
}

}  // namespace
