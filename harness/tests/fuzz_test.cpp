// aqcheck fuzz without a kernel: the catalogue read from workloads/, spec
// generation, the strict spec format, budgets, the failure classifier and
// the shrinker (driven by a fake runner).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "fuzz/fuzz.hpp"
#include "fuzz/shrink.hpp"
#include "fuzz/spec.hpp"
#include "workload/workload.hpp"

namespace {

namespace fs = std::filesystem;

const aq::StressorCatalogue& catalogue() {
  static const auto cat = aq::build_catalogue(aq::find_workload("all", aq::default_workloads_dir()));
  return cat;
}

aq::FuzzSpec sample_spec() {
  aq::FuzzSpec s;
  s.name = "s001";
  s.seed = 42;
  s.duration_s = 16;
  s.audit_interval_ms = 25;
  s.stressors = {{"cpu", 3, "int64", {}}, {"fork", 2, "", {{"fork-max", "4"}}}, {"yield", 2, "", {}}};
  s.churn = {"renice", "affinity"};
  s.churn_interval_ms = 7;
  s.fail_lock_every = 9;
  s.slice_us = 2000;
  s.dsp_batch = 3;
  s.highpri_boosting = true;
  return s;
}

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char tmpl[] = "/tmp/aq_fuzz_test.XXXXXX";
    const int fd = ::mkstemp(tmpl);
    ::close(fd);
    path_ = tmpl;
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// --- catalogue -------------------------------------------------------------------

TEST(FuzzCatalogue, ComesFromTheWorkloadFiles) {
  const auto& cat = catalogue();
  const auto* cpu = cat.find("cpu");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->methods, std::vector<std::string>{"int64"});
  EXPECT_TRUE(cpu->global_options.empty());  // cpu-baseline runs it without pathological
  EXPECT_EQ(cpu->max_instances, 3);          // capped: cpu-baseline runs 4
  const auto* online = cat.find("cpu-online");
  ASSERT_NE(online, nullptr);  // a stressor, not a companion of "cpu"
  EXPECT_EQ(online->global_options, std::vector<std::string>{"pathological"});
  EXPECT_EQ(online->requires_cpus, 2U);
  EXPECT_EQ(online->max_instances, 1);
  const auto* fork = cat.find("fork");
  ASSERT_NE(fork, nullptr);
  EXPECT_EQ(fork->options.at("fork-max"), "4");
  ASSERT_NE(cat.find("race-sched"), nullptr);
  EXPECT_EQ(cat.find("race-sched")->methods, std::vector<std::string>{"rand"});
  EXPECT_EQ(cat.find("affinity")->options.count("affinity-rand"), 1U);
  EXPECT_NE(cat.find("exit-group"), nullptr);   // after clone-max, still a stressor
  EXPECT_EQ(cat.find("cpu-method"), nullptr);   // a companion option, not a stressor
  EXPECT_EQ(cat.find("pathological"), nullptr);
  EXPECT_EQ(cat.find("fork-max"), nullptr);
}

// --- generation --------------------------------------------------------------------

TEST(FuzzGenerate, DeterministicPerSeedAndWithinTheRanges) {
  std::set<std::string> seen_stressors;
  int distinct = 0;
  for (std::uint64_t seed = 1; seed <= 200; seed++) {
    const auto a = aq::generate_spec(seed, catalogue(), 2);
    EXPECT_EQ(a, aq::generate_spec(seed, catalogue(), 2)) << seed;
    distinct += !(a == aq::generate_spec(seed + 1000, catalogue(), 2));
    ASSERT_GE(a.stressors.size(), 1U);
    EXPECT_LE(a.stressors.size(), 3U);
    EXPECT_GE(a.duration_s, 5);
    EXPECT_LE(a.duration_s, 20);
    EXPECT_GE(a.audit_interval_ms, 5);
    EXPECT_LE(a.audit_interval_ms, 100);
    EXPECT_TRUE(a.fail_lock_every == 0 || (a.fail_lock_every >= 3 && a.fail_lock_every <= 50));
    for (const auto& s : a.stressors) {
      const auto* c = catalogue().find(s.name);
      ASSERT_NE(c, nullptr) << s.name;
      EXPECT_GE(s.instances, 1);
      EXPECT_LE(s.instances, 3);
      EXPECT_TRUE(s.method.empty() || std::count(c->methods.begin(), c->methods.end(), s.method));
      for (const auto& g : c->global_options)
        EXPECT_TRUE(std::count(a.global_options.begin(), a.global_options.end(), g)) << s.name << " needs " << g;
      seen_stressors.insert(s.name);
    }
  }
  EXPECT_GT(distinct, 190);
  EXPECT_GE(seen_stressors.size(), catalogue().stressors.size() - 1);  // draws cover the catalogue
}

