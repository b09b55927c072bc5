// A learnable toy task for the LibTorch tests: class c has a bright 4×4 square at a
// class-specific position of a 28×28 image, on faint noise.
#pragma once

#include "edgefed/data/dataset.hpp"

#include <algorithm>
#include <random>

namespace edgefed::testing {

inline data::Dataset toy_dataset(std::size_t n, std::uint64_t seed) {
  data::Dataset d;
  d.pixels.assign(n * 784, 0.0f);
  d.labels.resize(n);
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::normal_distribution<float> noise(0.0f, 0.1f);
  for (std::size_t i = 0; i < n; ++i) {
    const auto label = static_cast<std::uint8_t>(i % 10);
    d.labels[i] = label;
    const std::size_t r0 = 2 + (label / 5) * 12, c0 = 2 + (label % 5) * 5;
    for (std::size_t p = 0; p < 784; ++p) d.pixels[i * 784 + p] = std::clamp(noise(rng), 0.0f, 1.0f);
    for (std::size_t r = r0; r < r0 + 4; ++r) {
      for (std::size_t c = c0; c < c0 + 4; ++c) d.pixels[i * 784 + r * 28 + c] = 1.0f;
    }
  }
  return d;
}

}  // namespace edgefed::testing
