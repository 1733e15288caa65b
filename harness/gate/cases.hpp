// The release gate's cases, as data: which checks a profile runs on which
// kernels, what each expects, and how they split into shards.  The runner
// (gate.hpp) knows no case; adding one is adding a row to cases.cpp.
#pragma once

#include <string>
#include <vector>

namespace aq::gate {

enum class Profile { smoke, release };

// What a case must end in to PASS.
struct Expect {
  int exit = 0;                 // aqcheck/ctest exit code
  std::string reason_prefix;    // a negative control: some failure reason in its report starts with this
};

struct Case {
  std::string id;        // unique, stable: "7.2/workload/cpu-baseline", "host/properties/default"
  std::string section;   // "properties", "ops", "kernel", "negative control", "fuzz", "performance"
  std::string kernel;    // series, or "" for a host case
  std::string what;      // one line for the summary: what it proves
  // The command.  "{aqcheck}" is this executable, "{report}" the case's JSON
  // report path, "{out}" its own directory, "{source}" the source tree,
  // "{accel}" the qemu accelerator, "{cache}" the aqcheck cache,
  // "{thresholds}" the performance thresholds file; the argument
  // "{baseline-report}" becomes `--baseline-report OLD.json`, or nothing.
  std::vector<std::string> argv;
  Expect expect;
  // "the suite can no longer see X": what a negative control that passes means.
  std::string blind_spot;
  int timeout_s = 900;
  // Mainline's scx_qmap: a FAIL verdict is a finding, reported as INFO and
  // not gating (unless `gate --mainline-gates`).  Any other exit (no build,
  // no load, no verdict) FAILs the gate all the same.
  bool informational = false;
};

// A known-bad kernel of kernels/regressions/ (docs/kernel-ci.md): the
// patch's id, and from its header the title and the failure reason expected.
struct Regression {
  std::string id, title, expect;
};

// kernels/regressions/*.patch under the source tree, sorted by id; a header
// without Title or Expect throws std::runtime_error naming the file.
std::vector<Regression> read_regressions(const std::string& source_dir);

// Every case of a profile on these kernels (series, in the order given),
// sorted by id.  workloads: the catalogue's names; regressions: the
// known-bad kernels (release profile only).
std::vector<Case> cases_for(Profile profile, const std::vector<std::string>& kernels,
                            const std::vector<std::string>& workloads,
                            const std::vector<Regression>& regressions = {});

// Shard i of n (1-based): every n-th case of the sorted list, starting at
// i-1, so shards differ in size by one case at most.  The n shards together
// hold every case exactly once.
std::vector<Case> shard(const std::vector<Case>& cases, int i, int n);

const char* profile_name(Profile p);

// What a case's placeholders stand for in this run (see Case::argv).
struct Placeholders {
  std::string aqcheck, report, out, source, cache, accel, thresholds, baseline_report;
  // (tests) every negative control runs this build instead of its own
  std::string negative_variant;
};

// The case's command with every placeholder filled in.
std::vector<std::string> command_of(const Case& c, const Placeholders& p);

}  // namespace aq::gate
