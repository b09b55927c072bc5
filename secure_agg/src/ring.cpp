#include "edgefed/secagg/ring.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

namespace edgefed::secagg {
namespace {

__extension__ using Uint128 = unsigned __int128;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}
std::string num(std::uint64_t v) { return std::to_string(v); }

bool fits_budget(std::uint32_t q, std::uint32_t b, std::uint64_t n_max) noexcept {
  const Uint128 max_level = (Uint128{1} << (q - 1)) - 1;
  return static_cast<Uint128>(n_max) * max_level < (Uint128{1} << (b - 1));
}

// ---- encoding ----

// Rounds a scaled value x (|x| <= M, up to rounding) to a level in [-max_level, max_level].
// `word` is the random draw (ignored for nearest rounding). Branch-free on the common path:
// a mispredicted "round up?" branch per coordinate would cost more than the rest of the work,
// and std::floor is a libm call on baseline x86-64.
inline std::int64_t to_level(double x, std::uint64_t word, Rounding rounding,
                             std::int64_t max_level) noexcept {
  if (!(x < 0x1p62 && x > -0x1p62)) {
    // Only when q >= 63. Doubles this large are integers; M may round up to 2^63: saturate.
    const std::int64_t big = x >= 0x1p63    ? std::numeric_limits<std::int64_t>::max()
                             : x <= -0x1p63 ? -std::numeric_limits<std::int64_t>::max()
                                            : static_cast<std::int64_t>(x);
    return std::clamp(big, -max_level, max_level);
  }
  // floor(x) via truncation; both conversions are exact here, and so is frac = x - floor(x).
  std::int64_t level = static_cast<std::int64_t>(x);
  level -= x < static_cast<double>(level);  // truncation went up: negative non-integer
  const double frac = x - static_cast<double>(level);
  if (rounding == Rounding::stochastic) {
    // u is uniform on the 2^53 multiples of 2^-53 in [0, 1): P(round up) is frac rounded up
    // to such a multiple (bias < 2^-53 steps).
    const double u = static_cast<double>(word >> 11) * 0x1p-53;
    level += u < frac;
  } else {  // half away from zero (bitwise, not logical: no data-dependent branch)
    level += static_cast<int>(frac > 0.5) | (static_cast<int>(frac == 0.5) & static_cast<int>(x >= 0.0));
  }
  return std::clamp(level, -max_level, max_level);
}

Status check_encode_args(const EncodingParams& params, double weight, std::size_t coords,
                         std::size_t lanes, unsigned lane_bits) {
  EDGEFED_TRY(params.validate());
  if (params.b > lane_bits) {
    return fail(ErrorCode::invalid_argument,
                "encode_update: b = " + num(std::uint64_t{params.b}) + " needs uint64 lanes");
  }
  if (!(weight >= 0.0 && weight <= 1.0)) {
    return fail(ErrorCode::invalid_argument, "encode_update: weight " + num(weight) +
                                                 " is not in [0, 1]");
  }
  if (lanes != coords + 1) {
    return fail(ErrorCode::invalid_argument,
                "encode_update: output has " + num(std::uint64_t{lanes}) + " lanes, need " +
                    num(std::uint64_t{coords + 1}) + " (coordinates + weight)");
  }
  return {};
}

// The factor that L2-clips delta (1 when clipping is off or not needed); bad_value naming the
// first non-finite element. The squared norm is summed in double (a float squared cannot
// overflow it) with four accumulators to break the add dependency chain; it is non-finite iff
// some element is.
Result<double> l2_clip_factor(std::span<const float> delta, double l2_norm_bound) {
  double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
  std::size_t i = 0;
  for (; i + 4 <= delta.size(); i += 4) {
    a0 += static_cast<double>(delta[i]) * delta[i];
    a1 += static_cast<double>(delta[i + 1]) * delta[i + 1];
    a2 += static_cast<double>(delta[i + 2]) * delta[i + 2];
    a3 += static_cast<double>(delta[i + 3]) * delta[i + 3];
  }
  for (; i < delta.size(); ++i) a0 += static_cast<double>(delta[i]) * delta[i];
  const double norm2 = (a0 + a1) + (a2 + a3);
  if (!std::isfinite(norm2)) {
    for (i = 0; i < delta.size(); ++i) {
      if (!std::isfinite(delta[i])) {
        return fail(ErrorCode::bad_value, "encode_update: delta[" + num(std::uint64_t{i}) +
                                              "] is " + (std::isnan(delta[i]) ? "NaN" : "infinite"));
      }
    }
  }
  const double norm = std::sqrt(norm2);
  return l2_norm_bound > 0.0 && norm > l2_norm_bound ? l2_norm_bound / norm : 1.0;
}

template <typename Lane>
Status encode_impl(std::span<const float> delta, double weight, const EncodingParams& params,
                   Csprng& rng, std::span<Lane> out, Rounding rounding) {
  EDGEFED_TRY(check_encode_args(params, weight, delta.size(), out.size(), 8 * sizeof(Lane)));
  const Result<double> l2_factor = l2_clip_factor(delta, params.l2_norm_bound);
  if (!l2_factor) return l2_factor.error();

  const double factor = *l2_factor;
  const double c = params.clip;
  const std::uint64_t mask = params.ring().mask();
  const auto max_level = static_cast<std::int64_t>(params.max_level());
  const double weighted_levels = weight * static_cast<double>(params.max_level());  // w * M

  // One 64-bit draw per lane, fetched in blocks so nothing is allocated.
  constexpr std::size_t kBlock = 256;
  std::uint64_t words[kBlock] = {};
  const std::size_t total = out.size();
  for (std::size_t start = 0; start < total; start += kBlock) {
    const std::size_t count = std::min(kBlock, total - start);
    if (rounding == Rounding::stochastic) {
      rng.fill(RngPurpose::stochastic_rounding,
               {reinterpret_cast<std::uint8_t*>(words), count * sizeof(std::uint64_t)});
      if constexpr (std::endian::native == std::endian::big) {
        for (std::size_t k = 0; k < count; ++k) words[k] = __builtin_bswap64(words[k]);
      }
    }
    const std::size_t coords = std::min(count, delta.size() - std::min(delta.size(), start));
    for (std::size_t k = 0; k < coords; ++k) {
      double v = static_cast<double>(delta[start + k]) * factor;
      v = v < -c ? -c : v;  // these forms compile to maxsd/minsd (std::clamp branches)
      v = c < v ? c : v;
      // v / c is in [-1, 1] exactly (division is monotonic), so |x| <= w * M.
      const double x = (v / c) * weighted_levels;
      const std::int64_t level = to_level(x, words[k], rounding, max_level);
      out[start + k] = static_cast<Lane>(static_cast<std::uint64_t>(level) & mask);
    }
    if (coords < count) {  // the weight lane, last of all
      const std::int64_t level = to_level(weighted_levels, words[coords], rounding, max_level);
      out[total - 1] = static_cast<Lane>(static_cast<std::uint64_t>(level) & mask);
    }
  }
  return {};
}

// ---- decoding ----

template <typename Lane>
Result<double> decode_impl(std::span<const Lane> sum, const EncodingParams& params,
                           std::span<double> weighted_sum) {
  EDGEFED_TRY(params.validate());
  if constexpr (std::is_same_v<Lane, std::uint32_t>) {
    if (params.b > 32) {
      return fail(ErrorCode::invalid_argument,
                  "decode_sum: b = " + num(std::uint64_t{params.b}) + " needs uint64 lanes");
    }
  }
  if (sum.empty() || weighted_sum.size() != sum.size() - 1) {
    return fail(ErrorCode::invalid_argument,
                "decode_sum: " + num(std::uint64_t{sum.size()}) + " lanes for " +
                    num(std::uint64_t{weighted_sum.size()}) + " coordinates (need n + 1)");
  }
  const RingSpec ring = params.ring();
  // Budget-validated: n_max * M < 2^(b-1) <= 2^63, so the bound fits.
  const std::uint64_t bound = params.n_max * params.max_level();
  const double scale = params.scale();
  for (std::size_t i = 0; i < sum.size(); ++i) {
    const std::int64_t level = ring_to_signed(ring, sum[i]);
    const std::uint64_t magnitude =
        level < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(level) : static_cast<std::uint64_t>(level);
    if (magnitude > bound) {
      return fail(ErrorCode::bad_value, "decode_sum: lane " + num(std::uint64_t{i}) +
                                            " is outside +-n_max * (2^(q-1) - 1): the sum wrapped "
                                            "or is corrupted");
    }
    if (i + 1 < sum.size()) weighted_sum[i] = static_cast<double>(level) / scale;
  }
  const std::int64_t weight_level = ring_to_signed(ring, sum.back());
  if (weight_level < 0) {
    return fail(ErrorCode::bad_value, "decode_sum: negative weight sum: the sum wrapped or is corrupted");
  }
  return static_cast<double>(weight_level) / params.weight_scale();
}

// ---- packing ----

template <typename Lane>
void pack_impl(RingSpec ring, std::span<const Lane> values, std::span<std::uint8_t> out) noexcept {
  const std::uint32_t b = ring.bits;
  assert(b >= kMinRingBits && b <= kMaxRingBits && b <= 8 * sizeof(Lane));
  assert(out.size() == packed_size(ring, values.size()));
  std::uint8_t* dst = out.data();
  if constexpr (std::endian::native == std::endian::little) {
    if (b == 8 * sizeof(Lane)) {  // byte-aligned full lanes: the memory image is the stream
      if (!values.empty()) std::memcpy(dst, values.data(), values.size_bytes());
      return;
    }
  }
  const std::uint64_t mask = ring.mask();
  std::uint64_t acc = 0;  // pending stream bits, lowest first
  unsigned fill = 0;      // number of pending bits, < 64 between values
  for (const Lane lane : values) {
    const std::uint64_t v = static_cast<std::uint64_t>(lane) & mask;
    acc |= v << fill;
    fill += b;
    if (fill >= 64) {
      store_le64(dst, acc);
      dst += 8;
      fill -= 64;
      // The top `fill` bits of v did not fit; fill < b here, so the shift is in [1, 63].
      acc = fill != 0 ? v >> (b - fill) : 0;
    }
  }
  for (unsigned k = 0; k < (fill + 7) / 8; ++k) *dst++ = static_cast<std::uint8_t>(acc >> (8 * k));
}

template <typename Lane>
Status unpack_impl(RingSpec ring, ByteSpan bytes, std::span<Lane> out) {
  const std::uint32_t b = ring.bits;
  if (b < kMinRingBits || b > kMaxRingBits || b > 8 * sizeof(Lane)) {
    return fail(ErrorCode::invalid_argument,
                "unpack_ring: b = " + num(std::uint64_t{b}) + " with " +
                    num(std::uint64_t{8 * sizeof(Lane)}) + "-bit lanes");
  }
  const std::size_t need = packed_size(ring, out.size());
  if (bytes.size() != need) {
    return fail(ErrorCode::bad_length, "unpack_ring: " + num(std::uint64_t{bytes.size()}) +
                                           " bytes for " + num(std::uint64_t{out.size()}) +
                                           " values of " + num(std::uint64_t{b}) + " bits, need " +
                                           num(std::uint64_t{need}));
  }
  const unsigned tail_bits = static_cast<unsigned>((out.size() % 8) * b % 8);  // n*b mod 8
  if (tail_bits != 0 && (bytes.back() >> tail_bits) != 0) {
    return fail(ErrorCode::bad_value, "unpack_ring: padding bits of the last byte are not zero");
  }
  if constexpr (std::endian::native == std::endian::little) {
    if (b == 8 * sizeof(Lane)) {
      if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
      return {};
    }
  }
  const std::uint64_t mask = ring.mask();
  const std::uint8_t* src = bytes.data();
  const std::uint8_t* const end = src + bytes.size();
  std::uint64_t buf = 0;  // unread stream bits, lowest first
  unsigned avail = 0;     // number of them, < 64
  for (Lane& lane : out) {
    std::uint64_t v;
    if (avail >= b) {
      v = buf & mask;
      buf >>= b;  // b < 64 here: avail < 64
      avail -= b;
    } else {
      std::uint64_t word;
      if (end - src >= 8) {
        word = load_le64(src);
        src += 8;
      } else {  // the last, partial word; the length check guarantees it holds the bits we need
        word = 0;
        for (unsigned k = 0; src < end; ++k) word |= std::uint64_t{*src++} << (8 * k);
      }
      v = (buf | (word << avail)) & mask;  // avail < b <= 64
      const unsigned used = b - avail;     // bits of `word` consumed, in [1, 64]
      buf = used < 64 ? word >> used : 0;
      avail = 64 - used;
    }
    lane = static_cast<Lane>(v);
  }
  return {};
}

template <typename Lane>
void add_impl(RingSpec ring, std::span<Lane> acc, std::span<const Lane> x, bool subtract) noexcept {
  assert(acc.size() == x.size());
  assert(ring.bits >= kMinRingBits && ring.bits <= 8 * sizeof(Lane));
  const auto mask = static_cast<Lane>(ring.mask());
  Lane* a = acc.data();
  const Lane* y = x.data();
  const std::size_t n = acc.size();
  if (subtract) {
    for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<Lane>(a[i] - y[i]) & mask;
  } else {
    for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<Lane>(a[i] + y[i]) & mask;
  }
}

}  // namespace

