// `aqcheck gate`: runs the cases of a profile (cases.hpp) one after another,
// each as its own command with its own report and log, decides each verdict,
// and writes the gate's report (report.hpp).  Never two VMs at once: a TCG
// guest next to another sees the host stall.
#pragma once

#include <string>
#include <vector>

namespace aq::gate {

struct Options {
  std::string profile = "smoke";
  std::string kernels = "7.2";        // comma-separated series
  std::string shard = "1/1";          // i/n
  std::string out_dir = "out/gate";
  std::string accel = "tcg";          // auto: kvm when /dev/kvm opens, else tcg
  std::string only;                   // run only the cases whose id contains this
  std::string cache_dir = "/var/cache/aqcheck";
  bool list = false;                  // print the shard's case ids and stop
  std::string thresholds;             // performance thresholds ("" = the source tree's ci/gate-thresholds.json)
  std::string baseline_report;        // a previous gate.json (or bench report): FAIL on a regression past it
  // Hidden, for the gate's own test: every negative control runs this build
  // instead of its own (e.g. normal), so each must FAIL the gate.
  std::string negative_variant;
  bool mainline_gates = false;        // mainline scx_qmap's FAILs gate too (default: INFO)
  std::string ktap;                   // KTAP v1 of the gate report ("" = none)
  std::string command_line;
};

// Returns an exit code: pass, fail, usage (bad profile, kernels or shard).
int gate_command(const Options& o);

// `aqcheck report merge --out DIR A.json B.json ...` and
// `aqcheck report compare A.json B.json`.
int report_merge(const std::vector<std::string>& inputs, const std::string& out_dir);
int report_compare(const std::string& before, const std::string& after);

}  // namespace aq::gate
