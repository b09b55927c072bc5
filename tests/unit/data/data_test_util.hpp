// Helpers for the edgefed::data tests: stable hashes of results and small synthetic sets.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "edgefed/data/dataset.hpp"
#include "edgefed/data/partition.hpp"
#include "edgefed/data/rng.hpp"

namespace edgefed::data::testing {

// FNV-1a, 64 bit: a stable fingerprint for pinned known answers and determinism checks.
class Fnv1a {
 public:
  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) {
      hash_ ^= p[i];
      hash_ *= 0x100000001B3ULL;
    }
  }
  void u64(std::uint64_t v) {  // little-endian, whatever the host
    for (int k = 0; k < 8; ++k) {
      const unsigned char b = static_cast<unsigned char>(v >> (8 * k));
      bytes(&b, 1);
    }
  }
  void floats(std::span<const float> values) {
    for (float f : values) u64(std::bit_cast<std::uint32_t>(f));
  }
  void dataset(const Dataset& d) {
    u64(d.channels);
    u64(d.rows);
    u64(d.cols);
    floats(d.pixels);
    u64(d.labels.size());
    bytes(d.labels.data(), d.labels.size());
  }
  void indices(std::span<const std::size_t> values) {
    u64(values.size());
    for (std::size_t v : values) u64(v);
  }
  std::uint64_t value() const { return hash_; }

 private:
  std::uint64_t hash_ = 0xCBF29CE484222325ULL;
};

inline std::uint64_t hash_partition(const DeviceIndices& parts) {
  Fnv1a h;
  h.u64(parts.size());
  for (const auto& part : parts) h.indices(part);
  return h.value();
}

// n labels, `classes` classes of equal size (n / classes each), in a seeded random order.
inline std::vector<std::uint8_t> balanced_labels(std::size_t n, std::size_t classes,
                                                 std::uint64_t seed) {
  std::vector<std::uint8_t> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<std::uint8_t>(i % classes);
  Rng rng(seed);
  rng.shuffle(std::span(labels));
  return labels;
}

// n random images of shape c×h×w with pixels uniform in [0, 1) and balanced labels.
inline Dataset random_dataset(std::size_t n, std::size_t c, std::size_t h, std::size_t w,
                              std::uint64_t seed) {
  Dataset d;
  d.channels = c;
  d.rows = h;
  d.cols = w;
  d.labels = balanced_labels(n, 10, seed);
  d.pixels.resize(n * c * h * w);
  Rng rng(seed + 1);
  for (float& p : d.pixels) p = static_cast<float>(rng.uniform01());
  return d;
}

}  // namespace edgefed::data::testing
