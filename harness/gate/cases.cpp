#include "gate/cases.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace aq::gate {
namespace {

// `aqcheck vm` on one kernel, with the case's console kept beside its report.
std::vector<std::string> vm(const std::string& kernel, const std::string& accel, std::vector<std::string> guest,
                            const std::string& cpus = "2") {
  std::vector<std::string> argv{"{aqcheck}", "vm",    "--kernel", kernel,      "--accel",           accel, "--cpus",
                                cpus,        "--cache", "{cache}", "--console", "{out}/console.log", "--"};
  argv.insert(argv.end(), guest.begin(), guest.end());
  return argv;
}

std::vector<std::string> run(const std::string& kernel, std::vector<std::string> args,
                             const std::string& accel = "{accel}") {
  std::vector<std::string> guest{"run"};
  guest.insert(guest.end(), args.begin(), args.end());
  guest.insert(guest.end(), {"--audit-interval-ms", "10", "--json", "{report}"});
  return vm(kernel, accel, guest);
}

std::vector<std::string> host_shell(const std::string& script) { return {"sh", "-c", "cd {source} && " + script}; }

// A build that exists to fail a check: the gate PASSes only while the check
// still catches it.
struct NegativeControl {
  const char* name;
  const char* variant;
  const char* workload;
  std::vector<std::string> extra;
  const char* reason_prefix;
  const char* blind_spot;
  bool smoke;
};

const std::vector<NegativeControl>& negative_controls() {
  static const std::vector<NegativeControl> table{
      // The stale-entry rule's reason comes while the run goes on: the
      // first is all a negative control needs.
      {"lazy-removal-affinity-churn", "lazy-removal", "affinity-churn", {"--stop-on-fail"},
       "dequeue did not remove: pid ", "a dequeue that leaves the task's entry on its FIFO (stale-entry rule)", true},
      {"lazy-removal-nice-churn", "lazy-removal", "nice-churn", {"--stop-on-fail"}, "dequeue did not remove: pid ",
       "a dequeue on a property change that leaves the entry behind", false},
      {"mutant-unlink-no-prev", "mutant-unlink-no-prev", "affinity-churn", {}, "corrupted list: FIFO ",
       "a broken unlink in the kernel's lists (the in-kernel structural audit)", false},
      {"mutant-pop-no-counter", "mutant-pop-no-counter", "affinity-churn", {}, "conservation mismatch: FIFO ",
       "a FIFO length counter out of step with its list (conservation)", false},
      {"mutant-slab-free-drops", "mutant-slab-free-drops", "affinity-churn", {}, "slab not whole after detach: ",
       "a task context leaked by the arena slab (the slab check after detach)", false},
      {"lost-task", "lost-task", "cpu-baseline", {"--fail-lock-every", "7"}, "lost task: pid ",
       "a task the scheduler holds on no FIFO and no DSQ (the wait audit)", false},
      {"pre-custody-dequeue", "pre-custody-dequeue", "cpu-baseline", {}, "custody protocol violated: ",
       "a scheduler that misses the custody end 7.2's ops.dequeue reports (the custody ledger)", false},
      // Not a broken build: the starvation guard turned off.  FIFO 0 then
      // starves under affinity churn, which the wait audit's bound must see.
      {"starvation-guard-off", "normal", "affinity-churn", {"--starve-ms", "60000", "--duration", "40"},
       "stuck task: pid ", "a FIFO head that waits while churned tasks are re-enqueued ahead of it (the wait bound)",
       false},
      // Mainline scx_qmap with its pop's q_prev fix-up removed (a patched copy
      // in the build tree): the audit of mainline's own lists must see it.
      {"mainline-mutant-pop-no-prev-fixup", "mutant-pop-no-prev-fixup", "cpu-baseline",
       {"--scheduler", "qmap-upstream"}, "corrupted list: FIFO ",
       "a broken unlink in mainline scx_qmap's lists (the audit compiled alongside it)", false},
  };
  return table;
}

// Each known-bad kernel, built from the series' linux-source with its patch
// (ci/build-kernel.sh, incrementally), runs the scenario its header names and
// must FAIL with the reason the header expects (ci/kernel-regressions.sh).
void add_regression_cases(std::vector<Case>& out, const std::string& k, const std::vector<Regression>& regressions) {
  // The kernel built from source itself, before its known-bad variants: every
  // workload, and the kernel's own sched_ext selftests, with aqcheck's BPF
  // objects built against its BTF (docs/kernel-ci.md "Building a kernel").
  const std::string built = "k=$(ci/build-kernel.sh --series " + k + " --aqcheck | tail -1) && $k/aqcheck vm --kernel "
                            "$k/vmlinuz --accel {accel} --cache {cache} --console {out}/console.log";
  out.push_back({k + "/built-kernel/workloads", "kernel regression", k,
                 "the kernel built from linux-source-" + k + " (ci/build-kernel.sh): every workload under scx_aqmap",
                 host_shell(built + " -- run --workload all --audit-interval-ms 10 --json {report}"), {}, "", 3600});
  out.push_back({k + "/built-kernel/conformance", "kernel regression", k,
                 "the kernel built from linux-source-" + k + ": the kernel's own sched_ext contract selftests",
                 host_shell(built + " --cpus 4 -- selftests --runner {cache}/selftests/" + k +
                            "/runner --tests-file {cache}/selftests/" + k + "/contract-tests.txt --json {report}"),
                 {}, "", 3600});
  for (const auto& r : regressions)
    out.push_back({k + "/kernel-regression/" + r.id, "kernel regression", k,
                   "a kernel with " + r.title + " must FAIL: " + r.expect + "...",
                   host_shell("ci/kernel-regressions.sh --series " + k + " --only " + r.id +
                              " --out {out}/matrix --report {report}"),
                   {1, r.expect}, "a kernel with " + r.title, 3600});
}

void add_kernel_cases(std::vector<Case>& out, Profile profile, const std::string& k,
                      const std::vector<std::string>& workloads, const std::vector<Regression>& regressions) {
  const bool release = profile == Profile::release;
  if (release) add_regression_cases(out, k, regressions);
  for (const auto& w : workloads) {
    if (!release && w != "cpu-baseline") continue;
    out.push_back({k + "/workload/" + w, "kernel", k, "workload " + w + " under scx_aqmap: every check of `run`",
                   run(k, {"--workload", w}), {}, "", 900});
    if (release)
      out.push_back({k + "/faults/" + w, "kernel", k,
                     "workload " + w + " with every 7th list-lock acquisition failed: nothing lost",
                     run(k, {"--workload", w, "--fail-lock-every", "7"}), {}, "", 900});
  }
  // Mainline's scx_qmap under the same checks (docs/mainline-qmap.md "mainline scx_qmap").
  for (const auto& w : workloads) {
    if (!release && w != "cpu-baseline") continue;
    Case c{k + "/mainline/" + w, "mainline", k,
           "workload " + w + " under mainline's scx_qmap (its linux-source): every check of `run`; informational",
           run(k, {"--scheduler", "qmap-upstream", "--workload", w}), {}, "", 900};
    c.informational = true;
    out.push_back(std::move(c));
  }
  for (const auto& n : negative_controls()) {
    if (!release && !n.smoke) continue;
    std::vector<std::string> args{"--workload", n.workload, "--variant", n.variant};
    args.insert(args.end(), n.extra.begin(), n.extra.end());
    std::string what = std::string(n.variant) + " build under " + n.workload;
    for (const auto& e : n.extra) what += " " + e;
    out.push_back({k + "/negative/" + n.name, "negative control", k, what + " must FAIL: " + n.reason_prefix + "...",
                   run(k, args), {1, n.reason_prefix}, n.blind_spot, 900});
  }
  if (!release) return;
  // A mode that drives a kernel path nothing else does: the user-DSQ
  // re-enqueue (reenq_user()) racing dispatchers (docs/kernel-ci.md).
  out.push_back({k + "/mode/reenq-shared", "kernel", k,
                 "scx_aqmap --reenq-shared under mix-all: the kernel re-enqueues the shared DSQ while CPUs dispatch into "
                 "it; every check of `run`",
                 run(k, {"--workload", "mix-all", "--reenq-shared"}), {}, "", 900});
  out.push_back({k + "/cycles", "kernel", k, "50 attach/detach cycles under load, slab whole after each",
                 run(k, {"--cycles", "50", "--duration", "25", "--stress", "--cpu 2 --fork 1 --yield 1"},
                     "{accel_single}"),
                 {}, "", 1500});
  out.push_back({k + "/sigkill", "kernel", k, "SIGKILL of aqcheck mid-run: sched_ext disabled within 1 s",
                 run(k, {"--sigkill-after", "3", "--stress", "--cpu 2 --fork 1"}), {}, "", 600});
  // The dequeue selftest moves tasks over CPUs 0-3: four vCPUs.
  out.push_back({k + "/conformance", "kernel conformance", k,
                 "the kernel's own sched_ext selftests that assert the enqueue/dequeue contract (ci/selftests.sh)",
                 vm(k, "{accel}",
                    {"selftests", "--runner", "{cache}/selftests/" + k + "/runner", "--tests-file",
                     "{cache}/selftests/" + k + "/contract-tests.txt", "--json", "{report}"},
                    "4"),
                 {}, "", 2400});
  // Rounds enough for a median and a spread; the thresholds file says what passes.
  out.push_back({k + "/performance", "performance", k,
                 "throughput and latency as ratios to EEVDF in one boot, 5 rounds, against ci/gate-thresholds.json "
                 "(and --baseline-report); arena vs queue-map FIFO cost",
                 vm(k, "{accel}",
                    {"bench", "--rounds", "5", "--duration", "5", "--thresholds", "{thresholds}", "{baseline-report}",
                     "--json", "{report}"}),
                 {}, "", 1800});
  out.push_back({k + "/fuzz", "fuzz", k, "10 minutes of `aqcheck fuzz` (random scenarios, every check of `run`)",
                 vm(k, "{accel}", {"fuzz", "--budget", "10m", "--seed", "1", "--out", "{out}/fuzz"}), {}, "", 1800});
}

}  // namespace

