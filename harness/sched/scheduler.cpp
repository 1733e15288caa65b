#include "sched/scheduler.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <sys/prctl.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "sched/qmap_upstream.hpp"
#include "sched/skeleton_maps.hpp"
#include "sched/stats.hpp"
#include "scx_aqmap.skel.h"
#include "scx_aqmap_lazy.skel.h"
#include "scx_aqmap_lost.skel.h"
#include "scx_aqmap_precustody.skel.h"
#include "scx_aqmap_m01.skel.h"
#include "scx_aqmap_m07.skel.h"
#include "scx_aqmap_m18.skel.h"
#include "scx_aqmap_qmap.skel.h"

namespace aq {

std::string exit_kind_name(std::int64_t kind) {
  switch (kind) {
    case 0: return "none";
    case 1: return "done";
    case 64: return "unregistered from user space";
    case 65: return "unregistered by kernel (BPF)";
    case 66: return "unregistered by kernel";
    case 67: return "unregistered by sysrq";
    case 1024: return "runtime error";
    case 1025: return "scx_bpf_error() called";
    case 1026: return "runnable task stall (watchdog)";
    default: return fmt::format("kind {}", kind);
  }
}

namespace {

std::string read_line(const char* path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

// Can this kernel core-schedule?  PR_SCHED_CORE_GET fails with EINVAL
// without CONFIG_SCHED_CORE and with ENODEV without SMT; otherwise a dequeue
// at pick (SCX_DEQ_CORE_SCHED_EXEC) is legal, and the custody ledger's
// dequeue-at-pick rule is off (bpf/aqmap_custody.h).
bool kernel_can_core_schedule() {
  unsigned long cookie = 0;
  if (prctl(PR_SCHED_CORE, PR_SCHED_CORE_GET, 0, 0 /* PIDTYPE_PID */, &cookie) == 0) return true;
  return errno != EINVAL && errno != ENODEV;
}

// The two skeletons differ only in name: one implementation serves both.
template <typename Skel>
class SkelScheduler final : public Scheduler {
 public:
  explicit SkelScheduler(const SchedOptions& o) {
    skel_ = Skel::open();
    if (!skel_) throw LoadError(fmt::format("opening the BPF object failed: {}", strerror(errno)));
    if (o.slice_us) skel_->rodata->slice_ns = o.slice_us * 1000;
    skel_->rodata->dsp_batch = o.dsp_batch;
    skel_->rodata->highpri_boosting = o.highpri_boosting;
    skel_->rodata->max_tasks = o.max_tasks;
    skel_->rodata->error_after_enqueues = o.error_after_enqueues;
    skel_->rodata->fail_lock_every = o.fail_lock_every;
    skel_->rodata->starve_ms = o.starve_ms;
    skel_->rodata->stuck_after_ms = o.stuck_after_ms;
    skel_->rodata->wake_preempt_ns = o.wake_preempt_us * 1000;
    skel_->rodata->time_ops = o.time_ops;
    skel_->rodata->enqueue_delay_ns = o.enqueue_delay_us * 1000;
    skel_->rodata->core_sched_possible = kernel_can_core_schedule();
    skel_->rodata->reenq_shared = o.reenq_shared;
    if (int err = Skel::load(skel_))
      throw LoadError(fmt::format("loading scx_aqmap failed: {} (see libbpf output above)", strerror(-err)));
  }
  ~SkelScheduler() override {
    detach();
    Skel::destroy(skel_);
  }

  void attach() override {
    link_ = bpf_map__attach_struct_ops(skel_->maps.aqmap_ops);
    if (!link_) throw LoadError(fmt::format("attaching scx_aqmap failed: {}", strerror(errno)));
  }
  void detach() override {
    if (link_) {
      bpf_link__destroy(link_);
      link_ = nullptr;
    }
  }
  bool attached() const override { return link_ != nullptr; }
  const qmap_arena& arena() const override { return skel_->arena->qa; }

  void run_audit() override { test_run(skel_->progs.aqmap_audit); }
  void run_wait_audit() override { test_run(skel_->progs.aqmap_audit_waits); }

  std::optional<ExitInfo> exit_info() const override {
    const auto& e = skel_->bss->exit_info;
    std::int64_t kind = __atomic_load_n(&e.kind, __ATOMIC_ACQUIRE);
    if (!kind) return std::nullopt;
    return ExitInfo{kind, e.exit_code, std::string(e.reason, strnlen(e.reason, sizeof e.reason)),
                    std::string(e.msg, strnlen(e.msg, sizeof e.msg))};
  }

 private:
  static void test_run(bpf_program* prog) {
    LIBBPF_OPTS(bpf_test_run_opts, opts);
    if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts))
      throw std::runtime_error(
          fmt::format("running the {} program failed: {}", bpf_program__name(prog), strerror(errno)));
  }

  Skel* skel_ = nullptr;
  bpf_link* link_ = nullptr;
};

template <typename Skel>
std::unique_ptr<Scheduler> make(const SchedOptions& o) {
  return std::make_unique<SkelScheduler<Skel>>(o);
}

struct Variant {
  const char* name;
  std::unique_ptr<Scheduler> (*make)(const SchedOptions&);
  int (*map_count)();
};

template <typename Skel>
constexpr Variant variant(const char* name) {
  return {name, make<Skel>, skeleton_map_count<Skel>};
}

const std::vector<Variant> kVariants{
    variant<scx_aqmap>("normal"),
    variant<scx_aqmap_lazy>("lazy-removal"),
    variant<scx_aqmap_lost>("lost-task"),
    variant<scx_aqmap_precustody>("pre-custody-dequeue"),
    variant<scx_aqmap_m01>("mutant-unlink-no-prev"),
    variant<scx_aqmap_m07>("mutant-pop-no-counter"),
    variant<scx_aqmap_m18>("mutant-slab-free-drops"),
    variant<scx_aqmap_qmap>(kQueueMapVariant),  // bench only: not in scheduler_variants()
};

}  // namespace

std::vector<std::string> scheduler_variants() {
  std::vector<std::string> names;
  for (const auto& v : kVariants)
    if (std::string_view(v.name) != kQueueMapVariant) names.push_back(v.name);
  return names;
}

std::unique_ptr<Scheduler> Scheduler::load(const SchedOptions& opts) {
  if (opts.scheduler == kQmapUpstream) return load_qmap_upstream(opts);
  for (const auto& v : kVariants)
    if (v.name == opts.variant) return v.make(opts);
  throw LoadError(fmt::format("unknown scheduler variant '{}'", opts.variant));
}

std::vector<std::pair<std::string, int>> scheduler_map_counts() {
  std::vector<std::pair<std::string, int>> out;
  for (const auto& v : kVariants) out.emplace_back(v.name, v.map_count());
  return out;
}

std::map<std::string, std::uint64_t> Scheduler::counters() const { return read_stats(arena().stats); }

std::size_t Scheduler::slab_free_count() const {
  const qmap_arena& qa = arena();
  std::size_t n = 0;
  for (const task_ctx* t = qa.task_free_head; t && n <= qa.max_tasks; t = t->next_free) n++;
  return n;
}

std::string sched_ext_state() { return read_line("/sys/kernel/sched_ext/state"); }
std::string sched_ext_root_ops() { return read_line("/sys/kernel/sched_ext/root/ops"); }

bool wait_sched_ext_state(const std::string& want, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (sched_ext_state() != want) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace aq
