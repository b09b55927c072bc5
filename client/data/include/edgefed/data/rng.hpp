// A portable pseudo-random generator for data preparation: partitions, sensor profiles,
// sensor noise. Not cryptographic; never use it for keys or masks (see edgefed::secagg).
//
// Why not <random>: std::mt19937_64 is portable, but std::uniform_int_distribution,
// std::normal_distribution and std::gamma_distribution are implementation-defined, so the
// same seed gives a different partition under libstdc++ and libc++. Everything here is
// specified down to the bit:
//
//   seeding      state[k] = splitmix64 outputs 1..4 from the 64-bit seed (Vigna's advice;
//                a seeded state is never all zero)
//   next_u64     xoshiro256** 1.0 (Blackman & Vigna, 2018), reference algorithm
//   uniform01    (next_u64() >> 11) * 2^-53, in [0, 1)
//   uniform_open ((next_u64() >> 11) + 0.5) * 2^-53, in (0, 1): safe under log()
//   below(n)     rejection: draw x until x >= (2^64 - n) mod n, return x mod n (unbiased)
//   normal       Box–Muller: r = sqrt(-2 ln u1), t = 2 pi u2 with u1 = uniform_open(),
//                u2 = uniform01(); returns r cos t, then r sin t on the next call (the
//                spare is part of the generator state)
//   gamma(a)     Marsaglia & Tsang (2000) for a >= 1; for a < 1, gamma(a + 1) * U^(1/a)
//   log_gamma(a) ln of a gamma(a) draw, computed in log space (ln gamma(a + 1) + ln(U) / a
//                for a < 1), so tiny shapes (a = 0.01) never underflow to 0
//   dirichlet    x_k = log_gamma(a) for k = 0..K-1 in order, p_k = exp(x_k - max x) / sum
//
// The integer stream (next_u64, uniform*, below, shuffle) is bit-identical everywhere.
// Real-valued draws (normal, gamma, dirichlet) call std::log/exp/sqrt/cos/sin, which IEEE
// does not require to be correctly rounded: under a different libm a value may differ in the
// last ulp. A partition built from such draws changes only if a count lands exactly on a
// rounding boundary.
//
// Thread-safety: an Rng is a plain value; give each thread its own (derive_seed below).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace edgefed::data {

// One splitmix64 step: advances `state` by the golden gamma and returns the mixed output.
std::uint64_t splitmix64(std::uint64_t& state) noexcept;

// An independent-looking seed for sub-stream `stream` of `seed`, so that each purpose
// (cloud split, partition, device 17's sensor …) draws from its own stream and adding a draw
// to one never shifts another. Defined as splitmix64 output 1 from state
// seed ^ splitmix64-output-1(stream + 0x5EED). Pure function.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) noexcept;

class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept;
  // The raw xoshiro256** state, for known-answer tests. An all-zero state is a fixed point
  // of the generator (it outputs 0 forever); callers must not pass one.
  static Rng from_state(const std::array<std::uint64_t, 4>& state) noexcept;

  std::uint64_t next_u64() noexcept;
  double uniform01() noexcept;
  double uniform_open() noexcept;
  // Uniform integer in [0, n). Precondition: n >= 1 (n == 0 returns 0).
  std::uint64_t below(std::uint64_t n) noexcept;
  // Standard normal N(0, 1).
  double normal() noexcept;
  // Gamma(shape, scale 1). Precondition: shape > 0 and finite.
  double gamma(double shape) noexcept;
  // ln of a Gamma(shape, 1) draw; finite for every shape > 0.
  double log_gamma(double shape) noexcept;
  // Fills `out` with one draw from the symmetric Dirichlet(alpha, …, alpha) over
  // out.size() categories (sums to 1 up to rounding). Precondition: alpha > 0.
  void dirichlet(double alpha, std::span<double> out) noexcept;

  // Fisher–Yates from the back: for i = n-1 down to 1, swap(v[i], v[below(i + 1)]).
  template <typename T>
  void shuffle(std::span<T> values) noexcept {
    for (std::size_t i = values.size(); i > 1; --i) {
      const std::size_t j = static_cast<std::size_t>(below(i));
      std::swap(values[i - 1], values[j]);
    }
  }

 private:
  Rng() noexcept = default;
  std::array<std::uint64_t, 4> state_{};
  double spare_normal_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace edgefed::data