const char* profile_name(Profile p) { return p == Profile::smoke ? "smoke" : "release"; }

std::vector<Regression> read_regressions(const std::string& source_dir) {
  namespace fs = std::filesystem;
  std::vector<Regression> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(source_dir) / "kernels" / "regressions", ec)) {
    if (e.path().extension() != ".patch") continue;
    Regression r{e.path().stem().string(), "", ""};
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line) && line != "---";) {
      if (line.starts_with("Title: ")) r.title = line.substr(7);
      if (line.starts_with("Expect: ")) r.expect = line.substr(8);
    }
    if (r.title.empty() || r.expect.empty())
      throw std::runtime_error(e.path().string() + ": its header lacks Title: or Expect: (kernels/regressions/README.md)");
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const Regression& a, const Regression& b) { return a.id < b.id; });
  return out;
}

std::vector<Case> cases_for(Profile profile, const std::vector<std::string>& kernels,
                            const std::vector<std::string>& workloads, const std::vector<Regression>& regressions) {
  std::vector<Case> out;
  if (profile == Profile::release) {
    out.push_back({"host/properties/default", "properties", "",
                   "the twin's properties, concurrency test, mutant kill matrix and fuzz smoke (default build)",
                   host_shell("ctest --preset default -L properties --output-on-failure"), {}, "", 1800});
    // With the mutants, which the tsan preset (and so .ci/run) leaves out:
    // their kill matrices under ThreadSanitizer run here.
    out.push_back({"host/properties/tsan", "properties", "",
                   "the same under ThreadSanitizer, the mutants' kill matrices included",
                   host_shell("cmake --preset tsan -DAQ_BUILD_MUTANTS=ON >/dev/null && cmake --build --preset tsan && "
                              "ctest --preset tsan -L properties --output-on-failure"),
                   {}, "", 3600});
    out.push_back({"host/ops/default", "ops", "",
                   "the ops-level twin: the small configuration bounded-exhaustively, generated scripts under "
                   "PCT and random exploration, and the ops-level kill matrix (default build)",
                   host_shell("ctest --preset default -L ops --output-on-failure"), {}, "", 1800});
    out.push_back({"host/ops/tsan", "ops", "", "the ops-level twin's tests under ThreadSanitizer",
                   host_shell("cmake --preset tsan >/dev/null && cmake --build --preset tsan && "
                              "ctest --preset tsan -L ops --output-on-failure"),
                   {}, "", 3600});
    out.push_back({"host/ops-explore", "ops", "",
                   "10 minutes of PCT exploration of generated scripts (3 CPUs, 4 tasks, one lock failure each)",
                   host_shell("build/default/ops/aqops explore --scripts 100000000 --strategy pct --schedules 200 "
                              "--cpus 3 --tasks 4 --events 8 --faults 1 --seed 1 --budget 600"),
                   {}, "", 900});
    out.push_back({"host/twin-fuzz", "properties", "", "5 minutes of libFuzzer on the twin",
                   host_shell("AQ_FUZZ_OUT={out}/twin-fuzz properties/fuzz/run-fuzz.sh 300"), {}, "", 900});
    out.push_back({"host/bad-input", "properties", "",
                   "bad input: one error line and a distinct exit code, no half report",
                   host_shell("/usr/bin/python3 -m pytest -q -p no:cacheprovider ci/tests/test_bad_input.py"), {}, "",
                   900});
  }
  for (const auto& k : kernels) add_kernel_cases(out, profile, k, workloads, regressions);
  std::sort(out.begin(), out.end(), [](const Case& a, const Case& b) { return a.id < b.id; });
  for (std::size_t i = 1; i < out.size(); i++)
    if (out[i].id == out[i - 1].id) throw std::logic_error("gate case listed twice: " + out[i].id);
  return out;
}

