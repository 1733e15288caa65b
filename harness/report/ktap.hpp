// KTAP v1 (the kernel's Documentation/dev-tools/ktap.rst) from any of
// aqcheck's JSON reports, for kernel CI systems (KernelCI, LKFT) that read
// KTAP rather than aqcheck's schemas (docs/kernel-ci.md "KTAP").
//
//   run (aqcheck-report/1)          a test per case; its subtests are the
//                                   failure classes a run checks, each ok
//                                   unless one of the case's failures is of it
//   fuzz (aqcheck-fuzz/1)           a test per scenario
//   gate (aqcheck-gate/1)           a test per kernel and section; its
//                                   subtests are the cases
//   selftests (aqcheck-selftests/1) a test per selftest
//
// A skipped case is `ok N name # SKIP reason`; failure reasons and rerun
// commands are diagnostic lines (`# ...`) before the result line.  An
// informational gate case (mainline scx_qmap) that FAILs is reported as
// `ok ... # SKIP informational: ...`: it does not gate.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace aq {

struct KtapTest {
  KtapTest(std::string test_name = {}) : name(std::move(test_name)) {}  // NOLINT: {name} reads as a test
  std::string name;
  enum class Result { ok, not_ok, skip } result = Result::ok;
  std::string skip_reason;
  std::vector<std::string> diagnostics;  // each becomes "# <line>"
  std::vector<KtapTest> subtests;
};

// A KTAP v1 document: the version line, the plan, then each test.
std::string ktap_document(const std::vector<KtapTest>& tests);

// The tests of a report by its "schema"; std::invalid_argument for a report
// of no known schema.
std::vector<KtapTest> ktap_tests_of(const nlohmann::json& report);

// `aqcheck report ktap REPORT.json [--out F]`: exit 12 (bad report) with one
// line for a file that is no JSON report of those schemas; no half file.
int report_ktap_command(const std::string& report_path, const std::string& out_path);

}  // namespace aq
