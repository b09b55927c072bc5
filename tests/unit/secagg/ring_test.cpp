// Ring Z_{2^b}: the overflow budget, the fixed-point encoding of deltas and weights
// (research/secagg.md §6.8 case 26), and bit-packing for every b in [2, 64].
#include "edgefed/secagg/ring.hpp"

#include "splitmix_csprng.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace edgefed::secagg {
namespace {

using Catch::Matchers::Contains;
using testing::SplitMixCsprng;

template <typename T>
std::string code_of(const Result<T>& r) {
  return r ? "ok" : std::string(to_string(r.error().code));
}

EncodingParams params_for(std::uint32_t b, std::uint64_t n_max, std::uint32_t q, double clip) {
  EncodingParams p;
  p.b = b;
  p.n_max = n_max;
  p.q = q;
  p.clip = clip;
  return p;
}

std::vector<float> random_delta(std::size_t n, std::uint32_t seed, float lo, float hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// Encodes one client into lanes of the right width, decodes it alone: (values, weight).
struct Decoded {
  std::vector<double> values;
  double weight = 0;
};
Decoded round_trip(const std::vector<float>& delta, double w, const EncodingParams& p, Csprng& rng,
                   Rounding rounding) {
  Decoded d;
  d.values.resize(delta.size());
  if (p.ring().lane_bits() == 32) {
    std::vector<std::uint32_t> lanes(delta.size() + 1);
    REQUIRE(encode_update(delta, w, p, rng, lanes, rounding));
    auto weight = decode_sum(std::span<const std::uint32_t>(lanes), p, d.values);
    REQUIRE(weight);
    d.weight = *weight;
  } else {
    std::vector<std::uint64_t> lanes(delta.size() + 1);
    REQUIRE(encode_update(delta, w, p, rng, lanes, rounding));
    auto weight = decode_sum(std::span<const std::uint64_t>(lanes), p, d.values);
    REQUIRE(weight);
    d.weight = *weight;
  }
  return d;
}

// Reference packer: one bit at a time, exactly as documented in ring.hpp.
Bytes reference_pack(std::uint32_t b, const std::vector<std::uint64_t>& values) {
  Bytes out((values.size() * b + 7) / 8, 0);
  for (std::size_t i = 0; i < values.size(); ++i) {
    for (std::uint32_t k = 0; k < b; ++k) {
      const std::size_t bit = i * b + k;
      if ((values[i] >> k) & 1) out[bit / 8] |= static_cast<std::uint8_t>(1u << (bit % 8));
    }
  }
  return out;
}

// ----- ring arithmetic -----

TEST_CASE("ring specs choose the lane width and mask") {
  REQUIRE(RingSpec{2}.lane_bits() == 32);
  REQUIRE(RingSpec{32}.lane_bits() == 32);
  REQUIRE(RingSpec{33}.lane_bits() == 64);
  REQUIRE(RingSpec{64}.lane_bits() == 64);
  REQUIRE(RingSpec{13}.mask() == 0x1fff);
  REQUIRE(RingSpec{64}.mask() == ~std::uint64_t{0});
  REQUIRE(RingSpec{2}.validate());
  REQUIRE(RingSpec{64}.validate());
  REQUIRE(code_of(RingSpec{1}.validate()) == "bad_value");
  REQUIRE(code_of(RingSpec{65}.validate()) == "bad_value");
  REQUIRE(code_of(RingSpec{0}.validate()) == "bad_value");
}

TEST_CASE("ring addition and subtraction wrap mod 2^b") {
  std::vector<std::uint32_t> a = {0x1fff, 5, 0};
  const std::vector<std::uint32_t> x = {1, 0x1ffe, 0};
  ring_add(RingSpec{13}, a, x);
  REQUIRE(a == std::vector<std::uint32_t>{0, 3, 0});
  ring_sub(RingSpec{13}, a, x);
  REQUIRE(a == std::vector<std::uint32_t>{0x1fff, 5, 0});

  std::vector<std::uint32_t> full = {0xffffffffu};
  ring_add(RingSpec{32}, full, std::vector<std::uint32_t>{2});
  REQUIRE(full[0] == 1);

  const std::uint64_t top61 = (std::uint64_t{1} << 61) - 1;
  std::vector<std::uint64_t> w = {top61, 0};
  ring_add(RingSpec{61}, w, std::vector<std::uint64_t>{2, 0});
  REQUIRE(w[0] == 1);
  ring_sub(RingSpec{61}, w, std::vector<std::uint64_t>{3, 1});
  REQUIRE(w == std::vector<std::uint64_t>{top61 - 1, top61});

  std::vector<std::uint64_t> w64 = {~std::uint64_t{0}};
  ring_add(RingSpec{64}, w64, std::vector<std::uint64_t>{1});
  REQUIRE(w64[0] == 0);
}

TEST_CASE("lanes read as signed b-bit integers") {
  REQUIRE(ring_to_signed(RingSpec{8}, 0x7f) == 127);
  REQUIRE(ring_to_signed(RingSpec{8}, 0x80) == -128);
  REQUIRE(ring_to_signed(RingSpec{8}, 0xff) == -1);
  REQUIRE(ring_to_signed(RingSpec{2}, 2) == -2);
  REQUIRE(ring_to_signed(RingSpec{64}, ~std::uint64_t{0}) == -1);
  REQUIRE(ring_to_signed(RingSpec{64}, std::uint64_t{1} << 63) == std::numeric_limits<std::int64_t>::min());
  REQUIRE(ring_to_signed(RingSpec{33}, std::uint64_t{1} << 32) == -(std::int64_t{1} << 32));
}

// ----- overflow budget -----

TEST_CASE("the overflow budget matches the table in research §6.5") {
  REQUIRE(max_quantization_bits(32, 1024) == 22);
  REQUIRE(max_quantization_bits(32, 16384) == 18);
  REQUIRE(max_quantization_bits(64, 1000000) == 44);
  REQUIRE(max_quantization_bits(64, 1) == 64);
  REQUIRE(max_quantization_bits(2, 1) == 2);
  REQUIRE(max_quantization_bits(2, 2) == 0);
  REQUIRE(max_quantization_bits(32, 0) == 0);
  REQUIRE(max_quantization_bits(65, 1) == 0);
  // The precise condition allows one bit more than q <= b - ceil(log2 n_max) here.
  REQUIRE(max_quantization_bits(32, 65537) == 16);
  REQUIRE(params_for(32, 65537, 16, 1.0).validate());
}

TEST_CASE("validate accepts b = 32, n_max = 1024, q = 22 and refuses q = 23 naming the numbers") {
  REQUIRE(params_for(32, 1024, 22, 1.0).validate());
  const Status refused = params_for(32, 1024, 23, 1.0).validate();
  REQUIRE(code_of(refused) == "invalid_argument");
  CHECK_THAT(refused.error().detail, Contains("q = 23") && Contains("b = 32") &&
                                         Contains("n_max = 1024") && Contains("4294966272") &&
                                         Contains("2147483648") && Contains("largest q is 22"));
  // A client checking server parameters reports them as malformed.
  REQUIRE(code_of(params_for(32, 1024, 23, 1.0).validate(ErrorCode::bad_value)) == "bad_value");

  REQUIRE(params_for(32, 16384, 18, 8.0).validate());
  REQUIRE(!params_for(32, 16384, 19, 8.0).validate());
  REQUIRE(params_for(64, 1000000, 44, 1.0).validate());
  REQUIRE(!params_for(64, 1000000, 45, 1.0).validate());
  REQUIRE(params_for(64, 1, 64, 1.0).validate());
  // n_max + 1 clients at q = 22 would overflow b = 32: that configuration is refused.
  REQUIRE(!params_for(32, 1025, 22, 1.0).validate());
}

TEST_CASE("validate names every bad field") {
  struct Case {
    const char* what;
    EncodingParams p;
  };
  EncodingParams good = params_for(32, 100, 16, 2.0);
  REQUIRE(good.validate());
  std::vector<Case> cases;
  auto with = [&](const char* what, auto&& edit) {
    EncodingParams p = good;
    edit(p);
    cases.push_back({what, p});
  };
  with("b = 1", [](EncodingParams& p) { p.b = 1; });
  with("b = 65", [](EncodingParams& p) { p.b = 65; });
  with("q = 1", [](EncodingParams& p) { p.q = 1; });
  with("q = 33", [](EncodingParams& p) { p.q = 33; });
  with("n_max = 0", [](EncodingParams& p) { p.n_max = 0; });
  with("clip c = 0", [](EncodingParams& p) { p.clip = 0.0; });
  with("clip c = -1", [](EncodingParams& p) { p.clip = -1.0; });
  with("clip c = nan", [](EncodingParams& p) { p.clip = std::nan(""); });
  with("clip c = inf", [](EncodingParams& p) { p.clip = std::numeric_limits<double>::infinity(); });
  with("l2_norm_bound = -1", [](EncodingParams& p) { p.l2_norm_bound = -1.0; });
  with("l2_norm_bound = nan", [](EncodingParams& p) { p.l2_norm_bound = std::nan(""); });
  with("weight_cap = 0", [](EncodingParams& p) { p.weight_cap = 0; });
  for (const Case& c : cases) {
    INFO(c.what);
    const Status s = c.p.validate();
    REQUIRE(code_of(s) == "invalid_argument");
    CHECK_THAT(s.error().detail, Contains(c.what));
  }
}

TEST_CASE("weights are min(examples, cap) / cap") {
  EncodingParams p = params_for(32, 10, 8, 1.0);
  p.weight_cap = 200;
  REQUIRE(p.weight_for(0) == 0.0);
  REQUIRE(p.weight_for(50) == 0.25);
  REQUIRE(p.weight_for(200) == 1.0);
  REQUIRE(p.weight_for(10000) == 1.0);
}

// ----- encoding -----

TEST_CASE("encoding known answer: c = 1, q = 8, b = 16, nearest rounding") {
  const EncodingParams p = params_for(16, 2, 8, 1.0);  // M = 127
  const std::vector<float> delta = {0.0f, 0.5f, -0.5f, 1.0f, -1.0f, 2.0f, 0.25f, 1e-3f, -3.0f};
  std::vector<std::uint32_t> lanes(delta.size() + 1);
  SplitMixCsprng rng(1);
  REQUIRE(encode_update(delta, 1.0, p, rng, lanes, Rounding::nearest));
  // 0.5 * 127 = 63.5 -> 64 (half away from zero); -64 -> 2^16 - 64; clipped +-1 -> +-127;
  // 0.25 * 127 = 31.75 -> 32; 0.127 -> 0; weight 1 -> 127.
  REQUIRE(lanes == std::vector<std::uint32_t>{0, 64, 65472, 127, 65409, 127, 32, 0, 65409, 127});

  // Weight 0.5 halves every level and the weight coordinate holds round(0.5 * 127) = 64.
  REQUIRE(encode_update(delta, 0.5, p, rng, lanes, Rounding::nearest));
  REQUIRE(lanes == std::vector<std::uint32_t>{0, 32, 65504, 64, 65472, 64, 16, 0, 65472, 64});
}

TEST_CASE("round trip is within step/2 for nearest and within one step for stochastic rounding") {
  struct Config {
    std::uint32_t b;
    std::uint64_t n_max;
    std::uint32_t q;
    double clip;
  };
  for (const Config& cfg : {Config{32, 1024, 22, 1.0}, Config{32, 16384, 18, 8.0},
                            Config{64, 1000000, 44, 1.0}, Config{16, 4, 12, 0.5},
                            Config{64, 1, 64, 3.0}, Config{40, 1000, 30, 0.01}}) {
    INFO("b = " << cfg.b << ", q = " << cfg.q << ", c = " << cfg.clip);
    const EncodingParams p = params_for(cfg.b, cfg.n_max, cfg.q, cfg.clip);
    REQUIRE(p.validate());
    const auto c = static_cast<float>(cfg.clip);
    const std::vector<float> delta = random_delta(5000, cfg.b, -1.5f * c, 1.5f * c);
    const double step = p.step();
    // Float slack: the decode divides a level by s in double; q = 64 levels exceed 2^53.
    const double slack = 4 * cfg.clip * std::numeric_limits<double>::epsilon();
    SplitMixCsprng rng(cfg.q);
    for (Rounding rounding : {Rounding::nearest, Rounding::stochastic}) {
      const Decoded d = round_trip(delta, 1.0, p, rng, rounding);
      const double bound = rounding == Rounding::nearest ? step / 2 : step;
      double worst = 0;
      for (std::size_t i = 0; i < delta.size(); ++i) {
        const double want = std::clamp(static_cast<double>(delta[i]), -cfg.clip, cfg.clip);
        worst = std::max(worst, std::abs(d.values[i] - want));
      }
      CHECK(worst <= bound + slack);
      CHECK(d.weight == 1.0);
    }
  }
}

TEST_CASE("stochastic rounding is unbiased") {
  // c = 1, q = 10: M = 511, step ~ 1/511. Each value sits at a known fraction of a step; the
  // mean decoded error over N independent roundings must be within 6 standard deviations
  // (sigma^2 = frac (1 - frac) step^2 / N); the nearest-rounding bias would be frac * step.
  const EncodingParams p = params_for(32, 1, 10, 1.0);
  const double step = p.step();
  const std::size_t n = 100000;
  SplitMixCsprng rng(2024);
  for (double frac : {0.5, 0.1, 0.9, 0.01, 0.3}) {
    INFO("frac = " << frac);
    const float v = static_cast<float>((100.0 + frac) * step);
    const double exact_frac = static_cast<double>(v) / step - 100.0;  // after float rounding
    const std::vector<float> delta(n, v);
    const Decoded d = round_trip(delta, 1.0, p, rng, Rounding::stochastic);
    double mean_error = 0;
    for (double x : d.values) mean_error += x - static_cast<double>(v);
    mean_error /= static_cast<double>(n);
    const double sigma = std::sqrt(exact_frac * (1 - exact_frac) / static_cast<double>(n)) * step;
    CHECK(std::abs(mean_error) <= 6 * sigma);
    CHECK(std::abs(mean_error) < 0.05 * step);
  }
}

TEST_CASE("stochastic rounding draws exactly one word per lane") {
  const EncodingParams p = params_for(32, 1, 16, 1.0);
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{255}, std::size_t{256}, std::size_t{700}}) {
    SplitMixCsprng rng(77);
    const std::vector<float> delta(n, 0.123f);
    std::vector<std::uint32_t> lanes(n + 1);
    REQUIRE(encode_update(delta, 0.7, p, rng, lanes));
    std::uint8_t raw[8];
    rng.fill(RngPurpose::stochastic_rounding, raw);
    std::uint64_t next = 0;
    for (int k = 7; k >= 0; --k) next = (next << 8) | raw[k];
    REQUIRE(next == SplitMixCsprng::word_at(77, RngPurpose::stochastic_rounding, n + 1));
    // Same seed, same lanes.
    SplitMixCsprng again(77);
    std::vector<std::uint32_t> lanes2(n + 1);
    REQUIRE(encode_update(delta, 0.7, p, again, lanes2));
    REQUIRE(lanes == lanes2);
  }
}

