// aqcheck: drives scx_aqmap on a sched_ext kernel and decides a verdict.
//
//   aqcheck run [--duration S] [--stress ARGS | --workload NAME|all] [--json F] ...
//   aqcheck fuzz --budget 30m [--seed N] [--out DIR] | --replay SPEC
//   aqcheck bench [--rounds N] [--duration S] [--thresholds F] [--baseline-report OLD.json] [--json F]
//   aqcheck batch --plan PLAN.json [--out DIR]      (several runs in one boot)
//   aqcheck report merge|compare|html ...
//   aqcheck vm [--kernel 7.2|7.3|PATH] [--cpus N] [--mem M] [--timeout S] -- run|fuzz|bench|batch|selftests ...
#include <CLI/CLI.hpp>
#include <unistd.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "batch/batch.hpp"
#include "bench/bench.hpp"
#include "common/exit_codes.hpp"
#include "common/proc_files.hpp"
#include "conformance/selftests.hpp"
#include "fuzz/fuzz.hpp"
#include "gate/gate.hpp"
#include "report/html.hpp"
#include "report/ktap.hpp"
#include "run/run.hpp"
#include "sched/qmap_upstream.hpp"
#include "sched/scheduler.hpp"
#include "vm/guest_watchdog.hpp"
#include "vm/vm.hpp"
#include "workload/workload.hpp"

namespace {

std::string join_args(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    if (!out.empty()) out += ' ';
    out += a.find_first_of(" \t'\"") == std::string::npos ? a : "'" + a + "'";
  }
  return out;
}

// The subcommand and arguments as given on the host, which `aqcheck vm` hands
// to the guest so reports name host paths (vm.hpp, guest_argv).  Hidden.
void add_host_command_option(CLI::App& app, aq::RunConfig& cfg) {
  app.add_option("--host-command", cfg.host_command, "(set by `aqcheck vm`) the command as given on the host")
      ->group("");
  app.add_option("--host-exe", cfg.host_exe, "(set by `aqcheck vm`) the host's aqcheck, for rerun commands")->group("");
}

void add_selftest_options(CLI::App& app, aq::SelftestOptions& o) {
  app.add_option("--runner", o.runner, "the selftest runner built by ci/selftests.sh")->required();
  app.add_option("--tests-file", o.tests_file, "test names, the first word of each line (contract-tests.txt)");
  app.add_option("--tests", o.tests, "test names, comma-separated");
  app.add_option("--json", o.json, "write the JSON report here");
  app.add_option("--ktap", o.ktap, "write KTAP v1 here, for kernel CI systems");
  app.add_option("--kernel-coverage", o.kernel_coverage,
                 "copy the kernel's gcov data of all the tests into DIR/selftests/ (a kernel built with --profile "
                 "coverage)");
  app.add_option("--test-timeout-s", o.test_timeout_s, "SIGKILL a runner that gives no result within this")
      ->check(CLI::Range(10, 3600));
  app.add_option("--host-command", o.host_command, "(set by `aqcheck vm`)")->group("");
  app.add_option("--host-exe", o.host_exe, "(set by `aqcheck vm`)")->group("");
}

void add_host_stall_retries_option(CLI::App& app, aq::RunConfig& cfg) {
  app.add_option("--host-stall-retries", cfg.host_stall_retries,
                 "run a case again when every reason it FAILed with carries a host stall (the guest stood "
                 "still), up to N times; every attempt stays in the report (default 1, 0: never)")
      ->check(CLI::Range(0, 5));
}