Status RingSpec::validate() const {
  if (bits < kMinRingBits || bits > kMaxRingBits) {
    return fail(ErrorCode::bad_value,
                "ring: b = " + num(std::uint64_t{bits}) + " is outside [2, 64]");
  }
  return {};
}

void ring_add(RingSpec ring, std::span<std::uint32_t> acc, std::span<const std::uint32_t> x) noexcept {
  add_impl(ring, acc, x, false);
}
void ring_add(RingSpec ring, std::span<std::uint64_t> acc, std::span<const std::uint64_t> x) noexcept {
  add_impl(ring, acc, x, false);
}
void ring_sub(RingSpec ring, std::span<std::uint32_t> acc, std::span<const std::uint32_t> x) noexcept {
  add_impl(ring, acc, x, true);
}
void ring_sub(RingSpec ring, std::span<std::uint64_t> acc, std::span<const std::uint64_t> x) noexcept {
  add_impl(ring, acc, x, true);
}

std::uint32_t max_quantization_bits(std::uint32_t b, std::uint64_t n_max) noexcept {
  if (b < kMinRingBits || b > kMaxRingBits || n_max == 0) return 0;
  for (std::uint32_t q = b; q >= 2; --q) {
    if (fits_budget(q, b, n_max)) return q;
  }
  return 0;
}

