// `aqcheck run`: attach scx_aqmap, drive a workload, audit the lists while it
// runs, detach, and decide the verdict.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "run/series.hpp"
#include "sched/scheduler.hpp"
#include "workload/workload.hpp"

namespace aq {

struct RunConfig {
  int duration_s = 0;               // 0: the workload's own default (10 s for --stress)
  std::string stress;               // raw stress-ng arguments
  std::string workload;             // NAME, a .job path, or "all"
  std::string workloads_dir;        // where NAMEs are looked up
  std::string json, junit, markdown, ktap;  // report paths ("" = none)
  std::string kernel_coverage;  // --kernel-coverage DIR: each case's gcov data (run/kernel_coverage.hpp)
  int audit_interval_ms = 100;
  std::uint64_t seed = 0;
  int sigkill_after_s = 0;          // >0: SIGKILL a second aqcheck this long after it attached
  int cycles = 1;                   // attach/detach this many times during each case
  bool baseline = false;            // also run the stress under the default scheduler first
  std::string stress_ng = "/usr/bin/stress-ng";
  SchedOptions sched;
  std::string command_line;         // how we were invoked, for the reproduction line
  // In a VM: the subcommand and arguments as given on the host (host report
  // paths), set by `aqcheck vm` through the hidden --host-command option; the
  // reproduction line names these rather than the guest's /out paths.
  std::string host_command;
  std::string host_exe;             // the host's aqcheck (absolute), for rerun commands; set by `aqcheck vm`
  int churn_interval_ms = 2;        // churn of a workload with a `churn:` key: one change per interval
  // Times a case whose every failure reason carries the host-stall mark is
  // run again (0: never).  Each failed attempt stays in the report.
  int host_stall_retries = 1;
  // End each case at its first failure reason, detaching first: a negative
  // control needs one reason, not the rest of its duration.
  bool stop_on_fail = false;
};

// What to run for one case: a workload file, or raw --stress arguments, or a
// fuzz scenario (harness/fuzz/).
struct CaseSpec {
  std::string name;
  std::string purpose;
  std::vector<std::string> stress_args;
  int duration_s = 10;
  std::optional<Workload> workload;      // coverage floors and churn come from here when set
  std::string skip;                      // why this machine cannot run it ("" = runnable)
  std::vector<std::string> churn;        // churn kinds when there is no workload ("renice", "affinity")
  int churn_interval_ms = 2;             // one property change per interval
};

// A failed attempt of a case that was run again because every reason it gave
// carried the host-stall mark: the guest stood still, not the scheduler.
struct HostStallRetry {
  std::vector<std::string> failures;
  std::uint64_t host_stalls = 0;
  double longest_stall_s = 0;
  double wall_s = 0;
  double settle_s = 0;  // waited for the guest's CPUs to go idle before the next attempt
};

// What one workload under one attach produced.
struct CaseResult {
  std::string name;
  std::string purpose;
  std::vector<std::string> stress_argv;
  int duration_s = 0;
  std::map<std::string, std::uint64_t> counters;
  std::vector<std::uint64_t> fifo_len_max;  // longest each FIFO got, as audited
  std::vector<double> fifo_head_wait_max_ms;  // oldest each FIFO's head got, as audited
  double max_fifo_wait_ms = 0;  // longest wait of a task dispatched from a FIFO (the scheduler's clock)
  int max_fifo_wait_fifo = -1;
  std::uint64_t max_task_wait_ms = 0;  // longest any sched_ext task waited for a CPU (the kernel's clock)
  std::uint64_t wait_audits = 0;
  std::uint64_t stuck_tasks = 0;       // tasks found waiting past --stuck-after-ms
  std::uint64_t host_stalls = 0;       // times aqcheck's own loop stood still >= 1 s
  double host_stall_max_s = 0;
  std::uint64_t audits = 0;
  std::uint64_t audit_entries_max = 0;
  double audit_max_ms = 0;
  std::uint64_t stale_entries = 0;
  std::int64_t exit_kind = 0;
  std::string exit_reason, exit_msg;
  int stress_exit = -1;
  std::map<std::string, double> bogo_ops, baseline_bogo_ops;
  double attach_uptime_s = 0;   // /proc/uptime when attached
  // Seconds from the (first) attach to the first failure recorded, -1 for
  // none: how soon a check caught what it caught (kernels/regressions/).
  double first_failure_s = -1;
  double wall_s = 0;
  std::uint64_t slab_free = 0, slab_total = 0;
  std::vector<std::string> failures;
  std::vector<std::string> notes;  // what the checks could not do as written (e.g. a coverage floor re-stated)
  std::string skipped;  // why it could not run here ("" = it ran)
  std::vector<HostStallRetry> host_stall_retries;  // earlier attempts, oldest first
  CaseSeries series;  // one point per structural audit, downsampled (series.hpp)
  std::chrono::steady_clock::time_point first_attach{};  // the series' time origin (later attaches keep it)
  bool passed() const { return failures.empty() && skipped.empty(); }
};

struct RunResult {
  std::string kernel;            // uname -r
  std::string sched_ext_ops;     // root/ops seen while attached
  std::vector<CaseResult> cases;
  bool passed() const;  // no failures (skipped cases are listed, not failures)
};

// Runs everything the config asks for; returns an aq::exit_code value.
int run_command(const RunConfig& cfg);

// Whether this machine can attach scx_aqmap: root, a sched_ext kernel, no
// other sched_ext scheduler.  Prints the one error line (naming `aqcheck vm --
// <subcommand>` as the way out) and returns its exit code, or exit_code::pass.
int check_can_attach(const std::string& subcommand);

// The checks `run` applies, for one case, on this (sched_ext) machine: attach,
// stress, audit, detach, verdict.  Expects the caller to have checked root and
// sched_ext.  seen_ops receives root/ops while attached.  Throws LoadError.
CaseResult run_case(const RunConfig& cfg, const CaseSpec& spec, const std::string& out_dir,
                    std::string& seen_ops);

// Whether r failed, and every one of its reasons carries the host-stall mark
// (kHostStallMark, audit.hpp).  One unmarked reason is evidence against the
// scheduler, and then nothing is retried.
bool failed_only_by_host(const CaseResult& r);

// run_case, and while the result failed_only_by_host, run_case again up to
// cfg.host_stall_retries times (with the same seed), each once the guest has
// settled (its CPUs idle; see settle_guest in run.cpp).  The last attempt is the
// verdict; the ones before it are kept in host_stall_retries, which every
// report shows.  A FAIL is never turned into a PASS out of sight.
CaseResult run_case_retrying_host_stalls(const RunConfig& cfg, const CaseSpec& spec, const std::string& out_dir,
                                         std::string& seen_ops);

// Set by SIGINT/SIGTERM once run_command or fuzz installed its handlers.
int interrupted_by_signal();
void install_signal_handlers();

}  // namespace aq