std::vector<std::string> command_of(const Case& c, const Placeholders& p) {
  const auto fill = [](std::string s, const std::string& from, const std::string& to) {
    for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
    return s;
  };
  std::vector<std::string> argv;
  bool variant_next = false;
  for (auto a : c.argv) {
    if (a == "{baseline-report}") {
      if (!p.baseline_report.empty()) argv.insert(argv.end(), {"--baseline-report", p.baseline_report});
      continue;
    }
    if (variant_next && !p.negative_variant.empty()) a = p.negative_variant;
    variant_next = a == "--variant" && !c.expect.reason_prefix.empty();
    a = fill(a, "{aqcheck}", p.aqcheck);
    a = fill(a, "{report}", p.report);
    a = fill(a, "{out}", p.out);
    a = fill(a, "{source}", p.source);
    a = fill(a, "{cache}", p.cache);
    a = fill(a, "{thresholds}", p.thresholds);
    a = fill(a, "{accel_single}", p.accel == "kvm" ? "kvm" : "tcg-single");
    a = fill(a, "{accel}", p.accel);
    argv.push_back(a);
  }
  return argv;
}

std::vector<Case> shard(const std::vector<Case>& cases, int i, int n) {
  std::vector<Case> out;
  for (std::size_t k = static_cast<std::size_t>(i - 1); k < cases.size(); k += static_cast<std::size_t>(n))
    out.push_back(cases[k]);
  return out;
}

}  // namespace aq::gate