Status EncodingParams::validate(ErrorCode code) const {
  const std::string where = "secagg encoding: ";
  if (b < kMinRingBits || b > kMaxRingBits) {
    return fail(code, where + "b = " + num(std::uint64_t{b}) + " is outside [2, 64]");
  }
  if (q < 2 || q > b) {
    return fail(code, where + "q = " + num(std::uint64_t{q}) + " is outside [2, b = " +
                          num(std::uint64_t{b}) + "]");
  }
  if (n_max < 1) return fail(code, where + "n_max = 0; need at least 1 client");
  if (!(std::isfinite(clip) && clip > 0.0)) {
    return fail(code, where + "clip c = " + num(clip) + " is not a positive finite number");
  }
  if (!(std::isfinite(l2_norm_bound) && l2_norm_bound >= 0.0)) {
    return fail(code, where + "l2_norm_bound = " + num(l2_norm_bound) +
                          " is not a finite number >= 0 (0 disables L2 clipping)");
  }
  if (weight_cap < 1) return fail(code, where + "weight_cap = 0; need at least 1");
  if (!fits_budget(q, b, n_max)) {
    const Uint128 total = static_cast<Uint128>(n_max) * max_level();
    const std::string total_text =
        total >> 64 ? "more than 2^64" : num(static_cast<std::uint64_t>(total));
    return fail(code, where + "q = " + num(std::uint64_t{q}) + " breaks the overflow budget for b = " +
                          num(std::uint64_t{b}) + ", n_max = " + num(n_max) +
                          ": n_max * (2^(q-1) - 1) = " + total_text + " >= 2^(b-1) = " +
                          (b == 64 ? std::string("9223372036854775808")
                                   : num(std::uint64_t{1} << (b - 1))) +
                          "; largest q is " + num(std::uint64_t{max_quantization_bits(b, n_max)}) +
                          (max_quantization_bits(b, n_max) == 0 ? " (none: n_max too large for b)" : ""));
  }
  return {};
}

