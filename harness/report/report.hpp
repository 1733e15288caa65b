// Reports of a run: JSON (schema in docs/reports.md "Run reports"), JUnit XML and a markdown
// summary with an HTML page of charts beside it (report/html.hpp), each written
// atomically; and the verdict printed on stdout.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "run/run.hpp"

namespace aq {

// "PASS", "FAIL" or "SKIPPED": the case's verdict in every report.
std::string case_verdict(const CaseResult& c);
// The verdict as people read it: "PASS after 1 host-stall retry" when earlier
// attempts failed because of the host (run.hpp, HostStallRetry).
std::string case_verdict_text(const CaseResult& c);

// The aqcheck executable a rerun command names: the host's (absolute, so the
// command works as printed from any directory), also when run in a VM.
std::string rerun_executable(const RunConfig& cfg);
std::string reproduction_command(const RunConfig& cfg, const std::string& kernel);
nlohmann::json to_json(const RunConfig& cfg, const RunResult& res, const std::string& repro);
std::string to_junit(const RunResult& res, const std::string& repro);
std::string to_markdown(const RunResult& res, const std::string& repro);

// JSON text (indented 2) with each array of numbers on one line: a case's
// series holds thousands of numbers, one per line of the file otherwise.
std::string compact_number_arrays(std::string_view indented_json);

// Writes every report the config asks for (--markdown F.md: F.html too); throws std::runtime_error.
void write_reports(const RunConfig& cfg, const RunResult& res, const std::string& repro);
// Writes path through a temporary file and rename(): never half a report.
void write_file_atomic(const std::string& path, const std::string& content);

void print_verdict(const RunResult& res, const RunConfig& cfg, const std::string& repro);

}  // namespace aq