TEST_CASE("values at +-c summed over n_max clients decode exactly and do not wrap") {
  struct Config {
    std::uint32_t b;
    std::uint64_t n_max;
    double clip;
  };
  for (const Config& cfg : {Config{32, 1024, 1.0}, Config{32, 16384, 8.0}, Config{16, 5, 1.0},
                            Config{64, 1000000, 1.0}, Config{64, 1, 0.75}}) {
    const std::uint32_t q = max_quantization_bits(cfg.b, cfg.n_max);
    INFO("b = " << cfg.b << ", n_max = " << cfg.n_max << ", q = " << q);
    const EncodingParams p = params_for(cfg.b, cfg.n_max, q, cfg.clip);
    REQUIRE(p.validate());
    const auto c = static_cast<float>(cfg.clip);
    const std::vector<float> delta = {c, -c, 4 * c, -4 * c};  // the last two clip to +-c
    std::vector<std::uint64_t> one(delta.size() + 1);
    SplitMixCsprng rng(cfg.b);
    REQUIRE(encode_update(delta, 1.0, p, rng, one));
    const auto m = static_cast<std::int64_t>(p.max_level());
    REQUIRE(ring_to_signed(p.ring(), one[0]) == m);
    REQUIRE(ring_to_signed(p.ring(), one[1]) == -m);

    std::vector<std::uint64_t> sum(one.size(), 0);
    for (std::uint64_t k = 0; k < cfg.n_max; ++k) ring_add(p.ring(), sum, one);
    const auto n = static_cast<std::int64_t>(cfg.n_max);
    REQUIRE(ring_to_signed(p.ring(), sum[0]) == n * m);
    REQUIRE(ring_to_signed(p.ring(), sum[1]) == -n * m);
    std::vector<double> values(delta.size());
    auto weight = decode_sum(std::span<const std::uint64_t>(sum), p, values);
    REQUIRE(weight);
    const double want = static_cast<double>(cfg.n_max) * cfg.clip;
    CHECK(values[0] == Approx(want).epsilon(1e-15));
    CHECK(values[1] == Approx(-want).epsilon(1e-15));
    CHECK(values[2] == values[0]);
    CHECK(values[3] == values[1]);
    CHECK(*weight == Approx(static_cast<double>(cfg.n_max)).epsilon(1e-15));
  }
}

