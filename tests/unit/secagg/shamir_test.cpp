// Shamir sharing over GF(2^61 - 1): field laws, the documented limb layout and draw order,
// a pinned known answer, round trips over thresholds and cohort sizes, threshold behaviour,
// and one named case per way a share or responder set can be wrong.
#include "edgefed/secagg/shamir.hpp"

#include "splitmix_csprng.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <deque>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace edgefed::secagg {
namespace {

using gf61::kPrime;
using gf61::Uint128;
using testing::SplitMixCsprng;

template <typename T>
std::string code_of(const Result<T>& r) {
  return r ? "ok" : std::string(to_string(r.error().code));
}

Secret32 secret_from_bytes(std::initializer_list<int> bytes) {
  Secret32 s;
  std::size_t i = 0;
  for (int b : bytes) s.mutable_span()[i++] = static_cast<std::uint8_t>(b);
  return s;
}

Secret32 counting_secret() {  // bytes 0x00, 0x01, ..., 0x1f
  Secret32 s;
  for (std::size_t i = 0; i < 32; ++i) s.mutable_span()[i] = static_cast<std::uint8_t>(i);
  return s;
}

std::vector<std::uint32_t> one_to(std::uint32_t n) {
  std::vector<std::uint32_t> xs(n);
  std::iota(xs.begin(), xs.end(), 1u);
  return xs;
}

// Bits [from, from + width) of the little-endian 256-bit integer in `s`, one bit at a time:
// an independent reference for the limb layout.
std::uint64_t bits_of(const Secret32& s, unsigned from, unsigned width) {
  std::uint64_t v = 0;
  for (unsigned k = 0; k < width; ++k) {
    const unsigned bit = from + k;
    v |= static_cast<std::uint64_t>((s.span()[bit / 8] >> (bit % 8)) & 1u) << k;
  }
  return v;
}

// Shares for the chosen holder indices (0-based positions into `all`), in that order.
std::vector<ShamirShare> pick(const std::vector<ShamirShare>& all, const std::vector<std::size_t>& idx) {
  std::vector<ShamirShare> out;
  for (std::size_t i : idx) out.push_back(all[i]);
  return out;
}

std::vector<std::uint32_t> xs_of(const std::vector<ShamirShare>& shares) {
  std::vector<std::uint32_t> xs;
  for (const ShamirShare& s : shares) xs.push_back(s.x);
  return xs;
}

Result<Secret32> reconstruct_from(const std::vector<ShamirShare>& shares) {
  auto lagrange = LagrangeCoefficients::create(xs_of(shares));
  if (!lagrange) return lagrange.error();
  return lagrange->reconstruct(shares);
}

// Replays a fixed list of 64-bit words for every purpose (little-endian), then zeros.
class ScriptedCsprng final : public Csprng {
 public:
  explicit ScriptedCsprng(std::vector<std::uint64_t> words) : words_(words.begin(), words.end()) {}
  void fill(RngPurpose, std::span<std::uint8_t> out) override {
    REQUIRE(out.size() % 8 == 0);
    for (std::size_t i = 0; i < out.size(); i += 8) {
      std::uint64_t w = 0;
      if (!words_.empty()) {
        w = words_.front();
        words_.pop_front();
      }
      for (std::size_t k = 0; k < 8; ++k) out[i + k] = static_cast<std::uint8_t>(w >> (8 * k));
    }
  }
  std::size_t left() const { return words_.size(); }

