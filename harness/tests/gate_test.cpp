// The gate's cases as data, its shards, and its report: merge and compare.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <stdexcept>

#include "gate/cases.hpp"
#include "gate/report.hpp"

namespace {

using aq::gate::Profile;

const std::vector<std::string> kWorkloads{"affinity-churn", "cpu-baseline", "nice-churn", "yield"};

// Together the shards hold every case once, for any N.
TEST(GateShards, PartitionEveryCaseExactlyOnce) {
  for (auto profile : {Profile::smoke, Profile::release}) {
    const auto all = aq::gate::cases_for(profile, {"7.2", "7.3"}, kWorkloads);
    std::set<std::string> ids;
    for (const auto& c : all) ids.insert(c.id);
    ASSERT_EQ(ids.size(), all.size()) << "duplicate case ids";
    for (int n = 1; n <= 7; n++) {
      std::multiset<std::string> seen;
      std::size_t smallest = all.size(), largest = 0;
      for (int i = 1; i <= n; i++) {
        const auto part = aq::gate::shard(all, i, n);
        smallest = std::min(smallest, part.size());
        largest = std::max(largest, part.size());
        for (const auto& c : part) seen.insert(c.id);
      }
      EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), ids) << "n=" << n;
      EXPECT_EQ(seen.size(), ids.size()) << "overlap at n=" << n;
      EXPECT_LE(largest - smallest, 1u) << "n=" << n;
    }
    // Deterministic: the same call, the same shard.
    EXPECT_EQ(aq::gate::shard(all, 2, 3).front().id,
              aq::gate::shard(aq::gate::cases_for(profile, {"7.2", "7.3"}, kWorkloads), 2, 3).front().id);
  }
}

const aq::gate::Case& find_case(const std::vector<aq::gate::Case>& cases, const std::string& id) {
  const auto it = std::find_if(cases.begin(), cases.end(), [&](const auto& c) { return c.id == id; });
  if (it == cases.end()) throw std::runtime_error("no case " + id);
  return *it;
}

TEST(GateCases, ReleaseHasWhatTheIssueAsksSmokeIsSmall) {
  const auto release = aq::gate::cases_for(Profile::release, {"7.2", "7.3"}, kWorkloads);
  std::set<std::string> ids;
  for (const auto& c : release) ids.insert(c.id);
  for (const auto* id : {"host/properties/default", "host/properties/tsan", "host/ops/default", "host/ops/tsan",
                         "host/ops-explore", "host/twin-fuzz", "host/bad-input",
                         "7.2/workload/yield", "7.3/faults/nice-churn", "7.2/cycles", "7.3/sigkill", "7.2/fuzz",
                         "7.3/negative/lazy-removal-affinity-churn", "7.2/negative/mutant-unlink-no-prev",
                         "7.2/negative/lost-task", "7.3/negative/pre-custody-dequeue",
                         "7.3/negative/starvation-guard-off", "7.3/conformance",
                         "7.2/performance", "7.3/performance"})
    EXPECT_TRUE(ids.count(id)) << id;
  for (const auto& c : release)
    if (c.section == "negative control") {
      EXPECT_EQ(c.expect.exit, 1) << c.id;
      EXPECT_FALSE(c.expect.reason_prefix.empty()) << c.id;
      EXPECT_FALSE(c.blind_spot.empty()) << c.id;
    }
  for (const auto& w : kWorkloads) {
    const auto& m = find_case(release, "7.3/mainline/" + w);
    EXPECT_TRUE(m.informational);
    EXPECT_NE(std::find(m.argv.begin(), m.argv.end(), "qmap-upstream"), m.argv.end());
  }
  const auto smoke = aq::gate::cases_for(Profile::smoke, {"7.2"}, kWorkloads);
  ASSERT_EQ(smoke.size(), 3u);
  EXPECT_EQ(smoke[0].id, "7.2/mainline/cpu-baseline");
  EXPECT_EQ(smoke[1].id, "7.2/negative/lazy-removal-affinity-churn");
  EXPECT_EQ(smoke[2].id, "7.2/workload/cpu-baseline");
}