TEST_CASE("n_max + 1 clients at +c would wrap: the budget refuses it and decode flags it") {
  const EncodingParams p = params_for(32, 1024, 22, 1.0);
  REQUIRE(p.validate());
  REQUIRE(!params_for(32, 1025, 22, 1.0).validate());
  const std::vector<float> delta = {1.0f};
  std::vector<std::uint32_t> one(2);
  SplitMixCsprng rng(4);
  REQUIRE(encode_update(delta, 1.0, p, rng, one));
  std::vector<std::uint32_t> sum(2, 0);
  for (int k = 0; k < 1025; ++k) ring_add(p.ring(), sum, one);
  REQUIRE(ring_to_signed(p.ring(), sum[0]) < 0);  // wrapped
  std::vector<double> values(1);
  auto decoded = decode_sum(std::span<const std::uint32_t>(sum), p, values);
  REQUIRE(code_of(decoded) == "bad_value");
}

TEST_CASE("the weighted mean matches a float reference within n * step / sum(w)") {
  const std::size_t dim = 2000;
  const std::size_t clients = 50;
  for (Rounding rounding : {Rounding::nearest, Rounding::stochastic}) {
    EncodingParams p = params_for(32, 64, max_quantization_bits(32, 64), 0.5);
    p.q -= 6;  // coarse steps, so the bound is not all float noise
    p.weight_cap = 100;
    REQUIRE(p.validate());
    SplitMixCsprng rng(rounding == Rounding::nearest ? 1 : 2);
    std::mt19937 gen(5);
    std::vector<double> ref_num(dim, 0.0);
    double ref_den = 0;
    std::vector<std::uint32_t> sum(dim + 1, 0), lanes(dim + 1);
    for (std::size_t u = 0; u < clients; ++u) {
      const std::vector<float> delta = random_delta(dim, static_cast<std::uint32_t>(u), -0.7f, 0.7f);
      const double w = p.weight_for(gen() % 150);
      REQUIRE(encode_update(delta, w, p, rng, lanes, rounding));
      ring_add(p.ring(), sum, lanes);
      for (std::size_t i = 0; i < dim; ++i) {
        ref_num[i] += w * std::clamp(static_cast<double>(delta[i]), -p.clip, p.clip);
      }
      ref_den += w;
    }
    std::vector<double> mean(dim);
    auto weight_sum = decode_sum(std::span<const std::uint32_t>(sum), p, mean);
    REQUIRE(weight_sum);
    CHECK(std::abs(*weight_sum - ref_den) <= clients * p.clip / p.scale());
    REQUIRE(weighted_mean(mean, *weight_sum, mean));
    // |error| <= (n step/2 + c n step_w/2) / sum(w) = n step / sum(w) for nearest rounding
    // (step_w = 1/M = step / c); stochastic errors are zero-mean, far below that.
    const double bound = static_cast<double>(clients) * p.step() / *weight_sum;
    double worst = 0;
    for (std::size_t i = 0; i < dim; ++i) worst = std::max(worst, std::abs(mean[i] - ref_num[i] / ref_den));
    INFO("rounding " << (rounding == Rounding::nearest ? "nearest" : "stochastic") << ", worst "
                     << worst << ", bound " << bound);
    CHECK(worst <= bound * (1 + 1e-9));
  }
}

