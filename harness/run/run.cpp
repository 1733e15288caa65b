#include "run/run.hpp"

#include <fmt/format.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include "run/audit.hpp"
#include "run/churn.hpp"
#include "common/exit_codes.hpp"
#include "common/kmsg.hpp"
#include "common/proc_files.hpp"
#include "common/text.hpp"
#include "report/report.hpp"
#include "sched/qmap_upstream.hpp"
#include "sched/stats.hpp"
#include "run/kernel_coverage.hpp"
#include "run/stress.hpp"
#include "vm/vm.hpp"
#include "workload/workload.hpp"

namespace aq {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
static_assert(kSeriesFifos == QMAP_NR_FIFOS, "the report's series has one length per FIFO");

std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal = sig; }

// How long stress-ng may overrun its --timeout before it counts as hung.
constexpr int kStressGraceS = 30;
constexpr int kStateTimeoutMs = 5000;
// How often every task's wait is scanned (it visits every thread): with the
// default 4 s bound, a stuck task is named within 4.25 s.
constexpr milliseconds kWaitAuditInterval{250};

std::vector<std::string> split_args(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      if (!cur.empty()) out.push_back(std::move(cur)), cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// Workload files are parsed and checked against the real stress-ng before
// anything is attached.  Throws WorkloadError.
std::vector<CaseSpec> resolve_cases(const RunConfig& cfg) {
  std::vector<CaseSpec> cases;
  if (!cfg.workload.empty()) {
    std::vector<Workload> ws;
    if (cfg.workload.find('/') != std::string::npos || cfg.workload.ends_with(".job"))
      ws.push_back(load_workload(cfg.workload));
    else
      ws = find_workload(cfg.workload, cfg.workloads_dir.empty() ? default_workloads_dir() : cfg.workloads_dir);
    for (auto& w : ws) {
      validate_with_stress_ng(w, cfg.stress_ng);
      CaseSpec c{w.name, w.purpose, w.stress_args,
                 cfg.duration_s ? cfg.duration_s : static_cast<int>(w.duration_s), w, "", w.churn};
      c.churn_interval_ms = cfg.churn_interval_ms;
      if (auto why = unmet_requirement(w, static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN))))
        c.skip = *why;
      cases.push_back(std::move(c));
    }
  } else {
    auto args = split_args(cfg.stress.empty() ? "--cpu 2 --switch 2 --fork 1" : cfg.stress);
    cases.push_back({"stress", "ad-hoc stress-ng run", args, cfg.duration_s ? cfg.duration_s : 10, {}, "", {}});
  }
  return cases;
}

void print_progress(int secs, const Scheduler& sched, const CaseResult& r, std::uint64_t audits,
                    std::uint64_t stale) {
  const qmap_arena& qa = sched.arena();
  auto s = sched.counters();
  std::string lens;
  for (int i = 0; i < QMAP_NR_FIFOS; i++)
    lens += fmt::format("{}{}", i ? " " : "", __atomic_load_n(&qa.fifos[i].len, __ATOMIC_RELAXED));
  const auto maxwait = __atomic_load_n(&qa.waits.max_wait_ms, __ATOMIC_RELAXED);
  if (sched.ops_name() != "aqmap") {  // mainline scx_qmap: its own counters
    fmt::print("[{:>4}s] {} enq={} disp={} ddsp_from_enq={} deq={} reenq={} highpri_queued={} lens=[{}] audits={} "
               "stale={} maxwait={}ms\n",
               secs, r.name, s["nr_enqueued"], s["nr_dispatched"], s["nr_ddsp_from_enq"], s["nr_dequeued"],
               s["nr_reenqueued"], static_cast<std::int64_t>(s["nr_highpri_queued"]), lens, r.audits + audits,
               r.stale_entries + stale, maxwait);
    std::fflush(stdout);
    return;
  }
  fmt::print("[{:>4}s] {} enq={} disp={} direct={} deq={} removed={} sched_change={} fifo_moves={} "
             "lens=[{}] audits={} stale={} lockfail(enq/pop/inj)={}/{}/{} aged={} maxwait={}ms\n",
             secs, r.name, s["nr_enqueued"], s["nr_dispatched"], s["nr_direct"], s["nr_dequeued"],
             s["nr_deq_removed"], s["nr_deq_sched_change"], s["nr_fifo_changes"], lens, r.audits + audits,
             r.stale_entries + stale, s["nr_enq_lock_fallback"], s["nr_pop_lock_fail"], s["nr_lock_injected"],
             s["nr_aged_dispatch"], maxwait);
  std::fflush(stdout);
}

void add_failure(CaseResult& r, std::string why) {
  if (r.failures.empty() && r.attach_uptime_s > 0) r.first_failure_s = uptime_s() - r.attach_uptime_s;
  if (std::find(r.failures.begin(), r.failures.end(), why) == r.failures.end())
    r.failures.push_back(std::move(why));
}