 private:
  std::deque<std::uint64_t> words_;
};

// ----- field -----

TEST_CASE("gf61 arithmetic obeys the field laws and matches 128-bit reference arithmetic") {
  std::mt19937_64 gen(7);
  std::vector<std::uint64_t> values = {0, 1, 2, kPrime - 1, kPrime - 2, std::uint64_t{1} << 60,
                                       (std::uint64_t{1} << 32) - 1};
  for (int i = 0; i < 200; ++i) values.push_back(gen() % kPrime);
  for (std::uint64_t a : values) {
    REQUIRE(gf61::add(a, 0) == a);
    REQUIRE(gf61::mul(a, 1) == a);
    REQUIRE(gf61::mul(a, 0) == 0);
    REQUIRE(gf61::add(a, gf61::neg(a)) == 0);
    if (a != 0) REQUIRE(gf61::mul(a, gf61::inverse(a)) == 1);
    for (int j = 0; j < 5; ++j) {
      const std::uint64_t b = values[gen() % values.size()];
      const std::uint64_t c = values[gen() % values.size()];
      REQUIRE(gf61::add(a, b) == (a + b) % kPrime);
      REQUIRE(gf61::sub(a, b) == (a + kPrime - b) % kPrime);
      REQUIRE(gf61::mul(a, b) == static_cast<std::uint64_t>(static_cast<Uint128>(a) * b % kPrime));
      REQUIRE(gf61::mul(a, b) == gf61::mul(b, a));
      REQUIRE(gf61::mul(gf61::mul(a, b), c) == gf61::mul(a, gf61::mul(b, c)));
      REQUIRE(gf61::add(gf61::add(a, b), c) == gf61::add(a, gf61::add(b, c)));
      REQUIRE(gf61::mul(a, gf61::add(b, c)) == gf61::add(gf61::mul(a, b), gf61::mul(a, c)));
      REQUIRE(gf61::add(gf61::sub(a, b), b) == a);
    }
  }
}

TEST_CASE("gf61 edge values stay canonical") {
  REQUIRE(gf61::mul(kPrime - 1, kPrime - 1) == 1);  // (-1)^2
  REQUIRE(gf61::add(kPrime - 1, 1) == 0);
  REQUIRE(gf61::sub(0, 1) == kPrime - 1);
  REQUIRE(gf61::inverse(1) == 1);
  REQUIRE(gf61::inverse(kPrime - 1) == kPrime - 1);
  REQUIRE(gf61::inverse(2) == (kPrime + 1) / 2);
  REQUIRE(gf61::reduce(static_cast<Uint128>(kPrime)) == 0);
  REQUIRE(gf61::reduce(static_cast<Uint128>(kPrime) * (kPrime - 1)) == 0);
  REQUIRE(gf61::pow(3, kPrime - 1) == 1);  // Fermat
  static_assert(gf61::mul(kPrime - 1, 2) == kPrime - 2);
}

// ----- limb layout -----

TEST_CASE("the limb layout cuts the little-endian 256-bit secret into 60-bit limbs") {
  const Secret32 s = counting_secret();
  SplitMixCsprng rng(1);
  const std::vector<std::uint32_t> xs = {1, 9};
  const auto shares = shamir_share(s, xs, 1, rng);  // t = 1: every y is the limb itself
  REQUIRE(shares.size() == 2);
  for (std::size_t k = 0; k < kShamirLimbs; ++k) {
    REQUIRE(shares[0].y[k] == bits_of(s, static_cast<unsigned>(60 * k), kShamirLimbBits[k]));
    REQUIRE(shares[1].y[k] == shares[0].y[k]);
  }
  // Pinned: bytes 00 01 .. 1f.
  REQUIRE(shares[0].y[0] == 0x0706050403020100ULL);
  REQUIRE(shares[0].y[1] == 0x00e0d0c0b0a09080ULL);  // bytes 8..14, shifted past bits 60..63
  REQUIRE(shares[0].y[4] == 0x1f1eULL);

  const Secret32 ones = secret_from_bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  const auto max_shares = shamir_share(ones, xs, 1, rng);
  const std::array<std::uint64_t, 5> max_limbs = {(1ULL << 60) - 1, (1ULL << 60) - 1,
                                                  (1ULL << 60) - 1, (1ULL << 60) - 1, 0xffff};
  REQUIRE(max_shares[0].y == max_limbs);
  auto back = reconstruct_from(max_shares);
  REQUIRE(back);
  REQUIRE(*back == ones);
}

TEST_CASE("coefficients are drawn in degree-major order with 61-bit rejection sampling") {
  // t = 2: one coefficient per limb. Word 0 has low 61 bits == p and is rejected; its
  // replacement is the first word drawn after the batch (word 5). High bits are ignored.
  ScriptedCsprng rng({~std::uint64_t{0}, 0xE000000000000011ULL, 12, 13, 14, 15});
  const Secret32 zero;
  const std::vector<std::uint32_t> xs = {1, 2};
  const auto shares = shamir_share(zero, xs, 2, rng);
  REQUIRE(rng.left() == 0);
  // f_k(x) = a_k * x with a = (15, 0x11, 12, 13, 14)
  const std::array<std::uint64_t, 5> a = {15, 0x11, 12, 13, 14};
  for (std::size_t k = 0; k < kShamirLimbs; ++k) {
    REQUIRE(shares[0].y[k] == a[k]);
    REQUIRE(shares[1].y[k] == 2 * a[k]);
  }
}

TEST_CASE("shamir known answer: fixed seed, counting secret, t = 3 of 5") {
  // Produced once by this implementation with SplitMixCsprng(0x5ec2a66) (see
  // splitmix_csprng.hpp) and cross-checked by an independent Python big-integer script
  // (limbs from int.from_bytes(secret, "little"), coefficients = low 61 bits of the stream's
  // little-endian words in degree-major order, Horner mod 2^61 - 1).
  SplitMixCsprng rng(0x5ec2a66);
  const Secret32 s = counting_secret();
  const std::vector<std::uint32_t> xs = {1, 2, 3, 4, 5};
  const auto shares = shamir_share(s, xs, 3, rng);
  const char* const expected[5] = {
      "01000000"
      "2bdd4d146b0e7917"
      "d0a2164f4200a803"
      "8303929fb5cd8711"
      "3035d987c0a5b702"
      "47713ff0e6cf5f12",
      "02000000"
      "4f0393480bdbf310"
      "0adeb7da4d4ecf1f"
      "b892e5957f93a215"
      "b165cc61a75bf414"
      "49fa3bf5d359b312",
      "03000000"
      "6b73d19fe46a7613"
      "30428453e3ba5615"
      "aebd0bf570656512"
      "f5126b2f66e38718"
      "24baf50ec79dfa00",
      "04000000"
      "7f2d091af7bd001f"
      "41cf7bb902463e04"
      "658404bd8943d007"
      "fc3cb5f0fc3c720d"
      "d6b06c3dc09b351d",
      "05000000"
      "8c313ab742d49213"
      "3c859e0cacef850c"
      "dce6cfedc92de315"
      "c5e3aaa56b68b313"
      "62dea080bf536407",
  };
  for (std::size_t i = 0; i < shares.size(); ++i) {
    INFO("share " << i);
    CHECK(to_hex(encode(shares[i])) == expected[i]);
  }
  auto back = reconstruct_from(pick(shares, {4, 0, 2}));
  REQUIRE(back);
  REQUIRE(*back == s);
}

// ----- round trips and thresholds -----

TEST_CASE("shares round-trip for t in {1, 2, 3, 17, 100} and n up to 1000") {
  SplitMixCsprng rng(42);
  std::mt19937 gen(42);
  for (std::uint32_t t : {1u, 2u, 3u, 17u, 100u}) {
    for (std::uint32_t n : {t, t + 1, 2 * t + 3, 1000u}) {
      INFO("t = " << t << ", n = " << n);
      const Secret32 secret = rng.next_secret32(RngPurpose::self_mask_seed);
      const std::vector<std::uint32_t> xs = one_to(n);
      const auto shares = shamir_share(secret, xs, t, rng);
      REQUIRE(shares.size() == n);
      for (std::size_t i = 0; i < n; ++i) REQUIRE(shares[i].x == xs[i]);

      std::vector<std::size_t> order(n);
      std::iota(order.begin(), order.end(), 0);
      const std::vector<std::size_t> first(order.begin(), order.begin() + t);
      const std::vector<std::size_t> last(order.end() - t, order.end());
      std::shuffle(order.begin(), order.end(), gen);
      const std::vector<std::size_t> random_subset(order.begin(), order.begin() + t);
      for (const auto& subset : {first, last, random_subset, order}) {
        auto back = reconstruct_from(pick(shares, subset));
        REQUIRE(back);
        REQUIRE(*back == secret);
      }
    }
  }
}

TEST_CASE("every t-subset reconstructs; no (t-1)-subset does") {
  SplitMixCsprng rng(3);
  const std::uint32_t n = 7;
  const std::uint32_t t = 4;
  const Secret32 secret = rng.next_secret32(RngPurpose::self_mask_seed);
  const auto shares = shamir_share(secret, one_to(n), t, rng);
  int full = 0;
  int short_rejected = 0;
  for (unsigned mask = 1; mask < (1u << n); ++mask) {
    std::vector<std::size_t> subset;
    for (std::size_t i = 0; i < n; ++i) {
      if (mask & (1u << i)) subset.push_back(i);
    }
    if (subset.size() != t && subset.size() != t - 1) continue;
    auto back = reconstruct_from(pick(shares, subset));
    if (subset.size() == t) {
      REQUIRE(back);
      REQUIRE(*back == secret);
      ++full;
    } else {
      // Wrong secret, and almost always caught by the limb-width check.
      REQUIRE((!back || !(*back == secret)));
      if (!back) {
        REQUIRE(back.error().code == ErrorCode::bad_value);
        ++short_rejected;
      }
    }
  }
  REQUIRE(full == 35);            // C(7, 4)
  REQUIRE(short_rejected == 35);  // C(7, 3): each escapes the check with probability ~2^-49
}

TEST_CASE("the same seed gives the same shares; another seed gives other shares") {
  const Secret32 s = counting_secret();
  const auto xs = one_to(4);
  SplitMixCsprng a(9), b(9), c(10);
  const auto sa = shamir_share(s, xs, 2, a);
  const auto sb = shamir_share(s, xs, 2, b);
  const auto sc = shamir_share(s, xs, 2, c);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    REQUIRE(encode(sa[i]) == encode(sb[i]));
    REQUIRE(encode(sa[i]) != encode(sc[i]));
  }
}

