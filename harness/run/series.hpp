// The time series of one case: what each structural audit saw (every 10-100
// ms), for the HTML report's charts (report/html.hpp).  A 40 s case audited
// every 10 ms is 4,000 audits; the series keeps at most kMaxSeriesPoints of
// them, evenly spread over the run, without losing a peak.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace aq {

inline constexpr std::size_t kSeriesFifos = 5;  // QMAP_NR_FIFOS (bpf/aqmap_list.h)
inline constexpr std::size_t kMaxSeriesPoints = 500;

struct SeriesPoint {
  double t_s = 0;                                // seconds since the case's first attach
  std::array<std::uint64_t, kSeriesFifos> fifo_len{};
  double fifo_head_wait_max_ms = 0;              // longest FIFO-head wait seen so far
  double task_wait_max_ms = 0;                   // longest task wait for a CPU seen so far
};

// One point of two neighbours: the later time, and each value's maximum.  The
// waits only grow, so theirs is the later value; a FIFO length keeps its peak.
SeriesPoint merge_points(const SeriesPoint& earlier, const SeriesPoint& later);

// Downsampling by doubling: points are added one per audit; each time the
// series holds max_points, neighbouring pairs are merged (merge_points) and
// from then on every point stands for twice as many audits as before.  So the
// series always spans the whole run in between max_points/2 and max_points
// points of equal weight, and costs O(1) per audit (amortised).
class CaseSeries {
 public:
  explicit CaseSeries(std::size_t max_points = kMaxSeriesPoints) : max_points_(max_points < 2 ? 2 : max_points) {}

  void add(const SeriesPoint& p);
  // The points, the partly filled last one included.
  std::vector<SeriesPoint> points() const;
  // How many audits each (full) point stands for.
  std::size_t audits_per_point() const { return per_point_; }
  std::size_t audits() const { return audits_; }

 private:
  void halve();

  std::size_t max_points_;
  std::vector<SeriesPoint> full_;   // each stands for per_point_ audits
  SeriesPoint pending_;             // merge of pending_count_ audits, not yet full
  std::size_t pending_count_ = 0;
  std::size_t per_point_ = 1;
  std::size_t audits_ = 0;
};

// The case's "series" in the run report (schema in docs/reports.md, "Run reports"):
// column arrays t_s, fifo_len[k], fifo_head_wait_max_ms, task_wait_max_ms,
// rounded to ms (times) and 0.1 ms (waits) so the report stays small.
nlohmann::json series_json(const CaseSeries& s);

}  // namespace aq
