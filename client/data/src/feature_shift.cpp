#include "edgefed/data/feature_shift.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <vector>

#include "edgefed/data/rng.hpp"
#include "misuse.hpp"

namespace edgefed::data {
namespace {

// For each output pixel of an H×W plane: up to four input positions and their bilinear
// weights (weight 0 for a neighbour outside the plane).
struct RotationPlan {
  std::vector<std::array<std::uint32_t, 4>> source;
  std::vector<std::array<float, 4>> weight;
};

// sin and cos of `degrees`, exact at multiples of 90°.
void sincos_degrees(double degrees, double& s, double& c) noexcept {
  const double quarter = degrees / 90.0;
  if (quarter == std::floor(quarter) && std::isfinite(quarter)) {
    static constexpr double kSin[4] = {0.0, 1.0, 0.0, -1.0};
    static constexpr double kCos[4] = {1.0, 0.0, -1.0, 0.0};
    const double m = std::fmod(quarter, 4.0);
    const int k = static_cast<int>(m < 0 ? m + 4.0 : m);
    s = kSin[k];
    c = kCos[k];
    return;
  }
  const double rad = degrees * std::numbers::pi / 180.0;
  s = std::sin(rad);
  c = std::cos(rad);
}

RotationPlan plan_rotation(std::size_t rows, std::size_t cols, double degrees) {
  double s = 0.0;
  double c = 1.0;
  sincos_degrees(degrees, s, c);
  const double cx = (static_cast<double>(cols) - 1.0) / 2.0;
  const double cy = (static_cast<double>(rows) - 1.0) / 2.0;
  RotationPlan plan;
  plan.source.resize(rows * cols);
  plan.weight.resize(rows * cols);
  for (std::size_t y = 0; y < rows; ++y) {
    for (std::size_t x = 0; x < cols; ++x) {
      // Inverse of the counter-clockwise (as displayed, y down) rotation.
      const double dx = static_cast<double>(x) - cx;
      const double dy = static_cast<double>(y) - cy;
      const double sx = dx * c - dy * s + cx;
      const double sy = dx * s + dy * c + cy;
      const double x0 = std::floor(sx);
      const double y0 = std::floor(sy);
      const double fx = sx - x0;
      const double fy = sy - y0;
      const std::size_t p = y * cols + x;
      const double wx[2] = {1.0 - fx, fx};
      const double wy[2] = {1.0 - fy, fy};
      for (int k = 0; k < 4; ++k) {
        const double nx = x0 + (k & 1);
        const double ny = y0 + (k >> 1);
        const bool inside =
            nx >= 0 && ny >= 0 && nx < static_cast<double>(cols) && ny < static_cast<double>(rows);
        plan.source[p][k] =
            inside ? static_cast<std::uint32_t>(ny * static_cast<double>(cols) + nx) : 0;
        plan.weight[p][k] = inside ? static_cast<float>(wx[k & 1] * wy[k >> 1]) : 0.0f;
      }
    }
  }
  return plan;
}

void rotate_plane(const RotationPlan& plan, std::span<float> plane, std::vector<float>& scratch) {
  std::copy(plane.begin(), plane.end(), scratch.begin());
  for (std::size_t p = 0; p < plane.size(); ++p) {
    const auto& src = plan.source[p];
    const auto& w = plan.weight[p];
    plane[p] = w[0] * scratch[src[0]] + w[1] * scratch[src[1]] + w[2] * scratch[src[2]] +
               w[3] * scratch[src[3]];
  }
}

// Step 4's standard normals, two per 64-bit draw x: Box–Muller in float with
// u1 = ((x >> 40) + 0.5) / 2^24 in (0, 1) and u2 = ((x >> 16) & 0xFFFFFF) / 2^24 in [0, 1).
void add_noise(std::span<float> image, float std_dev, Rng& rng) noexcept {
  constexpr float kInv24 = 1.0f / 16777216.0f;
  constexpr float kTwoPi = 2.0f * std::numbers::pi_v<float>;
  for (std::size_t p = 0; p < image.size(); p += 2) {
    const std::uint64_t x = rng.next_u64();
    const float u1 = (static_cast<float>(x >> 40) + 0.5f) * kInv24;
    const float u2 = static_cast<float>((x >> 16) & 0xFFFFFFu) * kInv24;
    const float r = std_dev * std::sqrt(-2.0f * std::log(u1));
    const float t = kTwoPi * u2;
    image[p] += r * std::cos(t);
    if (p + 1 < image.size()) image[p + 1] += r * std::sin(t);
  }
}

// Steps 2-5 for one image, one pass per stage (each vectorizes); the clamp also catches
// bilinear rounding just above 1.
void adjust_pixels(const SensorProfile& profile, std::span<float> image, Rng* noise) {
  if (profile.contrast != 1.0f) {
    const float c = profile.contrast;
    for (float& v : image) v = (v - 0.5f) * c + 0.5f;
  }
  if (profile.brightness != 0.0f) {
    const float b = profile.brightness;
    for (float& v : image) v += b;
  }
  if (noise != nullptr) add_noise(image, profile.noise_std, *noise);
  for (float& v : image) v = std::min(std::max(v, 0.0f), 1.0f);
}

}  // namespace

bool is_identity(const SensorProfile& profile) noexcept {
  return profile == SensorProfile{};
}

SensorProfile draw_sensor(std::uint64_t seed, std::uint32_t device, float severity) {
  const float s = std::isnan(severity) ? 0.0f : std::clamp(severity, 0.0f, kMaxSeverity);
  Rng rng(derive_seed(seed, device));
  auto centred = [&rng] { return static_cast<float>(2.0 * rng.uniform01() - 1.0); };
  SensorProfile profile;
  profile.contrast = 1.0f + kContrastRange * s * centred();
  profile.brightness = kBrightnessRange * s * centred();
  profile.rotation_degrees = kRotationRange * s * centred();
  profile.noise_std = kNoiseRange * s * static_cast<float>(rng.uniform01());
  return profile;
}

void apply_sensor(const SensorProfile& profile, Dataset& dataset, std::uint64_t noise_seed) {
  detail::require(dataset.well_formed(), "apply_sensor: dataset not well formed");
  if (is_identity(profile) || dataset.empty()) return;
  const std::size_t plane_size = dataset.rows * dataset.cols;
  detail::require(plane_size < (std::size_t{1} << 32), "apply_sensor: plane too large");
  const bool rotate = profile.rotation_degrees != 0.0f;
  RotationPlan plan;
  std::vector<float> scratch;
  if (rotate) {
    plan = plan_rotation(dataset.rows, dataset.cols, profile.rotation_degrees);
    scratch.resize(plane_size);
  }
  for (std::size_t i = 0; i < dataset.size(); ++i) {
    std::span<float> image = dataset.mutable_image(i);
    if (rotate) {
      for (std::size_t c = 0; c < dataset.channels; ++c) {
        rotate_plane(plan, image.subspan(c * plane_size, plane_size), scratch);
      }
    }
    if (profile.noise_std != 0.0f) {
      Rng noise(derive_seed(noise_seed, i));
      adjust_pixels(profile, image, &noise);
    } else {
      adjust_pixels(profile, image, nullptr);
    }
  }
}

Dataset apply_sensor_copy(const SensorProfile& profile, const Dataset& dataset,
                          std::uint64_t noise_seed) {
  Dataset copy = dataset;
  apply_sensor(profile, copy, noise_seed);
  return copy;
}

}  // namespace edgefed::data