TEST(FuzzGenerate, OneCpuLeavesOutStressorsNeedingTwo) {
  for (std::uint64_t seed = 1; seed <= 100; seed++)
    for (const auto& s : aq::generate_spec(seed, catalogue(), 1).stressors) EXPECT_NE(s.name, "cpu-online");
}

TEST(FuzzGenerate, DurationFitsTheRemainingBudget) {
  for (std::uint64_t seed = 1; seed <= 50; seed++) EXPECT_LE(aq::generate_spec(seed, catalogue(), 2, 3).duration_s, 3);
}

// --- the spec format ------------------------------------------------------------------

TEST(FuzzSpecJson, RoundTrips) {
  const auto s = sample_spec();
  EXPECT_EQ(aq::spec_from_json(aq::spec_to_json(s)), s);
  EXPECT_EQ(aq::spec_to_json(s)["schema"], "aqcheck-fuzz-spec/1");
  const auto g = aq::generate_spec(7, catalogue(), 2);
  EXPECT_EQ(aq::spec_from_json(nlohmann::json::parse(aq::spec_to_json(g).dump())), g);
}

TEST(FuzzSpecJson, RejectsUnknownKeys) {
  auto j = aq::spec_to_json(sample_spec());
  j["durration_s"] = 5;
  EXPECT_THROW(aq::spec_from_json(j), aq::SpecError);
  j = aq::spec_to_json(sample_spec());
  j["stressors"][0]["method2"] = "x";
  EXPECT_THROW(aq::spec_from_json(j), aq::SpecError);
  j = aq::spec_to_json(sample_spec());
  j["scheduler"]["slice"] = 1;
  try {
    aq::spec_from_json(j);
    FAIL() << "accepted an unknown key";
  } catch (const aq::SpecError& e) {
    EXPECT_EQ(std::string(e.what()), "spec.scheduler: unknown key 'slice'");
  }
}

TEST(FuzzSpecJson, RejectsValuesOutOfRangeOrOfTheWrongType) {
  const auto with = [](auto edit) {
    auto j = aq::spec_to_json(sample_spec());
    edit(j);
    return j;
  };
  using J = nlohmann::json;
  for (const auto& bad : {
           with([](J& j) { j["duration_s"] = 0; }),
           with([](J& j) { j["duration_s"] = "10"; }),
           with([](J& j) { j["audit_interval_ms"] = -5; }),
           with([](J& j) { j["stressors"][0]["instances"] = 99; }),
           with([](J& j) { j["stressors"] = J::array(); }),
           with([](J& j) { j["stressors"][1]["name"] = "cpu"; }),  // twice
           with([](J& j) { j["stressors"][0]["name"] = "cpu --all"; }),
           with([](J& j) { j["churn"]["kinds"] = {"shuffle"}; }),
           with([](J& j) { j["fail_lock_every"] = 1; }),
           with([](J& j) { j["scheduler"]["highpri_boosting"] = 1; }),
           with([](J& j) { j["schema"] = "aqcheck-fuzz-spec/2"; }),
           with([](J& j) { j.erase("schema"); }),
       })
    EXPECT_THROW(aq::spec_from_json(bad), aq::SpecError) << bad.dump();
}

TEST(FuzzSpecFile, MalformedOrUnreadableIsASpecError) {
  TempFile malformed("{\"schema\": \"aqcheck-fuzz-spec/1\", ");
  EXPECT_THROW(aq::load_spec(malformed.path()), aq::SpecError);
  EXPECT_THROW(aq::load_spec("/nonexistent/spec.json"), aq::SpecError);
  EXPECT_THROW(aq::load_spec("/tmp"), aq::SpecError);
  TempFile good(aq::spec_to_json(sample_spec()).dump());
  EXPECT_EQ(aq::load_spec(good.path()), sample_spec());
}