double EncodingParams::weight_for(std::uint64_t examples) const noexcept {
  const std::uint64_t cap = weight_cap == 0 ? 1 : weight_cap;
  return static_cast<double>(std::min(examples, cap)) / static_cast<double>(cap);
}

Status encode_update(std::span<const float> delta, double weight, const EncodingParams& params,
                     Csprng& rng, std::span<std::uint32_t> out, Rounding rounding) {
  return encode_impl(delta, weight, params, rng, out, rounding);
}
Status encode_update(std::span<const float> delta, double weight, const EncodingParams& params,
                     Csprng& rng, std::span<std::uint64_t> out, Rounding rounding) {
  return encode_impl(delta, weight, params, rng, out, rounding);
}

Result<double> decode_sum(std::span<const std::uint32_t> sum, const EncodingParams& params,
                          std::span<double> weighted_sum) {
  return decode_impl(sum, params, weighted_sum);
}
Result<double> decode_sum(std::span<const std::uint64_t> sum, const EncodingParams& params,
                          std::span<double> weighted_sum) {
  return decode_impl(sum, params, weighted_sum);
}

Status weighted_mean(std::span<const double> weighted_sum, double weight_sum, std::span<double> mean) {
  if (mean.size() != weighted_sum.size()) {
    return fail(ErrorCode::invalid_argument, "weighted_mean: " + num(std::uint64_t{mean.size()}) +
                                                 " outputs for " +
                                                 num(std::uint64_t{weighted_sum.size()}) + " sums");
  }
  if (!(std::isfinite(weight_sum) && weight_sum > 0.0)) {
    return fail(ErrorCode::bad_value,
                "weighted_mean: weight sum " + num(weight_sum) + " is not positive (no weighted client)");
  }
  for (std::size_t i = 0; i < mean.size(); ++i) mean[i] = weighted_sum[i] / weight_sum;
  return {};
}

void pack_ring(RingSpec ring, std::span<const std::uint32_t> values, std::span<std::uint8_t> out) noexcept {
  pack_impl(ring, values, out);
}
void pack_ring(RingSpec ring, std::span<const std::uint64_t> values, std::span<std::uint8_t> out) noexcept {
  pack_impl(ring, values, out);
}
Status unpack_ring(RingSpec ring, ByteSpan bytes, std::span<std::uint32_t> out) {
  return unpack_impl(ring, bytes, out);
}
Status unpack_ring(RingSpec ring, ByteSpan bytes, std::span<std::uint64_t> out) {
  return unpack_impl(ring, bytes, out);
}

}  // namespace edgefed::secagg