TEST_CASE("a zero total weight has no mean") {
  const EncodingParams p = params_for(32, 4, 16, 1.0);
  SplitMixCsprng rng(3);
  const Decoded d = round_trip({0.5f, -0.25f}, 0.0, p, rng, Rounding::stochastic);
  REQUIRE(d.weight == 0.0);
  REQUIRE(d.values == std::vector<double>{0.0, 0.0});
  std::vector<double> mean(2);
  REQUIRE(code_of(weighted_mean(d.values, d.weight, mean)) == "bad_value");
  REQUIRE(code_of(weighted_mean(d.values, std::nan(""), mean)) == "bad_value");
  REQUIRE(code_of(weighted_mean(d.values, 1.0, std::span<double>(mean).first(1))) == "invalid_argument");
}

TEST_CASE("L2 clipping scales the whole delta to the norm bound before the per-coordinate clip") {
  EncodingParams p = params_for(32, 4, 20, 1.0);
  p.l2_norm_bound = 1.0;
  const std::vector<float> delta = {6.0f, 8.0f, 0.0f};  // norm 10 -> (0.6, 0.8, 0)
  SplitMixCsprng rng(12);
  const Decoded clipped = round_trip(delta, 1.0, p, rng, Rounding::nearest);
  CHECK(clipped.values[0] == Approx(0.6).margin(p.step()));
  CHECK(clipped.values[1] == Approx(0.8).margin(p.step()));
  CHECK(clipped.values[2] == 0.0);
  p.l2_norm_bound = 0.0;  // off: only the per-coordinate clip
  const Decoded plain = round_trip(delta, 1.0, p, rng, Rounding::nearest);
  CHECK(plain.values[0] == 1.0);
  CHECK(plain.values[1] == 1.0);
  p.l2_norm_bound = 20.0;  // already inside the ball: unchanged
  const Decoded inside = round_trip({0.25f, -0.5f}, 1.0, p, rng, Rounding::nearest);
  CHECK(inside.values[0] == Approx(0.25).margin(p.step() / 2));
  CHECK(inside.values[1] == Approx(-0.5).margin(p.step() / 2));
}

