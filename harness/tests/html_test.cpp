// The HTML reports: a case's time series (its downsampling keeps the run's
// span and its peaks within a fixed size), escaping (no report text can end
// a <script> element or add markup), the charts each kind of report gets,
// and the one error a malformed report gets.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "common/text.hpp"
#include "report/html.hpp"
#include "report/report.hpp"
#include "run/series.hpp"

namespace {

using nlohmann::json;

aq::SeriesPoint point(double t, std::uint64_t len0, double task_wait = 0) {
  aq::SeriesPoint p;
  p.t_s = t;
  p.fifo_len[0] = len0;
  p.task_wait_max_ms = task_wait;
  return p;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
  return n;
}

// The chart specs a page hands to charts.js.
json chart_specs(const std::string& page) {
  const std::string open = "<script type=\"application/json\" id=\"aq-charts\">";
  const auto from = page.find(open);
  EXPECT_NE(from, std::string::npos);
  const auto to = page.find("</script>", from);
  return json::parse(page.substr(from + open.size(), to - from - open.size()));
}

json run_report_with(const std::vector<aq::CaseResult>& cases) {
  aq::RunConfig cfg;
  aq::RunResult res;
  res.kernel = "7.2.13+deb14-cloud-amd64";
  res.cases = cases;
  return aq::to_json(cfg, res, "aqcheck vm -- run");
}

aq::CaseResult case_with_points(const std::string& name, int points) {
  aq::CaseResult c;
  c.name = name;
  for (int i = 0; i < points; i++) c.series.add(point(i * 0.01, static_cast<std::uint64_t>(i % 4), i));
  return c;
}

TEST(Series, KeepsEveryPointUntilFull) {
  aq::CaseSeries s(8);
  for (int i = 0; i < 7; i++) s.add(point(i, i));
  ASSERT_EQ(s.points().size(), 7u);
  EXPECT_EQ(s.audits_per_point(), 1u);
  EXPECT_EQ(s.points()[6].fifo_len[0], 6u);
}

TEST(Series, DownsamplesToAtMostTheLimitSpanningTheWholeRun) {
  for (const std::size_t limit : {2u, 7u, 8u, 500u}) {
    aq::CaseSeries s(limit);
    for (int i = 0; i < 4000; i++) s.add(point(i * 0.01, 1));
    const auto pts = s.points();
    EXPECT_LE(pts.size(), limit) << limit;
    EXPECT_GE(pts.size(), limit / 2) << limit;
    EXPECT_DOUBLE_EQ(pts.back().t_s, 39.99) << "the last audit is always there, limit " << limit;
    EXPECT_EQ(s.audits(), 4000u);
    EXPECT_TRUE(std::is_sorted(pts.begin(), pts.end(), [](auto& a, auto& b) { return a.t_s < b.t_s; }));
  }
}

TEST(Series, APeakOfOneAuditSurvivesDownsampling) {
  aq::CaseSeries s(10);
  for (int i = 0; i < 1000; i++) s.add(point(i, i == 377 ? 42 : 1, i >= 377 ? 9.5 : 0));  // waits: maxima so far
  const auto pts = s.points();
  const auto peak = std::max_element(pts.begin(), pts.end(), [](auto& a, auto& b) { return a.fifo_len[0] < b.fifo_len[0]; });
  EXPECT_EQ(peak->fifo_len[0], 42u);
  EXPECT_GE(peak->t_s, 377);  // the later time of the audits it stands for
  EXPECT_DOUBLE_EQ(pts.back().task_wait_max_ms, 9.5);
}

TEST(Series, JsonHasColumnsOfOneLengthRounded) {
  aq::CaseSeries s;
  aq::SeriesPoint p = point(1.23456, 3, 4.5678);
  p.fifo_head_wait_max_ms = 0.04;
  s.add(p);
  const json j = aq::series_json(s);
  EXPECT_EQ(j["t_s"], json::array({1.235}));
  EXPECT_EQ(j["fifo_len"].size(), aq::kSeriesFifos);
  EXPECT_EQ(j["fifo_len"][0], json::array({3}));
  EXPECT_EQ(j["task_wait_max_ms"], json::array({4.6}));
  EXPECT_EQ(j["fifo_head_wait_max_ms"], json::array({0.0}));
  EXPECT_EQ(j["audits_per_point"], 1);
}

TEST(Html, EscapesTextForElementsAndAttributes) {
  EXPECT_EQ(aq::html_escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(aq::html_escape("plain"), "plain");
}

TEST(Html, JsonInAScriptCannotCloseItAndReadsBackTheSame) {
  const json j = {{"name", "</script><!-- <script>alert(1)</script> & \u2028\u2029 é"}, {"n", 1}};
  const std::string s = aq::json_for_script(j);
  for (const char c : s) {
    EXPECT_NE(c, '<');
    EXPECT_NE(c, '>');
    EXPECT_NE(c, '&');
    EXPECT_LT(static_cast<unsigned char>(c), 0x80) << "non-ASCII byte in " << s;
  }
  EXPECT_NE(s.find("\\u2028"), std::string::npos);
  EXPECT_EQ(json::parse(s), j);
}

TEST(Html, InvalidUtf8InAReportIsReplacedNotThrown) {
  const std::string bad = "kernel log \xff\xfe line";
  const std::string s = aq::json_for_script(json{{"line", bad}});
  EXPECT_NE(s.find("\\ufffd"), std::string::npos) << s;
}

TEST(Html, ReportTextNeverBecomesMarkup) {
  auto c = case_with_points("</script><script>alert(1)</script>", 5);
  c.failures = {"stuck task: pid 1 (<b>x</b>)"};
  const std::string page = aq::report_html(run_report_with({c}));
  // The page's own four: error catcher, chart data, Chart.js, charts.js.
  EXPECT_EQ(count_of(page, "<script"), 4u);
  EXPECT_EQ(count_of(page, "</script"), 4u);
  EXPECT_EQ(count_of(page, "<b>"), 0u);
  EXPECT_NE(page.find("&lt;/script&gt;&lt;script&gt;alert(1)"), std::string::npos);
}

TEST(Html, PageIsSelfContained) {
  const std::string page = aq::report_html(run_report_with({case_with_points("cpu-baseline", 3)}));
  EXPECT_NE(page.find("* Chart.js v4."), std::string::npos) << "the library is inlined";
  EXPECT_EQ(page.find("sourceMappingURL"), std::string::npos);
  EXPECT_EQ(page.find("<script src"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_EQ(page.find("http://"), std::string::npos) << "nothing to fetch";
  EXPECT_NE(page.find("data-charts-expected=\"2\""), std::string::npos);
  EXPECT_NE(page.find("data-script-errors=\"[]\""), std::string::npos);
}

TEST(Html, RunCasesWithASeriesGetTwoChartsEach) {
  aq::CaseResult skipped;
  skipped.name = "cpu-hotplug";
  skipped.skipped = "needs cpus >= 2";
  const json report = run_report_with({case_with_points("cpu-baseline", 50), skipped, case_with_points("fork", 3)});
  EXPECT_EQ(aq::report_chart_ids(report),
            (std::vector<std::string>{"case-0-fifo", "case-0-waits", "case-2-fifo", "case-2-waits"}));
  const json specs = chart_specs(aq::report_html(report));
  ASSERT_EQ(specs.size(), 4u);
  EXPECT_EQ(specs[0]["series"].size(), aq::kSeriesFifos);
  EXPECT_EQ(specs[0]["x"].size(), 50u);
  EXPECT_EQ(specs[1]["series"][1]["label"], "longest task wait");
  EXPECT_EQ(specs[1]["series"][1]["values"].back(), 49.0);
}

TEST(Html, ARunReportFromBeforeTheSeriesStillRenders) {
  json report = run_report_with({case_with_points("cpu-baseline", 5)});
  report["cases"][0].erase("series");
  const std::string page = aq::report_html(report);
  EXPECT_TRUE(aq::report_chart_ids(report).empty());
  EXPECT_NE(page.find("No time series"), std::string::npos);
}

json gate_report() {
  const json metrics = {
      {"stress-cpu", {{"ratio", {{"aqmap", {{"median", 1.5}, {"min", 1.3}, {"max", 1.7}}},
                                 {"aqmap-no-wake-preempt", {{"median", 2.9}, {"min", 2.6}, {"max", 3.1}}}}}}},
      {"hackbench", {{"ratio", {{"aqmap", {{"median", 0.5}, {"min", 0.45}, {"max", 0.6}}}}}}}};
  const json checks = json::array({
      {{"kind", "threshold"}, {"config", "aqmap"}, {"metric", "stress-cpu"}, {"value", 1.5}, {"limit", 1.2}, {"passed", true}},
      {{"kind", "threshold"}, {"config", "aqmap"}, {"metric", "hackbench"}, {"value", 0.5}, {"limit", 0.6}, {"passed", false}}});
  return {{"schema", "aqcheck-gate/1"}, {"verdict", "FAIL"}, {"profile", "release"}, {"kernels", {"7.2"}},
          {"shards", {"1/1"}},          {"elapsed_s", 100},   {"problems", json::array()},
          {"performance", {{"7.2", {{"rounds", 3}, {"duration_s", 5}, {"verdict", "FAIL"}, {"metrics", metrics},
                                    {"checks", checks}}}}},
          {"cases", json::array({{{"id", "7.2/performance"}, {"section", "performance"}, {"kernel", "7.2"},
                                  {"verdict", "FAIL"}, {"reasons", {"hackbench below 0.6"}}}})}};
}

TEST(Html, GateDrawsOneRatioChartPerConfigWithItsThresholds) {
  const json specs = chart_specs(aq::report_html(gate_report()));
  ASSERT_EQ(specs.size(), 2u);
  const json& aqmap = specs[0];
  EXPECT_EQ(aqmap["type"], "ratio");
  EXPECT_EQ(aqmap["labels"], json::array({"hackbench", "stress-cpu"}));
  EXPECT_EQ(aqmap["median"], json::array({0.5, 1.5}));
  EXPECT_EQ(aqmap["threshold"], json::array({0.6, 1.2}));
  EXPECT_EQ(aqmap["passed"], json::array({false, true}));
  // No threshold set, no figure for hackbench: null, drawn as nothing.
  EXPECT_EQ(specs[1]["threshold"], json::array({nullptr, nullptr}));
  EXPECT_EQ(specs[1]["median"], json::array({nullptr, 2.9}));
}

json fuzz_summary(bool with_time) {
  json scenarios = json::array();
  std::uint64_t so_far = 0;
  for (int i = 0; i < 3; i++) {
    so_far += 10 * (i + 1);
    json s = {{"name", "s00" + std::to_string(i + 1)}, {"verdict", "PASS"}, {"wall_s", 20.0},
              {"coverage", {{"removals", 10 * (i + 1)}, {"hotplug", 0}}}};
    if (with_time) {
      s["elapsed_s"] = 30.0 * (i + 1);
      s["coverage_so_far"] = {{"removals", so_far}, {"hotplug", 0}};
    }
    scenarios.push_back(s);
  }
  return {{"schema", "aqcheck-fuzz/1"}, {"verdict", "PASS"}, {"kernel", "7.2"}, {"budget_s", 120}, {"elapsed_s", 95},
          {"coverage", {{"removals", {{"total", 60}, {"scenarios", 3}}}, {"hotplug", {{"total", 0}, {"scenarios", 0}}}}},
          {"scenarios", scenarios}};
}

TEST(Html, FuzzCoverageIsChartedCumulativeOverTheSession) {
  const json specs = chart_specs(aq::report_html(fuzz_summary(true)));
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0]["title"], "removals");  // kFuzzCoverage's order
  EXPECT_EQ(specs[0]["x"], json::array({0, 0.5, 1.0, 1.5}));
  EXPECT_EQ(specs[0]["series"][0]["values"], json::array({0, 10, 30, 60}));
  EXPECT_TRUE(specs[0]["stepped"].get<bool>());
  // A summary from before elapsed_s and coverage_so_far: running sums.
  const json old = chart_specs(aq::report_html(fuzz_summary(false)));
  EXPECT_EQ(old[0]["series"][0]["values"], json::array({0, 10, 30, 60}));
  EXPECT_DOUBLE_EQ(old[0]["x"][3].get<double>(), 1.0);
}

TEST(Html, FuzzCoverageTableNamesEachPathsCounters) {
  json summary = fuzz_summary(true);
  summary["coverage"]["removals"]["counters"] = {{"nr_deq_removed", 60}};
  EXPECT_NE(aq::report_html(summary).find("<td>removals</td><td>nr_deq_removed</td>"), std::string::npos);
}

TEST(Html, MalformedReportsGetOneErrorNamingWhatIsWrong) {
  const auto error_of = [](const json& j) -> std::string {
    try {
      aq::report_html(j);
    } catch (const aq::ReportHtmlError& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(error_of(json::array()), "not a JSON object");
  EXPECT_NE(error_of({{"schema", "aqcheck-bench/1"}}).find("none of aqcheck-report/1"), std::string::npos);
  json run = run_report_with({case_with_points("cpu-baseline", 4)});
  run["cases"][0]["series"]["fifo_len"][2].erase(0);
  EXPECT_EQ(error_of(run), "cases[0].series.fifo_len[2]: 3 values for 4 times");
  run = run_report_with({case_with_points("cpu-baseline", 4)});
  run["cases"][0]["series"]["t_s"][1] = "soon";
  EXPECT_EQ(error_of(run), "cases[0].series.t_s[1]: not a number");
  json gate = gate_report();
  gate["performance"]["7.2"]["metrics"]["hackbench"]["ratio"]["aqmap"]["median"] = "fast";
  EXPECT_EQ(error_of(gate), "performance.7.2.metrics.hackbench.ratio.aqmap.median: not a number");
  json fuzz = fuzz_summary(true);
  fuzz["scenarios"] = 3;
  EXPECT_EQ(error_of(fuzz), "scenarios: not an array");
}

TEST(Html, PageGoesBesideItsReport) {
  EXPECT_EQ(aq::html_path_beside("out/verify.md"), "out/verify.html");
  EXPECT_EQ(aq::html_path_beside("out/gate/gate.json"), "out/gate/gate.html");
  EXPECT_EQ(aq::html_path_beside("report"), "report.html");
}

}  // namespace