TEST(FuzzSpec, JobFileIsAWorkloadWithTheSameStress) {
  const auto s = sample_spec();
  const auto w = aq::parse_workload(aq::to_job_text(s, "shrunk: fails"), "/x/s001-min.job");
  EXPECT_EQ(w.stress_args, aq::stress_args_of(s));
  EXPECT_EQ(w.duration_s, 16U);
  EXPECT_EQ(w.churn, (std::vector<std::string>{"renice", "affinity"}));
  ASSERT_EQ(w.expectations.size(), 1U);
  EXPECT_EQ(w.expectations[0].counter, "nr_enqueued");
  EXPECT_EQ(aq::stress_args_of(s), (std::vector<std::string>{"--cpu", "3", "--cpu-method", "int64", "--fork", "2",
                                                              "--fork-max", "4", "--yield", "2"}));
  EXPECT_EQ(aq::run_options_of(s),
            (std::vector<std::string>{"--audit-interval-ms", "25", "--churn-interval-ms", "7", "--fail-lock-every",
                                      "9", "--slice-us", "2000", "--dsp-batch", "3", "--highpri-boosting", "--seed",
                                      "42"}));
}

TEST(FuzzSpec, RunsAsACaseWithoutAWorkload) {
  const auto s = sample_spec();
  const auto c = aq::case_of(s);
  EXPECT_FALSE(c.workload.has_value());  // run's ad-hoc coverage floors apply
  EXPECT_EQ(c.churn_interval_ms, 7);
  aq::RunConfig base;
  base.stress_ng = "/opt/stress-ng";
  const auto cfg = aq::config_of(s, base);
  EXPECT_EQ(cfg.stress_ng, "/opt/stress-ng");
  EXPECT_EQ(cfg.sched.fail_lock_every, 9U);
  EXPECT_EQ(cfg.seed, 42U);
  EXPECT_EQ(cfg.audit_interval_ms, 25);
}

// --- budget -----------------------------------------------------------------------------

TEST(FuzzBudget, Parses) {
  EXPECT_EQ(aq::parse_budget("90s"), 90);
  EXPECT_EQ(aq::parse_budget("30m"), 1800);
  EXPECT_EQ(aq::parse_budget("2h"), 7200);
  EXPECT_EQ(aq::parse_budget("1h30m"), 5400);
  EXPECT_EQ(aq::parse_budget("1h2m3s"), 3723);
  EXPECT_EQ(aq::parse_budget("150"), 150);
  for (const auto* bad : {"0", "0s", "10x", "", "m", "1m1h", "5m5m", "-3m", "1.5h", "30 m", "999999h"})
    EXPECT_EQ(aq::parse_budget(bad), std::nullopt) << bad;
  EXPECT_EQ(aq::format_clock(192), "03:12");
  EXPECT_EQ(aq::format_clock(3725), "1:02:05");
}

TEST(FuzzBudget, VmTimeoutCoversBudgetAndShrinking) {
  EXPECT_GE(aq::vm_timeout_for_fuzz(150), 150 + aq::shrink_allowance_s(150));
  EXPECT_EQ(aq::shrink_allowance_s(8 * 3600), 1800);
}

// --- classifier ---------------------------------------------------------------------------

TEST(FuzzClassify, Table) {
  const std::pair<const char*, const char*> cases[] = {
      {"dequeue did not remove: pid 12 (enqueue #3) on FIFO 2", "stale-entry"},
      {"custody protocol violated: ops.running of a task in custody (run-in-custody) x5, last pid 44 (ledger: "
       "dispatched)",
       "custody-protocol"},
      {"corrupted list: FIFO 1 ends disagree", "list-corruption"},
      {"conservation mismatch: FIFO 0 entries in 5 != popped + removed + length 4", "list-corruption"},
      {"scheduler ejected: runnable task stall (watchdog) (kind 1026): x", "kernel-watchdog-stall"},
      {"scheduler ejected: runtime error (kind 1024): y", "ejected"},
      {"stuck task: pid 3", "stuck-task"},
      {"lost task: pid 3", "stuck-task"},
      {"kernel log: [ 1.0] WARNING: CPU: 0", "kernel-log"},
      {"stress-ng failed: exit 2 (stress-ng --cpu 1)", "stress-ng"},
      {"no coverage: nr_enqueued = 0 (stress)", "coverage"},
      {"stuck task: pid 3 (x) waited 4100 ms for a CPU (bound 4000 ms), on FIFO 0; weight 3, task CPU 1; host "
       "stall: aqcheck's own SCHED_FIFO loop stood still 1 time(s), 2.5 s in all",
       "host-stall"},
      {"scheduler ejected: runnable task stall (watchdog) (kind 1026): x; host stall: aqcheck's own", "host-stall"},
      {"something new", "other"},
  };
  for (const auto& [reason, klass] : cases) EXPECT_EQ(aq::classify_reason(reason), klass) << reason;
  EXPECT_EQ(aq::primary_class({"no coverage: x", "kernel log: y", "corrupted list: z"}), "list-corruption");
  // The lazy and lost-task builds: the symptom first, then the ledger's view of the same bug.
  EXPECT_EQ(aq::classes_of({"custody protocol violated: y", "dequeue did not remove: x"}),
            (std::vector<std::string>{"stale-entry", "custody-protocol"}));
  EXPECT_EQ(aq::primary_class({"custody protocol violated: y", "lost task: pid 3"}), "stuck-task");
  EXPECT_EQ(aq::primary_class({"custody protocol violated: y"}), "custody-protocol");
  EXPECT_EQ(aq::classes_of({"no coverage: x", "kernel log: y", "no coverage: w"}),
            (std::vector<std::string>{"kernel-log", "coverage"}));
  EXPECT_EQ(aq::primary_class({}), "");
  // A host-stalled reason ranks below every reason that is the scheduler's alone.
  EXPECT_EQ(aq::primary_class({"stuck task: a; host stall: b", "no coverage: x"}), "coverage");
  EXPECT_EQ(aq::primary_class({"stuck task: a; host stall: b"}), "host-stall");
}

