#include "sched/qmap_upstream.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <thread>

#include <sys/utsname.h>

#include "qmap_upstream_source.h"
#include "sched/arena.hpp"
#include "sched/qmap_upstream_load.h"
#include "upstream/qmap_upstream_audit.h"

namespace aq {

namespace {

using Clock = std::chrono::steady_clock;

// Mainline's high-priority count against the high-priority entries the audit
// walked.  The counter moves outside the list locks (qmap_enqueue adds after
// the link, qmap_dispatch subtracts after the pop, qmap_dequeue before the
// unlink), so each CPU can be one update away from the lists at any instant:
// a gap of more than the CPUs, the same way in two audits at least 10 ms
// apart, is a count that has drifted for good.
class HighpriRule {
 public:
  // True when the count is off in this audit and was in the previous one.
  bool drifted(std::uint64_t counter, std::uint64_t linked, Clock::time_point now) {
    const std::int64_t gap = static_cast<std::int64_t>(counter) - static_cast<std::int64_t>(linked);
    const bool off = gap > slack_ || gap < -slack_;
    if (!off) {
      since_ = {};
      return false;
    }
    if (since_ == Clock::time_point{}) since_ = now;
    return now - since_ >= std::chrono::milliseconds(10);
  }

 private:
  std::int64_t slack_ = static_cast<std::int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  Clock::time_point since_{};
};

class UpstreamQmap final : public Scheduler {
 public:
  UpstreamQmap(const SchedOptions& o, const aqu_api* api) : api_(api), mirror_(std::make_unique<qmap_arena>()) {
    check_series();
    aqu_options uo{};
    uo.slice_ns = o.slice_us * 1000;
    uo.dsp_batch = o.dsp_batch;
    uo.highpri_boosting = o.highpri_boosting;
    uo.max_tasks = o.max_tasks;
    uo.stall_user_nth = o.qmap_stall_user_nth;
    uo.stuck_after_ms = o.stuck_after_ms;
    std::array<char, 256> err{};
    if (api_->open_load(&uo, &s_, err.data(), err.size())) throw LoadError(err.data());
    std::memset(mirror_.get(), 0, sizeof(qmap_arena));
    for (int i = 0; i < QMAP_NR_FIFOS; i++) mirror_->fifos[i].idx = i;
  }
  ~UpstreamQmap() override { api_->destroy(s_); }

  void attach() override {
    std::array<char, 256> err{};
    if (api_->attach(s_, err.data(), err.size())) throw LoadError(err.data());
    attached_ = true;
  }
  void detach() override {
    api_->detach(s_);
    attached_ = false;
  }
  bool attached() const override { return attached_; }
  std::string ops_name() const override { return "qmap"; }

  // scx_aqmap's layout, filled from mainline's: the run loop's progress line,
  // stall watch and audits read it.  Only what mainline has an equivalent of.
  const qmap_arena& arena() const override {
    aqu_counters c{};
    api_->counters(s_, &c);
    aq_stats& st = mirror_->stats;
    st.nr_enqueued = c.nr_enqueued;
    st.nr_dispatched = c.nr_dispatched;
    st.nr_direct = c.nr_ddsp_from_enq;
    st.nr_reenqueued = c.nr_reenqueued;
    st.nr_dequeued = c.nr_dequeued;
    mirror_->nr_high_queued = c.nr_highpri_queued;
    return *mirror_;
  }

  // Unlinks from a FIFO, which mainline does not count: every link
  // (nr_enqueued) ends in a pop that dispatches (nr_dispatched) or an
  // unlink by qmap_dequeue, or is still linked.  A pop whose task is gone is
  // not counted as dispatched, so this is an upper bound; a floor on it is a
  // floor on unlinks all the same, to within those.
  std::uint64_t unlinked(const aqu_counters& c) const {
    std::uint64_t linked = 0;
    for (int i = 0; i < QMAP_NR_FIFOS; i++) linked += mirror_->fifos[i].len;
    const std::uint64_t out = c.nr_dispatched + linked;
    return c.nr_enqueued > out ? c.nr_enqueued - out : 0;
  }

  std::map<std::string, std::uint64_t> counters() const override {
    aqu_counters c{};
    api_->counters(s_, &c);
    return {{"nr_enqueued", c.nr_enqueued},
            {"nr_dispatched", c.nr_dispatched},
            {"nr_reenqueued", c.nr_reenqueued},
            {"nr_dequeued", c.nr_dequeued},
            {"nr_ddsp_from_enq", c.nr_ddsp_from_enq},
            {"nr_core_sched_execed", c.nr_core_sched_execed},
            {"nr_expedited_local", c.nr_expedited_local},
            {"nr_expedited_remote", c.nr_expedited_remote},
            {"nr_expedited_lost", c.nr_expedited_lost},
            {"nr_highpri_queued", c.nr_highpri_queued},
            {"nr_unlinked", unlinked(c)}};
  }

  void run_audit() override {
    run(AQU_AUDIT, "aqu_audit");
    const aq_audit* au = api_->audit(s_);
    aq_audit& m = mirror_->audit;
    // The header, then only the entries this audit wrote.
    std::memcpy(&m, au, offsetof(aq_audit, entries));
    std::memcpy(m.entries, au->entries, std::min<u32>(au->nr_entries, AQ_AUDIT_MAX_ENTRIES) * sizeof(aq_audit_entry));
    const aqu_facts* f = api_->facts(s_);
    for (int i = 0; i < QMAP_NR_FIFOS; i++) mirror_->fifos[i].len = f->fifo_len[i];
    if ((m.status == AQ_AUDIT_OK || m.status == AQ_AUDIT_TRUNCATED) &&
        highpri_.drifted(f->nr_highpri_queued, f->highpri_linked, Clock::now())) {
      m.status = AQ_AUDIT_COUNTER;
      m.bad_fifo = -1;
      m.bad_pid = -1;
      m.bad_val[0] = f->nr_highpri_queued;
      m.bad_val[1] = f->highpri_linked;
    }
  }
  void run_wait_audit() override {
    run(AQU_AUDIT_WAITS, "aqu_audit_waits");
    mirror_->waits = *api_->waits(s_);
  }