TEST_CASE("NaN and infinite deltas are rejected naming the index") {
  const EncodingParams p = params_for(32, 4, 16, 1.0);
  SplitMixCsprng rng(1);
  std::vector<std::uint32_t> lanes(4);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    const std::vector<float> delta = {0.5f, 0.25f, bad};
    const Status s = encode_update(delta, 1.0, p, rng, lanes);
    REQUIRE(code_of(s) == "bad_value");
    CHECK_THAT(s.error().detail, Contains("delta[2]"));
  }
}

TEST_CASE("encode and decode reject caller misuse") {
  const EncodingParams p = params_for(32, 4, 16, 1.0);
  SplitMixCsprng rng(1);
  const std::vector<float> delta = {0.5f, 0.25f};
  std::vector<std::uint32_t> lanes(3);
  std::vector<std::uint32_t> short_lanes(2);
  REQUIRE(code_of(encode_update(delta, 1.0, p, rng, short_lanes)) == "invalid_argument");
  REQUIRE(code_of(encode_update(delta, 1.5, p, rng, lanes)) == "invalid_argument");
  REQUIRE(code_of(encode_update(delta, -0.1, p, rng, lanes)) == "invalid_argument");
  REQUIRE(code_of(encode_update(delta, std::nan(""), p, rng, lanes)) == "invalid_argument");
  REQUIRE(code_of(encode_update(delta, 1.0, params_for(32, 4, 40, 1.0), rng, lanes)) == "invalid_argument");
  REQUIRE(code_of(encode_update(delta, 1.0, params_for(40, 4, 16, 1.0), rng, lanes)) == "invalid_argument");

  std::vector<double> out(2);
  REQUIRE(code_of(decode_sum(std::span<const std::uint32_t>(), p, std::span<double>())) == "invalid_argument");
  REQUIRE(code_of(decode_sum(std::span<const std::uint32_t>(lanes), p, std::span<double>(out).first(1))) ==
          "invalid_argument");
  std::vector<std::uint32_t> negative_weight = {0, 0, 0xffffffffu};
  REQUIRE(code_of(decode_sum(std::span<const std::uint32_t>(negative_weight), p, out)) == "bad_value");
  std::vector<std::uint64_t> wide(3, 0);
  REQUIRE(code_of(decode_sum(std::span<const std::uint64_t>(wide), params_for(40, 4, 16, 1.0), out)) == "ok");
}

