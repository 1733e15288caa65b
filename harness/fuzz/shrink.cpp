#include "fuzz/shrink.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace aq {
namespace {

// Shorter runs stop being the same scenario: attach and stress-ng start-up
// take a few seconds of it under TCG.
constexpr int kMinShrinkDurationS = 3;

std::size_t severity(std::string_view klass) {
  if (klass == kHostStallClass) return std::size(kFailureClasses) + 1;
  for (std::size_t i = 0; i < std::size(kFailureClasses); i++)
    if (kFailureClasses[i].klass == klass) return i;
  return std::size(kFailureClasses);
}

}  // namespace

std::string classify_reason(std::string_view reason) {
  if (reason.find(kHostStallMark) != std::string_view::npos) return std::string(kHostStallClass);
  for (const auto& rule : kFailureClasses)
    if (reason.starts_with(rule.prefix) && (rule.also.empty() || reason.find(rule.also) != std::string_view::npos))
      return std::string(rule.klass);
  return std::string(kOtherClass);
}

std::vector<std::string> classes_of(const std::vector<std::string>& reasons) {
  std::vector<std::string> out;
  for (const auto& r : reasons) {
    auto k = classify_reason(r);
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(std::move(k));
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return severity(a) < severity(b); });
  return out;
}

std::string primary_class(const std::vector<std::string>& reasons) {
  const auto all = classes_of(reasons);
  return all.empty() ? std::string() : all.front();
}

std::vector<std::pair<std::string, FuzzSpec>> shrink_candidates(const FuzzSpec& spec) {
  std::vector<std::pair<std::string, FuzzSpec>> c;
  if (spec.stressors.size() > 1) {
    for (std::size_t i = 0; i < spec.stressors.size(); i++) {
      FuzzSpec s = spec;
      s.stressors.erase(s.stressors.begin() + static_cast<std::ptrdiff_t>(i));
      c.emplace_back(fmt::format("drop stressor {}", spec.stressors[i].name), std::move(s));
    }
  }
  for (std::size_t i = 0; i < spec.churn.size(); i++) {
    FuzzSpec s = spec;
    s.churn.erase(s.churn.begin() + static_cast<std::ptrdiff_t>(i));
    c.emplace_back(fmt::format("remove {} churn", spec.churn[i]), std::move(s));
  }
  if (spec.fail_lock_every) {
    FuzzSpec s = spec;
    s.fail_lock_every = 0;
    c.emplace_back(fmt::format("remove fault injection (every {})", spec.fail_lock_every), std::move(s));
  }
  for (std::size_t i = 0; i < spec.stressors.size(); i++) {
    if (spec.stressors[i].instances <= 1) continue;
    FuzzSpec s = spec;
    s.stressors[i].instances /= 2;
    c.emplace_back(fmt::format("halve {} instances {} -> {}", spec.stressors[i].name, spec.stressors[i].instances,
                               s.stressors[i].instances),
                   std::move(s));
  }
  if (spec.duration_s / 2 >= kMinShrinkDurationS) {
    FuzzSpec s = spec;
    s.duration_s /= 2;
    c.emplace_back(fmt::format("halve duration {} -> {} s", spec.duration_s, s.duration_s), std::move(s));
  }
  for (std::size_t i = 0; i < spec.global_options.size(); i++) {
    FuzzSpec s = spec;
    s.global_options.erase(s.global_options.begin() + static_cast<std::ptrdiff_t>(i));
    c.emplace_back(fmt::format("drop global option {}", spec.global_options[i]), std::move(s));
  }
  if (spec.slice_us) {
    FuzzSpec s = spec;
    s.slice_us = 0;
    c.emplace_back(fmt::format("default slice (was {} us)", spec.slice_us), std::move(s));
  }
  if (spec.dsp_batch) {
    FuzzSpec s = spec;
    s.dsp_batch = 0;
    c.emplace_back(fmt::format("default dispatch batch (was {})", spec.dsp_batch), std::move(s));
  }
  if (spec.highpri_boosting) {
    FuzzSpec s = spec;
    s.highpri_boosting = false;
    c.emplace_back("no high-priority boosting", std::move(s));
  }
  return c;
}

ShrinkResult shrink_spec(const FuzzSpec& failing, const std::vector<std::string>& failures, const std::string& klass,
                         const SpecRunner& run, int max_runs) {
  ShrinkResult res;
  res.minimal = failing;
  res.failures = failures;
  for (bool progress = true; progress;) {
    progress = false;
    for (auto& [change, candidate] : shrink_candidates(res.minimal)) {
      if (res.runs >= max_runs) {
        res.exhausted = true;
        return res;
      }
      const auto got = run(candidate);
      if (!got) {
        res.exhausted = true;
        return res;
      }
      res.runs++;
      const auto classes = classes_of(*got);
      const bool kept = std::find(classes.begin(), classes.end(), klass) != classes.end();
      res.steps.push_back({change, kept});
      if (kept) {
        res.minimal = std::move(candidate);
        res.failures = *got;
        progress = true;
        break;
      }
    }
  }
  return res;
}

}  // namespace aq
