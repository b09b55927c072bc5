// The ring Z_{2^b} that masked updates live in, the fixed-point encoding of a model delta
// into it, and the bit-packing of ring vectors for the wire (research/secagg.md §6.5).
//
// Ring. b in [2, 64]. A ring vector is stored in uint32 lanes when b <= 32 and in uint64
// lanes when b > 32 (RingSpec::lane_bits()); every stored lane is reduced (< 2^b), and all
// arithmetic is mod 2^b (native wrap-around, then a mask). The uint64 overloads below also
// accept b <= 32; the uint32 overloads require b <= 32.
//
// Encoding (client), per coordinate i of a delta d (n floats), with clip c, quantization
// bits q (including the sign) and weight w in [0, 1]:
//
//   1. optional L2 clipping of the whole vector: d <- d * min(1, l2_norm_bound / ||d||_2)
//   2. clip to [-c, c]
//   3. level = round(clip(d_i) / c * w * M) with M = 2^(q-1) - 1, i.e. scale s = M / c per
//      unit of w*d; round is unbiased stochastic rounding (floor(x) + 1 with probability
//      frac(x)) or, for tests and known answers, round-half-away-from-zero; the level is
//      clamped to [-M, M] (floating-point slack), so |level| <= M always
//   4. lane = level mod 2^b (two's complement)
//
//   plus ONE extra coordinate appended after the n coordinates: the weight coordinate,
//   level_w = round(w * M) in [0, M], i.e. weight scale s_w = M = 2^(q-1) - 1.
//
// So an encoded vector has n + 1 lanes. Dividing by c before multiplying makes the extremes
// exact: a coordinate at +-c with w = 1 encodes to exactly +-M.
//
// Decoding (server): each lane of the ring sum is read as a signed b-bit integer and divided
// by s (coordinates) or s_w (weight coordinate), giving sum_u w_u * clip(d_u) and sum_u w_u.
// The weighted mean is their quotient. With stochastic rounding every client's error per
// coordinate is zero-mean with |error| < step and variance <= step^2 / 4, step = c / M.
//
// Overflow budget. The sum of n_max clients cannot wrap iff
//     n_max * (2^(q-1) - 1) < 2^(b-1)                                   (precise condition)
// because every level, and the weight level, lies in [-M, M]. EncodingParams::validate checks
// exactly this. The rule of thumb q <= b - ceil(log2 n_max) is sufficient (n_max <=
// 2^ceil(log2 n_max) = 2^(b-q) gives n_max * M < 2^(b-q) * 2^(q-1)) and coincides with the
// precise condition whenever q > (b + 1) / 2; for smaller q the precise one may allow one more
// bit (b = 32, n_max = 2^16 + 1: the rule gives q <= 15, the precise condition allows 16).
// Examples: b = 32, n_max = 1024 -> q <= 22; b = 32, n_max = 16384 -> q <= 18;
// b = 64, n_max = 10^6 -> q <= 44.
//
// Packing. n values of b bits are packed into ceil(n * b / 8) bytes, little-endian bit order
// as FCP's secagg_vector: bit k of value i is bit (i * b + k) of the stream, and stream bit j
// is bit (j mod 8) of byte j / 8. Unused high bits of the last byte are padding and must be 0.
//
// Hot paths (encode_update, decode_sum, ring_add/ring_sub, pack_ring/unpack_ring) take spans,
// allocate nothing and work through 64-bit words, never bit by bit. All functions are pure
// apart from drawing from the Csprng they are given; safe to call concurrently on distinct
// outputs.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/error.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/secagg/csprng.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace edgefed::secagg {

inline constexpr std::uint32_t kMinRingBits = 2;
inline constexpr std::uint32_t kMaxRingBits = 64;

// Z_{2^bits}. A plain value; `validate` before trusting one from a peer.
struct RingSpec {
  std::uint32_t bits = 32;