// ----- packing -----

TEST_CASE("packing known answers follow the little-endian bit order") {
  std::vector<std::uint8_t> out(packed_size(RingSpec{3}, 2));
  pack_ring(RingSpec{3}, std::vector<std::uint32_t>{5, 3}, out);
  REQUIRE(out == Bytes{0x1d});  // 101 then 011 from the low bit up
  out.resize(packed_size(RingSpec{12}, 2));
  pack_ring(RingSpec{12}, std::vector<std::uint32_t>{0xabc, 0x123}, out);
  REQUIRE(out == Bytes{0xbc, 0x3a, 0x12});
  out.resize(packed_size(RingSpec{33}, 1));
  pack_ring(RingSpec{33}, std::vector<std::uint64_t>{0x1'8000'0001ULL}, out);
  REQUIRE(out == Bytes{0x01, 0x00, 0x00, 0x80, 0x01});
  REQUIRE(packed_size(RingSpec{7}, 0) == 0);
  REQUIRE(packed_size(RingSpec{7}, 9) == 8);
  REQUIRE(packed_size(RingSpec{64}, 100000) == 800000);
}

TEST_CASE("pack and unpack round-trip for every b in [2, 64] and odd lengths") {
  std::mt19937_64 gen(1);
  for (std::uint32_t b = kMinRingBits; b <= kMaxRingBits; ++b) {
    const RingSpec ring{b};
    for (std::size_t n : {0, 1, 2, 3, 7, 8, 9, 31, 63, 64, 65, 1001}) {
      INFO("b = " << b << ", n = " << n);
      std::vector<std::uint64_t> values(n);
      for (auto& v : values) v = gen() & ring.mask();
      if (n > 0) values[0] = ring.mask();  // all ones at the start
      Bytes packed(packed_size(ring, n));
      REQUIRE(packed.size() == (n * b + 7) / 8);
      pack_ring(ring, values, packed);
      REQUIRE(packed == reference_pack(b, values));
      std::vector<std::uint64_t> back(n);
      REQUIRE(unpack_ring(ring, packed, back));
      REQUIRE(back == values);
      if (b <= 32) {
        const std::vector<std::uint32_t> narrow(values.begin(), values.end());
        Bytes packed32(packed.size());
        pack_ring(ring, narrow, packed32);
        REQUIRE(packed32 == packed);
        std::vector<std::uint32_t> back32(n);
        REQUIRE(unpack_ring(ring, packed, back32));
        REQUIRE(back32 == narrow);
      }
    }
  }
}