void add_run_options(CLI::App& run, aq::RunConfig& cfg) {
  run.add_option("--duration", cfg.duration_s, "seconds of stress per case (default: the workload's)")
      ->check(CLI::PositiveNumber);
  auto* stress = run.add_option("--stress", cfg.stress, "stress-ng arguments, e.g. '--cpu 2 --fork 1'");
  run.add_option("--workload", cfg.workload, "workload NAME, path to a .job file, or 'all'")->excludes(stress);
  run.add_option("--workloads-dir", cfg.workloads_dir, "where workload NAMEs are looked up");
  run.add_option("--json", cfg.json, "write the JSON report here");
  run.add_option("--junit", cfg.junit, "write a JUnit XML report here");
  run.add_option("--markdown", cfg.markdown, "write a markdown summary here");
  run.add_option("--ktap", cfg.ktap, "write KTAP v1 here, for kernel CI systems (docs/kernel-ci.md \"KTAP\")");
  run.add_option("--kernel-coverage", cfg.kernel_coverage,
                 "copy each case's kernel gcov data into DIR/<case>/ (a kernel built with --profile coverage; "
                 "docs/kernel-ci.md \"Coverage of ext.c\")");
  run.add_option("--seed", cfg.seed, "stress-ng random seed (default: random, printed)");
  run.add_option("--audit-interval-ms", cfg.audit_interval_ms, "period of the in-kernel list audit")
      ->check(CLI::Range(1, 60000));
  run.add_option("--cycles", cfg.cycles, "attach and detach the scheduler N times during each case")
      ->check(CLI::Range(1, 1000));
  run.add_option("--sigkill-after", cfg.sigkill_after_s,
                 "instead of auditing: SIGKILL a second aqcheck S s after it attached and time the detach")
      ->check(CLI::Range(1, 600));
  run.add_flag("--baseline", cfg.baseline, "then run the same stress under the default scheduler, for comparison");
  run.add_option("--stress-ng", cfg.stress_ng, "stress-ng binary");
  auto& s = cfg.sched;
  run.add_option("--scheduler", s.scheduler,
                 "aqmap (default), or qmap-upstream: mainline's tools/sched_ext/scx_qmap of the kernel under test's "
                 "linux-source, with aqcheck's audit compiled alongside")
      ->check(CLI::IsMember({"aqmap", aq::kQmapUpstream}));
  // Options scx_aqmap has and mainline's scx_qmap has not: refused with it.
  std::vector<CLI::Option*> aqmap_only;
  std::vector<std::string> all_variants = aq::scheduler_variants();
  for (const auto& v : aq::qmap_upstream_variants())
    if (std::find(all_variants.begin(), all_variants.end(), v) == all_variants.end()) all_variants.push_back(v);
  auto* variant = run.add_option("--variant", s.variant,
                                 "scheduler build: normal, or one that exists to fail the checks (each scheduler "
                                 "has its own)")
                      ->check(CLI::IsMember(all_variants));
  run.add_option("--slice-us", s.slice_us, "time slice in microseconds (default 20000; qmap-upstream: its -s)");
  run.add_option("--dsp-batch", s.dsp_batch, "tasks moved per dispatch call (default 1; qmap-upstream: its -b)");
  run.add_flag("--highpri-boosting", s.highpri_boosting, "boost tasks of weight >= 8668 (qmap-upstream: its -H)");
  run.add_option("--max-tasks", s.max_tasks, "task contexts in the arena slab (qmap-upstream: its -N)")
      ->check(CLI::Range(64, 65536));
  auto* stall_nth = run.add_option("--qmap-stall-user-nth", s.qmap_stall_user_nth,
                                   "qmap-upstream's -t: it drops every Nth user task's enqueue (a broken scheduler by "
                                   "knob, which the lost-task check must catch)")
                        ->check(CLI::Range(1u, 1000000u));
  aqmap_only.push_back(run.add_option("--error-after-enqueues", s.error_after_enqueues,
                 "test knob: the scheduler calls scx_bpf_error() after N enqueues"));
  aqmap_only.push_back(run.add_option("--fail-lock-every", s.fail_lock_every, "fault injection: fail every Nth list-lock acquisition (mainline scx_qmap has no such knob)")
      ->check(CLI::Range(2u, 1000000u)));
  aqmap_only.push_back(run.add_option("--starve-ms", s.starve_ms,
                 "starvation guard: a FIFO head waiting longer is dispatched before the weighted order (default 250)")
      ->check(CLI::Range(1, 60000)));
  run.add_option("--stuck-after-ms", s.stuck_after_ms,
                 "FAIL when a sched_ext task waits longer for a CPU, and say where it is (default 4000; the "
                 "kernel's own watchdog ejects at 30000)")
      ->check(CLI::Range(500, 25000));
  aqmap_only.push_back(run.add_option("--wake-preempt-us", s.wake_preempt_us,
                 "wakeup preemption: a wakee that ran less than this since it last queued preempts its CPU, "
                 "with a slice this long (default 2000; 0: off)")
      ->check(CLI::Range(0, 100000)));
  aqmap_only.push_back(run.add_flag("--reenq-shared", s.reenq_shared,
                 "every ops.dispatch re-enqueues the shared DSQ (scx_bpf_dsq_reenq) and re-enqueued tasks go back "
                 "on their FIFOs: drives the kernel's user-DSQ re-enqueue path (docs/kernel-ci.md)"));
  run.final_callback([&s, aqmap_only, stall_nth, variant] {
    const auto builds = s.scheduler == aq::kQmapUpstream ? aq::qmap_upstream_variants() : aq::scheduler_variants();
    if (std::find(builds.begin(), builds.end(), s.variant) == builds.end())
      throw CLI::ValidationError(variant->get_name(), fmt::format("{} has no build '{}' (it has: {})", s.scheduler,
                                                                  s.variant, fmt::join(builds, ", ")));
    if (s.scheduler == aq::kQmapUpstream) {
      for (const auto* o : aqmap_only)
        if (o->count())
          throw CLI::ValidationError(o->get_name(), "scx_aqmap's option; mainline scx_qmap (--scheduler "
                                                    "qmap-upstream) has none such");
    } else if (stall_nth->count()) {
      throw CLI::ValidationError(stall_nth->get_name(), "only with --scheduler qmap-upstream");
    }
  });
  run.add_option("--churn-interval-ms", cfg.churn_interval_ms,
                 "one renice/affinity change per interval, for workloads with a `churn:` key (default 2)")
      ->check(CLI::Range(1, 10000));
  run.add_flag("--stop-on-fail", cfg.stop_on_fail,
               "end each case at its first failure reason, detaching first (a negative control needs one reason)");
  add_host_stall_retries_option(run, cfg);
  add_host_command_option(run, cfg);
}

