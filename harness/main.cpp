// aqcheck: drives scx_aqmap on a sched_ext kernel and decides a verdict.
//
//   aqcheck run [--duration S] [--stress ARGS | --workload NAME|all] [--json F] ...
//   aqcheck vm [--kernel 7.2|7.3|PATH] [--cpus N] [--mem M] [--timeout S] -- run ...
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "exit_codes.hpp"
#include "run.hpp"
#include "scheduler.hpp"
#include "guest_watchdog.hpp"
#include "vm.hpp"
#include "workload.hpp"

namespace {

std::string join_args(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    if (!out.empty()) out += ' ';
    out += a.find_first_of(" \t'\"") == std::string::npos ? a : "'" + a + "'";
  }
  return out;
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
  run.add_option("--variant", s.variant, "scheduler build: normal, or one that exists to fail the checks")
      ->check(CLI::IsMember(aq::scheduler_variants()));
  run.add_option("--slice-us", s.slice_us, "time slice in microseconds (default 20000)");
  run.add_option("--dsp-batch", s.dsp_batch, "tasks moved per dispatch call (default 1)");
  run.add_flag("--highpri-boosting", s.highpri_boosting, "boost tasks of weight >= 8668");
  run.add_option("--max-tasks", s.max_tasks, "task contexts in the arena slab")->check(CLI::Range(64, 65536));
  run.add_option("--error-after-enqueues", s.error_after_enqueues,
                 "test knob: the scheduler calls scx_bpf_error() after N enqueues");
  run.add_option("--fail-lock-every", s.fail_lock_every, "fault injection: fail every Nth list-lock acquisition")
      ->check(CLI::Range(2u, 1000000u));
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

  aq::VmOptions vm_opts;
  auto* vm = app.add_subcommand("vm", "boot a sched_ext kernel under qemu and run `aqcheck run` inside");
  vm->add_option("--kernel", vm_opts.kernel, "kernel series (7.2, 7.3) fetched by ci/setup.sh, or a bzImage path");
  vm->add_option("--cpus", vm_opts.cpus, "guest CPUs")->check(CLI::Range(1, 64));
  vm->add_option("--mem", vm_opts.mem_mb, "guest memory in MiB")->check(CLI::Range(256, 65536));
  vm->add_option("--timeout", vm_opts.timeout_s, "kill the guest after this many seconds")
      ->check(CLI::PositiveNumber);
  vm->add_option("--console", vm_opts.console_log, "keep the serial console log here");
  vm->add_option("--accel", vm_opts.accel,
                 "qemu accelerator: tcg (multi-threaded, default), tcg-single (for attach/detach cycles), kvm")
      ->check(CLI::IsMember({"tcg", "tcg-single", "kvm"}));
  vm->add_option("--cache", vm_opts.cache_dir, "aqcheck cache (kernels) made by ci/setup.sh");

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
  if (*guest_watchdog) return aq::guest_watchdog(watchdog_uptime);

  if (*vm) {
    if (guest_args.empty()) guest_args = {"run"};
    if (guest_args.front() != "run") {
      fmt::print(stderr, "aqcheck: error: after `--` comes `run ...` (got '{}')\n", guest_args.front());
      return aq::exit_code::usage;
    }
    // Reject a bad workload here, before a VM is booted for nothing.
    CLI::App check{"run"};
    aq::RunConfig guest_cfg;
    add_run_options(check, guest_cfg);
    try {
      std::vector<std::string> rest(guest_args.begin() + 1, guest_args.end());
      std::reverse(rest.begin(), rest.end());
      check.parse(rest);
      if (!guest_cfg.workload.empty()) {
        const auto dir = guest_cfg.workloads_dir.empty() ? aq::default_workloads_dir() : guest_cfg.workloads_dir;
        auto ws = guest_cfg.workload.find('/') != std::string::npos
                      ? std::vector<aq::Workload>{aq::load_workload(guest_cfg.workload)}
                      : aq::find_workload(guest_cfg.workload, dir);
        for (auto& w : ws) aq::validate_with_stress_ng(w, guest_cfg.stress_ng);
      }
    } catch (const CLI::ParseError& e) {
      fmt::print(stderr, "aqcheck: error: run arguments: {}\n", e.what());
      return aq::exit_code::usage;
    } catch (const aq::WorkloadError& e) {
      fmt::print(stderr, "aqcheck: error: bad workload: {}\n", e.what());
      return aq::exit_code::bad_workload;
    }
    // The guest looks workload NAMEs up at the same absolute path as here.
    vm_opts.guest_files.push_back(guest_cfg.workloads_dir.empty() ? aq::default_workloads_dir()
                                                                  : guest_cfg.workloads_dir);
    // A run that makes the scheduler fail on purpose expects its kernel line.
    if (guest_cfg.sched.error_after_enqueues) vm_opts.console_allow.push_back("\"aqmap\" disabled (scx_bpf_error)");
    return aq::run_vm(vm_opts, std::vector<std::string>(guest_args.begin() + 1, guest_args.end()));
  }

  if (cfg.seed == 0) cfg.seed = std::random_device{}() & 0x7fffffff;
  cfg.command_line = "run " + join_args(std::vector<std::string>(argv + 2, argv + own_argc));
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
