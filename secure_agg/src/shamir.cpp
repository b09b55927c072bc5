#include "edgefed/secagg/shamir.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

namespace edgefed::secagg {
namespace {

using gf61::kPrime;

constexpr std::uint64_t kLimbMask60 = (std::uint64_t{1} << 60) - 1;

// S (little-endian 256-bit) -> limbs, per the layout in shamir.hpp.
void split_limbs(const Secret32& secret, std::array<std::uint64_t, kShamirLimbs>& limbs) noexcept {
  std::array<std::uint64_t, 4> w;
  for (std::size_t i = 0; i < 4; ++i) w[i] = load_le64(secret.data() + 8 * i);
  limbs[0] = w[0] & kLimbMask60;
  limbs[1] = ((w[0] >> 60) | (w[1] << 4)) & kLimbMask60;
  limbs[2] = ((w[1] >> 56) | (w[2] << 8)) & kLimbMask60;
  limbs[3] = ((w[2] >> 52) | (w[3] << 12)) & kLimbMask60;
  limbs[4] = w[3] >> 48;
  secure_wipe(w.data(), sizeof(w));
}

// Inverse of split_limbs; limbs must already fit their widths.
void join_limbs(const std::array<std::uint64_t, kShamirLimbs>& limbs, Secret32& secret) noexcept {
  std::array<std::uint64_t, 4> w;
  w[0] = limbs[0] | (limbs[1] << 60);
  w[1] = (limbs[1] >> 4) | (limbs[2] << 56);
  w[2] = (limbs[2] >> 8) | (limbs[3] << 52);
  w[3] = (limbs[3] >> 12) | (limbs[4] << 48);
  for (std::size_t i = 0; i < 4; ++i) store_le64(secret.mutable_span().data() + 8 * i, w[i]);
  secure_wipe(w.data(), sizeof(w));
}

[[maybe_unused]] bool distinct_non_zero(std::span<const std::uint32_t> xs) {
  std::vector<std::uint32_t> sorted(xs.begin(), xs.end());
  std::sort(sorted.begin(), sorted.end());
  return (sorted.empty() || sorted.front() != 0) &&
         std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end();
}

std::uint64_t draw_coefficient(Csprng& rng) {
  for (;;) {
    std::uint8_t raw[8];
    rng.fill(RngPurpose::shamir_coefficients, raw);
    const std::uint64_t c = load_le64(raw) & kPrime;
    secure_wipe(raw, sizeof(raw));
    if (c != kPrime) return c;
  }
}

}  // namespace

ShamirShare::~ShamirShare() {
  secure_wipe(&x, sizeof(x));
  secure_wipe(y.data(), sizeof(y));
}

void encode_share(const ShamirShare& share, std::span<std::uint8_t, kShamirShareSize> out) noexcept {
  std::uint32_t x = share.x;
  if constexpr (std::endian::native == std::endian::big) x = __builtin_bswap32(x);
  std::memcpy(out.data(), &x, 4);
  for (std::size_t k = 0; k < kShamirLimbs; ++k) store_le64(out.data() + 4 + 8 * k, share.y[k]);
}

Bytes encode(const ShamirShare& share) {
  Bytes out(kShamirShareSize);
  encode_share(share, std::span<std::uint8_t, kShamirShareSize>(out.data(), kShamirShareSize));
  return out;
}

Result<ShamirShare> decode_share(ByteSpan bytes) {
  if (bytes.size() != kShamirShareSize) {
    return fail(ErrorCode::bad_length, "shamir share: " + std::to_string(bytes.size()) +
                                           " bytes, expected " + std::to_string(kShamirShareSize));
  }
  ShamirShare share;
  std::memcpy(&share.x, bytes.data(), 4);
  if constexpr (std::endian::native == std::endian::big) share.x = __builtin_bswap32(share.x);
  if (share.x == 0) return fail(ErrorCode::bad_value, "shamir share: x-coordinate 0");
  for (std::size_t k = 0; k < kShamirLimbs; ++k) {
    share.y[k] = load_le64(bytes.data() + 4 + 8 * k);
    if (share.y[k] >= kPrime) {
      return fail(ErrorCode::bad_value,
                  "shamir share: y[" + std::to_string(k) + "] is not a field element");
    }
  }
  return Result<ShamirShare>(std::move(share));
}

std::vector<ShamirShare> shamir_share(const Secret32& secret, std::span<const std::uint32_t> xs,
                                      std::uint32_t t, Csprng& rng) {
  assert(t >= 1 && t <= xs.size());
  assert(distinct_non_zero(xs));  // debug builds only: O(n log n)
  // coeff[j * 5 + k] = coefficient of x^j in f_k; degree 0 holds the limbs.
  std::vector<std::uint64_t> coeff(std::size_t{t} * kShamirLimbs);
  std::array<std::uint64_t, kShamirLimbs> limbs;
  split_limbs(secret, limbs);
  std::copy(limbs.begin(), limbs.end(), coeff.begin());
  secure_wipe(limbs.data(), sizeof(limbs));

  // One batched draw for degrees 1..t-1; rejected words are replaced afterwards, in order.
  const std::span<std::uint64_t> random_part(coeff.begin() + kShamirLimbs, coeff.end());
  if (!random_part.empty()) {
    rng.fill(RngPurpose::shamir_coefficients,
             {reinterpret_cast<std::uint8_t*>(random_part.data()), random_part.size_bytes()});
  }
  for (std::uint64_t& c : random_part) {
    if constexpr (std::endian::native == std::endian::big) c = __builtin_bswap64(c);
    c &= kPrime;
  }
  for (std::uint64_t& c : random_part) {
    if (c == kPrime) c = draw_coefficient(rng);
  }

  std::vector<ShamirShare> shares;
  shares.reserve(xs.size());
  for (std::uint32_t x : xs) {
    ShamirShare& share = shares.emplace_back();
    share.x = x;
    // Horner, the five limbs interleaved (independent chains: good instruction-level parallelism).
    std::array<std::uint64_t, kShamirLimbs> acc;
    std::copy_n(coeff.end() - kShamirLimbs, kShamirLimbs, acc.begin());
    for (std::size_t j = t - 1; j-- > 0;) {
      const std::uint64_t* c = coeff.data() + j * kShamirLimbs;
      for (std::size_t k = 0; k < kShamirLimbs; ++k) acc[k] = gf61::add(gf61::mul(acc[k], x), c[k]);
    }
    share.y = acc;
    secure_wipe(acc.data(), sizeof(acc));
  }
  secure_wipe(coeff.data(), coeff.size() * sizeof(std::uint64_t));
  return shares;
}

Result<LagrangeCoefficients> LagrangeCoefficients::create(std::span<const std::uint32_t> xs) {
  if (xs.empty()) return fail(ErrorCode::invalid_argument, "lagrange: empty responder set");
  std::vector<std::uint32_t> sorted(xs.begin(), xs.end());
  std::sort(sorted.begin(), sorted.end());
  if (sorted.front() == 0) return fail(ErrorCode::bad_value, "lagrange: x-coordinate 0");
  const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  if (dup != sorted.end()) {
    return fail(ErrorCode::bad_value, "lagrange: duplicate x-coordinate " + std::to_string(*dup));
  }

  const std::size_t m = xs.size();
  // lambda_j = N_j / D_j with N_j = prod_{i != j} x_i (prefix/suffix products) and
  // D_j = prod_{i != j} (x_i - x_j); all D_j inverted together with one Fermat inversion
  // (Montgomery's trick). x_i < 2^32 < p, so distinct x are distinct field elements and no
  // D_j is zero.
  std::vector<std::uint64_t> lambda(m);
  std::vector<std::uint64_t> denom(m);
  for (std::size_t j = 0; j < m; ++j) {
    std::uint64_t d = 1;
    for (std::size_t i = 0; i < m; ++i) {
      if (i != j) d = gf61::mul(d, gf61::sub(xs[i], xs[j]));
    }
    denom[j] = d;
  }
  // prefix[j] = D_0 * ... * D_{j-1}, kept in lambda for now.
  std::uint64_t running = 1;
  for (std::size_t j = 0; j < m; ++j) {
    lambda[j] = running;
    running = gf61::mul(running, denom[j]);
  }
  std::uint64_t inv = gf61::inverse(running);
  for (std::size_t j = m; j-- > 0;) {
    const std::uint64_t inv_dj = gf61::mul(inv, lambda[j]);
    inv = gf61::mul(inv, denom[j]);
    lambda[j] = inv_dj;
  }
  // Multiply in N_j = prefix_x(j) * suffix_x(j).
  running = 1;
  for (std::size_t j = 0; j < m; ++j) {
    denom[j] = running;  // reuse as prefix product of x
    running = gf61::mul(running, xs[j]);
  }
  running = 1;
  for (std::size_t j = m; j-- > 0;) {
    lambda[j] = gf61::mul(lambda[j], gf61::mul(denom[j], running));
    running = gf61::mul(running, xs[j]);
  }
  return LagrangeCoefficients(std::vector<std::uint32_t>(xs.begin(), xs.end()), std::move(lambda));
}

Result<Secret32> LagrangeCoefficients::reconstruct(std::span<const ShamirShare> shares) const {
  if (shares.size() != xs_.size()) {
    return fail(ErrorCode::invalid_argument, "shamir reconstruct: " + std::to_string(shares.size()) +
                                                 " shares for a responder set of " +
                                                 std::to_string(xs_.size()));
  }
  std::array<std::uint64_t, kShamirLimbs> limbs{};
  for (std::size_t j = 0; j < shares.size(); ++j) {
    const ShamirShare& share = shares[j];
    if (share.x != xs_[j]) {
      secure_wipe(limbs.data(), sizeof(limbs));
      return fail(ErrorCode::bad_value, "shamir reconstruct: share " + std::to_string(j) +
                                            " has x = " + std::to_string(share.x) + ", expected " +
                                            std::to_string(xs_[j]));
    }
    for (std::size_t k = 0; k < kShamirLimbs; ++k) {
      if (share.y[k] >= kPrime) {
        secure_wipe(limbs.data(), sizeof(limbs));
        return fail(ErrorCode::bad_value, "shamir reconstruct: share " + std::to_string(j) +
                                              " is not a field element");
      }
      limbs[k] = gf61::add(limbs[k], gf61::mul(lambda_[j], share.y[k]));
    }
  }
  for (std::size_t k = 0; k < kShamirLimbs; ++k) {
    if ((limbs[k] >> kShamirLimbBits[k]) != 0) {
      secure_wipe(limbs.data(), sizeof(limbs));
      return fail(ErrorCode::bad_value, "shamir reconstruct: limb " + std::to_string(k) +
                                            " exceeds " + std::to_string(kShamirLimbBits[k]) +
                                            " bits (inconsistent or corrupted shares)");
    }
  }
  Secret32 secret;
  join_limbs(limbs, secret);
  secure_wipe(limbs.data(), sizeof(limbs));
  return Result<Secret32>(std::move(secret));
}

}  // namespace edgefed::secagg
