// The TFLite fixed-point arithmetic: known answers from the definitions, and random values
// against independent references (exact 64-bit floor formulas, and double precision).
#include "edgefed/runtime/fixed_point.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

namespace edgefed::runtime {
namespace {

constexpr std::int32_t kMin = std::numeric_limits<std::int32_t>::min();
constexpr std::int32_t kMax = std::numeric_limits<std::int32_t>::max();

// round(a × b / 2^31) with ties toward +inf: floor((a b + 2^30) / 2^31); >> on a negative
// int64 is a floor division in C++20.
std::int32_t reference_high_mul(std::int32_t a, std::int32_t b) {
  if (a == kMin && b == kMin) return kMax;
  return static_cast<std::int32_t>((std::int64_t{a} * b + (std::int64_t{1} << 30)) >> 31);
}

// x / 2^e rounded half away from zero: exact in double for |x| < 2^31.
std::int32_t reference_divide(std::int32_t x, int e) {
  return static_cast<std::int32_t>(std::round(std::ldexp(static_cast<double>(x), -e)));
}

double real_of(QuantizedMultiplier m) { return std::ldexp(static_cast<double>(m.multiplier), m.shift - 31); }

// Log-uniform in [lo, hi].
double log_uniform(std::mt19937_64& rng, double lo, double hi) {
  std::uniform_real_distribution<double> u(std::log(lo), std::log(hi));
  return std::exp(u(rng));
}

TEST_CASE("quantize_multiplier known answers, including the rounding and underflow edges", "[fixed_point]") {
  CHECK(quantize_multiplier(0.0) == QuantizedMultiplier{0, 0});
  CHECK(quantize_multiplier(1.0) == QuantizedMultiplier{1 << 30, 1});
  CHECK(quantize_multiplier(0.5) == QuantizedMultiplier{1 << 30, 0});
  CHECK(quantize_multiplier(0.75) == QuantizedMultiplier{1610612736, 0});  // 0.75 × 2^31
  CHECK(quantize_multiplier(3.0) == QuantizedMultiplier{1610612736, 2});
  // q = 1 − 2^−40 rounds up to 2^31: halved, one more shift.
  CHECK(quantize_multiplier(1.0 - std::ldexp(1.0, -40)) == QuantizedMultiplier{1 << 30, 1});
  // 2^−32 = 0.5 × 2^−31 is the smallest kept; below, every product rounds to zero anyway.
  CHECK(quantize_multiplier(std::ldexp(1.0, -32)) == QuantizedMultiplier{1 << 30, -31});
  CHECK(quantize_multiplier(std::ldexp(1.0, -40)) == QuantizedMultiplier{0, 0});
}

TEST_CASE("quantize_multiplier keeps 31 significant bits of random multipliers", "[fixed_point]") {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100000; ++i) {
    const double m = log_uniform(rng, 1e-9, 1e6);
    const QuantizedMultiplier q = quantize_multiplier(m);
    INFO(m);
    REQUIRE(q.multiplier >= (1 << 30));
    // Rounding to 31 bits: half a unit of 2^−31 relative to q in [0.5, 1).
    REQUIRE(std::fabs(real_of(q) - m) <= std::ldexp(m, -31));
  }
}

TEST_CASE("saturating_rounding_doubling_high_mul known answers", "[fixed_point]") {
  CHECK(saturating_rounding_doubling_high_mul(kMin, kMin) == kMax);  // the one overflow
  CHECK(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30) == 1 << 29);
  CHECK(saturating_rounding_doubling_high_mul(1 << 30, 1) == 1);      // 0.5 -> 1
  CHECK(saturating_rounding_doubling_high_mul(-(1 << 30), 1) == 0);   // -0.5 -> 0 (half up)
  CHECK(saturating_rounding_doubling_high_mul(-(3 << 29), 2) == -1);  // -1.5 -> -1
  CHECK(saturating_rounding_doubling_high_mul(kMax, kMax) == kMax - 1);
  CHECK(saturating_rounding_doubling_high_mul(kMin, kMax) == kMin + 1);
  CHECK(saturating_rounding_doubling_high_mul(12345, 0) == 0);
}

TEST_CASE("saturating_rounding_doubling_high_mul equals floor((ab + 2^30) / 2^31) on random values", "[fixed_point]") {
  std::mt19937_64 rng(2);
  std::uniform_int_distribution<std::int32_t> any(kMin, kMax);
  std::uniform_int_distribution<std::int32_t> small(-70000, 70000);
  for (int i = 0; i < 200000; ++i) {
    const std::int32_t a = i % 2 ? any(rng) : small(rng);
    const std::int32_t b = any(rng);
    INFO(a << " × " << b);
    REQUIRE(saturating_rounding_doubling_high_mul(a, b) == reference_high_mul(a, b));
  }
}