void add_fuzz_options(CLI::App& fuzz, aq::FuzzOptions& o) {
  fuzz.add_option("--budget", o.budget, "time for the whole session: 90s, 30m, 2h, 1h30m");
  fuzz.add_option("--seed", o.seed, "session seed; scenario seeds derive from it (default: random, printed)");
  fuzz.add_option("--out", o.out_dir, "directory for specs, reports and summaries (default out/fuzz-<time>)");
  fuzz.add_option("--ktap", o.ktap, "write the summary as KTAP v1 here, for kernel CI systems");
  fuzz.add_option("--kernel-coverage", o.base.kernel_coverage,
                  "copy the kernel's gcov data of the whole session into DIR/fuzz/ (a kernel built with --profile "
                  "coverage)");
  fuzz.add_option("--replay", o.replay, "run exactly the scenario of this spec file (then confirm and shrink a FAIL)");
  fuzz.add_flag("--stop-on-fail", o.stop_on_fail, "end the session at the first FAIL (after shrinking it)");
  fuzz.add_option("--workloads-dir", o.base.workloads_dir, "workload catalogue the stressors are drawn from");
  fuzz.add_option("--stress-ng", o.base.stress_ng, "stress-ng binary");
  fuzz.add_option("--variant", o.base.sched.variant,
                  "scheduler build for every scenario (a broken one proves the FAIL path)")
      ->check(CLI::IsMember(aq::scheduler_variants()));
  fuzz.add_option("--stuck-after-ms", o.base.sched.stuck_after_ms,
                  "FAIL when a sched_ext task waits longer for a CPU (default 4000)")
      ->check(CLI::Range(500, 25000));
  add_host_stall_retries_option(fuzz, o.base);
  add_host_command_option(fuzz, o.base);
  fuzz.add_option("--host-out", o.host_out, "(set by `aqcheck vm`) --out as the host sees it")->group("");
}

