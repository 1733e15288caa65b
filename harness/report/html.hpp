// HTML reports: one self-contained page per report, made from the report's
// JSON: a run (aqcheck-report/1: per case, FIFO lengths and the longest waits
// over the run), a gate (aqcheck-gate/1: the performance ratios to EEVDF
// against their thresholds) or a fuzz summary (aqcheck-fuzz/1: coverage over
// the session).  Chart.js (ci/setup.sh fetches it, the build embeds it) and
// the page's drawing code (report/charts.js) are inlined, so the page opens
// offline; the data sits in <script type="application/json"> elements.
//
// `run --markdown F.md`, the gate (gate.md) and the fuzz summary (summary.md)
// each write the page beside their markdown; `aqcheck report html` makes it
// again from a kept JSON report.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace aq {

struct ReportHtmlError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Text for HTML element content or a quoted attribute value.
std::string html_escape(std::string_view s);

// JSON for the inside of a <script> element: '<', '>' and '&' as \u escapes
// (so neither "</script" nor "<!--" can occur), every other non-ASCII
// character as \uXXXX too (U+2028 and U+2029 included), invalid UTF-8 as
// U+FFFD.  JSON.parse() reads back the very same value.
std::string json_for_script(const nlohmann::json& j);

// The page of a run, gate or fuzz summary report.  Throws ReportHtmlError
// naming what is wrong when the JSON is none of them or its data is malformed.
std::string report_html(const nlohmann::json& report);

// The ids of the charts report_html(report) draws, in page order.
std::vector<std::string> report_chart_ids(const nlohmann::json& report);

// `aqcheck report html REPORT.json [--out F.html]` (default: REPORT.html):
// exit_code::pass, or bad_report with one error line and no file written.
int report_html_command(const std::string& report_path, const std::string& out_path);

}  // namespace aq