// Fault injection must have bitten, and every bite must have been absorbed.
void check_fault_injection(const RunConfig& cfg, CaseResult& r) {
  if (!cfg.sched.fail_lock_every) return;
  auto& c = r.counters;
  if (!c["nr_lock_injected"])
    add_failure(r, "fault injection: no lock acquisition was failed");
  else if (!c["nr_enq_lock_fallback"] && !c["nr_pop_lock_fail"])
    add_failure(r, fmt::format("fault injection: {} failed acquisitions but no fallback counted",
                               c["nr_lock_injected"]));
}

void check_coverage_of(const RunConfig& cfg, const CaseSpec& spec, CaseResult& r) {
  if (spec.workload) {
    Workload w = *spec.workload;
    if (cfg.sched.scheduler == kQmapUpstream)
      for (auto& note : restate_coverage_for_qmap_upstream(w)) r.notes.push_back(std::move(note));
    for (auto& why : check_coverage(w, r.counters)) add_failure(r, why);
    return;
  }
  for (const char* k : {"nr_enqueued", "nr_dispatched"})
    if (!r.counters[k]) add_failure(r, fmt::format("no coverage: {} = 0 (stress)", k));
}

// One attach of the scheduler: load, attach and confirm; audits while it
// runs; detach and collect.  Used once per case, or N times in --cycles mode.
class Attachment {
 public:
  Attachment(const RunConfig& cfg, CaseResult& r, std::string& seen_ops)
      : r_(r), sched_(Scheduler::load(cfg.sched)) {
    sched_->attach();
    r_.attach_uptime_s = uptime_s();
    attached_at_ = Clock::now();
    if (r_.first_attach == Clock::time_point{}) r_.first_attach = attached_at_;
    if (!wait_enabled()) {
      // Unloaded again before it was enabled, at its own loader's request:
      // a CPU came or went meanwhile.  restart_attachment() tries again.
      if (const auto ei = sched_->exit_info(); ei && aq::restart_requested(*ei))
        throw LoadError(fmt::format("unloaded as it was enabled: {}", ei->msg));
      add_failure(r_, fmt::format("sched_ext did not become enabled (state: '{}')", sched_ext_state()));
    }
    seen_ops = sched_ext_root_ops();
    if (seen_ops != sched_->ops_name())
      add_failure(r_, fmt::format("root/ops is '{}', expected '{}'", seen_ops, sched_->ops_name()));
  }

  const qmap_arena& arena() const { return sched_->arena(); }
  const Scheduler& scheduler() const { return *sched_; }

