// Calibration observers: the real range [lo, hi] an int8 activation tensor should cover,
// chosen from the values it took on a representative set.
//
//   minmax      the smallest and largest value seen (outliers widen the grid for everyone)
//   percentile  the p-th and (100 − p)-th percentiles (clips rare outliers)
//   mse         the range minimising the expected squared quantization error over the
//               observed distribution: clipping error outside the range plus Δ²/12 rounding
//               error inside, for a 255-step grid (Δ = (hi − lo) / 255)
//
// Two passes over the data: the first finds min and max, the second fills a histogram of
// kHistogramBins bins over [min, max]; percentile and mse read the histogram. Every range
// includes 0 so that zero padding and ReLU's zero are exact.
#pragma once

#include "edgefed/common/result.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace edgefed::compress {

enum class Calibration { minmax, percentile, mse };
std::string_view to_string(Calibration c) noexcept;
Result<Calibration> parse_calibration(std::string_view name);  // invalid_argument naming the choices

struct Range {
  float lo = 0;
  float hi = 0;
};

class RangeObserver {
 public:
  static constexpr std::size_t kHistogramBins = 2048;

  // Pass 1.
  void observe_minmax(std::span<const float> values);
  // Pass 2 (after every pass-1 call): histogram over the pass-1 range.
  void observe_histogram(std::span<const float> values);

  // The calibrated range; `percentile` in (50, 100] is used by Calibration::percentile.
  Range range(Calibration method, double percentile = 99.99) const;
  Range minmax() const;  // including 0
  std::uint64_t count() const { return count_; }

 private:
  float min_ = 0, max_ = 0;
  bool seen_ = false;
  std::uint64_t count_ = 0;
  std::vector<std::uint64_t> histogram_;
};

// (scale, zero point) of an int8 asymmetric grid over `range` (widened to include 0), zero
// point nudged to an integer in [−128, 127] as in TFLite. A degenerate range [0, 0] gets
// scale 1, zero point −128.
struct AffineParams {
  float scale = 1;
  std::int32_t zero_point = 0;
};
AffineParams affine_params(Range range);

}  // namespace edgefed::compress