TEST(GateCommands, PlaceholdersAreFilledAndTheBaselineIsPassedOnlyWhenGiven) {
  const auto release = aq::gate::cases_for(Profile::release, {"7.2"}, kWorkloads);
  aq::gate::Placeholders p{"/bin/aqcheck", "/o/r.json", "/o", "/src", "/cache", "tcg", "/src/ci/gate-thresholds.json",
                           "", ""};
  const auto& perf = find_case(release, "7.2/performance");
  auto argv = aq::gate::command_of(perf, p);
  const auto has = [&](const std::vector<std::string>& a, const std::string& s) {
    return std::find(a.begin(), a.end(), s) != a.end();
  };
  EXPECT_EQ(argv.front(), "/bin/aqcheck");
  EXPECT_TRUE(has(argv, "bench") && has(argv, "/src/ci/gate-thresholds.json") && has(argv, "/o/r.json"));
  EXPECT_FALSE(has(argv, "--baseline-report") || has(argv, "{baseline-report}"));
  p.baseline_report = "/old/gate.json";
  argv = aq::gate::command_of(perf, p);
  const auto at = std::find(argv.begin(), argv.end(), "--baseline-report");
  ASSERT_NE(at, argv.end());
  EXPECT_EQ(*(at + 1), "/old/gate.json");
  for (const auto& a : argv) EXPECT_EQ(a.find('{'), std::string::npos) << a;

  // A negative control runs the build it is given (the gate's own test), others keep theirs.
  p.negative_variant = "normal";
  argv = aq::gate::command_of(find_case(release, "7.2/negative/lost-task"), p);
  EXPECT_EQ(*(std::find(argv.begin(), argv.end(), "--variant") + 1), "normal");
  argv = aq::gate::command_of(find_case(release, "7.2/cycles"), p);
  EXPECT_TRUE(has(argv, "tcg-single"));
}

// Each known-bad kernel is a release case that must FAIL with its header's
// reason; the repository's own kernels/regressions/ parse.
TEST(GateRegressions, EachKnownBadKernelIsAReleaseCaseExpectingItsReason) {
  const std::vector<aq::gate::Regression> regs{{"01-x", "a lost re-enqueue", "lost task: pid "}};
  const auto release = aq::gate::cases_for(Profile::release, {"7.2"}, kWorkloads, regs);
  const auto& c = find_case(release, "7.2/kernel-regression/01-x");
  EXPECT_EQ(c.expect.exit, 1);
  EXPECT_EQ(c.expect.reason_prefix, "lost task: pid ");
  EXPECT_EQ(c.section, "kernel regression");
  for (const auto& s : aq::gate::cases_for(Profile::smoke, {"7.2"}, kWorkloads, regs))
    EXPECT_EQ(s.id.find("kernel-regression"), std::string::npos) << s.id;
  const auto mine = aq::gate::read_regressions(AQ_SOURCE_DIR);
  EXPECT_GE(mine.size(), 8U);
  for (const auto& r : mine) EXPECT_FALSE(r.title.empty() || r.expect.empty()) << r.id;
}

aq::gate::Report shard_report(const std::string& kernel, const std::string& shard,
                              std::vector<std::pair<std::string, std::string>> cases) {
  aq::gate::Report r;
  r.profile = "release";
  r.kernels = {kernel};
  r.shards = {shard};
  for (auto& [id, verdict] : cases) {
    aq::gate::Outcome o;
    o.id = id;
    o.kernel = id.starts_with("host/") ? "" : kernel;
    o.section = "kernel";
    o.verdict = verdict;
    if (verdict == "FAIL") o.reasons = {"why"};
    r.cases.push_back(o);
  }
  return r;
}

TEST(GateReport, RoundTripsThroughJson) {
  const auto r = shard_report("7.2", "1/2", {{"7.2/a", "PASS"}, {"7.2/b", "FAIL"}});
  const auto back = aq::gate::from_json(aq::gate::to_json(r));
  EXPECT_EQ(aq::gate::to_json(back), aq::gate::to_json(r));
  EXPECT_FALSE(back.passed());
  EXPECT_THROW(aq::gate::from_json({{"schema", "aqcheck-report/1"}}), std::runtime_error);
}

TEST(GateMerge, OneVerdictFromEveryShard) {
  const auto a = shard_report("7.2", "1/2", {{"7.2/a", "PASS"}, {"host/p", "PASS"}});
  const auto b = shard_report("7.2", "2/2", {{"7.2/b", "PASS"}});
  const auto c = shard_report("7.3", "1/1", {{"7.3/a", "PASS"}, {"host/p", "PASS"}});
  const auto merged = aq::gate::merge({a, b, c});
  EXPECT_TRUE(merged.passed()) << ::testing::PrintToString(merged.problems);
  EXPECT_EQ(merged.cases.size(), 4u);  // host/p once
  const auto md = aq::gate::to_markdown(merged);
  EXPECT_NE(md.find("# aqcheck gate: PASS"), std::string::npos) << md;
  EXPECT_NE(md.find("## Kernel 7.3"), std::string::npos) << md;
}

// Negative controls have their own table: a kernel with nothing else gets none.
TEST(GateReport, NegativeControlsAreNotAKernelTable) {
  auto r = shard_report("7.2", "1/1", {{"7.2/negative/lost-task", "PASS"}});
  r.cases[0].section = "negative control";
  const auto md = aq::gate::to_markdown(r);
  EXPECT_EQ(md.find("## Kernel 7.2"), std::string::npos) << md;
  EXPECT_NE(md.find("## Negative controls"), std::string::npos) << md;
  EXPECT_NE(md.find("| 7.2/negative/lost-task | PASS |"), std::string::npos) << md;
}