  // 32 when bits <= 32, else 64: the lane type a ring vector is stored in.
  constexpr std::uint32_t lane_bits() const noexcept { return bits <= 32 ? 32 : 64; }
  // 2^bits - 1 (all ones for bits = 64).
  constexpr std::uint64_t mask() const noexcept {
    return bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
  }
  // Errors: bad_value if bits is outside [2, 64].
  [[nodiscard]] Status validate() const;
};

// acc[i] = (acc[i] + x[i]) mod 2^b and acc[i] = (acc[i] - x[i]) mod 2^b.
// Preconditions (asserted): acc.size() == x.size(); uint32 overloads need b <= 32.
void ring_add(RingSpec ring, std::span<std::uint32_t> acc, std::span<const std::uint32_t> x) noexcept;
void ring_add(RingSpec ring, std::span<std::uint64_t> acc, std::span<const std::uint64_t> x) noexcept;
void ring_sub(RingSpec ring, std::span<std::uint32_t> acc, std::span<const std::uint32_t> x) noexcept;
void ring_sub(RingSpec ring, std::span<std::uint64_t> acc, std::span<const std::uint64_t> x) noexcept;

// A lane read as a signed b-bit two's complement integer, in [-2^(b-1), 2^(b-1)).
constexpr std::int64_t ring_to_signed(RingSpec ring, std::uint64_t lane) noexcept {
  const unsigned shift = 64 - ring.bits;
  return static_cast<std::int64_t>(lane << shift) >> shift;
}

// Largest q (bits including the sign) with n_max * (2^(q-1) - 1) < 2^(b-1), or 0 when even
// q = 2 does not fit (n_max >= 2^(b-1)) or b is outside [2, 64] or n_max is 0.
[[nodiscard]] std::uint32_t max_quantization_bits(std::uint32_t b, std::uint64_t n_max) noexcept;

enum class Rounding : std::uint8_t {
  stochastic,  // unbiased: floor(x) + 1 with probability frac(x). Production.
  nearest,     // round half away from zero; deterministic, biased. Tests and known answers.
};

// The encoding agreed for a session: sent by the server, checked by both sides.
struct EncodingParams {
  double clip = 0.0;            // c: per-coordinate bound, > 0 and finite
  std::uint32_t q = 0;          // quantization bits including the sign, >= 2
  std::uint32_t b = 32;         // ring bits, [2, 64]
  std::uint64_t n_max = 0;      // most clients whose inputs are ever summed, >= 1
  double l2_norm_bound = 0.0;   // L2 clipping of the whole delta; 0 = off, else > 0 and finite
  std::uint64_t weight_cap = 1; // w = min(examples, cap) / cap; >= 1 (1 = unweighted for
                                // every client with >= 1 example)

  // Checks every field and the overflow budget above. Errors carry `code` (invalid_argument
  // by default, for the server's own configuration; a client checking parameters received
  // from the server passes ErrorCode::bad_value) and name the parameter and the numbers, e.g.
  // "secagg encoding: q = 23 breaks the overflow budget for b = 32, n_max = 1024: n_max *
  // (2^(q-1) - 1) = 4294966272 >= 2^(b-1) = 2147483648; largest q is 22".
  [[nodiscard]] Status validate(ErrorCode code = ErrorCode::invalid_argument) const;

  RingSpec ring() const noexcept { return RingSpec{b}; }
  // M = 2^(q-1) - 1, the largest level magnitude. Requires 2 <= q <= 64.
  std::uint64_t max_level() const noexcept { return (std::uint64_t{1} << (q - 1)) - 1; }
  // s = M / c: levels per unit of w * d.
  double scale() const noexcept { return static_cast<double>(max_level()) / clip; }
  // Delta = c / M: the quantization step in units of w * d.
  double step() const noexcept { return clip / static_cast<double>(max_level()); }
  // s_w = M: levels per unit of weight in the weight coordinate.
  double weight_scale() const noexcept { return static_cast<double>(max_level()); }
  // w = min(examples, weight_cap) / weight_cap, in [0, 1].
  double weight_for(std::uint64_t examples) const noexcept;
};

