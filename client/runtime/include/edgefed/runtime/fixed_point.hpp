// The integer arithmetic of the TFLite int8 reference kernels (gemmlowp fixed point), written
// from the specification: a real multiplier M > 0 becomes a Q31 significand and a power-of-two
// shift, M ≈ multiplier × 2^(shift − 31), and an int32 is multiplied by it with two roundings
// (a doubling high multiply rounding half up, then a right shift rounding half away from zero).
// Every conformant runtime (TFLite, TFLM, Arm NN's reference backend) computes exactly these
// integers, which is what lets our int8 outputs be compared with theirs bit for bit.
//
// All functions are pure (constexpr but quantize_multiplier) and free of undefined behaviour
// for every input within the documented shift ranges.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace edgefed::runtime {

struct QuantizedMultiplier {
  std::int32_t multiplier = 0;  // Q31 significand in [2^30, 2^31), or 0
  int shift = 0;                // power of two: > 0 shifts left, < 0 right

  bool operator==(const QuantizedMultiplier&) const = default;
};

// TFLite QuantizeMultiplier: frexp(m) = q × 2^shift with q in [0.5, 1); multiplier =
// round(q × 2^31) (half away from zero); a q that rounds up to 2^31 becomes 2^30 with shift + 1;
// a shift below −31 (m < 2^−32: every product rounds to 0) gives {0, 0}, as does m = 0.
// Precondition: m >= 0 and finite (the graph validator guarantees positive finite scales).
inline QuantizedMultiplier quantize_multiplier(double m) {
  if (m == 0.0) return {};
  int shift = 0;
  const double q = std::frexp(m, &shift);
  auto q_fixed = static_cast<std::int64_t>(std::round(q * 2147483648.0));
  if (q_fixed == (std::int64_t{1} << 31)) {
    q_fixed /= 2;
    ++shift;
  }
  if (shift < -31) return {};
  return {static_cast<std::int32_t>(q_fixed), shift};
}

// gemmlowp SaturatingRoundingDoublingHighMul: round(a × b / 2^31), ties toward +inf; the one
// overflowing case a = b = INT32_MIN saturates to INT32_MAX.
constexpr std::int32_t saturating_rounding_doubling_high_mul(std::int32_t a, std::int32_t b) {
  if (a == b && a == std::numeric_limits<std::int32_t>::min()) return std::numeric_limits<std::int32_t>::max();
  const std::int64_t ab = std::int64_t{a} * std::int64_t{b};
  const std::int64_t nudge = ab >= 0 ? (std::int64_t{1} << 30) : 1 - (std::int64_t{1} << 30);
  return static_cast<std::int32_t>((ab + nudge) / (std::int64_t{1} << 31));  // C++ truncates
}

// gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero; 0 <= exponent <= 31.
constexpr std::int32_t rounding_divide_by_pot(std::int32_t x, int exponent) {
  const std::int32_t mask = static_cast<std::int32_t>((std::int64_t{1} << exponent) - 1);
  const std::int32_t remainder = x & mask;
  const std::int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// TFLite MultiplyByQuantizedMultiplier: x × multiplier × 2^(shift − 31). A positive shift is
// applied to x first, wrapping as two's complement int32 arithmetic does in TFLite; shift <= 31.
constexpr std::int32_t multiply_by_quantized_multiplier(std::int32_t x, std::int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  const auto shifted = static_cast<std::int32_t>(static_cast<std::uint32_t>(x) << left);
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right);
}

// TFLite MultiplyByQuantizedMultiplierSmallerThanOneExp (the ADD kernel): shift <= 0.
constexpr std::int32_t multiply_by_quantized_multiplier_smaller_than_one(std::int32_t x, std::int32_t multiplier,
                                                                         int shift) {
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -shift);
}

// multiply_by_quantized_multiplier for a fixed multiplier, prepared once so that applying it is
// a few branch-free integer instructions (the requantization of every conv / FC output):
//   round_half_up(x × multiplier / 2^31) = floor((x × multiplier + 2^30) / 2^31), and
//   round_half_away(y / 2^e) = floor((y + 2^(e−1) − [y < 0]) / 2^e)  (e >= 1),
// both exact in 64-bit arithmetic. Identical results for every x (tested against the above);
// multiplier must be >= 0 (so the saturating case cannot occur), shift in [−31, 31].
class Requantizer {
 public:
  constexpr Requantizer() = default;
  constexpr explicit Requantizer(QuantizedMultiplier m)
      : multiplier_(m.multiplier),
        left_(m.shift > 0 ? m.shift : 0),
        right_(m.shift > 0 ? 0 : -m.shift),
        half_(right_ > 0 ? std::int64_t{1} << (right_ - 1) : 0) {}

  constexpr std::int32_t operator()(std::int32_t x) const {
    const auto shifted = static_cast<std::int32_t>(static_cast<std::uint32_t>(x) << left_);
    const std::int64_t high = (std::int64_t{shifted} * multiplier_ + (std::int64_t{1} << 30)) >> 31;
    const std::int64_t rounded = (high + half_ - (right_ > 0 && high < 0 ? 1 : 0)) >> right_;
    return static_cast<std::int32_t>(rounded);
  }

 private:
  std::int64_t multiplier_ = 0;
  int left_ = 0;
  int right_ = 0;
  std::int64_t half_ = 0;
};

}  // namespace edgefed::runtime