 private:
  // sched_ext enabled within kStateTimeoutMs, and the scheduler not gone already.
  bool wait_enabled() const {
    const auto give_up = Clock::now() + milliseconds(kStateTimeoutMs);
    while (Clock::now() < give_up) {
      if (sched_->exit_info()) return false;
      if (sched_ext_state() == "enabled") return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }

 public:
  bool restart_requested() const {
    const auto ei = sched_->exit_info();
    return ei && aq::restart_requested(*ei);
  }

  // One in-kernel audit, judged: list corruption now, stale entries across audits.
  void audit(Clock::time_point now) {
    sched_->run_audit();
    const qmap_arena& qa = arena();
    const aq_audit& au = qa.audit;
    audits_ = au.seq;
    r_.audit_entries_max = std::max<std::uint64_t>(r_.audit_entries_max, au.nr_entries);
    r_.fifo_len_max.resize(QMAP_NR_FIFOS);
    r_.fifo_head_wait_max_ms.resize(QMAP_NR_FIFOS);
    for (int i = 0; i < QMAP_NR_FIFOS; i++) {
      r_.fifo_len_max[i] = std::max(r_.fifo_len_max[i], qa.fifos[i].len);
      r_.fifo_head_wait_max_ms[i] = std::max(r_.fifo_head_wait_max_ms[i], au.head_wait_ns[i] / 1e6);
    }
    record_series_point(now);
    if (auto why = describe_audit_failure(au); !why.empty() && ++audit_failures_ <= kListed) add_failure(r_, why);
    for (auto& why : stale_.observe(au, now)) {
      if (stale_.stale_entries() <= kListed) add_failure(r_, why);
    }
  }

  // The wait audit: every sched_ext task's wait for a CPU by the kernel's
  // clock.  True when a task waited past the bound: the case should end now,
  // before the kernel's own watchdog ejects the scheduler without saying where
  // that task was.
  bool audit_waits(Clock::time_point now, std::uint64_t bound_ms, const HostStalls& host) {
    sched_->run_wait_audit();
    const aq_wait_audit& wa = arena().waits;
    r_.wait_audits++;
    r_.max_task_wait_ms = std::max<std::uint64_t>(r_.max_task_wait_ms, wa.max_wait_ms);
    if (!wa.nr_stuck) return fifo_wait_past_bound(now, bound_ms, host);
    const auto window_start = now - milliseconds(wa.max_wait_ms);
    const std::string host_note = host.during(window_start, now);
    const std::uint32_t listed = std::min<std::uint32_t>(wa.nr_stuck, AQ_AUDIT_MAX_STUCK);
    for (std::uint32_t i = 0; i < listed; i++) add_failure(r_, describe_stuck_task(wa.stuck[i], bound_ms) + host_note);
    if (wa.nr_stuck > listed)
      add_failure(r_, fmt::format("stuck task: {} tasks waited past {} ms ({} listed){}", wa.nr_stuck, bound_ms,
                                  listed, host_note));
    r_.stuck_tasks += wa.nr_stuck;
    check_lost_nodes(wa, now);
    return true;
  }

  std::uint64_t audits() const { return audits_; }
  std::uint64_t stale_entries() const { return stale_.stale_entries(); }

 private:
  // What this audit saw, for the report's charts: each FIFO's length now, and
  // the longest FIFO-head and task waits so far (audit() and audit_waits()
  // keep those maxima in r_).
  void record_series_point(Clock::time_point now) {
    SeriesPoint p;
    p.t_s = std::chrono::duration<double>(now - r_.first_attach).count();
    for (std::size_t i = 0; i < kSeriesFifos; i++)
      p.fifo_len[i] = __atomic_load_n(&arena().fifos[i].len, __ATOMIC_RELAXED);
    for (const double w : r_.fifo_head_wait_max_ms) p.fifo_head_wait_max_ms = std::max(p.fifo_head_wait_max_ms, w);
    p.task_wait_max_ms = static_cast<double>(r_.max_task_wait_ms);
    r_.series.add(p);
  }

  // A task can wait past the bound on a FIFO and be dispatched between two
  // wait scans: after a host stall, the FIFOs drain before the scan runs.
  // The scheduler measures every FIFO wait at dispatch; past the bound, that
  // is the same FAIL.
  bool fifo_wait_past_bound(Clock::time_point now, std::uint64_t bound_ms, const HostStalls& host) {
    const qmap_arena& qa = arena();
    if (qa.max_fifo_wait_ns / 1'000'000 < bound_ms) return false;  // no /proc read per audit
    const int pid = qa.max_fifo_wait_pid;
    const std::string comm(trim(slurp(fmt::format("/proc/{}/comm", pid)).value_or("")));
    const std::string why = describe_fifo_wait(qa.max_fifo_wait_ns, qa.max_fifo_wait_fifo, pid, comm, bound_ms);
    if (why.empty()) return false;
    add_failure(r_, why + host.during(now - milliseconds(qa.max_fifo_wait_ns / 1'000'000), now));
    r_.stuck_tasks++;
    return true;
  }

  // Stuck tasks "on FIFO k": is each really on it?  A walk of the lists, then
  // a second wait scan (describe_lost_node, audit.hpp).
  void check_lost_nodes(const aq_wait_audit& wa, Clock::time_point now) {
    std::vector<aq_stuck_task> on_fifo;
    for (std::uint32_t i = 0; i < std::min<std::uint32_t>(wa.nr_stuck, AQ_AUDIT_MAX_STUCK); i++)
      if (wa.stuck[i].fifo >= 0) on_fifo.push_back(wa.stuck[i]);
    if (on_fifo.empty()) return;
    audit(now);
    const aq_audit between = arena().audit;
    sched_->run_wait_audit();
    const aq_wait_audit& second = arena().waits;
    for (const auto& t : on_fifo)
      if (auto why = describe_lost_node(t, second, between); !why.empty()) add_failure(r_, why);
  }

 public:

  // Detach; the exit record, the slab and the counters go into the result.
  void finish(const HostStalls& host) {
    const qmap_arena& qa = arena();
    for (auto& [k, v] : sched_->counters()) r_.counters[k] += v;
    r_.counters["audits"] += audits_;
    r_.audits += audits_;
    r_.stale_entries += stale_.stale_entries();
    if (stale_.stale_entries() > kListed)
      add_failure(r_, fmt::format("dequeue did not remove: {} stale entries in all ({} listed)",
                                  stale_.stale_entries(), kListed));
    if (audit_failures_ > kListed)
      add_failure(r_, fmt::format("audit failed {} times in all ({} listed)", audit_failures_, kListed));
    r_.audit_max_ms = std::max(r_.audit_max_ms, static_cast<double>(qa.audit.max_ns) / 1e6);
    if (const double w = static_cast<double>(qa.max_fifo_wait_ns) / 1e6; w > r_.max_fifo_wait_ms) {
      r_.max_fifo_wait_ms = w;
      r_.max_fifo_wait_fifo = qa.max_fifo_wait_fifo;
    }

    sched_->detach();
    if (!wait_sched_ext_state("disabled", kStateTimeoutMs))
      add_failure(r_, fmt::format("sched_ext not disabled {} ms after detach (state: '{}')", kStateTimeoutMs,
                                  sched_ext_state()));
    if (auto ei = sched_->exit_info()) {
      r_.exit_kind = ei->kind;
      r_.exit_reason = ei->reason;
      r_.exit_msg = ei->msg;
      // The kernel's watchdog looks back 30 s: say if the guest stood still then.
      const auto now = Clock::now();
      if (aq::restart_requested(*ei)) {
        r_.counters["restarts"]++;
        r_.notes.push_back(fmt::format("restarted by request: {}{}{} (SCX_ECODE_ACT_RESTART; its loader restarts "
                                       "it the same way)", ei->reason, ei->msg.empty() ? "" : ": ", ei->msg));
      } else if (ei->kind != kExitUnreg)
        add_failure(r_, fmt::format("scheduler ejected: {} (kind {}): {}{}{}{}", exit_kind_name(ei->kind), ei->kind,
                                    ei->reason, ei->msg.empty() ? "" : ": ", ei->msg,
                                    host.during(now - std::chrono::seconds(35), now)));
    } else {
      add_failure(r_, "scheduler recorded no exit information");
    }
    judge_custody();
    r_.slab_free = sched_->slab_free_count();
    r_.slab_total = qa.max_tasks;  // after the count: mainline's is read by the program that counts
    // A context is lost when the slab lock times out QMAP_LOCK_RETRIES times
    // (ejecting the scheduler), as behind a lock holder the host froze: the
    // loss carries no time of its own, so it is marked with every host stall
    // of the attachment (a 13.5 s freeze did it under fault injection).
    if (r_.slab_free != r_.slab_total)
      add_failure(r_, fmt::format("slab not whole after detach: {} of {} contexts free{}", r_.slab_free,
                                  r_.slab_total, host.during(attached_at_, Clock::now())));
  }

 private:
  // The custody ledger, read after detach: ops.exit_task checks it too, and
  // the kernel runs that for every task as the scheduler goes.  Mainline
  // scx_qmap keeps none.
  void judge_custody() {
    if (sched_->ops_name() != "aqmap") return;
    const aq_custody& c = arena().custody;
    r_.counters["nr_custody_taken"] += c.nr_taken;
    r_.counters["nr_custody_ended"] += c.nr_ended;
    for (int k = 0; k < AQ_CV_NR; k++) r_.counters["nr_custody_violations"] += c.nr[k];
    for (auto& why : describe_custody_violations(c)) add_failure(r_, why);
  }

  static constexpr std::uint64_t kListed = 10;  // per kind of failure; then a count
  CaseResult& r_;
  Clock::time_point attached_at_;
  std::unique_ptr<Scheduler> sched_;
  StaleTracker stale_;
  std::uint64_t audits_ = 0;
  std::uint64_t audit_failures_ = 0;
};

// A scheduler the kernel unloaded with a restart request, loaded and attached
// again.  Each CPU hotplug event in the meantime makes the attach fail
// (ops.hotplug_seq no longer matches): a few tries, then a FAIL.  nullptr
// then, with the reason added.
std::unique_ptr<Attachment> restart_attachment(const RunConfig& cfg, CaseResult& r, std::string& seen_ops) {
  constexpr int kTries = 20;
  std::string last;
  for (int i = 0; i < kTries; i++) {
    try {
      return std::make_unique<Attachment>(cfg, r, seen_ops);
    } catch (const LoadError& e) {
      last = e.what();
      if (last.starts_with("unloaded as it was enabled")) r.counters["restarts_unloaded_at_enable"]++;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  add_failure(r, fmt::format("restart after the kernel's request failed {} times: {}", kTries, last));
  return nullptr;
}

// A SysRq-D dump of the sched_ext state goes only to the sched_ext_dump
// tracepoint (ext.c: dump_line(); the seq_buf it is given has no room), not to
// the kernel log.  The tracepoint is switched on for the whole case, while the
// system is healthy: switching it on patches kernel text, which waits for RCU,
// and a scheduler that lost the RCU kthread would block that until the
// kernel's own watchdog ejects it.
class SchedExtDumpTrace {
 public:
  SchedExtDumpTrace() {
    std::ofstream(kTracing + "/trace") << "";
    on_ = static_cast<bool>(std::ofstream(kEnable) << "1");
  }
  ~SchedExtDumpTrace() {
    if (on_) std::ofstream(kEnable) << "0";
  }
  // Triggers SysRq-D and prints the dump to stdout (the VM's console).
  void dump() const {
    if (std::ofstream sysrq("/proc/sysrq-trigger"); sysrq) sysrq << 'D';
    if (!on_) {
      fmt::print("aqcheck: sched_ext dump: no tracefs, so the SysRq-D dump is not readable here\n");
      return;
    }
    std::ifstream trace(kTracing + "/trace");
    std::string line;
    fmt::print("aqcheck: sched_ext dump (SysRq-D, from the sched_ext_dump tracepoint):\n");
    while (std::getline(trace, line)) {
      if (line.starts_with('#')) continue;
      const auto at = line.find("sched_ext_dump: ");
      fmt::print("aqcheck: | {}\n", at == std::string::npos ? line : line.substr(at + 16));
    }
    std::fflush(stdout);
  }

 private:
  inline static const std::string kTracing = "/sys/kernel/tracing";
  inline static const std::string kEnable = kTracing + "/events/sched_ext/sched_ext_dump/enable";
  bool on_ = false;
};

// Brings back every CPU that is offline (a killed cpu-online stressor leaves
// them so); returns how many.
int online_all_cpus() {
  namespace fs = std::filesystem;
  int onlined = 0;
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator("/sys/devices/system/cpu", ec)) {
    const auto name = dir.path().filename().string();
    if (name.size() < 4 || name.rfind("cpu", 0) != 0 || name.find_first_not_of("0123456789", 3) != std::string::npos)
      continue;
    std::ifstream in(dir.path() / "online");
    char state = '1';
    if (!(in >> state) || state != '0') continue;
    std::ofstream(dir.path() / "online") << "1\n";
    onlined++;
  }
  return onlined;
}

// Before the detach of a run that hotplugged CPUs: every CPU online again and
// no hotplug event for a second.  A detach 0.1 s after a CPU came back online
// has left a 7.2 guest with an RCU-tasks grace period and an lru drain stuck
// for good (workloads/README.md); the workload is what must hotplug under the
// scheduler, not the detach.
void settle_cpu_hotplug(const qmap_arena& qa, CaseResult& r) {
  const auto events = [&] {
    return __atomic_load_n(&qa.stats.nr_cpu_online, __ATOMIC_RELAXED) +
           __atomic_load_n(&qa.stats.nr_cpu_offline, __ATOMIC_RELAXED);
  };
  if (events() == 0) return;
  if (const int n = online_all_cpus(); n > 0) {
    fmt::print("aqcheck: {}: brought {} offline CPU(s) back online before the detach\n", r.name, n);
    r.counters["cpus_brought_online"] += static_cast<std::uint64_t>(n);
  }
  auto last = events();
  auto quiet_since = Clock::now();
  const auto give_up = quiet_since + std::chrono::seconds(5);
  while (Clock::now() < give_up && Clock::now() - quiet_since < std::chrono::seconds(1)) {
    std::this_thread::sleep_for(milliseconds(20));
    if (const auto now = events(); now != last) {
      last = now;
      quiet_since = Clock::now();
    }
  }
}

// Raises the calling thread to SCHED_FIFO for its lifetime: the observer must
// not be starved by what it observes, and sched_ext does not schedule RT
// tasks, so aqcheck can still see (and end) a run whose scheduler stalls.
// Children and threads start in SCHED_OTHER (reset on fork): the workload is
// what sched_ext must schedule.
class RealtimeScope {
 public:
  RealtimeScope() {
    sched_param rt{};
    rt.sched_priority = 10;
    ok_ = ::sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &rt) == 0;
    if (!ok_) fmt::print("aqcheck: warning: no SCHED_FIFO for the audit loop: {}\n", std::strerror(errno));
  }
  ~RealtimeScope() {
    sched_param normal{};
    if (ok_) ::sched_setscheduler(0, SCHED_OTHER, &normal);
  }

 private:
  bool ok_ = false;
};

}  // namespace

