// Per-device feature shift (DESIGN §6): every simulated device looks at the world through its
// own "sensor", a fixed contrast, brightness, rotation and noise level, so devices see the
// same classes differently. Seeded and reproducible.
//
// Drawing a sensor (draw_sensor). s = severity clamped to [0, 2] (NaN counts as 0). With
// rng = Rng(derive_seed(seed, device)) and u0..u3 = four rng.uniform01() draws in this order:
//
//   contrast         = 1 + kContrastRange   × s × (2 u0 - 1)   in [1 - 0.5 s, 1 + 0.5 s]
//   brightness       =     kBrightnessRange × s × (2 u1 - 1)   in [-0.2 s, 0.2 s]
//   rotation_degrees =     kRotationRange   × s × (2 u2 - 1)   in [-20 s, 20 s]
//   noise_std        =     kNoiseRange      × s × u3           in [0, 0.1 s]
//
// Severity 0 gives the identity sensor; the ranges are the same for every device, only the
// draws differ.
//
// Applying a sensor (apply_sensor), to every channel plane of every image, in this order:
//
//   1. rotation by rotation_degrees, counter-clockwise as displayed (row 0 on top), about
//      the plane centre ((cols - 1) / 2, (rows - 1) / 2): each output pixel samples the
//      input at the inversely rotated position with bilinear interpolation; neighbours
//      outside the plane count as 0. Exact multiples of 90° use exact sines and cosines, so
//      they permute pixels exactly on square planes.
//   2. contrast about mid-grey: v = (v - 0.5) × contrast + 0.5 (not about the image mean:
//      a real sensor's gain does not know the scene, and this keeps images independent)
//   3. brightness: v = v + brightness
//   4. noise: v = v + noise_std × z, z ~ N(0, 1), for image i (its dataset position) from
//      rng = Rng(derive_seed(noise_seed, i)), so an image's noise does not depend on which
//      other images are in the set. Pixels 2k and 2k + 1 (flat C×H×W order) share one draw
//      x = rng.next_u64(): Box–Muller in float with u1 = ((x >> 40) + 0.5) / 2^24,
//      u2 = ((x >> 16) & 0xFFFFFF) / 2^24, z = sqrt(-2 ln u1) × (cos, sin)(2 pi u2); 24-bit
//      uniforms bound |z| <= 5.9, which is plenty for sensor noise (and 4× faster than
//      Rng::normal)
//   5. clamp to [0, 1]
//
// A stage whose parameter is the identity (0°, contrast 1, brightness 0, noise 0) is
// skipped, so the identity sensor leaves every float bit-identical. Cost: one scratch plane
// and, with rotation, one precomputed sampling plan per call; nothing is allocated per image
// or pixel.
//
// Preconditions of apply_sensor*: dataset.well_formed() and rows × cols < 2^32 (aborts
// otherwise); finite profile fields (a NaN field gives NaN pixels).
#pragma once

#include <cstdint>

#include "edgefed/data/dataset.hpp"

namespace edgefed::data {

inline constexpr float kContrastRange = 0.5f;
inline constexpr float kBrightnessRange = 0.2f;
inline constexpr float kRotationRange = 20.0f;  // degrees
inline constexpr float kNoiseRange = 0.1f;
inline constexpr float kMaxSeverity = 2.0f;

struct SensorProfile {
  float contrast = 1.0f;
  float brightness = 0.0f;
  float rotation_degrees = 0.0f;
  float noise_std = 0.0f;

  bool operator==(const SensorProfile&) const = default;
};

// True for the profile that changes nothing (all fields at their defaults).
bool is_identity(const SensorProfile& profile) noexcept;

// Device `device`'s sensor for fleet seed `seed`; see the table above.
SensorProfile draw_sensor(std::uint64_t seed, std::uint32_t device, float severity = 1.0f);

// Transforms every image of `dataset` in place; see the steps above.
void apply_sensor(const SensorProfile& profile, Dataset& dataset, std::uint64_t noise_seed);

// A transformed copy of `dataset`, e.g. the global test set as device d's sensor sees it.
Dataset apply_sensor_copy(const SensorProfile& profile, const Dataset& dataset,
                          std::uint64_t noise_seed);

}  // namespace edgefed::data
