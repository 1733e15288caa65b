#include "report/html.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <vector>

#include "common/exit_codes.hpp"
#include "common/text.hpp"
#include "fuzz/fuzz.hpp"
#include "fuzz/spec.hpp"
#include "gate/report.hpp"
#include "report/html_assets.hpp"
#include "report/report.hpp"

namespace aq {
namespace {

using nlohmann::json;

// What a page is made of: its text, and the charts charts.js draws into the
// canvases the text holds.
struct Page {
  std::string title;
  std::string body;              // HTML
  json charts = json::array();   // chart specs (charts.js), in page order
};

// --- the report's data, checked where a chart reads it ----------------------

[[noreturn]] void malformed(const std::string& where, const std::string& what) {
  throw ReportHtmlError(fmt::format("{}: {}", where, what));
}

// col: an array of numbers, of n of them when n is given.
const json& numbers(const json& col, std::optional<std::size_t> n, const std::string& where) {
  if (!col.is_array()) malformed(where, "not an array");
  for (std::size_t i = 0; i < col.size(); i++)
    if (!col[i].is_number()) malformed(fmt::format("{}[{}]", where, i), "not a number");
  if (n && col.size() != *n) malformed(where, fmt::format("{} values for {} times", col.size(), *n));
  return col;
}

const json& number_column(const json& obj, const std::string& key, std::optional<std::size_t> n,
                          const std::string& where) {
  if (!obj.contains(key)) malformed(where, "no " + key);
  return numbers(obj[key], n, where + "." + key);
}

// obj[key] as a number, or nullopt when absent or null; malformed otherwise.
std::optional<double> optional_number(const json& obj, const std::string& key, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return std::nullopt;
  if (!obj[key].is_number()) malformed(where + "." + key, "not a number");
  return obj[key].get<double>();
}

// --- text --------------------------------------------------------------------

std::string fixed(double v, int decimals) { return fmt::format("{:.{}f}", v, decimals); }

// A verdict as a coloured badge; the class names only the verdicts the CSS knows.
std::string verdict_badge(const std::string& verdict) {
  static const std::vector<std::string> known{"PASS", "FAIL", "SKIPPED", "INFO", "NONE"};
  const bool is_known = std::find(known.begin(), known.end(), verdict) != known.end();
  return fmt::format("<span class=\"verdict {}\">{}</span>", is_known ? verdict : "other", html_escape(verdict));
}

std::string list_items(const json& lines, const char* css_class) {
  if (!lines.is_array() || lines.empty()) return "";
  std::string h = fmt::format("<ul class=\"{}\">\n", css_class);
  for (const auto& l : lines) h += "<li>" + html_escape(l.is_string() ? l.get<std::string>() : l.dump()) + "</li>\n";
  return h + "</ul>\n";
}

std::string code(const std::string& s) { return "<code>" + html_escape(s) + "</code>"; }

// --- charts ------------------------------------------------------------------

// A canvas for chart id, sized by its container (Chart.js's responsive mode).
std::string chart_box(const std::string& id) {
  return fmt::format("<div class=\"chart\"><canvas id=\"{}\"></canvas></div>\n", html_escape(id));
}

struct LineSeries {
  std::string label;
  json values;
};

// How a line chart draws: counts get whole-number ticks; a stepped line holds
// each value until the next point (a total that grows at known moments).
struct LineStyle {
  bool counts = false;
  bool stepped = false;
};

json line_chart(const std::string& id, const std::string& title, const std::string& x_title,
                const std::string& y_title, const json& x, const std::vector<LineSeries>& series, LineStyle style) {
  json s = json::array();
  for (const auto& l : series) s.push_back({{"label", l.label}, {"values", l.values}});
  return {{"id", id},           {"type", "line"}, {"title", title},           {"x_title", x_title},
          {"y_title", y_title}, {"x", x},         {"series", s},             {"stepped", style.stepped},
          {"counts", style.counts}};
}

// --- run (aqcheck-report/1) ----------------------------------------------------

// The two charts of a case with a time series, or a line saying why it has none.
std::string case_charts(Page& page, const json& c, std::size_t i) {
  const std::string where = fmt::format("cases[{}].series", i);
  if (!c.contains("series")) return "<p class=\"muted\">No time series: the report predates them.</p>\n";
  const json& s = c["series"];
  if (!s.is_object()) malformed(where, "not an object");
  const json& t = number_column(s, "t_s", std::nullopt, where);
  if (t.empty())
    return c.value("skipped", "").empty() ? "<p class=\"muted\">No time series: no audit ran.</p>\n" : "";
  if (!s.contains("fifo_len") || !s["fifo_len"].is_array()) malformed(where, "no fifo_len columns");
  std::vector<LineSeries> lens;
  for (std::size_t k = 0; k < s["fifo_len"].size(); k++)
    lens.push_back({fmt::format("FIFO {}", k), numbers(s["fifo_len"][k], t.size(), fmt::format("{}.fifo_len[{}]", where, k))});
  const std::vector<LineSeries> waits{
      {"longest FIFO-head wait", number_column(s, "fifo_head_wait_max_ms", t.size(), where)},
      {"longest task wait", number_column(s, "task_wait_max_ms", t.size(), where)}};
  const std::string fifo_id = fmt::format("case-{}-fifo", i), waits_id = fmt::format("case-{}-waits", i);
  page.charts.push_back(
      line_chart(fifo_id, "FIFO lengths", "seconds since attach", "tasks queued", t, lens, {.counts = true}));
  page.charts.push_back(line_chart(waits_id, "Longest waits so far", "seconds since attach", "ms", t, waits, {}));
  const auto audits = s.value("audits", t.size());
  const auto per_point = s.value("audits_per_point", std::size_t{1});
  return "<div class=\"charts\">\n" + chart_box(fifo_id) + chart_box(waits_id) + "</div>\n" +
         fmt::format("<p class=\"muted\">{} audits; each point {}.</p>\n", audits,
                     per_point > 1 ? fmt::format("stands for {} audits (their peak lengths)", per_point)
                                   : std::string("is one audit"));
}

std::string case_row(const json& c, std::size_t i) {
  const json& waits = c.value("waits", json::object());
  const json& audit = c.value("audit", json::object());
  double head_wait = 0;
  for (const auto& w : audit.value("fifo_head_wait_max_ms", json::array())) head_wait = std::max(head_wait, w.get<double>());
  return fmt::format("<tr><td><a href=\"#case-{}\">{}</a></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
                     "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                     i, html_escape(c.at("name").get<std::string>()), verdict_badge(c.value("verdict", "")),
                     audit.value("audits", std::uint64_t{0}), fixed(head_wait, 1), fixed(waits.value("max_task_wait_ms", 0.0), 0),
                     fixed(waits.value("max_fifo_wait_ms", 0.0), 1), fixed(c.value("wall_s", 0.0), 1));
}

std::string case_section(Page& page, const json& c, std::size_t i) {
  std::string h = fmt::format("<section id=\"case-{}\">\n<h2>{} {}</h2>\n", i, html_escape(c.at("name").get<std::string>()),
                              verdict_badge(c.value("verdict", "")));
  if (const auto purpose = c.value("purpose", ""); !purpose.empty())
    h += "<p class=\"muted\">" + html_escape(purpose) + "</p>\n";
  if (const auto skipped = c.value("skipped", ""); !skipped.empty())
    h += "<p>Skipped: " + html_escape(skipped) + "</p>\n";
  h += list_items(c.value("failures", json::array()), "failures");
  h += case_charts(page, c, i);
  return h + "</section>\n";
}

Page run_page(const json& r) {
  Page page;
  const std::string verdict = r.value("verdict", "");
  page.title = "aqcheck run: " + verdict;
  const json& sched = r.value("scheduler", json::object());
  std::string& h = page.body;
  h += fmt::format("<h1>aqcheck run {}</h1>\n", verdict_badge(verdict));
  h += fmt::format("<p>Kernel {} &middot; {}{} &middot; seed {} &middot; structural audit every {} ms</p>\n",
                   code(r.value("kernel", "")), html_escape(sched.value("name", "scx_aqmap")),
                   sched.value("variant", "").empty() ? "" : " (" + html_escape(sched.value("variant", "")) + ")",
                   r.value("seed", std::uint64_t{0}), r.value("audit_interval_ms", 0));
  h += "<p>Reproduce: " + code(r.value("reproduce", "")) + "</p>\n";
  const json& cases = r.at("cases");
  if (!cases.is_array()) malformed("cases", "not an array");
  h += "<table>\n<tr><th>workload</th><th>verdict</th><th>audits</th><th>longest FIFO-head wait ms</th>"
       "<th>longest task wait ms</th><th>longest FIFO wait at dispatch ms</th><th>wall s</th></tr>\n";
  std::string sections;
  for (std::size_t i = 0; i < cases.size(); i++) {
    try {
      h += case_row(cases[i], i);
      sections += case_section(page, cases[i], i);
    } catch (const json::exception& e) {
      malformed(fmt::format("cases[{}]", i), e.what());
    }
  }
  h += "</table>\n";
  h += "<p class=\"muted\">Per case: each FIFO's length at every structural audit, and the longest FIFO-head wait "
       "(the audit's clock) and task wait for a CPU (the wait audit, the kernel's clock) seen so far.";
  if (const auto bound = sched.value("options", json::object()).value("stuck_after_ms", 0); bound > 0)
    h += fmt::format(" A task that waits {} ms (<code>--stuck-after-ms</code>) FAILs its case.", bound);
  h += "</p>\n";
  h += sections;
  return page;
}

// --- gate (aqcheck-gate/1) -----------------------------------------------------

// The configs a kernel's figures have ratios for, in the order first met.
std::vector<std::string> ratio_configs(const json& metrics) {
  std::vector<std::string> configs;
  for (const auto& [name, metric] : metrics.items())
    if (metric.is_object() && metric.contains("ratio") && metric["ratio"].is_object())
      for (const auto& [config, _] : metric["ratio"].items())
        if (std::find(configs.begin(), configs.end(), config) == configs.end()) configs.push_back(config);
  return configs;
}

// The threshold check of config/metric in a bench report's checks, or null.
json threshold_check(const json& perf, const std::string& config, const std::string& metric) {
  for (const auto& c : perf.value("checks", json::array()))
    if (c.value("kind", "") == "threshold" && c.value("config", "") == config && c.value("metric", "") == metric)
      return c;
  return nullptr;
}

json ratio_chart(const std::string& id, const std::string& kernel, const std::string& config, const json& perf) {
  json labels = json::array(), median = json::array(), lo = json::array(), hi = json::array();
  json threshold = json::array(), passed = json::array();
  for (const auto& [name, metric] : perf.at("metrics").items()) {
    const std::string where = fmt::format("performance.{}.metrics.{}.ratio.{}", kernel, name, config);
    const json r = metric.is_object() && metric.contains("ratio") ? metric["ratio"].value(config, json()) : json();
    const auto to_json = [](std::optional<double> v) { return v ? json(*v) : json(nullptr); };
    labels.push_back(name);
    median.push_back(to_json(optional_number(r, "median", where)));
    lo.push_back(to_json(optional_number(r, "min", where)));
    hi.push_back(to_json(optional_number(r, "max", where)));
    const json check = threshold_check(perf, config, name);
    threshold.push_back(check.is_null() ? json(nullptr) : to_json(optional_number(check, "limit", where + ".check")));
    passed.push_back(check.is_null() ? json(nullptr) : json(check.value("passed", false)));
  }
  return {{"id", id},         {"type", "ratio"},  {"title", config + " / EEVDF"}, {"y_title", "ratio to EEVDF (log)"},
          {"labels", labels}, {"median", median}, {"min", lo},                    {"max", hi},
          {"threshold", threshold}, {"passed", passed}};
}

std::string performance_section(Page& page, const json& performance) {
  if (performance.empty())
    return "<h2>Performance</h2>\n<p class=\"muted\">No performance case in this gate (the release profile runs "
           "one per kernel).</p>\n";
  std::string h = "<h2>Performance against EEVDF</h2>\n<p>Ratio to the kernel's default scheduler in the same boot, "
                  "&gt; 1 is better (times and latencies inverted): the median over the rounds as a bar (orange when "
                  "below its threshold), the lowest and highest round, and the threshold of "
                  "<code>ci/gate-thresholds.json</code> in red. Log scale.</p>\n";
  std::size_t k = 0;
  for (const auto& [kernel, perf] : performance.items()) {
    if (!perf.is_object() || !perf.contains("metrics") || !perf["metrics"].is_object())
      malformed("performance." + kernel, "no metrics object");
    h += fmt::format("<h3>Kernel {} &middot; {} rounds of {} s {}</h3>\n", html_escape(kernel), perf.value("rounds", 0),
                     perf.value("duration_s", 0), verdict_badge(perf.value("verdict", "")));
    h += "<div class=\"charts\">\n";
    const auto configs = ratio_configs(perf["metrics"]);
    for (std::size_t c = 0; c < configs.size(); c++) {
      const auto id = fmt::format("perf-{}-{}", k, c);
      page.charts.push_back(ratio_chart(id, kernel, configs[c], perf));
      h += chart_box(id);
    }
    h += "</div>\n";
    k++;
  }
  return h;
}

std::string gate_cases_section(const gate::Report& r) {
  std::string h = "<h2>Cases</h2>\n<table>\n<tr><th>case</th><th>verdict</th><th>what</th><th>wall s</th></tr>\n";
  for (const auto& c : r.cases)
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>\n", html_escape(c.id),
                     verdict_badge(c.verdict), html_escape(c.what), fixed(c.wall_s, 0));
  h += "</table>\n";
  for (const auto& c : r.cases) {
    if (c.verdict != "FAIL" && c.verdict != "INFO") continue;
    h += fmt::format("<h3>{} {}</h3>\n", html_escape(c.id), verdict_badge(c.verdict)) +
         list_items(json(c.reasons), c.verdict == "FAIL" ? "failures" : "reasons");
    if (c.verdict == "FAIL") h += "<p>Log " + code(c.log) + ". Rerun: " + code(c.rerun) + "</p>\n";
  }
  return h;
}

Page gate_page(const json& j) {
  gate::Report r;
  try {
    r = gate::from_json(j);
  } catch (const std::runtime_error& e) {
    throw ReportHtmlError(e.what());
  }
  Page page;
  const std::string verdict = r.passed() ? "PASS" : "FAIL";
  page.title = "aqcheck gate: " + verdict;
  std::string& h = page.body;
  h += fmt::format("<h1>aqcheck gate {}</h1>\n", verdict_badge(verdict));
  h += fmt::format("<p>Profile {} &middot; kernels {} &middot; shard(s) {} &middot; {} case(s): {} PASS, {} FAIL, {} INFO "
                   "&middot; {:.0f} s</p>\n",
                   code(r.profile), html_escape(fmt::format("{}", fmt::join(r.kernels, ", "))),
                   html_escape(fmt::format("{}", fmt::join(r.shards, ", "))), r.cases.size(), j.value("passed", 0),
                   j.value("failed", 0), j.value("informational", 0), r.elapsed_s);
  h += list_items(json(r.problems), "failures");
  h += performance_section(page, r.performance);
  h += gate_cases_section(r);
  return page;
}

// --- fuzz summary (aqcheck-fuzz/1) ---------------------------------------------

// The coverage labels of a summary: kFuzzCoverage's order, then any others.
std::vector<std::string> coverage_labels(const json& coverage) {
  std::vector<std::string> labels;
  for (const auto& line : kFuzzCoverage)
    if (coverage.contains(std::string(line.label))) labels.emplace_back(line.label);
  for (const auto& [label, _] : coverage.items())
    if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
  return labels;
}

// Per label, the session's coverage after each scenario, from the session's
// start: coverage_so_far and elapsed_s as the summary records them, or (a
// summary older than those) the running sums of coverage and wall_s.
struct CoverageOverTime {
  json minutes = json::array({0});
  std::map<std::string, json> so_far;
};

CoverageOverTime coverage_over_time(const json& scenarios, const std::vector<std::string>& labels) {
  CoverageOverTime out;
  std::map<std::string, double> sums;
  double wall = 0;
  for (const auto& l : labels) out.so_far[l] = json::array({0});
  for (std::size_t i = 0; i < scenarios.size(); i++) {
    const json& s = scenarios[i];
    const std::string where = fmt::format("scenarios[{}]", i);
    wall += optional_number(s, "wall_s", where).value_or(0);
    out.minutes.push_back(optional_number(s, "elapsed_s", where).value_or(wall) / 60);
    for (const auto& l : labels) {
      sums[l] += optional_number(s.value("coverage", json::object()), l, where + ".coverage").value_or(0);
      const auto recorded = optional_number(s.value("coverage_so_far", json::object()), l, where + ".coverage_so_far");
      out.so_far[l].push_back(recorded.value_or(sums[l]));
    }
  }
  return out;
}

std::string coverage_charts(Page& page, const json& summary) {
  const json& coverage = summary.value("coverage", json::object());
  const json& scenarios = summary.value("scenarios", json::array());
  if (!scenarios.is_array()) malformed("scenarios", "not an array");
  if (scenarios.empty()) return "<p class=\"muted\">No scenario ran, so there is no coverage to chart.</p>\n";
  const auto labels = coverage_labels(coverage);
  const auto over_time = coverage_over_time(scenarios, labels);
  std::string h = "<div class=\"charts\">\n";
  for (std::size_t i = 0; i < labels.size(); i++) {
    const auto id = fmt::format("coverage-{}", i);
    page.charts.push_back(line_chart(id, labels[i], "minutes into the session", "counted so far", over_time.minutes,
                                     {{labels[i], over_time.so_far.at(labels[i])}}, {.counts = true, .stepped = true}));
    h += chart_box(id);
  }
  return h + "</div>\n";
}

std::string coverage_table(const json& coverage) {
  std::string h = "<table>\n<tr><th>path</th><th>counters</th><th>total</th><th>scenarios reaching it</th></tr>\n";
  for (const auto& label : coverage_labels(coverage)) {
    const json& c = coverage[label];
    std::vector<std::string> names;
    const json counters = c.value("counters", json::object());  // items() of a temporary would dangle
    for (const auto& [name, _] : counters.items()) names.push_back(name);
    h += fmt::format("<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                     html_escape(label), html_escape(fmt::format("{}", fmt::join(names, " + "))),
                     c.value("total", std::uint64_t{0}), c.value("scenarios", 0));
  }
  return h + "</table>\n";
}

std::string fuzz_failures(const json& failures) {
  if (!failures.is_array() || failures.empty()) return "";
  std::string h = "<h2>Failures</h2>\n";
  for (const auto& f : failures) {
    const json& reruns = f.value("reruns", json::object());
    h += fmt::format("<h3>{}: {} ({}, {}/{} reruns failed the same way)</h3>\n", html_escape(f.value("scenario", "")),
                     html_escape(f.value("class", "")), html_escape(f.value("classification", "")),
                     reruns.value("failed_same_class", 0), reruns.value("runs", 0));
    h += list_items(f.value("reasons", json::array()), "failures");
    const json& repro = f.value("reproduce", json::object());
    h += "<p>Reproduce: " + code(repro.value("fuzz", "")) + "<br>or: " + code(repro.value("run", "")) + "</p>\n";
  }
  return h;
}

std::string scenario_table(const json& scenarios, const std::vector<std::string>& labels) {
  std::string h = "<table>\n<tr><th>scenario</th><th>verdict</th><th>wall s</th>";
  for (const auto& l : labels) h += "<th>" + html_escape(l) + "</th>";
  h += "</tr>\n";
  for (const auto& s : scenarios) {
    h += fmt::format("<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td>", html_escape(s.value("name", "")),
                     verdict_badge(s.value("verdict", "")), fixed(s.value("wall_s", 0.0), 1));
    const json& c = s.value("coverage", json::object());
    for (const auto& l : labels) h += fmt::format("<td class=\"n\">{}</td>", c.value(l, std::uint64_t{0}));
    h += "</tr>\n";
  }
  return h + "</table>\n";
}

Page fuzz_page(const json& j) {
  Page page;
  const std::string verdict = j.value("verdict", "");
  page.title = "aqcheck fuzz: " + verdict;
  std::string& h = page.body;
  h += fmt::format("<h1>aqcheck fuzz {}</h1>\n", verdict_badge(verdict));
  h += fmt::format("<p>Kernel {} &middot; seed {} &middot; budget {} &middot; elapsed {} &middot; {} scenario(s): {} PASS, "
                   "{} FAIL</p>\n",
                   code(j.value("kernel", "")), j.value("seed", std::uint64_t{0}), format_clock(j.value("budget_s", 0)),
                   format_clock(j.value("elapsed_s", 0)), j.value("scenarios_run", 0), j.value("passed", 0),
                   j.value("failed", 0));
  if (const auto why = j.value("stopped_because", ""); !why.empty()) h += "<p>Ended: " + html_escape(why) + "</p>\n";
  h += "<h2>Coverage over the session</h2>\n<p>Each path's counters, summed over the scenarios so far, after each "
       "scenario.</p>\n";
  h += coverage_charts(page, j);
  const json& coverage = j.value("coverage", json::object());
  h += coverage_table(coverage);
  h += fuzz_failures(j.value("failures", json::array()));
  h += "<h2>Scenarios</h2>\n" + scenario_table(j.value("scenarios", json::array()), coverage_labels(coverage));
  return page;
}

// --- the page ------------------------------------------------------------------

Page page_of(const json& report) {
  if (!report.is_object()) throw ReportHtmlError("not a JSON object");
  const std::string schema = report.contains("schema") && report["schema"].is_string() ? report["schema"].get<std::string>() : "";
  try {
    if (schema == "aqcheck-report/1") return run_page(report);
    if (schema == "aqcheck-gate/1") return gate_page(report);
    if (schema == "aqcheck-fuzz/1") return fuzz_page(report);
  } catch (const json::exception& e) {
    throw ReportHtmlError(fmt::format("malformed {} report: {}", schema, e.what()));
  }
  throw ReportHtmlError(fmt::format("schema '{}' is none of aqcheck-report/1, aqcheck-gate/1, aqcheck-fuzz/1", schema));
}

constexpr std::string_view kStyle = R"(
body { font-family: system-ui, "Segoe UI", "DejaVu Sans", sans-serif; max-width: 1240px; margin: 0 auto;
       padding: 12px 24px 40px; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.7em; margin: 0.3em 0; }
h2 { font-size: 1.3em; margin-top: 1.6em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; }
h3 { font-size: 1.1em; margin-top: 1.2em; }
.verdict { display: inline-block; padding: 0 8px; border-radius: 4px; color: #fff; font-weight: 600; font-size: 0.85em;
           vertical-align: middle; }
.PASS { background: #1a7f37; } .FAIL { background: #cf222e; } .INFO { background: #0969da; }
.SKIPPED, .NONE, .other { background: #6e7781; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; white-space: nowrap; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f6f8fa; padding: 1px 4px; border-radius: 3px; font-size: 0.88em; overflow-wrap: anywhere; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 12px; margin: 0.6em 0; }
.chart { position: relative; height: 300px; border: 1px solid #d8dee4; border-radius: 6px; padding: 6px; }
ul.failures li { color: #a40e26; }
.muted { color: #59636e; }
footer { margin-top: 3em; color: #59636e; font-size: 0.85em; }
)";

// Before any other script: every script error and unhandled rejection goes
// into <html data-script-errors> (a JSON list), where people and the browser
// test see it; charts.js reports a chart that failed the same way.
constexpr std::string_view kErrorCatcher = R"(
(function () {
  var errors = [];
  window.aqRecordScriptError = function (message) {
    errors.push(String(message));
    document.documentElement.setAttribute('data-script-errors', JSON.stringify(errors));
  };
  window.onerror = function (message, source, line) {
    window.aqRecordScriptError(message + ' (' + (source || 'inline script') + ':' + line + ')');
  };
  window.addEventListener('unhandledrejection', function (e) {
    window.aqRecordScriptError('unhandled rejection: ' + (e.reason && e.reason.stack ? e.reason.stack : e.reason));
  });
})();
)";

// Chart.js ends with a //# sourceMappingURL comment naming a file the page
// does not have.
std::string_view without_source_map(std::string_view js) {
  const auto at = js.rfind("\n//# sourceMappingURL=");
  return at == std::string_view::npos ? js : js.substr(0, at + 1);
}

std::string render(const Page& page) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\" data-script-errors=\"[]\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += "<title>" + html_escape(page.title) + "</title>\n<style>" + std::string(kStyle) + "</style>\n";
  h += "<script>" + std::string(kErrorCatcher) + "</script>\n</head>\n";
  h += fmt::format("<body data-charts-expected=\"{}\">\n", page.charts.size());
  h += page.body;
  h += fmt::format("<footer>Made by aqcheck from its JSON report; charts drawn by Chart.js {} (MIT licence), embedded "
                   "in this file.</footer>\n",
                   html_assets::kChartJsVersion);
  h += "<script type=\"application/json\" id=\"aq-charts\">" + json_for_script(page.charts) + "</script>\n";
  h += "<script>\n" + std::string(without_source_map(html_assets::chart_js())) + "</script>\n";
  h += "<script>\n" + std::string(html_assets::charts_js()) + "</script>\n";
  return h + "</body>\n</html>\n";
}

json read_report(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ReportHtmlError("cannot read it");
  auto j = json::parse(in, nullptr, false);
  if (j.is_discarded()) throw ReportHtmlError("not JSON");
  return j;
}

}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string json_for_script(const json& j) {
  const std::string text = j.dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {  // only ever inside a JSON string, where \u escapes mean the same
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      case '&': out += "\\u0026"; break;
      default: out += c;
    }
  }
  return out;
}

std::string report_html(const json& report) { return render(page_of(report)); }

std::vector<std::string> report_chart_ids(const json& report) {
  std::vector<std::string> ids;
  for (const auto& c : page_of(report).charts) ids.push_back(c["id"].get<std::string>());
  return ids;
}

int report_html_command(const std::string& report_path, const std::string& out_path) {
  const std::string out = out_path.empty() ? html_path_beside(report_path) : out_path;
  std::string page;
  try {
    std::error_code ec;
    if (std::filesystem::equivalent(report_path, out, ec))
      throw ReportHtmlError(fmt::format("--out {} is the report itself", out));
    page = report_html(read_report(report_path));
  } catch (const ReportHtmlError& e) {
    fmt::print(stderr, "aqcheck: error: bad report: {}: {}\n", report_path, e.what());
    return exit_code::bad_report;
  }
  try {
    write_file_atomic(out, page);
  } catch (const std::exception& e) {
    fmt::print(stderr, "aqcheck: error: writing the HTML report: {}\n", e.what());
    return exit_code::internal;
  }
  fmt::print("aqcheck: wrote {}\n", out);
  return exit_code::pass;
}

}  // namespace aq