void add_bench_options(CLI::App& bench, aq::bench::Options& o) {
  bench.add_option("--rounds", o.rounds, "rounds: every config measured once per round (default 3)")
      ->check(CLI::Range(1, 50));
  bench.add_option("--duration", o.duration_s, "seconds of each timed probe (default 5)")->check(CLI::Range(1, 600));
  bench.add_option("--wake-preempt-us", o.wake_preempt_us,
                   "wakeup preemption of the aqmap config (default 2000, the scheduler's)")
      ->check(CLI::Range(1, 100000));
  bench.add_flag("!--no-op-costs", o.op_costs, "skip timing the FIFO operations of the arena and queue-map builds");
  bench.add_option("--thresholds", o.thresholds, "FAIL below these minimum ratios to EEVDF (ci/gate-thresholds.json)");
  bench.add_option("--baseline-report", o.baseline_report,
                   "FAIL where a median ratio dropped past max_regression from this bench or gate report");
  bench.add_option("--json", o.json, "write the JSON report here");
  bench.add_option("--markdown", o.markdown, "write the markdown summary here");
  bench.add_option("--stress-ng", o.stress_ng, "stress-ng binary");
  bench.add_option("--enqueue-delay-us", o.enqueue_delay_us, "(tests) a slowed scx_aqmap: every enqueue busy-waits")
      ->group("")
      ->check(CLI::Range(0, 100000));
  bench.add_option("--host-command", o.host_command, "(set by `aqcheck vm`)")->group("");
  bench.add_option("--host-exe", o.host_exe, "(set by `aqcheck vm`)")->group("");
}

// args without the hidden options `aqcheck vm` adds (--host-command, --host-exe,
// --host-out) and their values: how we were
// invoked, for the report's "command".
std::vector<std::string> without_host_command(std::vector<std::string> args) {
  constexpr std::array<std::string_view, 3> hidden{"--host-command", "--host-exe", "--host-out"};
  for (auto it = args.begin(); it != args.end();) {
    const auto option = std::string_view(*it).substr(0, it->find('='));
    const bool is_hidden = std::find(hidden.begin(), hidden.end(), option) != hidden.end();
    if (is_hidden && option.size() == it->size() && it + 1 != args.end())
      it = args.erase(it, it + 2);
    else if (is_hidden)
      it = args.erase(it);
    else
      ++it;
  }
  return args;
}

// Parses the guest's arguments (after `--`, subcommand first) on the host,
// with the options `add` registers, so bad ones fail before a VM boots.
// Prints the one error line; returns false then.
template <typename Options>
bool parse_guest_args(const std::vector<std::string>& guest_args, void (*add)(CLI::App&, Options&), Options& o) {
  CLI::App check{guest_args.front()};
  add(check, o);
  try {
    std::vector<std::string> rest(guest_args.begin() + 1, guest_args.end());
    std::reverse(rest.begin(), rest.end());
    check.parse(rest);
    return true;
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "aqcheck: error: {} arguments: {}\n", guest_args.front(), e.what());
    return false;
  }
}

