#include "fuzz/spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>

#include "report/report.hpp"

namespace aq {
namespace {

using nlohmann::json;

bool is_count(const std::optional<std::string>& v) {
  return v && !v->empty() && std::all_of(v->begin(), v->end(), [](unsigned char c) { return std::isdigit(c); });
}

// stress-ng option names: what the workload parser accepts in a body line.
bool is_option_name(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::isalnum(static_cast<unsigned char>(s.front())) &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::islower(c) || std::isdigit(c) || c == '-'; });
}

bool is_option_value(const std::string& s) {
  return s.size() <= 64 &&
         std::none_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c) || c == '#' || c < 0x20; });
}

// The generator's ranges: small, because the VM has 2 vCPUs under TCG.
struct Draw {
  static constexpr int max_stressors = 3;
  static constexpr int min_duration_s = 5, max_duration_s = 20;
  static constexpr int min_audit_ms = 5, max_audit_ms = 100;
  static constexpr int min_churn_ms = 1, max_churn_ms = 20;
  static constexpr std::uint32_t min_fail_every = 3, max_fail_every = 50;
  static constexpr std::uint32_t max_dsp_batch = 8;
};
// Slices worth trying: the default, very short (many expiries) to long.
constexpr std::uint64_t kSlicesUs[] = {0, 500, 2000, 5000, 20000, 100000};
constexpr std::uint64_t kOtherWakePreemptUs[] = {0, 500, 1000, 4000};  // 0: off
constexpr const char* kChurnKinds[] = {"renice", "affinity"};

// A uniform draw that depends only on the 64-bit engine's output, not on the
// standard library's distribution algorithms: the same seed gives the same
// spec with any toolchain.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + engine_() % (hi - lo + 1); }
  bool coin() { return engine_() & 1; }

 private:
  std::mt19937_64 engine_;
};

// --- strict JSON reading -------------------------------------------------------

void only_keys(const json& obj, const std::string& where, std::initializer_list<const char*> known) {
  if (!obj.is_object()) throw SpecError(fmt::format("{}: expected an object", where));
  for (const auto& [key, value] : obj.items()) {
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; }))
      throw SpecError(fmt::format("{}: unknown key '{}'", where, key));
  }
}

template <typename T>
T integer(const json& obj, const char* key, const std::string& where, T lo, T hi, T fallback) {
  if (!obj.contains(key)) return fallback;
  const auto& v = obj.at(key);
  if (!v.is_number_integer()) throw SpecError(fmt::format("{}.{}: expected an integer", where, key));
  // Every limit here is >= 0: a negative number is out of range as such.
  const bool negative = !v.is_number_unsigned() && v.get<std::int64_t>() < 0;
  const auto u = negative ? 0 : v.get<std::uint64_t>();
  if (negative || u < static_cast<std::uint64_t>(lo) || u > static_cast<std::uint64_t>(hi))
    throw SpecError(fmt::format("{}.{}: {} is out of range {}..{}", where, key, v.dump(), lo, hi));
  return static_cast<T>(u);
}

std::string text(const json& obj, const char* key, const std::string& where, const std::string& fallback = "") {
  if (!obj.contains(key)) return fallback;
  if (!obj.at(key).is_string()) throw SpecError(fmt::format("{}.{}: expected a string", where, key));
  return obj.at(key).get<std::string>();
}

