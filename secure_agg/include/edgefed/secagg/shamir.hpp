// Shamir secret sharing of 32-byte secrets over GF(p), p = 2^61 - 1 (research/secagg.md §6.4).
//
// A client shares two secrets with its neighbours (its mask private key and its self-mask
// seed b_u); the server later reconstructs one of the two for every client that dropped or
// survived, from the shares of the same responders. Hence the split API: `shamir_share` on the
// client, and on the server `LagrangeCoefficients::create` once per responder set followed by
// `reconstruct` once per secret.
//
// Limb layout. The 32 secret bytes s[0..31] are read as ONE little-endian 256-bit integer
// S = sum s[i] * 2^(8i). S is cut into five limbs, least significant first:
//
//   limb 0 = bits   0.. 59 of S   (60 bits)      limb 3 = bits 180..239 (60 bits)
//   limb 1 = bits  60..119        (60 bits)      limb 4 = bits 240..255 (16 bits: s[30], s[31])
//   limb 2 = bits 120..179        (60 bits)
//
// i.e. limb k = (S >> 60k) mod 2^60 for k < 4 and limb 4 = S >> 240. Every limb is < p, so
// it is a field element as is. Limb k is the constant term of its own random polynomial
// f_k of degree t - 1; the share for holder x carries y[k] = f_k(x) for k = 0..4.
//
// Randomness. The coefficients of degree 1..t-1 are drawn from RngPurpose::shamir_coefficients
// as 64-bit little-endian words, in the order (degree 1: limbs 0..4), (degree 2: limbs 0..4),
// ..., i.e. word (j - 1) * 5 + k is the coefficient of x^j in f_k. A word's low 61 bits are
// the coefficient; a word whose low 61 bits equal p (probability 2^-61) is rejected and
// replaced by a fresh word drawn after all the others, so coefficients are exactly uniform in
// [0, p). One call draws exactly 8 * 5 * (t - 1) bytes unless a word is rejected.
//
// Wire form of a share (kShamirShareSize = 44 bytes): u32 x, then y[0..4] as u64, all
// little-endian. x is the holder's 1-based index (never 0: f(0) is the secret itself).
//
// Secrets. Shares, limbs and polynomial coefficients are secret. `ShamirShare` wipes itself
// in its destructor (so a std::vector<ShamirShare> wipes every element when destroyed or
// reallocated), and every temporary inside this module is wiped before it is released.
// `encode_share` writes into a caller buffer (pair it with SecretBytes<kShamirShareSize>);
// `encode(const ShamirShare&)` returns a plain std::vector, which the caller must wipe
// (secure_wipe) once it has been encrypted.
//
// Thread-safety: all functions are pure apart from drawing from the Csprng they are given;
// a LagrangeCoefficients is immutable after create(), so concurrent reconstruct() calls on one
// object are safe (the server's parallel mask repair relies on this).
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/secagg/csprng.hpp"
#include "edgefed/secagg/secret.hpp"

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace edgefed::secagg {

// Arithmetic in GF(p), p = 2^61 - 1. Every argument must be canonical (in [0, p)); every
// result is canonical. Products use a 128-bit intermediate and Mersenne reduction
// (2^61 = 1 mod p), so no division ever runs.
namespace gf61 {

__extension__ using Uint128 = unsigned __int128;

inline constexpr std::uint64_t kPrime = (std::uint64_t{1} << 61) - 1;

// Reduces any z < 2^122 (a product of two canonical values) to [0, p).
constexpr std::uint64_t reduce(Uint128 z) noexcept {
  std::uint64_t r = static_cast<std::uint64_t>(z & kPrime) + static_cast<std::uint64_t>(z >> 61);
  r = (r & kPrime) + (r >> 61);  // r < 2^62 before, <= 2^61 after
  return r >= kPrime ? r - kPrime : r;
}
constexpr std::uint64_t add(std::uint64_t a, std::uint64_t b) noexcept {
  const std::uint64_t s = a + b;  // < 2^62: no overflow
  return s >= kPrime ? s - kPrime : s;
}
constexpr std::uint64_t sub(std::uint64_t a, std::uint64_t b) noexcept {
  return a >= b ? a - b : a + kPrime - b;
}
constexpr std::uint64_t neg(std::uint64_t a) noexcept { return a == 0 ? 0 : kPrime - a; }
constexpr std::uint64_t mul(std::uint64_t a, std::uint64_t b) noexcept {
  return reduce(static_cast<Uint128>(a) * b);
}
// a^e by square-and-multiply (0^0 = 1).
constexpr std::uint64_t pow(std::uint64_t a, std::uint64_t e) noexcept {
  std::uint64_t r = 1;
  while (e != 0) {
    if (e & 1) r = mul(r, a);
    a = mul(a, a);
    e >>= 1;
  }
  return r;
}
// Multiplicative inverse by Fermat (a^(p-2)). Precondition: a != 0 (asserted).
constexpr std::uint64_t inverse(std::uint64_t a) noexcept {
  assert(a != 0 && a < kPrime);
  return pow(a, kPrime - 2);
}

}  // namespace gf61

inline constexpr std::size_t kShamirLimbs = 5;
// Width in bits of each limb of a 32-byte secret (see the limb layout above).
inline constexpr std::array<std::uint32_t, kShamirLimbs> kShamirLimbBits = {60, 60, 60, 60, 16};
// Bytes of one encoded share: u32 x + 5 x u64 y.
inline constexpr std::size_t kShamirShareSize = 4 + 8 * kShamirLimbs;

// One holder's share of one 32-byte secret. Wiped (x and y) by its destructor.
//
// Valid shares have x != 0 and every y[k] < p; decode_share guarantees both, and
// reconstruct re-checks them, so a hand-built share cannot cause undefined behaviour.
struct ShamirShare {
  std::uint32_t x = 0;                         // holder's 1-based index
  std::array<std::uint64_t, kShamirLimbs> y{};  // f_k(x) for limb k

  ~ShamirShare();
};

// Writes the 44-byte wire form of `share` into `out`.
void encode_share(const ShamirShare& share, std::span<std::uint8_t, kShamirShareSize> out) noexcept;
// The 44-byte wire form as a fresh buffer.
// WARNING: the bytes are secret and a std::vector does not wipe itself: secure_wipe them.
[[nodiscard]] Bytes encode(const ShamirShare& share);
// Parses a share received from a peer (after decryption).
// Errors: bad_length if bytes.size() != 44; bad_value if x == 0 or some y[k] >= p.
[[nodiscard]] Result<ShamirShare> decode_share(ByteSpan bytes);

// Splits `secret` into one share per holder in `xs`, in the same order; any `t` of them
// reconstruct it, and any t - 1 reveal nothing about it.
// Preconditions (asserted; the caller has validated its configuration): 1 <= t <= xs.size(),
// xs distinct and non-zero. Draws coefficients from RngPurpose::shamir_coefficients (see the
// header comment for the exact order). t = 1 makes every share equal to the secret's limbs.
[[nodiscard]] std::vector<ShamirShare> shamir_share(const Secret32& secret,
                                                    std::span<const std::uint32_t> xs,
                                                    std::uint32_t t, Csprng& rng);

// Lagrange coefficients at 0 for one responder set {x_1, ..., x_m}:
// lambda_j = prod_{i != j} x_i / (x_i - x_j) mod p, computed once in O(m^2) field operations
// and a single inversion, then reused for every secret reconstructed from that set.
//
// The set must contain at least the sharing threshold t of holders; with fewer, reconstruct
// returns garbage (almost always rejected as bad_value by the limb-width check, never a
// crash). With more than t, any superset works, since all shares lie on one polynomial, but
// create() costs O(m^2) and each reconstruct O(m): when more than t responded, pass t of them.
class LagrangeCoefficients {
 public:
  // Errors: invalid_argument if xs is empty; bad_value on an x of 0 or a duplicate x.
  [[nodiscard]] static Result<LagrangeCoefficients> create(std::span<const std::uint32_t> xs);

  // Recombines one secret from `shares`, which must be the responders' shares in the order
  // of the xs given to create(): shares[j].x == xs[j].
  // Errors: invalid_argument if shares.size() != size(); bad_value if some shares[j].x differs
  // from xs[j], if some y >= p, or if a reconstructed limb does not fit its width (60 bits for
  // limbs 0-3, 16 for limb 4): shares from different secrets, fewer than t shares, or a
  // corrupted share. The width check is a filter, not authentication: a random error in y[4]
  // slips through with probability 2^16 / 2^61 = 2^-45, but an error confined to y[0..3]
  // slips through with probability about 1/2 per corrupted limb (the result is then a wrong
  // secret). Commitments and public-key checks (research §6.3) are what catch those.
  [[nodiscard]] Result<Secret32> reconstruct(std::span<const ShamirShare> shares) const;

  std::span<const std::uint32_t> xs() const noexcept { return xs_; }
  std::size_t size() const noexcept { return xs_.size(); }
  // lambda_j, in the order of xs(); public values (they depend on the xs only).
  std::span<const std::uint64_t> coefficients() const noexcept { return lambda_; }

 private:
  LagrangeCoefficients(std::vector<std::uint32_t> xs, std::vector<std::uint64_t> lambda)
      : xs_(std::move(xs)), lambda_(std::move(lambda)) {}

  std::vector<std::uint32_t> xs_;
  std::vector<std::uint64_t> lambda_;
};

}  // namespace edgefed::secagg
