#include "edgefed/compress/observer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace edgefed::compress {

std::string_view to_string(Calibration c) noexcept {
  switch (c) {
    case Calibration::minmax: return "minmax";
    case Calibration::percentile: return "percentile";
    case Calibration::mse: return "mse";
  }
  return "unknown";
}

Result<Calibration> parse_calibration(std::string_view name) {
  for (Calibration c : {Calibration::minmax, Calibration::percentile, Calibration::mse}) {
    if (name == to_string(c)) return c;
  }
  return fail(ErrorCode::invalid_argument,
              "calibration '" + std::string(name) + "' is not one of minmax, percentile, mse");
}

void RangeObserver::observe_minmax(std::span<const float> values) {
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    if (!seen_) {
      min_ = max_ = v;
      seen_ = true;
    }
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
}

void RangeObserver::observe_histogram(std::span<const float> values) {
  if (histogram_.empty()) histogram_.assign(kHistogramBins, 0);
  const Range r = minmax();
  const double width = (static_cast<double>(r.hi) - r.lo) / kHistogramBins;
  if (width <= 0) return;
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    const double pos = (static_cast<double>(v) - r.lo) / width;
    const auto bin = static_cast<std::size_t>(std::clamp(pos, 0.0, static_cast<double>(kHistogramBins - 1)));
    ++histogram_[bin];
    ++count_;
  }
}

Range RangeObserver::minmax() const {
  if (!seen_) return {};
  return {std::min(min_, 0.0f), std::max(max_, 0.0f)};
}

namespace {

// Value below which `fraction` of the histogram's mass lies (linear inside a bin).
double quantile(const std::vector<std::uint64_t>& h, std::uint64_t total, Range r, double fraction) {
  const double width = (static_cast<double>(r.hi) - r.lo) / static_cast<double>(h.size());
  const double target = fraction * static_cast<double>(total);
  double cumulative = 0;
  for (std::size_t b = 0; b < h.size(); ++b) {
    const double next = cumulative + static_cast<double>(h[b]);
    if (next >= target && h[b] > 0) {
      const double inside = (target - cumulative) / static_cast<double>(h[b]);
      return r.lo + (static_cast<double>(b) + inside) * width;
    }
    cumulative = next;
  }
  return r.hi;
}

// Expected squared error of quantizing the histogram onto a 255-step grid over [lo, hi].
double quantization_error(const std::vector<std::uint64_t>& h, Range r, double lo, double hi) {
  const double width = (static_cast<double>(r.hi) - r.lo) / static_cast<double>(h.size());
  const double step = (hi - lo) / 255.0;
  const double rounding = step * step / 12.0;
  double error = 0;
  for (std::size_t b = 0; b < h.size(); ++b) {
    if (h[b] == 0) continue;
    const double x = r.lo + (static_cast<double>(b) + 0.5) * width;
    const double clipped = x < lo ? lo - x : (x > hi ? x - hi : 0.0);
    error += static_cast<double>(h[b]) * (clipped > 0 ? clipped * clipped : rounding);
  }
  return error;
}

}  // namespace

Range RangeObserver::range(Calibration method, double percentile) const {
  const Range full = minmax();
  if (method == Calibration::minmax || count_ == 0 || full.hi <= full.lo) return full;
  if (method == Calibration::percentile) {
    const double p = std::clamp(percentile, 50.0, 100.0) / 100.0;
    const double lo = min_ < 0 ? quantile(histogram_, count_, full, 1.0 - p) : 0.0;
    const double hi = max_ > 0 ? quantile(histogram_, count_, full, p) : 0.0;
    return {static_cast<float>(std::min(lo, 0.0)), static_cast<float>(std::max(hi, 0.0))};
  }
  // mse: search each end over shrink factors of the full range (the grid keeps 0 inside).
  constexpr int kSteps = 64;
  double best_error = std::numeric_limits<double>::infinity();
  Range best = full;
  for (int i = 0; i < kSteps; ++i) {
    const double lo = full.lo * (1.0 - static_cast<double>(i) / kSteps);
    if (full.lo == 0 && i > 0) break;
    for (int j = 0; j < kSteps; ++j) {
      const double hi = full.hi * (1.0 - static_cast<double>(j) / kSteps);
      if (full.hi == 0 && j > 0) break;
      if (hi - lo <= 0) continue;
      const double e = quantization_error(histogram_, full, lo, hi);
      if (e < best_error) {
        best_error = e;
        best = {static_cast<float>(lo), static_cast<float>(hi)};
      }
    }
  }
  return best;
}

AffineParams affine_params(Range range) {
  const double lo = std::min(0.0, static_cast<double>(range.lo));
  const double hi = std::max(0.0, static_cast<double>(range.hi));
  if (hi - lo <= 0) return {1.0f, -128};
  const double scale = (hi - lo) / 255.0;
  // TFLite's nudging: the zero point is the integer nearest to where 0.0 falls on the grid.
  const double zero = -128.0 - lo / scale;
  const auto zp = static_cast<std::int32_t>(std::clamp(std::round(zero), -128.0, 127.0));
  return {static_cast<float>(scale), zp};
}

}  // namespace edgefed::compress