TEST_CASE("pack reduces values mod 2^b") {
  Bytes a(packed_size(RingSpec{5}, 3)), b(a.size());
  pack_ring(RingSpec{5}, std::vector<std::uint32_t>{0xffffffe1u, 0x22, 31}, a);
  pack_ring(RingSpec{5}, std::vector<std::uint32_t>{1, 2, 31}, b);
  REQUIRE(a == b);
}

TEST_CASE("unpack rejects a wrong byte length") {
  for (std::uint32_t b : {3u, 8u, 32u, 33u, 64u}) {
    const RingSpec ring{b};
    const std::size_t n = 11;
    std::vector<std::uint64_t> out(n);
    const Bytes good(packed_size(ring, n), 0);
    REQUIRE(unpack_ring(ring, good, out));
    for (std::size_t len : {std::size_t{0}, good.size() - 1, good.size() + 1, good.size() + 8}) {
      REQUIRE(code_of(unpack_ring(ring, Bytes(len, 0), out)) == "bad_length");
    }
  }
  std::vector<std::uint32_t> none;
  REQUIRE(unpack_ring(RingSpec{32}, Bytes{}, none));
  REQUIRE(code_of(unpack_ring(RingSpec{32}, Bytes{0}, none)) == "bad_length");
}

TEST_CASE("unpack rejects set padding bits and leaves the output untouched") {
  for (std::uint32_t b = kMinRingBits; b <= kMaxRingBits; ++b) {
    for (std::size_t n : {1, 3, 5, 7}) {
      const RingSpec ring{b};
      const unsigned used = static_cast<unsigned>(n * b % 8);
      if (used == 0) continue;
      for (unsigned bit = used; bit < 8; ++bit) {
        INFO("b = " << b << ", n = " << n << ", bit = " << bit);
        Bytes bytes(packed_size(ring, n), 0);
        bytes.back() = static_cast<std::uint8_t>(1u << bit);
        std::vector<std::uint64_t> out(n, 42);
        REQUIRE(code_of(unpack_ring(ring, bytes, out)) == "bad_value");
        REQUIRE(out == std::vector<std::uint64_t>(n, 42));
      }
    }
  }
}

TEST_CASE("unpack refuses a ring wider than its lanes") {
  std::vector<std::uint32_t> out(1);
  REQUIRE(code_of(unpack_ring(RingSpec{33}, Bytes(5, 0), out)) == "invalid_argument");
  std::vector<std::uint64_t> wide(1);
  REQUIRE(code_of(unpack_ring(RingSpec{65}, Bytes(9, 0), wide)) == "invalid_argument");
  REQUIRE(code_of(unpack_ring(RingSpec{1}, Bytes(1, 0), wide)) == "invalid_argument");
}

}  // namespace
}  // namespace edgefed::secagg