std::vector<std::string> names(const json& obj, const char* key, const std::string& where) {
  std::vector<std::string> out;
  if (!obj.contains(key)) return out;
  const auto& v = obj.at(key);
  if (!v.is_array()) throw SpecError(fmt::format("{}.{}: expected an array of strings", where, key));
  for (const auto& e : v) {
    if (!e.is_string()) throw SpecError(fmt::format("{}.{}: expected an array of strings", where, key));
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

// --- catalogue ------------------------------------------------------------------

const CatalogueStressor* StressorCatalogue::find(const std::string& name) const {
  for (const auto& s : stressors)
    if (s.name == name) return &s;
  return nullptr;
}

StressorCatalogue build_catalogue(const std::vector<Workload>& workloads) {
  std::map<std::string, CatalogueStressor> by_name;
  std::map<std::string, bool> seen_once;  // global_options start as the first file's, then intersect
  for (const auto& w : workloads) {
    std::vector<std::string> globals;
    std::vector<std::string> in_file;
    CatalogueStressor* current = nullptr;
    for (const auto& o : w.options) {
      if (current && o.name.starts_with(current->name + "-")) {
        const auto rest = o.name.substr(current->name.size() + 1);
        if (rest == "method" && o.value) {
          if (std::find(current->methods.begin(), current->methods.end(), *o.value) == current->methods.end())
            current->methods.push_back(*o.value);
        } else {
          current->options[o.name] = o.value.value_or("");
        }
        continue;
      }
      if (is_count(o.value)) {
        auto& s = by_name[o.name];
        s.name = o.name;
        s.max_instances = std::clamp(std::max(s.max_instances, std::stoi(*o.value)), 1, 3);
        current = &s;
        in_file.push_back(o.name);
      } else if (!o.value && o.name != "run") {
        globals.push_back(o.name);
        current = nullptr;
      } else {
        current = nullptr;  // "run parallel" and other global settings
      }
    }
    std::sort(globals.begin(), globals.end());
    for (const auto& name : in_file) {
      auto& s = by_name[name];
      if (!seen_once[name]) {
        seen_once[name] = true;
        s.global_options = globals;
        s.requires_cpus = w.requires_cpus;
      } else {
        std::vector<std::string> both;
        std::set_intersection(s.global_options.begin(), s.global_options.end(), globals.begin(), globals.end(),
                              std::back_inserter(both));
        s.global_options = both;
        s.requires_cpus = std::min(s.requires_cpus, w.requires_cpus);
      }
    }
  }
  StressorCatalogue cat;
  for (auto& [name, s] : by_name) {
    std::sort(s.methods.begin(), s.methods.end());
    cat.stressors.push_back(std::move(s));
  }
  return cat;
}

// --- generation -----------------------------------------------------------------

FuzzSpec generate_spec(std::uint64_t seed, const StressorCatalogue& catalogue, unsigned cpus, int max_duration_s) {
  Rng rng(seed);
  FuzzSpec s;
  s.seed = seed;
  std::vector<const CatalogueStressor*> pool;
  for (const auto& c : catalogue.stressors)
    if (c.requires_cpus <= cpus) pool.push_back(&c);
  const int want = pool.empty() ? 0 : static_cast<int>(rng.between(1, std::min<std::size_t>(Draw::max_stressors, pool.size())));
  std::set<std::string> globals;
  for (int i = 0; i < want; i++) {
    const auto at = rng.between(0, pool.size() - 1);
    const CatalogueStressor& c = *pool[at];
    pool.erase(pool.begin() + static_cast<std::ptrdiff_t>(at));
    FuzzStressor f;
    f.name = c.name;
    f.instances = static_cast<int>(rng.between(1, static_cast<std::uint64_t>(c.max_instances)));
    if (!c.methods.empty()) f.method = c.methods[rng.between(0, c.methods.size() - 1)];
    f.options = c.options;
    globals.insert(c.global_options.begin(), c.global_options.end());
    s.stressors.push_back(std::move(f));
  }
  s.global_options.assign(globals.begin(), globals.end());
  const int hi = std::max(1, std::min(Draw::max_duration_s, max_duration_s));
  const int lo = std::min(Draw::min_duration_s, hi);
  s.duration_s = static_cast<int>(rng.between(static_cast<std::uint64_t>(lo), static_cast<std::uint64_t>(hi)));
  s.audit_interval_ms = static_cast<int>(rng.between(Draw::min_audit_ms, Draw::max_audit_ms));
  for (const char* kind : kChurnKinds)
    if (rng.coin()) s.churn.push_back(kind);
  s.churn_interval_ms = static_cast<int>(rng.between(Draw::min_churn_ms, Draw::max_churn_ms));
  if (rng.coin()) s.fail_lock_every = static_cast<std::uint32_t>(rng.between(Draw::min_fail_every, Draw::max_fail_every));
  s.slice_us = kSlicesUs[rng.between(0, std::size(kSlicesUs) - 1)];
  s.dsp_batch = rng.coin() ? 0 : static_cast<std::uint32_t>(rng.between(1, Draw::max_dsp_batch));
  s.highpri_boosting = rng.coin();
  // The scheduler's default in half the scenarios; off in an eighth.
  s.wake_preempt_us =
      rng.coin() ? kDefaultWakePreemptUs : kOtherWakePreemptUs[rng.between(0, std::size(kOtherWakePreemptUs) - 1)];
  return s;
}

// --- JSON -------------------------------------------------------------------------

json spec_to_json(const FuzzSpec& spec) {
  json stressors = json::array();
  for (const auto& s : spec.stressors)
    stressors.push_back({{"name", s.name}, {"instances", s.instances}, {"method", s.method}, {"options", s.options}});
  return {
      {"schema", kFuzzSpecSchema},
      {"name", spec.name},
      {"seed", spec.seed},
      {"duration_s", spec.duration_s},
      {"audit_interval_ms", spec.audit_interval_ms},
      {"stressors", stressors},
      {"global_options", spec.global_options},
      {"churn", {{"kinds", spec.churn}, {"interval_ms", spec.churn_interval_ms}}},
      {"fail_lock_every", spec.fail_lock_every},
      {"scheduler",
       {{"slice_us", spec.slice_us},
        {"dsp_batch", spec.dsp_batch},
        {"highpri_boosting", spec.highpri_boosting},
        {"wake_preempt_us", spec.wake_preempt_us}}},
  };
}

FuzzSpec spec_from_json(const json& j) {
  using L = SpecLimits;
  only_keys(j, "spec", {"schema", "name", "seed", "duration_s", "audit_interval_ms", "stressors", "global_options",
                        "churn", "fail_lock_every", "scheduler"});
  if (text(j, "schema", "spec") != kFuzzSpecSchema)
    throw SpecError(fmt::format("spec.schema: expected \"{}\"", kFuzzSpecSchema));
  FuzzSpec s;
  s.name = text(j, "name", "spec");
  s.seed = integer<std::uint64_t>(j, "seed", "spec", 0, UINT64_MAX, 1);
  s.duration_s = integer<int>(j, "duration_s", "spec", 1, L::max_duration_s, s.duration_s);
  s.audit_interval_ms = integer<int>(j, "audit_interval_ms", "spec", 1, L::max_audit_interval_ms, s.audit_interval_ms);
  if (!j.contains("stressors") || !j.at("stressors").is_array())
    throw SpecError("spec.stressors: expected an array of stressors");
  const auto& list = j.at("stressors");
  if (list.empty() || list.size() > L::max_stressors)
    throw SpecError(fmt::format("spec.stressors: {} stressors, expected 1..{}", list.size(), L::max_stressors));
  std::set<std::string> seen;
  for (std::size_t i = 0; i < list.size(); i++) {
    const auto where = fmt::format("spec.stressors[{}]", i);
    const auto& e = list[i];
    only_keys(e, where, {"name", "instances", "method", "options"});
    FuzzStressor f;
    f.name = text(e, "name", where);
    if (!is_option_name(f.name)) throw SpecError(fmt::format("{}.name: '{}' is not a stress-ng stressor name", where, f.name));
    if (!seen.insert(f.name).second) throw SpecError(fmt::format("{}.name: '{}' appears twice", where, f.name));
    f.instances = integer<int>(e, "instances", where, 1, L::max_instances, 1);
    f.method = text(e, "method", where);
    if (!is_option_value(f.method)) throw SpecError(fmt::format("{}.method: '{}' is not a value", where, f.method));
    if (e.contains("options")) {
      const auto& o = e.at("options");
      if (!o.is_object()) throw SpecError(fmt::format("{}.options: expected an object of name: value", where));
      for (const auto& [k, v] : o.items()) {
        if (!is_option_name(k) || !v.is_string() || !is_option_value(v.get<std::string>()) || k == f.name + "-method")
          throw SpecError(fmt::format("{}.options: bad option '{}'", where, k));
        f.options[k] = v.get<std::string>();
      }
    }
    s.stressors.push_back(std::move(f));
  }
  s.global_options = names(j, "global_options", "spec");
  for (const auto& g : s.global_options)
    if (!is_option_name(g)) throw SpecError(fmt::format("spec.global_options: '{}' is not an option name", g));
  if (j.contains("churn")) {
    const auto& c = j.at("churn");
    only_keys(c, "spec.churn", {"kinds", "interval_ms"});
    s.churn = names(c, "kinds", "spec.churn");
    for (const auto& k : s.churn)
      if (std::none_of(std::begin(kChurnKinds), std::end(kChurnKinds), [&](const char* known) { return k == known; }))
        throw SpecError(fmt::format("spec.churn.kinds: unknown kind '{}' (renice, affinity)", k));
    s.churn_interval_ms = integer<int>(c, "interval_ms", "spec.churn", 1, L::max_churn_interval_ms, s.churn_interval_ms);
  }
  s.fail_lock_every = integer<std::uint32_t>(j, "fail_lock_every", "spec", 0, L::max_fail_lock_every, 0);
  if (s.fail_lock_every == 1) throw SpecError("spec.fail_lock_every: 1 is out of range (0 = off, or 2..1000000)");
  if (j.contains("scheduler")) {
    const auto& o = j.at("scheduler");
    only_keys(o, "spec.scheduler", {"slice_us", "dsp_batch", "highpri_boosting", "wake_preempt_us"});
    s.slice_us = integer<std::uint64_t>(o, "slice_us", "spec.scheduler", 0, L::max_slice_us, 0);
    s.dsp_batch = integer<std::uint32_t>(o, "dsp_batch", "spec.scheduler", 0, L::max_dsp_batch, 0);
    s.wake_preempt_us = integer<std::uint64_t>(o, "wake_preempt_us", "spec.scheduler", 0, L::max_wake_preempt_us,
                                               kDefaultWakePreemptUs);
    if (o.contains("highpri_boosting")) {
      if (!o.at("highpri_boosting").is_boolean()) throw SpecError("spec.scheduler.highpri_boosting: expected true or false");
      s.highpri_boosting = o.at("highpri_boosting").get<bool>();
    }
  }
  return s;
}

FuzzSpec load_spec(const std::string& path) {
  std::ifstream in(path);
  if (!in || std::filesystem::is_directory(path)) throw SpecError(fmt::format("{}: cannot read the spec", path));
  std::stringstream buf;
  buf << in.rdbuf();
  json j;
  try {
    j = json::parse(buf.str());
  } catch (const json::parse_error& e) {
    throw SpecError(fmt::format("{}: not JSON: {}", path, e.what()));
  }
  try {
    auto spec = spec_from_json(j);
    if (spec.name.empty()) spec.name = std::filesystem::path(path).stem().string();
    return spec;
  } catch (const SpecError& e) {
    throw SpecError(fmt::format("{}: {}", path, e.what()));
  }
}

void save_spec(const FuzzSpec& spec, const std::string& path) {
  write_file_atomic(path, spec_to_json(spec).dump(2) + "\n");
}

// --- what runs ----------------------------------------------------------------------

std::vector<std::string> stress_args_of(const FuzzSpec& spec) {
  std::vector<std::string> args;
  for (const auto& g : spec.global_options) args.push_back("--" + g);
  for (const auto& s : spec.stressors) {
    args.insert(args.end(), {"--" + s.name, std::to_string(s.instances)});
    if (!s.method.empty()) args.insert(args.end(), {"--" + s.name + "-method", s.method});
    for (const auto& [k, v] : s.options) {
      args.push_back("--" + k);
      if (!v.empty()) args.push_back(v);
    }
  }
  return args;
}

std::string to_job_text(const FuzzSpec& spec, const std::string& purpose) {
  std::string t = fmt::format("# purpose: {}\n", purpose);
  t += fmt::format("# duration: {}\n", spec.duration_s);
  if (!spec.churn.empty()) t += fmt::format("# churn: {}\n", fmt::join(spec.churn, " "));
  t += "# expect: nr_enqueued >= 1\n";
  t += "run parallel\n";
  for (const auto& g : spec.global_options) t += g + "\n";
  for (const auto& s : spec.stressors) {
    t += fmt::format("{} {}\n", s.name, s.instances);
    if (!s.method.empty()) t += fmt::format("{}-method {}\n", s.name, s.method);
    for (const auto& [k, v] : s.options) t += v.empty() ? k + "\n" : fmt::format("{} {}\n", k, v);
  }
  return t;
}

std::vector<std::string> run_options_of(const FuzzSpec& spec) {
  std::vector<std::string> o{"--audit-interval-ms", std::to_string(spec.audit_interval_ms)};
  if (!spec.churn.empty()) o.insert(o.end(), {"--churn-interval-ms", std::to_string(spec.churn_interval_ms)});
  if (spec.fail_lock_every) o.insert(o.end(), {"--fail-lock-every", std::to_string(spec.fail_lock_every)});
  if (spec.slice_us) o.insert(o.end(), {"--slice-us", std::to_string(spec.slice_us)});
  if (spec.dsp_batch) o.insert(o.end(), {"--dsp-batch", std::to_string(spec.dsp_batch)});
  if (spec.highpri_boosting) o.push_back("--highpri-boosting");
  if (spec.wake_preempt_us != kDefaultWakePreemptUs) o.insert(o.end(), {"--wake-preempt-us", std::to_string(spec.wake_preempt_us)});
  o.insert(o.end(), {"--seed", std::to_string(spec.seed)});
  return o;
}

CaseSpec case_of(const FuzzSpec& spec) {
  CaseSpec c;
  c.name = spec.name.empty() ? "fuzz" : spec.name;
  c.purpose = "fuzz scenario";
  c.stress_args = stress_args_of(spec);
  c.duration_s = spec.duration_s;
  c.churn = spec.churn;
  c.churn_interval_ms = spec.churn_interval_ms;
  return c;
}

RunConfig config_of(const FuzzSpec& spec, const RunConfig& base) {
  RunConfig cfg = base;
  cfg.duration_s = spec.duration_s;
  cfg.audit_interval_ms = spec.audit_interval_ms;
  cfg.seed = spec.seed;
  cfg.sched.fail_lock_every = spec.fail_lock_every;
  cfg.sched.slice_us = spec.slice_us;
  cfg.sched.dsp_batch = spec.dsp_batch;
  cfg.sched.highpri_boosting = spec.highpri_boosting;
  cfg.sched.wake_preempt_us = spec.wake_preempt_us;
  cfg.churn_interval_ms = spec.churn_interval_ms;
  return cfg;
}

void validate_spec_with_stress_ng(const FuzzSpec& spec, const std::string& stress_ng, const std::string& where) {
  try {
    const auto w = parse_workload(to_job_text(spec, "fuzz spec check"), where);
    validate_with_stress_ng(w, stress_ng);
  } catch (const WorkloadError& e) {
    throw SpecError(fmt::format("{}: stress-ng rejects it: {}", where, e.message()));
  }
}

// --- budget -----------------------------------------------------------------------

std::optional<int> parse_budget(const std::string& t) {
  if (t.empty() || t.size() > 20) return std::nullopt;
  if (std::all_of(t.begin(), t.end(), [](unsigned char c) { return std::isdigit(c); })) {
    const long v = std::stol(t);
    return v > 0 && v <= 7L * 24 * 3600 ? std::optional<int>(static_cast<int>(v)) : std::nullopt;
  }
  long total = 0;
  std::size_t i = 0;
  std::string units_seen;
  while (i < t.size()) {
    std::size_t j = i;
    while (j < t.size() && std::isdigit(static_cast<unsigned char>(t[j]))) j++;
    if (j == i || j == t.size()) return std::nullopt;
    const long n = std::stol(t.substr(i, j - i));
    const char unit = t[j];
    const std::string order = "hms";
    const auto pos = order.find(unit);
    // Units in order h, m, s, each at most once.
    if (pos == std::string::npos || (!units_seen.empty() && order.find(units_seen.back()) >= pos)) return std::nullopt;
    units_seen += unit;
    total += n * (unit == 'h' ? 3600 : unit == 'm' ? 60 : 1);
    if (total > 7L * 24 * 3600) return std::nullopt;
    i = j + 1;
  }
  return total > 0 ? std::optional<int>(static_cast<int>(total)) : std::nullopt;
}

std::string format_clock(int s) {
  if (s < 0) s = 0;
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{:02}:{:02}", s / 60, s % 60);
}

}  // namespace aq