// Checks `aqcheck vm -- fuzz ...` on the host before a VM boots: the budget
// and the replay spec.  Adds a default --out (so the results come back), and
// derives --timeout from the budget when none was given.  Returns an exit
// code (pass = go on).
int prepare_vm_fuzz(std::vector<std::string>& guest_args, aq::VmOptions& vm_opts, bool timeout_given) {
  aq::FuzzOptions fo;
  if (!parse_guest_args(guest_args, add_fuzz_options, fo)) return aq::exit_code::usage;
  int budget_s = 0;
  if (const int code = aq::check_fuzz_options(fo, budget_s); code != aq::exit_code::pass) return code;
  vm_opts.guest_files.push_back(fo.base.workloads_dir.empty() ? aq::default_workloads_dir() : fo.base.workloads_dir);
  if (fo.out_dir.empty()) {
    const auto now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    guest_args.insert(guest_args.end(), {"--out", fmt::format("out/fuzz-{}", stamp)});
  }
  if (!timeout_given) {
    vm_opts.timeout_s = aq::vm_timeout_for_fuzz(budget_s);
    fmt::print(stderr,
               "aqcheck: vm: --timeout {} s (budget {} s + up to {} s for confirming and shrinking FAILs + 120 s "
               "for boot and reports)\n",
               vm_opts.timeout_s, budget_s, aq::shrink_allowance_s(budget_s));
  }
  return aq::exit_code::pass;
}

// Checks `aqcheck vm -- run ...` arguments on the host, so a bad workload is
// rejected before a VM is booted for nothing, and tells the VM what the run
// needs: the workloads directory, and the kernel line of a scheduler made to
// fail on purpose.  Prints the one error line; returns an exit code.
int prepare_vm_run(const std::vector<std::string>& guest_args, aq::VmOptions& vm_opts) {
  aq::RunConfig guest_cfg;
  if (!parse_guest_args(guest_args, add_run_options, guest_cfg)) return aq::exit_code::usage;
  try {
    if (!guest_cfg.workload.empty()) {
      const auto dir = guest_cfg.workloads_dir.empty() ? aq::default_workloads_dir() : guest_cfg.workloads_dir;
      auto ws = guest_cfg.workload.find('/') != std::string::npos
                    ? std::vector<aq::Workload>{aq::load_workload(guest_cfg.workload)}
                    : aq::find_workload(guest_cfg.workload, dir);
      for (auto& w : ws) aq::validate_with_stress_ng(w, guest_cfg.stress_ng);
    }
  } catch (const aq::WorkloadError& e) {
    fmt::print(stderr, "aqcheck: error: bad workload: {}\n", e.what());
    return aq::exit_code::bad_workload;
  }
  // The guest looks workload NAMEs up at the same absolute path as here.
  vm_opts.guest_files.push_back(guest_cfg.workloads_dir.empty() ? aq::default_workloads_dir()
                                                                : guest_cfg.workloads_dir);
  if (guest_cfg.sched.error_after_enqueues) vm_opts.console_allow.push_back("\"aqmap\" disabled (scx_bpf_error)");
  return aq::exit_code::pass;
}

void add_batch_options(CLI::App& app, aq::BatchOptions& o) {
  app.add_option("--plan", o.plan, "the runs, as JSON (schema aqcheck-batch-plan/1; harness/batch/batch.hpp)")
      ->required();
  app.add_option("--out", o.out_dir, "directory for batch.json and each run's <name>.json (default out/batch)");
  app.add_option("--host-out", o.host_out, "(set by `aqcheck vm`) --out as the host sees it")->group("");
  app.add_option("--host-exe", o.host_exe, "(set by `aqcheck vm`)")->group("");
  app.add_option("--host-command", o.host_command, "(set by `aqcheck vm`)")->group("");
}

// Checks `aqcheck vm -- batch ...` on the host: the plan, then every run in
// it as prepare_vm_run checks one.  Prints the one error line; returns an
// exit code.
int prepare_vm_batch(const std::vector<std::string>& guest_args, aq::VmOptions& vm_opts) {
  aq::BatchOptions bo;
  if (!parse_guest_args(guest_args, add_batch_options, bo)) return aq::exit_code::usage;
  std::vector<aq::BatchRun> runs;
  try {
    runs = aq::load_batch_plan(bo.plan);
  } catch (const aq::BatchPlanError& e) {
    fmt::print(stderr, "aqcheck: error: bad batch plan: {}\n", e.what());
    return aq::exit_code::bad_plan;
  }
  for (const auto& r : runs) {
    std::vector<std::string> args{"run"};
    args.insert(args.end(), r.run.begin(), r.run.end());
    if (const int code = prepare_vm_run(args, vm_opts); code != aq::exit_code::pass) return code;
  }
  return aq::exit_code::pass;
}

}  // namespace