// Encodes one client's delta into out (delta.size() + 1 lanes: the coordinates, then the
// weight coordinate), as described at the top of this file. Stochastic rounding draws exactly
// one 64-bit little-endian word per lane (the weight lane included, last) from
// RngPurpose::stochastic_rounding and rounds up iff (word >> 11) * 2^-53 < frac; nearest
// rounding draws nothing.
// Errors: whatever params.validate() reports; invalid_argument if weight is not in [0, 1],
// if out.size() != delta.size() + 1, or (uint32 overload) if b > 32; bad_value naming the
// first index whose value is NaN or infinite. On error `out` holds unspecified values.
[[nodiscard]] Status encode_update(std::span<const float> delta, double weight,
                                   const EncodingParams& params, Csprng& rng,
                                   std::span<std::uint32_t> out,
                                   Rounding rounding = Rounding::stochastic);
[[nodiscard]] Status encode_update(std::span<const float> delta, double weight,
                                   const EncodingParams& params, Csprng& rng,
                                   std::span<std::uint64_t> out,
                                   Rounding rounding = Rounding::stochastic);

// Decodes the unmasked ring sum of the clients' encoded updates (sum.size() = n + 1 lanes):
// writes sum_u w_u * clip(d_u)[i] into weighted_sum[i] and returns sum_u w_u.
// Errors: whatever params.validate() reports; invalid_argument if sum is empty, if
// weighted_sum.size() != sum.size() - 1, or (uint32 overload) if b > 32; bad_value if a lane
// lies outside [-n_max * M, n_max * M] or the weight lane is negative: values no honest
// cohort of <= n_max clients can produce (wrapped, corrupted, or cohort over n_max).
[[nodiscard]] Result<double> decode_sum(std::span<const std::uint32_t> sum,
                                        const EncodingParams& params,
                                        std::span<double> weighted_sum);
[[nodiscard]] Result<double> decode_sum(std::span<const std::uint64_t> sum,
                                        const EncodingParams& params,
                                        std::span<double> weighted_sum);

// mean[i] = weighted_sum[i] / weight_sum; mean may be the same span as weighted_sum.
// Errors: bad_value if weight_sum is not a positive finite number (no client had weight);
// invalid_argument if the sizes differ.
[[nodiscard]] Status weighted_mean(std::span<const double> weighted_sum, double weight_sum,
                                   std::span<double> mean);

// Bytes needed for `count` values of ring.bits bits: ceil(count * bits / 8).
constexpr std::size_t packed_size(RingSpec ring, std::size_t count) noexcept {
  return count / 8 * ring.bits + ((count % 8) * ring.bits + 7) / 8;
}

// Packs values (each taken mod 2^b) into out, which must be exactly packed_size(ring,
// values.size()) bytes (asserted, as is b <= 32 for the uint32 overload). Padding bits are 0.
void pack_ring(RingSpec ring, std::span<const std::uint32_t> values, std::span<std::uint8_t> out) noexcept;
void pack_ring(RingSpec ring, std::span<const std::uint64_t> values, std::span<std::uint8_t> out) noexcept;

// Unpacks bytes from a peer into out (out.size() values, each < 2^b).
// Errors: bad_length if bytes.size() != packed_size(ring, out.size()); bad_value if a padding
// bit is set; invalid_argument if ring.bits is outside [2, 64] (or > 32 for uint32 lanes).
// Nothing is written on error.
[[nodiscard]] Status unpack_ring(RingSpec ring, ByteSpan bytes, std::span<std::uint32_t> out);
[[nodiscard]] Status unpack_ring(RingSpec ring, ByteSpan bytes, std::span<std::uint64_t> out);

}  // namespace edgefed::secagg