TEST_CASE("one set of Lagrange coefficients reconstructs many secrets") {
  SplitMixCsprng rng(11);
  const std::uint32_t n = 40;
  const std::uint32_t t = 13;
  const auto xs = one_to(n);
  const std::vector<std::uint32_t> responders = {40, 3, 17, 22, 5, 9, 31, 1, 28, 12, 36, 7, 19, 25};
  auto lagrange = LagrangeCoefficients::create(responders);
  REQUIRE(lagrange);
  REQUIRE(lagrange->size() == responders.size());
  // The coefficients interpolate the constant polynomial 1: they sum to 1.
  std::uint64_t sum = 0;
  for (std::uint64_t l : lagrange->coefficients()) sum = gf61::add(sum, l);
  REQUIRE(sum == 1);
  for (int round = 0; round < 50; ++round) {
    const Secret32 secret = rng.next_secret32(RngPurpose::key_generation);
    const auto shares = shamir_share(secret, xs, t, rng);
    std::vector<ShamirShare> mine;
    for (std::uint32_t x : responders) mine.push_back(shares[x - 1]);
    auto back = lagrange->reconstruct(mine);
    REQUIRE(back);
    REQUIRE(*back == secret);
  }
}

// ----- wire form -----

TEST_CASE("a share encodes to 44 little-endian bytes and decodes back") {
  ShamirShare share;
  share.x = 0x04030201;
  share.y = {0x1122334455667788ULL, 0, 1, kPrime - 1, 0x0a0b};
  const Bytes bytes = encode(share);
  REQUIRE(bytes.size() == kShamirShareSize);
  REQUIRE(to_hex(bytes) ==
          "01020304"
          "8877665544332211"
          "0000000000000000"
          "0100000000000000"
          "feffffffffffff1f"
          "0b0a000000000000");
  auto back = decode_share(bytes);
  REQUIRE(back);
  REQUIRE(back->x == share.x);
  REQUIRE(back->y == share.y);

  std::array<std::uint8_t, kShamirShareSize> fixed{};
  encode_share(share, fixed);
  REQUIRE(Bytes(fixed.begin(), fixed.end()) == bytes);
}

