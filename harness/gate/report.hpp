// The gate's report (schema aqcheck-gate/1, docs/reports.md "Gate report"): one
// outcome per case, written as JSON, markdown (a CI step summary) and JUnit;
// shard reports merged into one verdict; two reports compared.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace aq::gate {

struct Outcome {
  std::string id, section, kernel, what;
  std::string verdict;                 // PASS, FAIL
  int exit = -1;                       // the command's exit code (-1: killed at its timeout)
  double wall_s = 0;
  std::vector<std::string> reasons;    // why it FAILed; for a negative control that PASSed, the reason it caught
  std::string expected_reason;         // negative controls: the reason they must FAIL with
  std::string blind_spot;              // negative controls: what the suite cannot see when it PASSes
  std::string kernel_release;          // uname -r of the guest, from the case's report
  std::string rerun;                   // a command that reruns this case as printed, on the host
  std::string report, log;             // paths of the case's own report and output
};

struct Report {
  std::string profile;
  std::vector<std::string> kernels;
  std::vector<std::string> shards;     // "i/n" of every shard this report holds
  std::string command;
  double elapsed_s = 0;
  std::vector<Outcome> cases;
  std::vector<std::string> problems;   // merge: missing shards, conflicting reports (each FAILs the gate)
  // Kernel series -> the performance case's figures (bench report: metrics,
  // op_costs, checks); what --baseline-report and `report compare` read.
  nlohmann::json performance = nlohmann::json::object();
  bool passed() const;
};

nlohmann::json to_json(const Report& r);
// Throws std::runtime_error naming what is wrong.
Report from_json(const nlohmann::json& j);
std::string to_markdown(const Report& r);
std::string to_junit(const Report& r);

// Shard reports of one gate into one.  Every (kernel, shard i/n) must be
// there exactly once; host cases may come from several (each copy counts).
Report merge(const std::vector<Report>& parts);

// Per case: verdict changes from `before` to `after`, cases gone and new;
// and per kernel, config and metric, the median ratio to EEVDF before and after.
struct Comparison {
  std::string markdown;
  bool regressed = false;  // a case that PASSed FAILs now, or is gone
};
Comparison compare(const Report& before, const Report& after);

// Reads a gate.json; throws std::runtime_error with the path and the problem.
Report read_report(const std::string& path);
// Writes gate.json, gate.md, gate.html (report/html.hpp) and gate.junit.xml into dir, atomically each.
void write_reports(const Report& r, const std::string& dir);

}  // namespace aq::gate
