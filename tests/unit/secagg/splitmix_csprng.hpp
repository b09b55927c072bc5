// A tiny reproducible Csprng for known-answer tests, independent of DeterministicCsprng.
//
// Purpose p's stream is the little-endian bytes of SplitMix64 outputs, starting from state
// seed ^ (p * 0xD1B54A32D192ED03). Not cryptographic at all: tests only. The Shamir and ring
// known answers are pinned against this generator, so they do not move when the production
// DeterministicCsprng changes.
#pragma once

#include "edgefed/secagg/csprng.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace edgefed::secagg::testing {

class SplitMixCsprng final : public Csprng {
 public:
  explicit SplitMixCsprng(std::uint64_t seed) {
    for (std::size_t p = 0; p < kPurposes; ++p) {
      streams_[p].state = seed ^ (static_cast<std::uint64_t>(p) * 0xD1B54A32D192ED03ULL);
    }
  }

  void fill(RngPurpose purpose, std::span<std::uint8_t> out) override {
    Stream& s = streams_[static_cast<std::size_t>(purpose) % kPurposes];
    std::size_t i = 0;
    while (i < out.size()) {
      if (s.used == 8) {
        s.word = next(s.state);
        s.used = 0;
      }
      out[i++] = static_cast<std::uint8_t>(s.word >> (8 * s.used++));
    }
  }

  // The k-th (0-based) 64-bit word of a purpose's stream for `seed`, for checks.
  static std::uint64_t word_at(std::uint64_t seed, RngPurpose purpose, std::size_t k) {
    std::uint64_t state =
        seed ^ (static_cast<std::uint64_t>(static_cast<std::size_t>(purpose) % kPurposes) *
                0xD1B54A32D192ED03ULL);
    std::uint64_t w = 0;
    for (std::size_t i = 0; i <= k; ++i) w = next(state);
    return w;
  }

 private:
  static constexpr std::size_t kPurposes = 8;
  struct Stream {
    std::uint64_t state = 0;
    std::uint64_t word = 0;
    unsigned used = 8;  // bytes of `word` already handed out
  };
  static std::uint64_t next(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::array<Stream, kPurposes> streams_{};
};

}  // namespace edgefed::secagg::testing
