// Loading, attaching and observing scx_aqmap through its libbpf skeleton.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sched/arena.hpp"

namespace aq {

// scx_aqmap's own default (wake_preempt_ns in scx_aqmap.bpf.c; a unit test
// holds the two equal).
inline constexpr std::uint64_t kDefaultWakePreemptUs = 2000;

struct SchedOptions {
  // "aqmap" (this project's scheduler, in the build `variant` names) or
  // "qmap-upstream" (mainline's scx_qmap, sched/qmap_upstream.hpp).
  std::string scheduler = "aqmap";
  std::uint32_t qmap_stall_user_nth = 0;  // qmap-upstream's -t knob: it drops every Nth user task
  // "normal"; "lazy-removal" (dequeue leaves stale entries); "lost-task"
  // (the enqueue fallback drops the task); "pre-custody-dequeue" (dequeue
  // ignores the custody end 7.2 added: the custody ledger); or a list
  // mutant that corrupts ("mutant-unlink-no-prev"), miscounts
  // ("mutant-pop-no-counter") or leaks contexts ("mutant-slab-free-drops"):
  // builds that exist to prove the checks fail.  See scheduler_variants().
  std::string variant = "normal";
  std::uint64_t slice_us = 0;         // 0: SCX_SLICE_DFL
  std::uint32_t dsp_batch = 0;        // 0: one task per dispatch
  bool highpri_boosting = false;
  std::uint32_t max_tasks = 16384;
  std::uint64_t error_after_enqueues = 0;  // test knob
  std::uint32_t fail_lock_every = 0;       // fault injection
  std::uint64_t starve_ms = 250;           // a FIFO head waiting longer is dispatched first
  std::uint64_t stuck_after_ms = 4000;     // a task waiting longer for a CPU FAILs the run
  std::uint64_t wake_preempt_us = kDefaultWakePreemptUs;  // a wakee that ran less preempts its CPU (0: off)
  bool time_ops = false;                   // time each FIFO operation (arena op_costs): aqcheck bench
  std::uint64_t enqueue_delay_us = 0;      // test knob: every enqueue busy-waits (a slowed build)
  // Every ops.dispatch asks the kernel to re-enqueue the shared DSQ
  // (scx_bpf_dsq_reenq), and re-enqueued tasks go back on their FIFOs: the
  // kernel's reenq_user() path and its race with a dispatcher's final store
  // (kernels/regressions/01-*), which nothing else drives.
  bool reenq_shared = false;
};

struct ExitInfo {
  std::int64_t kind = 0;
  std::int64_t code = 0;
  std::string reason;
  std::string msg;
};

inline constexpr std::int64_t kExitUnreg = 64;  // SCX_EXIT_UNREG: unregistered from user space
inline constexpr std::int64_t kExitUnregKern = 66;  // SCX_EXIT_UNREG_KERN: unregistered by the kernel
inline constexpr std::uint64_t kEcodeActRestart = 1ULL << 48;  // SCX_ECODE_ACT_RESTART in the exit code

// The kernel unloaded the scheduler and asked its loader to load it again:
// a CPU came or went and the scheduler has no ops.cpu_online/offline (ext.c,
// scx_rq_activate/deactivate -> "cpu N going offline, exiting scheduler").
// Mainline's scx_qmap.c restarts then (UEI_ECODE_RESTART); so does aqcheck.
inline bool restart_requested(const ExitInfo& e) {
  return e.kind == kExitUnregKern && (static_cast<std::uint64_t>(e.code) & kEcodeActRestart);
}
std::string exit_kind_name(std::int64_t kind);

struct LoadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One loaded instance of the scheduler.  Destroying it detaches.
class Scheduler {
 public:
  static std::unique_ptr<Scheduler> load(const SchedOptions& opts);  // throws LoadError
  virtual ~Scheduler() = default;

  virtual void attach() = 0;  // throws LoadError
  virtual void detach() = 0;  // idempotent
  virtual bool attached() const = 0;
  virtual const qmap_arena& arena() const = 0;
  virtual void run_audit() = 0;  // throws std::runtime_error
  virtual void run_wait_audit() = 0;  // every task's wait (aqmap_audit_waits); throws std::runtime_error
  // The scheduler's own record of why it stopped; empty while it runs.
  virtual std::optional<ExitInfo> exit_info() const = 0;
  // /sys/kernel/sched_ext/root/ops while it is attached.
  virtual std::string ops_name() const { return "aqmap"; }
  // Its counters by name, as reports list them and coverage floors name them.
  virtual std::map<std::string, std::uint64_t> counters() const;

  // Contexts on the slab's free list (walks it; call when the scheduler is idle).
  virtual std::size_t slab_free_count() const;
};

// The scheduler builds aqcheck carries, "normal" first.  The benchmark-only
// "queue-map" build (BPF_MAP_TYPE_QUEUE FIFOs) is not among them: `run` and
// `fuzz` cannot audit its FIFOs.  `aqcheck bench` loads it by name.
std::vector<std::string> scheduler_variants();
inline constexpr const char* kQueueMapVariant = "queue-map";

// libbpf 1.4.6 (bookworm-backports) keeps a pointer to the arena map across a
// reallocation of its array of maps, which first holds 16: an object with
// more maps crashes bpf_object_load() or not, depending on the allocator
// (libbpf commit 4a081a9, fixed in 1.6; the queue-map build's 19 maps
// segfaulted in the guest).  Every build must stay within it.
inline constexpr int kMaxBpfMaps = 16;
// Each build (queue-map too) and the maps its object holds, opened and not
// loaded: runs on any kernel.  Not mainline's scx_qmap: it is loaded by the
// kernel source's libbpf, which has the fix (sched/kernel-libbpf.sh).
std::vector<std::pair<std::string, int>> scheduler_map_counts();

// /sys/kernel/sched_ext/state, or "" when the kernel has no sched_ext.
std::string sched_ext_state();
// /sys/kernel/sched_ext/root/ops ("" when none).
std::string sched_ext_root_ops();
// Waits up to timeout_ms for sched_ext_state() == want.
bool wait_sched_ext_state(const std::string& want, int timeout_ms);

}  // namespace aq