TEST(GateMerge, AMissingShardOrACaseTwiceFails) {
  const auto a = shard_report("7.2", "1/3", {{"7.2/a", "PASS"}});
  const auto b = shard_report("7.2", "3/3", {{"7.2/b", "PASS"}});
  auto merged = aq::gate::merge({a, b});
  ASSERT_FALSE(merged.passed());
  EXPECT_EQ(merged.problems, std::vector<std::string>{"kernels 7.2: shard 2/3 is missing"});
  merged = aq::gate::merge({a, shard_report("7.2", "2/3", {{"7.2/a", "PASS"}}), b});
  EXPECT_FALSE(merged.passed());
  // A host case that failed in any shard fails the merge.
  merged = aq::gate::merge({shard_report("7.2", "1/1", {{"host/p", "PASS"}}),
                            shard_report("7.3", "1/1", {{"host/p", "FAIL"}})});
  EXPECT_FALSE(merged.passed());
  EXPECT_FALSE(aq::gate::merge({}).passed());
}

TEST(GateCompare, APassThatFailsOrGoesIsARegression) {
  const auto before = shard_report("7.2", "1/1", {{"7.2/a", "PASS"}, {"7.2/b", "FAIL"}, {"7.2/c", "PASS"}});
  auto cmp = aq::gate::compare(before, shard_report("7.2", "1/1", {{"7.2/a", "PASS"}, {"7.2/b", "PASS"}, {"7.2/c", "PASS"}}));
  EXPECT_FALSE(cmp.regressed) << cmp.markdown;
  EXPECT_NE(cmp.markdown.find("| 7.2/b | FAIL | PASS |"), std::string::npos) << cmp.markdown;
  cmp = aq::gate::compare(before, shard_report("7.2", "1/1", {{"7.2/a", "FAIL"}, {"7.2/b", "FAIL"}, {"7.2/c", "PASS"}}));
  EXPECT_TRUE(cmp.regressed);
  cmp = aq::gate::compare(before, shard_report("7.2", "1/1", {{"7.2/a", "PASS"}, {"7.2/b", "FAIL"}}));
  EXPECT_TRUE(cmp.regressed);
  EXPECT_NE(cmp.markdown.find("| 7.2/c | PASS | (gone) |"), std::string::npos) << cmp.markdown;
}

// A bench report's figures as the gate keeps them (gate.cpp, performance_of).
nlohmann::json perf(double switch_ratio) {
  return {{"rounds", 5},
          {"duration_s", 5},
          {"metrics",
           {{"stress-switch",
             {{"ratio", {{"aqmap", {{"median", switch_ratio}, {"min", switch_ratio}, {"max", switch_ratio}}}}}}}}},
          {"checks",
           {{{"kind", "threshold"}, {"config", "aqmap"}, {"metric", "stress-switch"}, {"limit", 0.5},
             {"passed", switch_ratio >= 0.5}}}}};
}

TEST(GateReport, PerformanceFiguresAreKeptMergedAndCompared) {
  auto a = shard_report("7.2", "1/1", {{"7.2/performance", "PASS"}});
  a.performance["7.2"] = perf(0.8);
  const auto back = aq::gate::from_json(aq::gate::to_json(a));
  EXPECT_EQ(back.performance, a.performance);
  const auto md = aq::gate::to_markdown(back);
  EXPECT_NE(md.find("## Performance"), std::string::npos) << md;
  EXPECT_NE(md.find("| stress-switch | 0.800 [0.800, 0.800] | >= 0.50 pass |"), std::string::npos) << md;

  auto b = shard_report("7.3", "1/1", {{"7.3/performance", "PASS"}});
  b.performance["7.3"] = perf(0.6);
  const auto merged = aq::gate::merge({a, b});
  EXPECT_TRUE(merged.performance.contains("7.2") && merged.performance.contains("7.3"));

  auto later = a;
  later.performance["7.2"] = perf(0.4);
  const auto cmp = aq::gate::compare(a, later);
  EXPECT_NE(cmp.markdown.find("| 7.2 | aqmap | stress-switch | 0.800 | 0.400 | -50.0% |"), std::string::npos)
      << cmp.markdown;
}

// Mainline scx_qmap's findings are INFO: listed, kept through a merge, not gating.
TEST(GateReport, MainlineFindingsAreInformational) {
  auto r = shard_report("7.2", "1/1", {{"7.2/mainline/cpu-hotplug", "INFO"}, {"7.2/workload/yield", "PASS"}});
  r.cases[0].reasons = {"no coverage: nr_enqueued = 26 < 200 (cpu-hotplug)"};
  EXPECT_TRUE(r.passed());
  const auto back = aq::gate::from_json(aq::gate::to_json(r));
  EXPECT_EQ(back.cases[0].verdict, "INFO");
  const auto md = aq::gate::to_markdown(back);
  EXPECT_NE(md.find("1 INFO"), std::string::npos) << md;
  EXPECT_NE(md.find("## Mainline scx_qmap findings (informational)"), std::string::npos) << md;
  EXPECT_NE(md.find("no coverage: nr_enqueued = 26"), std::string::npos) << md;
}

}  // namespace