// The run of one case: one attach for the whole stress run, or --cycles
// attaches in turn while the stress keeps running.  Throws LoadError when the
// scheduler cannot be loaded or attached at all.
CaseResult run_case(const RunConfig& cfg, const CaseSpec& spec, const std::string& out_dir,
                    std::string& seen_ops) {
  CaseResult r;
  r.name = spec.name;
  r.purpose = spec.purpose;
  r.duration_s = spec.duration_s;
  const auto t0 = Clock::now();
  const std::string yaml = fmt::format("{}/stress-{}.yaml", out_dir, spec.name);
  // --seed first: stress-ng 0.15 binds a --seed that follows a
  // <stressor>-method option to that stressor, and the other stressors then
  // print "mwc_core: cannot determine seed from --seed option" and seed
  // themselves at random.
  auto args = spec.stress_args;
  args.insert(args.begin(), {"--seed", std::to_string(cfg.seed)});

  KernelLog klog;
  RealtimeScope realtime;
  SchedExtDumpTrace dump_trace;
  // --cycles N: N attaches, each held duration/N (at least 200 ms), however
  // long loading takes; the stress runs until the last one is done.
  const int cycles = std::max(cfg.cycles, 1);
  const auto cycle_len = std::max(milliseconds(spec.duration_s * 1000 / cycles), milliseconds(200));
  const int stress_s = cycles > 1 ? spec.duration_s + cycles * 30 : spec.duration_s;
  auto att = std::make_unique<Attachment>(cfg, r, seen_ops);
  fmt::print("aqcheck: {}: {} attached (state {}, ops {}, uptime {:.2f} s)\n", spec.name,
             cfg.sched.scheduler == kQmapUpstream ? "mainline scx_qmap" : "scx_aqmap", sched_ext_state(), seen_ops,
             r.attach_uptime_s);

  StressChild child(cfg.stress_ng, args, stress_s, yaml);
  r.stress_argv = child.argv();
  fmt::print("aqcheck: {}: {}\n", spec.name, fmt::join(child.argv(), " "));

  bool stopped_by_check = false;  // a stall or a stuck task: the verdict is known
  {
    Churner churn(child.pid(), spec.churn, cfg.seed, milliseconds(spec.churn_interval_ms));
    const auto start = Clock::now();
    const auto hard_deadline = start + std::chrono::seconds(stress_s + kStressGraceS);
    auto next_audit = start, next_progress = start + std::chrono::seconds(1), next_cycle = start + cycle_len;
    int secs = 0, cycle = 1;
    bool stopped_stress = false;
    StallWatch stall;
    HostStalls host;
    auto next_wait_audit = start;
    while (!child.poll()) {
      if (g_signal) {
        add_failure(r, fmt::format("interrupted by signal {}", g_signal.load()));
        break;
      }
      auto now = Clock::now();
      host.tick(now);
      if (now >= hard_deadline) {
        add_failure(r, fmt::format("stress-ng still running {} s after its timeout: killed", kStressGraceS));
        break;
      }
      if (now >= next_audit) {
        att->audit(now);
        next_audit = now + milliseconds(cfg.audit_interval_ms);
      }
      if (now >= next_wait_audit) {
        next_wait_audit = now + kWaitAuditInterval;
        if (att->audit_waits(now, cfg.sched.stuck_after_ms, host)) {
          dump_trace.dump();
          stopped_by_check = true;
          break;
        }
      }
      if (cfg.stop_on_fail && !r.failures.empty()) {
        r.notes.push_back("stopped at the first failure (--stop-on-fail)");
        stopped_by_check = true;
        break;
      }
      if (now >= next_progress) {
        print_progress(++secs, att->scheduler(), r, att->audits(), att->stale_entries());
        next_progress += std::chrono::seconds(1);
        if (stall.stalled(att->arena().stats, now)) {
          dump_trace.dump();
          add_failure(r, fmt::format("scheduler stall: no enqueue, dispatch or dequeue for {} s while stress-ng "
                                     "runs (sched_ext state dumped to the kernel log){}",
                                     StallWatch::kLimit.count(), host.during(now - StallWatch::kLimit, now)));
          stopped_by_check = true;
          break;
        }
        if (auto st = sched_ext_state(); st != "enabled" && att->restart_requested()) {
          // Load it again, as its own loader would; finish() notes the exit.
          att->finish(host);
          att.reset();
          att = restart_attachment(cfg, r, seen_ops);
          if (!att) break;
          host.resume(Clock::now());
        } else if (st != "enabled") {
          // An ejection, whose own reason follows: marked like it.
          add_failure(r, fmt::format("sched_ext state changed to '{}' during the run{}", st,
                                     host.during(now - std::chrono::seconds(35), now)));
          break;
        }
      }
      if (cycles > 1 && now >= next_cycle && cycle == cycles) {
        stopped_stress = true;
        break;
      }
      if (cycles > 1 && now >= next_cycle) {
        att->finish(host);
        // Both loads map their arena at the same fixed address: the old one
        // must be gone (and unmapped) before the next maps it.
        att.reset();
        att = std::make_unique<Attachment>(cfg, r, seen_ops);
        host.resume(Clock::now());
        next_cycle = Clock::now() + cycle_len;
        cycle++;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    // A stuck or lost task cannot run to die: detach first, then kill.
    if (stopped_by_check) att->finish(host);
    if (stopped_stress)
      child.stop();
    else
      child.kill();
    r.counters["churn_changes"] = churn.changes();
    if (!stopped_by_check && att) {  // no att: a restart failed, and said so
      settle_cpu_hotplug(att->arena(), r);
      att->finish(host);
    }
    r.host_stalls = host.count();
    r.host_stall_max_s = host.longest().count() / 1000.0;
    if (cycles > 1) {
      fmt::print("aqcheck: {}: {} attach/detach cycles under load\n", spec.name, cycle);
      r.counters["cycles"] = static_cast<std::uint64_t>(cycle);
      if (cycle < cycles) add_failure(r, fmt::format("only {} of {} attach/detach cycles ran", cycle, cycles));
    }
    r.stress_exit = child.exit_code();
  }
  r.bogo_ops = read_bogo_ops(yaml);

  // Kernel log lines carry no window of their own: mark them with every host
  // stall of the case (an ejection after a frozen lock holder, an RCU stall).
  const std::string host_note =
      r.host_stalls ? fmt::format("{} aqcheck's own SCHED_FIFO loop stood still {} time(s) in this case "
                                  "(longest {:.1f} s): the whole guest was not run (under TCG: steal time on the host)",
                                  kHostStallMark, r.host_stalls, r.host_stall_max_s)
                    : "";
  std::string kernel_text;
  for (auto& line : klog.read_new()) kernel_text += line + "\n";
  // A restart the kernel asked for logs its exit like an ejection; finish()
  // judged each exit by its own record, and the line becomes a note (which
  // `aqcheck vm` then counts as judged).
  const bool restarted = r.counters.count("restarts") > 0;
  for (auto& bad : scan_console(kernel_text)) {
    if (restarted && bad.find(" disabled (unregistered from the main kernel)") != std::string::npos)
      r.notes.push_back("kernel log, an unload with a restart request: " + bad);
    else
      add_failure(r, "kernel log: " + bad + host_note);
  }

  // A run a check ended early has its reason; its cut-short stress and
  // coverage are consequences, not more reasons.
  if (r.stress_exit != 0 && !stopped_by_check)
    add_failure(r, fmt::format("stress-ng failed: {} ({})", child.describe_exit(), fmt::join(child.argv(), " ")));
  if (!stopped_by_check) check_coverage_of(cfg, spec, r);
  check_fault_injection(cfg, r);

  // After the detach, so the attach time stays boot-to-attach.
  if (cfg.baseline) {
    fmt::print("aqcheck: {}: baseline under the default scheduler ({} s)\n", spec.name, spec.duration_s);
    run_stress_blocking(cfg.stress_ng, args, spec.duration_s, yaml + ".baseline");
    r.baseline_bogo_ops = read_bogo_ops(yaml + ".baseline");
  }

  r.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

namespace {

// After a long host stall the guest is still catching up: the kernel flushes
// its stall reports (and the guest watchdog's SysRq dumps) to a serial
// console that TCG emulates a byte at a time, on the very CPUs the next
// attempt needs.  A retry started then measured a CPU-0-pinned task waiting
// 4.1 s (a fresh-clone run, faults/sched-policy after a 28.8 s freeze).  So
// wait until the CPUs are idle (under 10% busy) for two seconds in a row, at
// most 60 s.  Returns the seconds waited.
double settle_guest(const std::string& name) {
  constexpr double kQuiet = 0.10;
  constexpr auto kMaxWait = std::chrono::seconds(60);
  const auto t0 = Clock::now();
  auto before = read_cpu_times();
  int quiet = 0;
  double busy = 1;
  while (quiet < 2 && Clock::now() - t0 < kMaxWait && !g_signal) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const auto now = read_cpu_times();
    busy = busy_share(before, now);
    before = now;
    quiet = busy < kQuiet ? quiet + 1 : 0;
  }
  const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
  if (quiet >= 2)
    fmt::print("aqcheck: {}: the guest settled in {:.0f} s (CPUs under {:.0f}% busy); retrying\n", name, waited,
               kQuiet * 100);
  else
    fmt::print("aqcheck: {}: the guest did not settle within {:.0f} s (CPUs {:.0f}% busy); retrying anyway\n", name,
               waited, busy * 100);
  std::fflush(stdout);
  return waited;
}

}  // namespace

bool failed_only_by_host(const CaseResult& r) {
  return !r.failures.empty() && std::all_of(r.failures.begin(), r.failures.end(), [](const std::string& f) {
    return f.find(kHostStallMark) != std::string::npos;
  });
}

CaseResult run_case_retrying_host_stalls(const RunConfig& cfg, const CaseSpec& spec, const std::string& out_dir,
                                         std::string& seen_ops) {
  std::vector<HostStallRetry> earlier;
  for (int attempt = 0;; attempt++) {
    CaseResult r = run_case(cfg, spec, out_dir, seen_ops);
    const bool again = failed_only_by_host(r) && attempt < cfg.host_stall_retries && !g_signal;
    if (!again) {
      r.host_stall_retries = std::move(earlier);
      return r;
    }
    fmt::print("aqcheck: {}: FAIL caused by the host: every reason carries a host stall (the guest stood still {} "
               "time(s), longest {:.1f} s); running the case again ({} of {}), and the report keeps this attempt\n",
               spec.name, r.host_stalls, r.host_stall_max_s, attempt + 1, cfg.host_stall_retries);
    for (const auto& f : r.failures) fmt::print("  - {} (attempt {}): {}\n", spec.name, attempt + 1, f);
    std::fflush(stdout);
    const double settle_s = settle_guest(spec.name);
    earlier.push_back({r.failures, r.host_stalls, r.host_stall_max_s, r.wall_s, settle_s});
  }
}

namespace {

// SIGKILL of a running aqcheck must leave the kernel to detach the
// scheduler: the struct_ops link dies with its last fd.  A second aqcheck
// attaches under stress; this one kills it and times the way back to disabled.
CaseResult run_sigkill_case(const RunConfig& cfg, const CaseSpec& spec) {
  RealtimeScope realtime;  // the stopwatch must not wait for the scheduler it times
  CaseResult r;
  r.name = spec.name;
  r.purpose = spec.purpose;
  r.duration_s = spec.duration_s;
  const auto t0 = Clock::now();
  KernelLog klog;
  const int child_duration = cfg.sigkill_after_s + 3;
  std::vector<std::string> argv{"aqcheck", "run", "--duration", std::to_string(child_duration),
                                "--seed", std::to_string(cfg.seed), "--stress", fmt::format("{}", fmt::join(spec.stress_args, " "))};
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    ::execv("/proc/self/exe", cargv.data());
    ::_exit(127);
  }
  const auto give_up = Clock::now() + std::chrono::seconds(30);
  while (!(sched_ext_state() == "enabled" && sched_ext_root_ops() == "aqmap") && Clock::now() < give_up)
    std::this_thread::sleep_for(milliseconds(10));
  if (Clock::now() >= give_up) {
    add_failure(r, "the aqcheck to be killed never attached scx_aqmap");
  } else {
    std::this_thread::sleep_for(std::chrono::seconds(cfg.sigkill_after_s));
    ::kill(pid, SIGKILL);
    const auto killed = Clock::now();
    const bool off = wait_sched_ext_state("disabled", kStateTimeoutMs);
    const double secs = std::chrono::duration<double>(Clock::now() - killed).count();
    r.counters["sigkill_to_disabled_ms"] = static_cast<std::uint64_t>(secs * 1000);
    fmt::print("aqcheck: {}: SIGKILL -> sched_ext '{}' after {:.3f} s\n", spec.name, sched_ext_state(), secs);
    if (!off || secs > 1.0)
      add_failure(r, fmt::format("sched_ext still '{}' {:.3f} s after SIGKILL of aqcheck (limit 1 s)",
                                 sched_ext_state(), secs));
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  // The killed run's stress-ng ends at its own --timeout.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  std::string kernel_text;
  for (auto& line : klog.read_new()) kernel_text += line + "\n";
  for (auto& bad : scan_console(kernel_text)) add_failure(r, "kernel log: " + bad);
  r.exit_kind = 0;
  r.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace

int interrupted_by_signal() { return g_signal.load(); }

void install_signal_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool RunResult::passed() const {
  bool any_ran = std::any_of(cases.begin(), cases.end(), [](auto& c) { return c.skipped.empty(); });
  bool none_failed = std::none_of(cases.begin(), cases.end(), [](auto& c) { return !c.failures.empty(); });
  return any_ran && none_failed;
}

int check_can_attach(const std::string& subcommand) {
  if (::geteuid() != 0) {
    fmt::print(stderr, "aqcheck: error: must run as root (it loads a BPF scheduler)\n");
    return exit_code::not_root;
  }
  const std::string state = sched_ext_state();
  if (state.empty()) {
    fmt::print(stderr,
               "aqcheck: error: kernel {} has no sched_ext (/sys/kernel/sched_ext/state missing); "
               "use `aqcheck vm -- {} ...`\n",
               kernel_release(), subcommand);
    return exit_code::no_sched_ext;
  }
  if (state != "disabled") {
    fmt::print(stderr, "aqcheck: error: another sched_ext scheduler is active (state {}, ops '{}')\n", state,
               sched_ext_root_ops());
    return exit_code::load_failed;
  }
  return exit_code::pass;
}

int run_command(const RunConfig& cfg) {
  std::vector<CaseSpec> cases;
  try {
    cases = resolve_cases(cfg);
  } catch (const WorkloadError& e) {
    fmt::print(stderr, "aqcheck: error: bad workload: {}\n", e.what());
    return exit_code::bad_workload;
  }
  if (const int code = check_can_attach("run"); code != exit_code::pass) return code;
  if (!cfg.kernel_coverage.empty())
    if (const int code = begin_kernel_coverage(); code != exit_code::pass) return code;

  install_signal_handlers();

  RunResult res;
  res.kernel = kernel_release();
  char tmpl[] = "/tmp/aqcheck.XXXXXX";
  const std::string out_dir = ::mkdtemp(tmpl) ? tmpl : "/tmp";
  fmt::print("aqcheck: kernel {}, seed {}, {} case(s)\n", res.kernel, cfg.seed, cases.size());

  for (std::size_t i = 0; i < cases.size() && !g_signal; i++) {
    const auto& spec = cases[i];
    fmt::print("aqcheck: [{}/{}] {}: {} ({} s)\n", i + 1, cases.size(), spec.name, spec.purpose, spec.duration_s);
    CaseResult r;
    if (!spec.skip.empty()) {
      r.name = spec.name;
      r.purpose = spec.purpose;
      r.skipped = spec.skip;
      fmt::print("aqcheck: [{}/{}] {}: SKIPPED: {}\n", i + 1, cases.size(), spec.name, spec.skip);
      res.cases.push_back(std::move(r));
      continue;
    }
    // The first case's counters were zeroed with the check above.
    if (!cfg.kernel_coverage.empty() && i > 0)
      if (const int code = begin_kernel_coverage(); code != exit_code::pass) return code;
    try {
      r = cfg.sigkill_after_s ? run_sigkill_case(cfg, spec)
                              : run_case_retrying_host_stalls(cfg, spec, out_dir, res.sched_ext_ops);
    } catch (const LoadError& e) {
      fmt::print(stderr, "aqcheck: error: {}\n", e.what());
      return exit_code::load_failed;
    }
    if (!cfg.kernel_coverage.empty())
      if (const int code = end_kernel_coverage(cfg.kernel_coverage, spec.name,
                                               fmt::format("[{}/{}] {}", i + 1, cases.size(), spec.name));
          code != exit_code::pass)
        return code;
    if (cfg.sched.scheduler == kQmapUpstream)  // mainline counts no removals apart
      fmt::print("aqcheck: [{}/{}] {}: {} ({:.1f} s, {} audits, {} dequeues)\n", i + 1, cases.size(), spec.name,
                 case_verdict_text(r), r.wall_s, r.audits, r.counters["nr_dequeued"]);
    else
      fmt::print("aqcheck: [{}/{}] {}: {} ({:.1f} s, {} audits, {} removals)\n", i + 1, cases.size(), spec.name,
                 case_verdict_text(r), r.wall_s, r.audits, r.counters["nr_deq_removed"]);
    res.cases.push_back(std::move(r));
  }

  const std::string repro = reproduction_command(cfg, res.kernel);
  try {
    write_reports(cfg, res, repro);
  } catch (const std::exception& e) {
    fmt::print(stderr, "aqcheck: error: writing reports: {}\n", e.what());
    return exit_code::internal;
  }
  print_verdict(res, cfg, repro);
  return res.passed() ? exit_code::pass : exit_code::fail;
}

}  // namespace aq
