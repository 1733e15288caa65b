#include "report/ktap.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "common/exit_codes.hpp"
#include "fuzz/shrink.hpp"
#include "report/report.hpp"

namespace aq {
namespace {

using nlohmann::json;

// A test name on a result line: KTAP ends the name at '#' (a directive), and
// a line break would end the line.
std::string name_of(std::string s) {
  for (auto& c : s)
    if (c == '#' || c == '\n' || c == '\r') c = ' ';
  return s;
}

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

// The version line, "# Subtest: NAME" for a nested one (as kunit writes
// it), the plan, then each test: its subtests, diagnostics and result line.
void render(std::string& out, const std::vector<KtapTest>& tests, int depth, const std::string& subtest) {
  const std::string indent(static_cast<std::size_t>(depth) * 4, ' ');
  out += indent + "KTAP version 1\n";
  if (!subtest.empty()) out += fmt::format("{}# Subtest: {}\n", indent, name_of(subtest));
  out += fmt::format("{}1..{}\n", indent, tests.size());
  int n = 0;
  for (const auto& t : tests) {
    ++n;
    if (!t.subtests.empty()) render(out, t.subtests, depth + 1, t.name);
    for (const auto& d : t.diagnostics) out += fmt::format("{}# {}\n", indent, one_line(d));
    switch (t.result) {
      case KtapTest::Result::ok: out += fmt::format("{}ok {} {}\n", indent, n, name_of(t.name)); break;
      case KtapTest::Result::not_ok: out += fmt::format("{}not ok {} {}\n", indent, n, name_of(t.name)); break;
      case KtapTest::Result::skip:
        out += fmt::format("{}ok {} {} # SKIP {}\n", indent, n, name_of(t.name), one_line(t.skip_reason));
        break;
    }
  }
}

// The failure classes a run checks, in the classifier's order, each once.
std::vector<std::string> run_check_classes() {
  std::vector<std::string> out;
  for (const auto& r : kFailureClasses)
    if (std::find(out.begin(), out.end(), r.klass) == out.end()) out.emplace_back(r.klass);
  out.emplace_back(kHostStallClass);
  out.emplace_back(kOtherClass);
  return out;
}

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j.at(key).is_array())
    for (const auto& s : j.at(key))
      if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

std::vector<KtapTest> run_tests(const json& report) {
  std::vector<KtapTest> out;
  const auto reproduce = report.value("reproduce", std::string());
  for (const auto& c : report.value("cases", json::array())) {
    KtapTest t{c.value("name", "case")};
    const auto verdict = c.value("verdict", std::string("FAIL"));
    if (verdict == "SKIPPED") {
      t.result = KtapTest::Result::skip;
      t.skip_reason = c.value("skipped", std::string("skipped"));
      out.push_back(std::move(t));
      continue;
    }
    const auto failures = strings(c, "failures");
    auto classes = strings(c, "failure_classes");
    if (classes.empty())
      for (const auto& f : failures) classes.push_back(classify_reason(f));
    for (const auto& k : run_check_classes()) {
      KtapTest sub{k};
      for (const auto& f : failures)
        if (classify_reason(f) == k) {
          sub.result = KtapTest::Result::not_ok;
          sub.diagnostics.push_back(f);
        }
      t.subtests.push_back(std::move(sub));
    }
    t.result = verdict == "PASS" ? KtapTest::Result::ok : KtapTest::Result::not_ok;
    if (t.result == KtapTest::Result::not_ok && !reproduce.empty()) t.diagnostics.push_back("reproduce: " + reproduce);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<KtapTest> fuzz_tests(const json& report) {
  std::map<std::string, json> failure_of;
  for (const auto& f : report.value("failures", json::array())) failure_of[f.value("scenario", "")] = f;
  std::vector<KtapTest> out;
  for (const auto& s : report.value("scenarios", json::array())) {
    KtapTest t{s.value("name", "scenario")};
    const auto verdict = s.value("verdict", std::string("FAIL"));
    t.result = verdict == "PASS" ? KtapTest::Result::ok : KtapTest::Result::not_ok;
    for (const auto& f : strings(s, "failures")) t.diagnostics.push_back(f);
    if (const auto it = failure_of.find(t.name); it != failure_of.end()) {
      const auto& f = it->second;
      t.diagnostics.push_back("class: " + f.value("class", std::string()) + " (" +
                              f.value("classification", std::string()) + ")");
      if (f.contains("reproduce") && f.at("reproduce").is_object())
        t.diagnostics.push_back("reproduce: " + f.at("reproduce").value("fuzz", std::string()));
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<KtapTest> gate_tests(const json& report) {
  // One test per kernel and section, in the report's order.
  std::vector<KtapTest> out;
  std::map<std::string, std::size_t> at;
  for (const auto& c : report.value("cases", json::array())) {
    const auto kernel = c.value("kernel", std::string());
    const auto group = (kernel.empty() ? std::string("host") : kernel) + " " + c.value("section", std::string("cases"));
    if (!at.count(group)) {
      at[group] = out.size();
      out.push_back({group});
    }
    KtapTest t{c.value("id", "case")};
    const auto verdict = c.value("verdict", std::string("FAIL"));
    const auto reasons = strings(c, "reasons");
    if (verdict == "PASS") {
      t.result = KtapTest::Result::ok;
    } else if (verdict == "INFO") {
      t.result = KtapTest::Result::skip;
      t.skip_reason = "informational (does not gate): " + (reasons.empty() ? std::string("FAIL") : reasons.front());
    } else {
      t.result = KtapTest::Result::not_ok;
      t.diagnostics = reasons;
      if (const auto rerun = c.value("rerun", std::string()); !rerun.empty()) t.diagnostics.push_back("rerun: " + rerun);
    }
    out[at[group]].subtests.push_back(std::move(t));
  }
  for (auto& g : out) {
    const bool failed = std::any_of(g.subtests.begin(), g.subtests.end(),
                                    [](const KtapTest& t) { return t.result == KtapTest::Result::not_ok; });
    g.result = failed ? KtapTest::Result::not_ok : KtapTest::Result::ok;
  }
  return out;
}

std::vector<KtapTest> selftest_tests(const json& report) {
  std::vector<KtapTest> out;
  const auto failures = strings(report, "failures");
  for (const auto& s : report.value("tests", json::array())) {
    KtapTest t{s.value("name", "selftest")};
    const auto result = s.value("result", std::string("FAIL"));
    if (result == "PASS") {
      t.result = KtapTest::Result::ok;
    } else if (result == "SKIP") {
      t.result = KtapTest::Result::skip;
      t.skip_reason = "the selftest skipped itself";
    } else {
      t.result = KtapTest::Result::not_ok;
      for (const auto& f : failures)
        if (f.starts_with(t.name + ":") || f.find(" " + t.name + " ") != std::string::npos) t.diagnostics.push_back(f);
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

int report_ktap_command(const std::string& report_path, const std::string& out_path) {
  std::string text;
  try {
    std::ifstream in(report_path);
    if (!in) throw std::invalid_argument("cannot read it");
    const auto j = json::parse(in, nullptr, false);
    if (j.is_discarded()) throw std::invalid_argument("not JSON");
    text = ktap_document(ktap_tests_of(j));
  } catch (const std::exception& e) {
    fmt::print(stderr, "aqcheck: error: bad report: {}: {}\n", report_path, e.what());
    return exit_code::bad_report;
  }
  if (out_path.empty()) {
    fmt::print("{}", text);
    return exit_code::pass;
  }
  try {
    write_file_atomic(out_path, text);
  } catch (const std::exception& e) {
    fmt::print(stderr, "aqcheck: error: writing the KTAP report: {}\n", e.what());
    return exit_code::internal;
  }
  return exit_code::pass;
}

std::string ktap_document(const std::vector<KtapTest>& tests) {
  std::string out;
  render(out, tests, 0, "");
  return out;
}

std::vector<KtapTest> ktap_tests_of(const json& report) {
  const auto schema = report.is_object() ? report.value("schema", std::string()) : std::string();
  if (schema == "aqcheck-report/1") return run_tests(report);
  if (schema == "aqcheck-fuzz/1") return fuzz_tests(report);
  if (schema == "aqcheck-gate/1") return gate_tests(report);
  if (schema == "aqcheck-selftests/1") return selftest_tests(report);
  throw std::invalid_argument("no KTAP for a report of schema '" + schema +
                              "' (run, fuzz, gate and selftests reports have one)");
}

}  // namespace aq