static int run_main(int argc, char** argv) {
  // `aqcheck vm ... -- run ...`: everything after "--" is for the guest.
  std::vector<std::string> guest_args;
  int own_argc = argc;
  for (int i = 1; i < argc; i++) {
    if (std::string(argv[i]) == "--") {
      guest_args.assign(argv + i + 1, argv + argc);
      own_argc = i;
      break;
    }
  }

  CLI::App app{"aqcheck: concurrency stress and verification for scx_aqmap"};
  app.require_subcommand(1);

  aq::RunConfig cfg;
  auto* run = app.add_subcommand("run", "attach scx_aqmap here (root, sched_ext kernel) and run a workload");
  add_run_options(*run, cfg);

  aq::FuzzOptions fuzz_opts;
  auto* fuzz = app.add_subcommand("fuzz", "randomized scenarios under scx_aqmap for a time budget (root, sched_ext)");
  add_fuzz_options(*fuzz, fuzz_opts);

  aq::bench::Options bench_opts;
  auto* bench = app.add_subcommand(
      "bench", "scx_aqmap's throughput and latency as ratios to EEVDF, in this boot, gated by thresholds (root, sched_ext)");
  add_bench_options(*bench, bench_opts);

  aq::VmOptions vm_opts;
  auto* vm = app.add_subcommand("vm", "boot a sched_ext kernel under qemu and run `aqcheck run|fuzz` inside");
  vm->add_option("--kernel", vm_opts.kernel, "kernel series (7.2, 7.3) fetched by ci/setup.sh, or a bzImage path");
  vm->add_option("--cpus", vm_opts.cpus, "guest CPUs")->check(CLI::Range(1, 64));
  vm->add_option("--mem", vm_opts.mem_mb, "guest memory in MiB")->check(CLI::Range(256, 65536));
  auto* vm_timeout = vm->add_option("--timeout", vm_opts.timeout_s,
                                    "kill the guest after this many seconds (fuzz: derived from the budget)")
                         ->check(CLI::PositiveNumber);
  vm->add_option("--console", vm_opts.console_log, "keep the serial console log here");
  vm->add_option("--accel", vm_opts.accel,
                 "qemu accelerator: tcg (multi-threaded, default), tcg-single (for attach/detach cycles), kvm")
      ->check(CLI::IsMember({"tcg", "tcg-single", "kvm"}));
  vm->add_option("--cache", vm_opts.cache_dir, "aqcheck cache (kernels) made by ci/setup.sh");

  aq::BatchOptions batch_opts;
  auto* batch = app.add_subcommand(
      "batch", "several `aqcheck run` commands one after another, from a plan: one VM boot for many runs (root, sched_ext)");
  add_batch_options(*batch, batch_opts);

  aq::SelftestOptions selftest_opts;
  auto* selftests = app.add_subcommand(
      "selftests", "run the kernel's own sched_ext selftests that assert the enqueue/dequeue contract (root, sched_ext)");
  add_selftest_options(*selftests, selftest_opts);

  aq::gate::Options gate_opts;
  auto* gate = app.add_subcommand("gate", "the release gate: a profile's cases on a kernel matrix, one verdict");
  gate->add_option("--profile", gate_opts.profile, "smoke (minutes, every change) or release (hours at most)")
      ->check(CLI::IsMember({"smoke", "release"}));
  gate->add_option("--kernels", gate_opts.kernels, "kernel series, comma-separated (default 7.2)");
  gate->add_option("--shard", gate_opts.shard, "run shard I of N (I/N) of the sorted cases (default 1/1)");
  gate->add_option("--ktap", gate_opts.ktap, "also write the gate report as KTAP v1 here, for kernel CI systems");
  gate->add_option("--out", gate_opts.out_dir, "directory for gate.json, gate.md, gate.junit.xml and cases/");
  gate->add_option("--case", gate_opts.only, "run only the cases whose id contains this (e.g. 7.2/negative/)");
  gate->add_option("--accel", gate_opts.accel, "qemu accelerator: tcg (default), kvm, or auto (kvm if /dev/kvm opens)")
      ->check(CLI::IsMember({"auto", "kvm", "tcg"}));
  gate->add_option("--cache", gate_opts.cache_dir, "aqcheck cache (kernels) made by ci/setup.sh");
  gate->add_flag("--list", gate_opts.list, "print the ids of the shard's cases and stop");
  gate->add_option("--thresholds", gate_opts.thresholds,
                   "performance thresholds (default: ci/gate-thresholds.json of the source tree)");
  gate->add_option("--baseline-report", gate_opts.baseline_report,
                   "a previous gate.json: a performance median that dropped past its max_regression FAILs");
  gate->add_flag("--mainline-gates", gate_opts.mainline_gates,
                 "mainline scx_qmap's FAIL verdicts FAIL the gate (default: reported as INFO)");
  gate->add_option("--negative-variant", gate_opts.negative_variant, "(tests) run every negative control with this build")
      ->group("")
      ->check(CLI::IsMember(aq::scheduler_variants()));

  auto* report = app.add_subcommand("report", "reports: merge gate shards, compare two gates, make an HTML page");
  report->require_subcommand(1);
  std::vector<std::string> merge_inputs;
  std::string merge_out = "out/gate/merged";
  auto* merge = report->add_subcommand("merge", "join shard reports (gate.json) into one verdict and summary");
  merge->add_option("--out", merge_out, "directory for the merged gate.json, gate.md, gate.junit.xml");
  merge->add_option("reports", merge_inputs, "gate.json of every shard")->required()->check(CLI::ExistingFile);
  std::vector<std::string> compare_inputs;
  auto* compare = report->add_subcommand("compare", "per case, what changed from one gate report to another");
  compare->add_option("reports", compare_inputs, "BEFORE.json AFTER.json")->required()->expected(2)->check(CLI::ExistingFile);
  std::string html_input, html_out;
  auto* html = report->add_subcommand("html", "the HTML page with charts of a run, gate or fuzz summary JSON report");
  html->add_option("report", html_input, "REPORT.json (aqcheck-report/1, aqcheck-gate/1 or aqcheck-fuzz/1)")->required();
  html->add_option("--out", html_out, "write the page here (default: REPORT.html beside the report)");
  std::string ktap_input, ktap_out;
  auto* ktap = report->add_subcommand("ktap", "KTAP v1 of a run, fuzz summary, gate or selftests JSON report");
  ktap->add_option("report", ktap_input, "REPORT.json")->required();
  ktap->add_option("--out", ktap_out, "write it here (default: standard output)");

  int exit_request = 0;
  auto* guest_exit = app.add_subcommand("guest-exit", "(inside the VM) power off with an exit code");
  guest_exit->group("");
  guest_exit->add_option("code", exit_request)->required();
  int watchdog_uptime = 0;
  auto* guest_watchdog = app.add_subcommand("guest-watchdog", "(inside the VM) dump kernel state if the run hangs");
  guest_watchdog->group("");
  guest_watchdog->add_option("uptime", watchdog_uptime)->required()->check(CLI::PositiveNumber);

  try {
    app.parse(own_argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : aq::exit_code::usage;
  }

  if (*guest_exit) return aq::guest_exit(exit_request);
  if (*gate) {
    gate_opts.command_line = "gate " + join_args(std::vector<std::string>(argv + 2, argv + own_argc));
    return aq::gate::gate_command(gate_opts);
  }
  if (*merge) return aq::gate::report_merge(merge_inputs, merge_out);
  if (*compare) return aq::gate::report_compare(compare_inputs[0], compare_inputs[1]);
  if (*html) return aq::report_html_command(html_input, html_out);
  if (*ktap) return aq::report_ktap_command(ktap_input, ktap_out);
  if (*guest_watchdog) return aq::guest_watchdog(watchdog_uptime);

  if (*vm) {
    if (guest_args.empty()) guest_args = {"run"};
    if (guest_args.front() != "run" && guest_args.front() != "fuzz" && guest_args.front() != "selftests" &&
        guest_args.front() != "bench" && guest_args.front() != "batch") {
      fmt::print(stderr,
                 "aqcheck: error: after `--` comes `run ...`, `fuzz ...`, `bench ...`, `batch ...` or `selftests ...` "
                 "(got '{}')\n",
                 guest_args.front());
      return aq::exit_code::usage;
    }
    vm_opts.subcommand = guest_args.front();
    if (vm_opts.subcommand == "bench") {
      aq::bench::Options bo;
      if (!parse_guest_args(guest_args, add_bench_options, bo)) return aq::exit_code::usage;
      if (const auto f = aq::first_unreadable({bo.thresholds, bo.baseline_report}); !f.empty()) {
        fmt::print(stderr, "aqcheck: error: bench: cannot read {}\n", f);
        return aq::exit_code::usage;
      }
      return aq::run_vm(vm_opts, std::vector<std::string>(guest_args.begin() + 1, guest_args.end()));
    }
    if (vm_opts.subcommand == "selftests") {
      aq::SelftestOptions so;
      if (!parse_guest_args(guest_args, add_selftest_options, so)) return aq::exit_code::usage;
      if (const auto f = aq::first_unreadable({so.runner, so.tests_file}); !f.empty()) {
        fmt::print(stderr, "aqcheck: error: selftests: no such file {} (build it: ci/selftests.sh --kernel SERIES)\n", f);
        return aq::exit_code::usage;
      }
      return aq::run_vm(vm_opts, std::vector<std::string>(guest_args.begin() + 1, guest_args.end()));
    }
    if (vm_opts.subcommand == "fuzz") {
      if (const int code = prepare_vm_fuzz(guest_args, vm_opts, vm_timeout->count() > 0); code != aq::exit_code::pass)
        return code;
      return aq::run_vm(vm_opts, std::vector<std::string>(guest_args.begin() + 1, guest_args.end()));
    }
    if (vm_opts.subcommand == "batch") {
      if (const int code = prepare_vm_batch(guest_args, vm_opts); code != aq::exit_code::pass) return code;
      return aq::run_vm(vm_opts, std::vector<std::string>(guest_args.begin() + 1, guest_args.end()));
    }
    if (const int code = prepare_vm_run(guest_args, vm_opts); code != aq::exit_code::pass) return code;
    return aq::run_vm(vm_opts, std::vector<std::string>(guest_args.begin() + 1, guest_args.end()));
  }

  if (*selftests) return aq::selftests_command(selftest_opts);
  if (*batch) return aq::batch_command(batch_opts);
  if (*bench) {
    bench_opts.command_line =
        "bench " + join_args(without_host_command(std::vector<std::string>(argv + 2, argv + own_argc)));
    return aq::bench::bench_command(bench_opts);
  }
  if (*fuzz) {
    fuzz_opts.base.command_line =
        "fuzz " + join_args(without_host_command(std::vector<std::string>(argv + 2, argv + own_argc)));
    return aq::fuzz_command(fuzz_opts);
  }

  if (cfg.seed == 0) cfg.seed = std::random_device{}() & 0x7fffffff;
  cfg.command_line = "run " + join_args(without_host_command(std::vector<std::string>(argv + 2, argv + own_argc)));
  return aq::run_command(cfg);
}

int main(int argc, char** argv) {
  try {
    return run_main(argc, argv);
  } catch (const std::exception& e) {
    // Anything not foreseen still ends in one line and its own code; the
    // scheduler, if attached, was detached by its destructor on the way here.
    fmt::print(stderr, "aqcheck: error: {}\n", e.what());
    return aq::exit_code::internal;
  }
}