// --- shrinker ------------------------------------------------------------------------------

// A kernel stand-in: corrupts the list whenever `fork` runs, adds noise
// otherwise, and counts the runs.
struct FakeKernel {
  int runs = 0;
  std::optional<std::vector<std::string>> operator()(const aq::FuzzSpec& s) {
    runs++;
    std::vector<std::string> reasons;
    if (std::any_of(s.stressors.begin(), s.stressors.end(), [](auto& x) { return x.name == "fork"; }))
      reasons.push_back("corrupted list: FIFO 1 node pid 7 has q_prev 0x0, expected 0x1");
    if (s.fail_lock_every) reasons.push_back("no coverage: nr_dispatched = 0 (stress)");
    return reasons;
  }
};

TEST(FuzzShrink, ReducesToTheStressorThatFails) {
  FakeKernel kernel;
  const auto failing = sample_spec();
  const auto r = aq::shrink_spec(failing, *kernel(failing), "list-corruption",
                                 [&](const aq::FuzzSpec& s) { return kernel(s); }, 100);
  ASSERT_EQ(r.minimal.stressors.size(), 1U);
  EXPECT_EQ(r.minimal.stressors[0].name, "fork");
  EXPECT_EQ(r.minimal.stressors[0].instances, 1);
  EXPECT_TRUE(r.minimal.churn.empty());
  EXPECT_EQ(r.minimal.fail_lock_every, 0U);
  EXPECT_EQ(r.minimal.duration_s, 4);  // 16 -> 8 -> 4 (3 s is the floor)
  EXPECT_EQ(r.minimal.slice_us, 0U);
  EXPECT_FALSE(r.minimal.highpri_boosting);
  EXPECT_FALSE(r.exhausted);
  EXPECT_EQ(r.runs, kernel.runs - 1);
  EXPECT_EQ(r.failures, std::vector<std::string>{"corrupted list: FIFO 1 node pid 7 has q_prev 0x0, expected 0x1"});
  // Dropping fork was tried and did not keep the failure.
  EXPECT_TRUE(std::any_of(r.steps.begin(), r.steps.end(),
                          [](auto& st) { return st.change == "drop stressor fork" && !st.kept; }));
}

TEST(FuzzShrink, StopsAtTheRunLimitAndWhenTheRunnerSaysSo) {
  FakeKernel kernel;
  const auto failing = sample_spec();
  const auto limited = aq::shrink_spec(failing, {"corrupted list: x"}, "list-corruption",
                                       [&](const aq::FuzzSpec& s) { return kernel(s); }, 2);
  EXPECT_EQ(limited.runs, 2);
  EXPECT_TRUE(limited.exhausted);
  const auto out_of_time = aq::shrink_spec(
      failing, {"corrupted list: x"}, "list-corruption",
      [](const aq::FuzzSpec&) { return std::optional<std::vector<std::string>>(); }, 100);
  EXPECT_EQ(out_of_time.runs, 0);
  EXPECT_TRUE(out_of_time.exhausted);
  EXPECT_EQ(out_of_time.minimal, failing);
}

}  // namespace