TEST_CASE("decode_share rejects a wrong length") {
  ShamirShare share;
  share.x = 1;
  Bytes bytes = encode(share);
  for (std::size_t len : {std::size_t{0}, std::size_t{1}, kShamirShareSize - 1, kShamirShareSize + 1}) {
    Bytes b = bytes;
    b.resize(len);
    REQUIRE(code_of(decode_share(b)) == "bad_length");
  }
}

TEST_CASE("decode_share rejects x = 0") {
  ShamirShare share;
  share.x = 0;
  REQUIRE(code_of(decode_share(encode(share))) == "bad_value");
}

TEST_CASE("decode_share rejects y >= p in any limb") {
  for (std::size_t k = 0; k < kShamirLimbs; ++k) {
    for (std::uint64_t bad : {kPrime, kPrime + 1, ~std::uint64_t{0}}) {
      ShamirShare share;
      share.x = 3;
      share.y[k] = bad;
      REQUIRE(code_of(decode_share(encode(share))) == "bad_value");
    }
    ShamirShare edge;
    edge.x = 3;
    edge.y[k] = kPrime - 1;
    REQUIRE(decode_share(encode(edge)));
  }
}

// ----- responder sets and bad shares -----

TEST_CASE("a responder set with a duplicate or zero x is rejected") {
  const std::vector<std::uint32_t> dup = {4, 2, 9, 2};
  const std::vector<std::uint32_t> zero = {1, 0, 3};
  REQUIRE(code_of(LagrangeCoefficients::create(dup)) == "bad_value");
  REQUIRE(code_of(LagrangeCoefficients::create(zero)) == "bad_value");
  REQUIRE(code_of(LagrangeCoefficients::create({})) == "invalid_argument");
  const std::vector<std::uint32_t> extreme = {1, 0xffffffffu};
  REQUIRE(LagrangeCoefficients::create(extreme));
}

