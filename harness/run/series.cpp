#include "run/series.hpp"

#include <algorithm>
#include <cmath>

namespace aq {
namespace {

// Divided, not multiplied, by the scale: 0.3, not 0.30000000000000004, in the JSON.
double rounded(double v, double per_unit) { return std::round(v * per_unit) / per_unit; }

}  // namespace

SeriesPoint merge_points(const SeriesPoint& earlier, const SeriesPoint& later) {
  SeriesPoint m = later;
  for (std::size_t i = 0; i < kSeriesFifos; i++) m.fifo_len[i] = std::max(earlier.fifo_len[i], later.fifo_len[i]);
  m.fifo_head_wait_max_ms = std::max(earlier.fifo_head_wait_max_ms, later.fifo_head_wait_max_ms);
  m.task_wait_max_ms = std::max(earlier.task_wait_max_ms, later.task_wait_max_ms);
  return m;
}

void CaseSeries::add(const SeriesPoint& p) {
  audits_++;
  pending_ = pending_count_ ? merge_points(pending_, p) : p;
  if (++pending_count_ < per_point_) return;
  full_.push_back(pending_);
  pending_count_ = 0;
  if (full_.size() >= max_points_) halve();
}

void CaseSeries::halve() {
  std::vector<SeriesPoint> merged;
  merged.reserve(full_.size() / 2 + 1);
  for (std::size_t i = 0; i + 1 < full_.size(); i += 2) merged.push_back(merge_points(full_[i], full_[i + 1]));
  per_point_ *= 2;
  // An odd one out is half a point of the new size: it starts the pending one.
  if (full_.size() % 2) {
    pending_ = full_.back();
    pending_count_ = per_point_ / 2;
  }
  full_ = std::move(merged);
}

std::vector<SeriesPoint> CaseSeries::points() const {
  auto out = full_;
  if (pending_count_) out.push_back(pending_);
  return out;
}

nlohmann::json series_json(const CaseSeries& s) {
  using nlohmann::json;
  json t = json::array(), head = json::array(), task = json::array();
  json lens = json::array();
  for (std::size_t i = 0; i < kSeriesFifos; i++) lens.push_back(json::array());
  for (const auto& p : s.points()) {
    t.push_back(rounded(p.t_s, 1000));
    for (std::size_t i = 0; i < kSeriesFifos; i++) lens[i].push_back(p.fifo_len[i]);
    head.push_back(rounded(p.fifo_head_wait_max_ms, 10));
    task.push_back(rounded(p.task_wait_max_ms, 10));
  }
  return {{"audits", s.audits()},
          {"audits_per_point", s.audits_per_point()},
          {"t_s", t},
          {"fifo_len", lens},
          {"fifo_head_wait_max_ms", head},
          {"task_wait_max_ms", task}};
}

}  // namespace aq
