// Torch-free fixtures for the compression and export tests: the default CNN's tensors with
// random values, and random images. Include after <catch2/catch.hpp>.
#pragma once

#include "edgefed/common/parameter_set.hpp"
#include "edgefed/data/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace edgefed::testing {

// The default CNN's tensors (LibTorch names and layouts) with random values: `channels` per
// block, adapter rank c/8 (random up-projections, so the adapters stay in the lowered graph),
// BatchNorm statistics that make folding matter.
inline ParameterSet random_cnn_state(std::vector<std::int64_t> channels, std::uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.5f, 1.5f);
  ParameterSet s;
  const auto add = [&](const std::string& name, Shape shape, float scale, bool positive = false) {
    std::size_t n = 1;
    for (auto d : shape) n *= static_cast<std::size_t>(d);
    std::vector<float> v(n);
    for (float& x : v) x = positive ? uniform(rng) : scale * normal(rng);
    REQUIRE(s.add(name, std::move(shape), v));
  };
  std::int64_t in = 1;
  std::int64_t side = 28;
  for (std::size_t b = 0; b < channels.size(); ++b) {
    const std::string n = std::to_string(b + 1);
    const std::int64_t c = channels[b];
    const std::int64_t r = std::max<std::int64_t>(1, c / 8);
    add("conv" + n + ".weight", {c, in, 3, 3}, 1.0f / std::sqrt(9.0f * static_cast<float>(in)));
    add("bn" + n + ".weight", {c}, 0, true);
    add("bn" + n + ".bias", {c}, 0.1f);
    add("bn" + n + ".running_mean", {c}, 0.1f);
    add("bn" + n + ".running_var", {c}, 0, true);
    add("adapter" + n + ".down.weight", {r, c, 1, 1}, 1.0f / std::sqrt(static_cast<float>(c)));
    add("adapter" + n + ".up.weight", {c, r, 1, 1}, 0.1f);
    if (b + 1 < channels.size()) side /= 2;
    in = c;
  }
  add("head.weight", {10, in * side * side}, 1.0f / std::sqrt(static_cast<float>(in * side * side)));
  add("head.bias", {10}, 0.1f);
  return s;
}

// `n` 28×28 images of uniform noise, labels cycling 0..9.
inline data::Dataset random_images(std::size_t n, std::uint32_t seed = 2) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  data::Dataset d;
  d.pixels.resize(n * 28 * 28);
  for (float& p : d.pixels) p = u(rng);
  for (std::size_t i = 0; i < n; ++i) d.labels.push_back(static_cast<std::uint8_t>(i % 10));
  return d;
}

}  // namespace edgefed::testing