TEST_CASE("reconstruct rejects shares that do not match the responder set") {
  SplitMixCsprng rng(5);
  const Secret32 s = counting_secret();
  const auto shares = shamir_share(s, one_to(5), 3, rng);
  const std::vector<std::uint32_t> xs = {1, 2, 3};
  auto lagrange = LagrangeCoefficients::create(xs);
  REQUIRE(lagrange);
  REQUIRE(code_of(lagrange->reconstruct(pick(shares, {0, 1}))) == "invalid_argument");
  REQUIRE(code_of(lagrange->reconstruct(pick(shares, {0, 2, 1}))) == "bad_value");  // order
  REQUIRE(code_of(lagrange->reconstruct(pick(shares, {0, 1, 3}))) == "bad_value");  // other x
  auto hand_built = pick(shares, {0, 1, 2});
  hand_built[1].y[2] = kPrime;  // not a field element
  REQUIRE(code_of(lagrange->reconstruct(hand_built)) == "bad_value");
  REQUIRE(lagrange->reconstruct(pick(shares, {0, 1, 2})));
}

TEST_CASE("shares of different secrets do not combine into either secret") {
  SplitMixCsprng rng(6);
  const Secret32 a = rng.next_secret32(RngPurpose::key_generation);
  const Secret32 b = rng.next_secret32(RngPurpose::key_generation);
  const auto sa = shamir_share(a, one_to(3), 3, rng);
  const auto sb = shamir_share(b, one_to(3), 3, rng);
  const std::vector<ShamirShare> mixed = {sa[0], sb[1], sa[2]};
  auto back = reconstruct_from(mixed);
  REQUIRE((!back || (!(*back == a) && !(*back == b))));
}

TEST_CASE("every single-bit corruption of a share gives a rejection or a wrong secret") {
  SplitMixCsprng rng(8);
  const Secret32 s = rng.next_secret32(RngPurpose::self_mask_seed);
  const auto shares = shamir_share(s, one_to(4), 3, rng);
  auto lagrange = LagrangeCoefficients::create(xs_of(pick(shares, {0, 1, 2})));
  REQUIRE(lagrange);
  int rejected_on_decode = 0, rejected_on_reconstruct = 0, wrong = 0;
  for (std::size_t bit = 0; bit < 8 * kShamirShareSize; ++bit) {
    Bytes bytes = encode(shares[1]);
    bytes[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    auto corrupted = decode_share(bytes);
    if (!corrupted) {
      REQUIRE(corrupted.error().code == ErrorCode::bad_value);
      ++rejected_on_decode;
      continue;
    }
    const std::vector<ShamirShare> set = {shares[0], *corrupted, shares[2]};
    auto back = lagrange->reconstruct(set);
    if (!back) {
      REQUIRE(back.error().code == ErrorCode::bad_value);
      ++rejected_on_reconstruct;
    } else {
      REQUIRE(!(*back == s));
      ++wrong;
    }
  }
  REQUIRE(rejected_on_decode + rejected_on_reconstruct + wrong == 8 * kShamirShareSize);
  REQUIRE(rejected_on_reconstruct > 0);
}

TEST_CASE("random garbage shares never crash reconstruction") {
  std::mt19937_64 gen(99);
  const std::vector<std::uint32_t> xs = {2, 5, 11, 12};
  auto lagrange = LagrangeCoefficients::create(xs);
  REQUIRE(lagrange);
  int ok = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<ShamirShare> set(xs.size());
    for (std::size_t j = 0; j < xs.size(); ++j) {
      set[j].x = xs[j];
      for (auto& y : set[j].y) y = gen() % kPrime;
    }
    auto back = lagrange->reconstruct(set);
    if (back) ++ok;
  }
  REQUIRE(ok == 0);  // passing the width check by chance has probability ~2^-49 per trial
}

}  // namespace
}  // namespace edgefed::secagg
