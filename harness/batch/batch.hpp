// `aqcheck batch`: several `aqcheck run` commands in one boot.
//
// Under TCG a boot costs seconds that no check needs, and many scenarios are
// independent: a broken build ejected by the kernel leaves the kernel as it
// found it, and each run reads only its own kernel log.  A plan (JSON, schema
// "aqcheck-batch-plan/1") names each run and gives its `run` arguments:
//
//   {"schema": "aqcheck-batch-plan/1",
//    "runs": [{"name": "lazy", "run": ["--workload", "nice-churn", "--variant", "lazy-removal"]}, ...]}
//
// `aqcheck batch --plan P --out DIR` runs them one after another, each as its
// own `aqcheck run` process with `--json DIR/<name>.json`, and writes
// DIR/batch.json (schema "aqcheck-batch/1": each run's name, exit code,
// report and rerun command).  Each run's report reruns that run alone, as
// printed.  Under `aqcheck vm -- batch ...` the plan is checked on the host
// before a VM boots.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace aq {

inline constexpr const char* kBatchPlanSchema = "aqcheck-batch-plan/1";
inline constexpr const char* kBatchReportSchema = "aqcheck-batch/1";

// A plan that cannot be read, is not JSON, or breaks a rule.  what() is one
// line; aqcheck exits with exit_code::bad_plan.
struct BatchPlanError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct BatchRun {
  std::string name;                // [A-Za-z0-9._-]+, unique: the report is <name>.json
  std::vector<std::string> run;    // `aqcheck run` arguments, without report options
};

struct BatchOptions {
  std::string plan;
  std::string out_dir = "out/batch";
  // Set by `aqcheck vm`: the host's --out and executable, so each run's
  // report names the host's paths in its rerun command.
  std::string host_out;
  std::string host_exe;
  std::string host_command;  // set by `aqcheck vm` for every subcommand; each run names its own
};

// Parses a plan's text; `where` names it in errors.  Throws BatchPlanError.
std::vector<BatchRun> parse_batch_plan(const std::string& text, const std::string& where);

// Reads and parses the plan file.  Throws BatchPlanError.
std::vector<BatchRun> load_batch_plan(const std::string& path);

// The `run` command line one entry is given: its arguments, then --json to
// its report under out_dir.
std::vector<std::string> batch_run_args(const BatchRun& r, const std::string& out_dir);

// Runs the plan's runs in order (each a child `aqcheck run`) and writes
// batch.json.  Returns exit_code::pass when every run passed; else the first
// run's code that is neither pass nor fail (it could not judge), else
// exit_code::fail; exit_code::bad_plan for a bad plan.
int batch_command(const BatchOptions& o);

}  // namespace aq