TEST_CASE("rounding_divide_by_pot rounds half away from zero", "[fixed_point]") {
  CHECK(rounding_divide_by_pot(5, 1) == 3);
  CHECK(rounding_divide_by_pot(-5, 1) == -3);
  CHECK(rounding_divide_by_pot(6, 2) == 2);    // 1.5
  CHECK(rounding_divide_by_pot(-6, 2) == -2);  // -1.5
  CHECK(rounding_divide_by_pot(5, 2) == 1);    // 1.25
  CHECK(rounding_divide_by_pot(-5, 2) == -1);
  CHECK(rounding_divide_by_pot(7, 2) == 2);  // 1.75
  CHECK(rounding_divide_by_pot(-7, 2) == -2);
  CHECK(rounding_divide_by_pot(-77, 0) == -77);
  CHECK(rounding_divide_by_pot(kMax, 31) == 1);
  CHECK(rounding_divide_by_pot(kMin, 31) == -1);
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<std::int32_t> any(kMin, kMax);
  for (int i = 0; i < 200000; ++i) {
    const std::int32_t x = any(rng);
    const int e = i % 32;
    INFO(x << " / 2^" << e);
    REQUIRE(rounding_divide_by_pot(x, e) == reference_divide(x, e));
  }
}

TEST_CASE("multiply_by_quantized_multiplier is within 1 of x × m and exact on representative cases", "[fixed_point]") {
  CHECK(multiply_by_quantized_multiplier(100, 1 << 30, 0) == 50);  // × 0.5
  CHECK(multiply_by_quantized_multiplier(3, 1 << 30, 3) == 12);    // × 4
  CHECK(multiply_by_quantized_multiplier(-7, 1 << 30, -1) == -2);  // -1.75 -> -2
  // Two roundings, as TFLite: 5 × 0.5 = 2.5 -> 3, then 3 / 2 = 1.5 -> 2 (once rounded, 1.25 -> 1).
  CHECK(multiply_by_quantized_multiplier(5, 1 << 30, -1) == 2);
  CHECK(multiply_by_quantized_multiplier(1000, 1610612736, -4) == 47);  // 1000 × 0.046875 = 46.875
  std::mt19937_64 rng(4);
  std::uniform_int_distribution<std::int32_t> acc(-(1 << 24), 1 << 24);
  int exact = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const QuantizedMultiplier m = quantize_multiplier(log_uniform(rng, 1e-6, 8.0));
    const std::int32_t x = acc(rng);
    const double want = static_cast<double>(x) * real_of(m);
    const std::int32_t got = multiply_by_quantized_multiplier(x, m.multiplier, m.shift);
    INFO(x << " × " << real_of(m) << " = " << want << ", got " << got);
    REQUIRE(std::fabs(got - want) <= 1.0);
    exact += got == static_cast<std::int32_t>(std::round(want)) ? 1 : 0;
  }
  // Two roundings differ from one only within 2^−(r+1) of a tie after a right shift r, about 2%
  // of these draws; a systematic rounding error would miss far more.
  CHECK(exact >= n * 95 / 100);
}

TEST_CASE("the smaller-than-one form equals the general one for shifts <= 0", "[fixed_point]") {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<std::int32_t> any(-(1 << 28), 1 << 28);
  for (int i = 0; i < 100000; ++i) {
    const QuantizedMultiplier m = quantize_multiplier(log_uniform(rng, 1e-8, 0.49));
    REQUIRE(m.shift <= 0);
    const std::int32_t x = any(rng);
    REQUIRE(multiply_by_quantized_multiplier_smaller_than_one(x, m.multiplier, m.shift) ==
            multiply_by_quantized_multiplier(x, m.multiplier, m.shift));
  }
}

TEST_CASE("Requantizer gives exactly multiply_by_quantized_multiplier for every shift", "[fixed_point]") {
  std::mt19937_64 rng(6);
  std::uniform_int_distribution<std::int32_t> any(kMin, kMax);
  std::uniform_int_distribution<std::int32_t> small(-(1 << 20), 1 << 20);
  std::uniform_int_distribution<std::int32_t> significand(1 << 30, kMax);
  for (int shift = -31; shift <= 31; ++shift) {
    for (int i = 0; i < 20000; ++i) {
      const std::int32_t multiplier = i == 0 ? kMax : significand(rng);
      const std::int32_t x = i % 3 == 0 ? any(rng) : small(rng);
      INFO(x << " × " << multiplier << " shift " << shift);
      REQUIRE(Requantizer({multiplier, shift})(x) == multiply_by_quantized_multiplier(x, multiplier, shift));
    }
    for (std::int32_t x : {kMin, kMax, 0, -1, 1}) {
      REQUIRE(Requantizer({1 << 30, shift})(x) == multiply_by_quantized_multiplier(x, 1 << 30, shift));
    }
  }
  CHECK(Requantizer({0, 0})(12345) == 0);
}

}  // namespace
}  // namespace edgefed::runtime