  std::optional<ExitInfo> exit_info() const override {
    std::int64_t kind = 0, code = 0;
    const char *reason = nullptr, *msg = nullptr;
    if (!api_->exit_info(s_, &kind, &code, &reason, &msg)) return std::nullopt;
    return ExitInfo{kind, code, reason, msg};
  }

  std::size_t slab_free_count() const override {
    run(AQU_COUNT_FREE, "aqu_count_free");
    const aqu_facts* f = api_->facts(s_);
    mirror_->max_tasks = static_cast<u32>(f->max_tasks);
    return f->slab_free;
  }

 private:
  void run(aqu_prog which, const char* name) const {
    if (int err = api_->run(s_, which))
      throw std::runtime_error(fmt::format("running the {} program failed: {}", name, std::strerror(-err)));
  }

  // Mainline's scx_qmap follows its kernel's sched_ext closely (7.2's and
  // 7.3's differ, headers too): the build carries the one of its
  // AQ_KERNEL_SERIES, and runs only on that series.
  static void check_series() {
    utsname u{};
    ::uname(&u);
    const std::string release = u.release, want = AQ_QMAP_UPSTREAM_SERIES;
    if (!release.starts_with(want + "."))
      throw LoadError(fmt::format("this aqcheck carries mainline scx_qmap of {} but the kernel is {}: configure a "
                                  "build with -DAQ_KERNEL_SERIES={} (after ci/setup.sh --kernel {})",
                                  AQ_QMAP_UPSTREAM_SOURCE, release, release.substr(0, release.find('.', 2)),
                                  release.substr(0, release.find('.', 2))));
  }

  const aqu_api* api_;
  aqu_sched* s_ = nullptr;
  bool attached_ = false;
  std::unique_ptr<qmap_arena> mirror_;
  HighpriRule highpri_;
};

// Mainline as built, and its mutants: patched copies in the build tree
// (bpf/CMakeLists.txt) that exist to prove the audit of mainline's lists fails.
struct UpstreamVariant {
  const char* name;
  const aqu_api* (*api)();
};
constexpr std::array kUpstreamVariants{
    UpstreamVariant{"normal", aqu_api_mainline},
    UpstreamVariant{"mutant-pop-no-prev-fixup", aqu_api_mutant_pop_no_prev_fixup},
    UpstreamVariant{"mutant-dequeue-no-remove", aqu_api_mutant_dequeue_no_remove},
    UpstreamVariant{"mutant-exit-task-free-drops", aqu_api_mutant_exit_task_free_drops},
};

// scx_aqmap's counters a workload floor may name, and mainline's stand-in.
struct Restatement {
  const char* aqmap;
  const char* mainline;  // nullptr: no stand-in, the floor is dropped
  const char* why;
};
constexpr std::array kRestatements{
    // Not nr_dequeued: it counts every ops.dequeue(), and on 7.2 affinity-churn
    // made tens of thousands of them and unlinked no task (docs/mainline-qmap.md "What is checked, and what cannot be").
    Restatement{"nr_deq_removed", "nr_unlinked",
                "mainline does not count unlinks: nr_enqueued - nr_dispatched - still linked"},
    Restatement{"nr_deq_sched_change", "nr_unlinked",
                "mainline does not count SCX_DEQ_SCHED_CHANGE dequeues; what they must do to its lists is unlink"},
    Restatement{"nr_fifo_changes", nullptr, "mainline keeps no FIFO-change count"},
    Restatement{"nr_init_task", nullptr, "mainline does not count ops.init_task()"},
    Restatement{"nr_exit_task", nullptr, "mainline does not count ops.exit_task()"},
    Restatement{"nr_cpu_online", nullptr, "mainline has no ops.cpu_online()"},
    Restatement{"nr_cpu_offline", nullptr, "mainline has no ops.cpu_offline()"},
};

}  // namespace

std::unique_ptr<Scheduler> load_qmap_upstream(const SchedOptions& opts) {
  for (const auto& v : kUpstreamVariants)
    if (opts.variant == v.name) return std::make_unique<UpstreamQmap>(opts, v.api());
  throw LoadError(fmt::format("mainline scx_qmap has no build '{}'", opts.variant));
}

std::vector<std::string> qmap_upstream_variants() {
  std::vector<std::string> out;
  for (const auto& v : kUpstreamVariants) out.push_back(v.name);
  return out;
}

std::string qmap_upstream_source() { return AQ_QMAP_UPSTREAM_SOURCE; }

std::vector<std::string> restate_coverage_for_qmap_upstream(Workload& w) {
  std::vector<std::string> notes;
  std::vector<Expectation> kept;
  for (auto e : w.expectations) {
    const auto it = std::find_if(kRestatements.begin(), kRestatements.end(),
                                 [&](const Restatement& r) { return e.counter == r.aqmap; });
    if (it == kRestatements.end()) {
      kept.push_back(e);
      continue;
    }
    if (it->mainline) {
      notes.push_back(fmt::format("coverage floor {} >= {} checked as {} >= {}: {}", e.counter, e.min,
                                  it->mainline, e.min, it->why));
      e.counter = it->mainline;
      kept.push_back(e);
    } else {
      notes.push_back(fmt::format("coverage floor {} >= {} not checkable: {}", e.counter, e.min, it->why));
    }
  }
  w.expectations = std::move(kept);
  return notes;
}

}  // namespace aq
