// A fuzz scenario: what `aqcheck fuzz` runs, drawn from a seed and written to
// disk as a small JSON spec (schema "aqcheck-fuzz-spec/1") that replays it
// exactly (`aqcheck fuzz --replay SPEC`).
//
// The stressors it may draw from are not a hand-written list: they are the
// ones the workload catalogue (workloads/*.job) exercises, with the methods
// and companion options those files give them (StressorCatalogue).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "run/run.hpp"
#include "workload/workload.hpp"

namespace aq {

inline constexpr const char* kFuzzSpecSchema = "aqcheck-fuzz-spec/1";

// A spec that cannot be read, is not JSON, has an unknown key or a value out
// of range.  what() is one line; aqcheck exits with exit_code::bad_spec.
struct SpecError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// --- the catalogue ------------------------------------------------------------

// One stressor as the workload files use it.
struct CatalogueStressor {
  std::string name;                          // stress-ng option, e.g. "race-sched"
  int max_instances = 1;                     // min(3, the most any file runs)
  std::vector<std::string> methods;          // values of "<name>-method" seen, sorted
  std::map<std::string, std::string> options;  // other "<name>-..." lines ("" = flag), e.g. fork-max 4
  std::vector<std::string> global_options;   // flags every file using it has, e.g. pathological
  unsigned requires_cpus = 1;                // the least any file using it requires
};

struct StressorCatalogue {
  std::vector<CatalogueStressor> stressors;  // sorted by name
  const CatalogueStressor* find(const std::string& name) const;
};

// Reads the stressors out of parsed workloads.  In a job body an option line
// belongs to the stressor line above it when its name extends that
// stressor's ("cpu-method" after "cpu"); otherwise a line with a count is a
// stressor ("cpu-online 1") and a line without a value a global flag
// ("pathological").
StressorCatalogue build_catalogue(const std::vector<Workload>& workloads);

// --- the spec -----------------------------------------------------------------

struct FuzzStressor {
  std::string name;
  int instances = 1;
  std::string method;                          // "" = stress-ng's default
  std::map<std::string, std::string> options;  // companion options ("" = flag)
  bool operator==(const FuzzStressor&) const = default;
};

struct FuzzSpec {
  std::string name;        // scenario name ("s007"); not part of what runs
  std::uint64_t seed = 1;  // stress-ng's and the churner's seed
  int duration_s = 10;
  int audit_interval_ms = 100;
  std::vector<FuzzStressor> stressors;
  std::vector<std::string> global_options;  // flags such as "pathological"
  std::vector<std::string> churn;           // "renice", "affinity"
  int churn_interval_ms = 2;
  std::uint32_t fail_lock_every = 0;        // 0: no fault injection
  std::uint64_t slice_us = 0;               // 0: the scheduler's default
  std::uint32_t dsp_batch = 0;              // 0: one task per dispatch
  bool highpri_boosting = false;
  std::uint64_t wake_preempt_us = kDefaultWakePreemptUs;  // 0: no wakeup preemption
  bool operator==(const FuzzSpec&) const = default;
};

// Validation limits (a hand-written spec may go further than the generator).
struct SpecLimits {
  static constexpr int max_instances = 8;
  static constexpr int max_duration_s = 3600;
  static constexpr int max_audit_interval_ms = 60000;
  static constexpr int max_churn_interval_ms = 10000;
  static constexpr std::uint32_t max_fail_lock_every = 1000000;
  static constexpr std::uint64_t max_slice_us = 10'000'000;
  static constexpr std::uint32_t max_dsp_batch = 1024;
  static constexpr std::uint64_t max_wake_preempt_us = 100000;
  static constexpr std::size_t max_stressors = 16;
};

// A scenario drawn from `seed` using the catalogue's stressors that run on
// `cpus` CPUs.  Deterministic: the same seed, catalogue and cpus give the
// same spec.  max_duration_s caps the duration (the remaining budget).
FuzzSpec generate_spec(std::uint64_t seed, const StressorCatalogue& catalogue, unsigned cpus,
                       int max_duration_s = 20);

nlohmann::json spec_to_json(const FuzzSpec& spec);
// Strict: every key known, every value of the right type and in range.
// Throws SpecError.
FuzzSpec spec_from_json(const nlohmann::json& j);
// Reads and parses a spec file; `name` defaults to the file's stem.  Throws SpecError.
FuzzSpec load_spec(const std::string& path);
void save_spec(const FuzzSpec& spec, const std::string& path);

// The stress-ng arguments (without --timeout), in the order of the .job body.
std::vector<std::string> stress_args_of(const FuzzSpec& spec);

// The equivalent workload file (workloads/README.md format).  Churn interval,
// audit interval, fault injection and scheduler options have no header key:
// they are in run_options_of().
std::string to_job_text(const FuzzSpec& spec, const std::string& purpose);

// The `aqcheck run` options that the .job file cannot carry, then --seed.
std::vector<std::string> run_options_of(const FuzzSpec& spec);

// What run_case needs: the case (no workload file: run's coverage floors for
// ad-hoc stress apply) and the config (base's stress-ng path etc. kept).
CaseSpec case_of(const FuzzSpec& spec);
RunConfig config_of(const FuzzSpec& spec, const RunConfig& base);

// Checks the spec against the real stress-ng (its .job text, --dry-run).
// Throws SpecError naming `where`.
void validate_spec_with_stress_ng(const FuzzSpec& spec, const std::string& stress_ng, const std::string& where);

// "90s", "30m", "2h", "1h30m", "1h2m3s" or plain seconds -> seconds (> 0).
// nullopt for anything else, zero included.
std::optional<int> parse_budget(const std::string& text);
// 3725 -> "1:02:05", 192 -> "03:12".
std::string format_clock(int seconds);

}  // namespace aq
