#include "edgefed/common/quant.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace edgefed {
namespace {

using Catch::Matchers::Contains;

constexpr double kDenormMin = std::numeric_limits<float>::denorm_min();

// The encodings of arbitrary floats; int32 (integers only) has its own tests below.
constexpr Encoding kAllEncodings[] = {
    Encoding::float32, Encoding::int8_symmetric_per_channel,
    Encoding::int8_asymmetric_per_tensor, Encoding::int4_symmetric_per_channel};
constexpr Encoding kQuantized[] = {Encoding::int8_symmetric_per_channel,
                                   Encoding::int8_asymmetric_per_tensor,
                                   Encoding::int4_symmetric_per_channel};

std::size_t numel_of(const Shape& shape) {
  std::size_t n = 1;
  for (std::int64_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

std::vector<float> random_values(std::size_t n, std::uint32_t seed, float lo = -2.0f,
                                 float hi = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// "ok" or the error code's name, so a failed CHECK prints something readable.
template <typename T>
std::string code_of(const Result<T>& r) {
  return r ? "ok" : std::string(to_string(r.error().code));
}

EncodedTensor encode_ok(const Shape& shape, const std::vector<float>& values, Encoding e) {
  auto r = encode(shape, values, e);
  INFO(to_string(e) << " " << shape_to_string(shape) << ": " << (r ? "" : r.error().message()));
  REQUIRE(r);
  return std::move(r).value();
}

// The scales the spec prescribes, computed independently of the codec, so a codec that chose
// huge scales (and so trivially met the scale/2 bound) would fail here.
std::vector<double> expected_scales(const Shape& shape, const std::vector<float>& x, Encoding e) {
  if (e == Encoding::float32) return {};
  if (e == Encoding::int8_asymmetric_per_tensor) {
    double lo = 0, hi = 0;
    for (float v : x) {
      lo = std::min(lo, double{v});
      hi = std::max(hi, double{v});
    }
    return {hi > lo ? (hi - lo) / 255.0 : 1.0};
  }
  const double qmax = e == Encoding::int4_symmetric_per_channel ? 7.0 : 127.0;
  const std::size_t channels = shape.size() <= 1 ? 1 : static_cast<std::size_t>(shape[0]);
  const std::size_t inner = channels ? x.size() / channels : 0;
  std::vector<double> scales;
  for (std::size_t c = 0; c < channels; ++c) {
    double m = 0;
    for (std::size_t k = 0; k < inner; ++k) m = std::max(m, std::fabs(double{x[c * inner + k]}));
    scales.push_back(m > 0 ? m / qmax : 1.0);
  }
  return scales;
}

// True if `scale` is the smallest float with scale * steps >= range: the documented rounding.
bool is_smallest_scale_covering(float scale, double range, int steps) {
  return double{scale} * steps >= range &&
         double{std::nextafter(scale, 0.0f)} * steps < range;
}

// Encodes, decodes, and checks sizes, scales against the spec and every element against
// scale/2 plus one float rounding of the decoded value.
void check_round_trip(const Shape& shape, const std::vector<float>& x, Encoding e) {
  INFO(to_string(e) << " " << shape_to_string(shape));
  const EncodedTensor t = encode_ok(shape, x, e);
  REQUIRE(validate(t));
  CHECK(t.data.size() == data_bytes(e, x.size()));
  CHECK(t.zero_points.size() == zero_point_count(e));
  const std::vector<double> want = expected_scales(shape, x, e);
  REQUIRE(t.scales.size() == want.size());
  for (std::size_t c = 0; c < want.size(); ++c) {
    INFO("scale " << c << ": " << t.scales[c] << " vs " << want[c]);
    CHECK(std::fabs(t.scales[c] - want[c]) <= 2e-7 * want[c] + 2 * kDenormMin);
  }
  auto y = decode(t);
  REQUIRE(y);
  REQUIRE(y->size() == x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float bound = max_error_bound(t, i);
    const double err = std::fabs(double{x[i]} - double{(*y)[i]});
    const double tol =
        bound * (1 + 1e-6) + (std::fabs(x[i]) + bound) * FLT_EPSILON + kDenormMin;
    INFO("element " << i << ": " << x[i] << " -> " << (*y)[i] << ", bound " << bound);
    REQUIRE(err <= tol);
    if (e == Encoding::float32) REQUIRE(x[i] == (*y)[i]);
  }
}

template <typename Mutate>
Status decode_after(Encoding e, const Shape& shape, Mutate mutate) {
  EncodedTensor t = encode_ok(shape, random_values(numel_of(shape), 7), e);
  mutate(t);
  auto y = decode(t);
  if (y) return {};
  return y.error();
}

}  // namespace

// ---- tags and sizes -----------------------------------------------------------------------

TEST_CASE("encoding tags round trip and unknown tags are rejected", "[quant]") {
  for (Encoding e : kAllEncodings) {
    auto parsed = parse_encoding(static_cast<std::uint8_t>(e));
    REQUIRE(parsed);
    CHECK(*parsed == e);
  }
  CHECK(parse_encoding(4).value() == Encoding::int32);
  CHECK(to_string(Encoding::int4_symmetric_per_channel) == "int4_symmetric_per_channel");
  CHECK(to_string(Encoding::int32) == "int32");
  CHECK(to_string(static_cast<Encoding>(9)) == "unknown_encoding");
  for (int tag : {5, 9, 255}) {
    auto parsed = parse_encoding(static_cast<std::uint8_t>(tag));
    CHECK(code_of(parsed) == "bad_value");
  }
}

TEST_CASE("rank zero and rank one tensors are one channel, higher ranks one per row",
          "[quant]") {
  const Encoding sym = Encoding::int8_symmetric_per_channel;
  CHECK(scale_count(sym, Shape{}) == 1);
  CHECK(scale_count(sym, Shape{64}) == 1);
  CHECK(scale_count(sym, Shape{16, 3, 3, 3}) == 16);
  CHECK(scale_count(Encoding::int4_symmetric_per_channel, Shape{10, 64}) == 10);
  CHECK(scale_count(sym, Shape{0, 5}) == 0);
  CHECK(scale_count(Encoding::int8_asymmetric_per_tensor, Shape{16, 3, 3, 3}) == 1);
  CHECK(scale_count(Encoding::float32, Shape{16, 3, 3, 3}) == 0);
}

TEST_CASE("encoded sizes are numel plus four bytes per channel for int8", "[quant]") {
  const Shape shape{16, 3, 3, 3};  // 432 elements, 16 channels
  const auto x = random_values(432, 1);
  CHECK(encoded_bytes(encode_ok(shape, x, Encoding::float32)) == 1728);
  CHECK(encoded_bytes(encode_ok(shape, x, Encoding::int8_symmetric_per_channel)) == 432 + 64);
  CHECK(encoded_bytes(encode_ok(shape, x, Encoding::int8_asymmetric_per_tensor)) == 432 + 8);
  CHECK(encoded_bytes(encode_ok(shape, x, Encoding::int4_symmetric_per_channel)) == 216 + 64);
  CHECK(data_bytes(Encoding::int4_symmetric_per_channel, 9) == 5);
  CHECK(data_bytes(Encoding::float32, SIZE_MAX / 2) == SIZE_MAX);
}

// ---- known answers ------------------------------------------------------------------------

TEST_CASE("float32 stores little-endian IEEE bytes", "[quant]") {
  const EncodedTensor t = encode_ok(Shape{2}, {1.0f, -2.0f}, Encoding::float32);
  CHECK(t.data == Bytes{0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0});
  CHECK(t.scales.empty());
  CHECK(t.zero_points.empty());
}

TEST_CASE("int8 symmetric known answer with an all-zero second channel", "[quant]") {
  const EncodedTensor t = encode_ok(Shape{2, 3}, {1.0f, -0.6f, 0.25f, 0.0f, -0.0f, 0.0f},
                                    Encoding::int8_symmetric_per_channel);
  REQUIRE(t.scales.size() == 2);
  CHECK(is_smallest_scale_covering(t.scales[0], 1.0, 127));
  CHECK(t.scales[1] == kEmptyChannelScale);
  // 127, round(-76.2) = -76, round(31.75) = 32, then zeros.
  CHECK(t.data == Bytes{0x7F, 0xB4, 0x20, 0x00, 0x00, 0x00});
  CHECK(t.zero_points.empty());
}

TEST_CASE("int4 packs low nibble first and pads an odd count with zero", "[quant]") {
  // Rank 1 is one channel: scale = 7 / 7 = 1; codes 7, -7, round(3.5) = 4 (ties away from
  // zero), 1.
  const EncodedTensor even =
      encode_ok(Shape{4}, {7.0f, -7.0f, 3.5f, 1.0f}, Encoding::int4_symmetric_per_channel);
  CHECK(even.scales == std::vector<float>{1.0f});
  CHECK(even.data == Bytes{0x97, 0x14});
  const EncodedTensor odd =
      encode_ok(Shape{3}, {7.0f, -7.0f, 3.0f}, Encoding::int4_symmetric_per_channel);
  CHECK(odd.data == Bytes{0x97, 0x03});
}

TEST_CASE("int8 asymmetric known answer nudges the zero point to an integer", "[quant]") {
  // range [-1, 3], scale 4/255, real zero point -128 + 63.75 = -64.25 -> -64.
  const EncodedTensor t =
      encode_ok(Shape{3}, {-1.0f, 0.0f, 3.0f}, Encoding::int8_asymmetric_per_tensor);
  REQUIRE(t.scales.size() == 1);
  CHECK(is_smallest_scale_covering(t.scales[0], 4.0, 255));
  CHECK(t.zero_points == std::vector<std::int32_t>{-64});
  // -1 -> round(-63.75) - 64 = -128; 0 -> -64; 3 -> round(191.25) = 191 clamps to 191 - 64.
  CHECK(t.data == Bytes{0x80, 0xC0, 0x7F});
  auto y = decode(t);
  REQUIRE(y);
  CHECK((*y)[1] == 0.0f);
  CHECK(std::fabs((*y)[0] + 1.0f) <= t.scales[0] / 2);
}

// ---- round trips --------------------------------------------------------------------------

TEST_CASE("every encoding round trips random tensors within half a scale per element",
          "[quant]") {
  const Shape shapes[] = {{16, 3, 3, 3}, {10, 64}, {64}, {1}, {1, 1}, {}, {3, 3}, {5, 1, 7}};
  std::uint32_t seed = 100;
  for (Encoding e : kAllEncodings) {
    for (const Shape& shape : shapes) {
      check_round_trip(shape, random_values(numel_of(shape), ++seed), e);
      check_round_trip(shape, random_values(numel_of(shape), ++seed, 0.0f, 5.0f), e);
      check_round_trip(shape, random_values(numel_of(shape), ++seed, -1e-3f, 0.0f), e);
    }
  }
}

TEST_CASE("one-element tensors round trip, including rank zero", "[quant]") {
  for (Encoding e : kAllEncodings) {
    for (float v : {0.37f, -12.5f, 0.0f, 1e-30f}) {
      check_round_trip(Shape{}, {v}, e);
      check_round_trip(Shape{1}, {v}, e);
    }
  }
  // A lone nonzero value is the channel maximum, so symmetric encodings reproduce it closely.
  auto y = decode(encode_ok(Shape{}, {-12.5f}, Encoding::int8_symmetric_per_channel));
  REQUIRE(y);
  CHECK((*y)[0] == Approx(-12.5f).epsilon(1e-6));
}

TEST_CASE("empty tensors encode to empty data and decode to nothing", "[quant]") {
  for (Encoding e : kAllEncodings) {
    for (const Shape& shape : {Shape{0}, Shape{0, 4}, Shape{3, 0}}) {
      INFO(to_string(e) << " " << shape_to_string(shape));
      const EncodedTensor t = encode_ok(shape, {}, e);
      CHECK(t.data.empty());
      auto y = decode(t);
      REQUIRE(y);
      CHECK(y->empty());
    }
  }
}

TEST_CASE("an odd element count round trips in int4 with a zero padding nibble", "[quant]") {
  const Shape shape{3, 3};
  const auto x = random_values(9, 5);
  check_round_trip(shape, x, Encoding::int4_symmetric_per_channel);
  const EncodedTensor t = encode_ok(shape, x, Encoding::int4_symmetric_per_channel);
  REQUIRE(t.data.size() == 5);
  CHECK((t.data[4] >> 4) == 0);
}

TEST_CASE("an all-zero channel decodes to exact zeros with the documented scale", "[quant]") {
  const Shape shape{4, 6};
  auto x = random_values(24, 9);
  std::fill(x.begin() + 6, x.begin() + 12, 0.0f);  // channel 1
  x[8] = -0.0f;
  for (Encoding e : {Encoding::int8_symmetric_per_channel, Encoding::int4_symmetric_per_channel}) {
    const EncodedTensor t = encode_ok(shape, x, e);
    CHECK(t.scales[1] == kEmptyChannelScale);
    auto y = decode(t);
    REQUIRE(y);
    for (std::size_t i = 6; i < 12; ++i) CHECK((*y)[i] == 0.0f);
    check_round_trip(shape, x, e);
  }
  for (Encoding e : kAllEncodings) {
    const std::vector<float> zeros(24, 0.0f);
    const EncodedTensor t = encode_ok(shape, zeros, e);
    for (float s : t.scales) CHECK(s == kEmptyChannelScale);
    auto y = decode(t);
    REQUIRE(y);
    CHECK(*y == zeros);
  }
}

TEST_CASE("zero is exact under int8 asymmetric whatever the range", "[quant]") {
  std::uint32_t seed = 300;
  const std::pair<float, float> ranges[] = {{-3.0f, 0.5f}, {0.1f, 9.0f}, {-7.0f, -0.2f},
                                            {-1.0f, 1.0f}};
  for (auto [lo, hi] : ranges) {
    auto x = random_values(50, ++seed, lo, hi);
    x[17] = 0.0f;
    auto y = decode(encode_ok(Shape{50}, x, Encoding::int8_asymmetric_per_tensor));
    REQUIRE(y);
    CHECK((*y)[17] == 0.0f);
  }
}

TEST_CASE("one huge value sets only its own channel's scale", "[quant]") {
  const Shape shape{4, 32};
  auto x = random_values(128, 11, -1.0f, 1.0f);
  x[40] = 1e6f;  // channel 1
  for (Encoding e : kQuantized) check_round_trip(shape, x, e);
  const EncodedTensor t = encode_ok(shape, x, Encoding::int8_symmetric_per_channel);
  CHECK(t.scales[1] == Approx(1e6 / 127).epsilon(1e-6));
  CHECK(t.scales[0] < 1.0f / 126);
  auto y = decode(t);
  REQUIRE(y);
  CHECK((*y)[40] == Approx(1e6f).epsilon(1e-6));
}

TEST_CASE("extreme magnitudes stay finite and within the bound", "[quant]") {
  const std::vector<float> big{FLT_MAX, -FLT_MAX, 1.0f, -3e38f};
  const std::vector<float> tiny{1e-45f, -3e-45f, 1e-40f, 0.0f};
  for (Encoding e : {Encoding::int8_symmetric_per_channel, Encoding::int4_symmetric_per_channel}) {
    check_round_trip(Shape{4}, big, e);
    check_round_trip(Shape{4}, tiny, e);
  }
  check_round_trip(Shape{2}, {0.0f, FLT_MAX}, Encoding::int8_asymmetric_per_tensor);
  check_round_trip(Shape{4}, tiny, Encoding::int8_asymmetric_per_tensor);
  auto too_wide = encode(Shape{2}, std::vector<float>{-FLT_MAX, FLT_MAX},
                         Encoding::int8_asymmetric_per_tensor);
  CHECK(code_of(too_wide) == "bad_value");
}

// ---- encode rejects -----------------------------------------------------------------------

TEST_CASE("encode rejects NaN and infinities naming the element", "[quant]") {
  const float bad[] = {std::numeric_limits<float>::quiet_NaN(),
                       std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
  for (Encoding e : kAllEncodings) {
    for (float v : bad) {
      auto x = random_values(12, 3);
      x[5] = v;
      auto r = encode(Shape{3, 4}, x, e);
      INFO(to_string(e) << " " << v);
      REQUIRE(code_of(r) == "bad_value");
      CHECK_THAT(r.error().detail, Contains("element 5"));
    }
  }
}

TEST_CASE("encode rejects bad shapes and mismatched value counts", "[quant]") {
  const auto x = random_values(6, 3);
  const Encoding e = Encoding::int8_symmetric_per_channel;
  CHECK(code_of(encode(Shape{2, -3}, x, e)) == "bad_value");
  CHECK(code_of(encode(Shape{1, 1, 1, 1, 1, 1, 1, 1, 6}, x, e)) == "bad_value");
  CHECK(code_of(encode(Shape{2, 4}, x, e)) == "invalid_argument");
  CHECK(code_of(encode(Shape{2, 3}, x, e, 5)) == "bad_length");
  CHECK(code_of(encode(Shape{2, 3}, x, static_cast<Encoding>(7))) == "invalid_argument");
}

TEST_CASE("encoding a tensor view names the tensor in errors", "[quant]") {
  ParameterSet set;
  const std::vector<float> x{1.0f, std::numeric_limits<float>::quiet_NaN()};
  REQUIRE(set.add("fc.bias", Shape{2}, x));
  auto r = encode(set.at(0), Encoding::int8_symmetric_per_channel);
  REQUIRE(code_of(r) == "bad_value");
  CHECK_THAT(r.error().detail, Contains("fc.bias") && Contains("element 1"));
  REQUIRE(set.add("fc.weight", Shape{2, 2}, std::vector<float>{1, 2, 3, 4}));
  auto ok = encode(set.at(1), Encoding::int4_symmetric_per_channel);
  REQUIRE(ok);
  CHECK(ok->shape == Shape{2, 2});
}

// ---- decode rejects -----------------------------------------------------------------------

TEST_CASE("decode rejects data one byte short as truncated and one long as bad_length",
          "[quant]") {
  for (Encoding e : kAllEncodings) {
    INFO(to_string(e));
    Status s = decode_after(e, {3, 5}, [](EncodedTensor& t) { t.data.pop_back(); });
    REQUIRE(code_of(s) == "truncated");
    CHECK_THAT(s.error().detail, Contains(std::string(to_string(e))) && Contains("[3, 5]"));
    s = decode_after(e, {3, 5}, [](EncodedTensor& t) { t.data.push_back(0); });
    CHECK(code_of(s) == "bad_length");
    s = decode_after(e, {3, 5}, [](EncodedTensor& t) { t.data.clear(); });
    CHECK(code_of(s) == "truncated");
  }
}

TEST_CASE("decode rejects a wrong number of scales", "[quant]") {
  for (Encoding e : kQuantized) {
    INFO(to_string(e));
    CHECK(code_of(decode_after(e, {3, 5}, [](EncodedTensor& t) { t.scales.pop_back(); })) ==
          "bad_length");
    CHECK(code_of(decode_after(e, {3, 5}, [](EncodedTensor& t) { t.scales.push_back(1); })) ==
          "bad_length");
  }
  CHECK(code_of(decode_after(Encoding::float32, {3, 5}, [](EncodedTensor& t) {
          t.scales.push_back(1);
        })) == "bad_length");
}

TEST_CASE("decode rejects NaN, infinite, zero, negative and overflowing scales", "[quant]") {
  const float bad[] = {std::numeric_limits<float>::quiet_NaN(),
                       std::numeric_limits<float>::infinity(), 0.0f, -0.0f, -0.5f, FLT_MAX};
  for (Encoding e : kQuantized) {
    for (float v : bad) {
      INFO(to_string(e) << " scale " << v);
      Status s = decode_after(e, {3, 5}, [v](EncodedTensor& t) { t.scales.back() = v; });
      REQUIRE(code_of(s) == "bad_value");
      CHECK_THAT(s.error().detail, Contains("scale["));
    }
  }
  // The largest scale with 127 * scale <= FLT_MAX is accepted and decodes to finite values;
  // the next float up is rejected.
  float largest = FLT_MAX / 127;
  if (double{largest} * 127 > FLT_MAX) largest = std::nextafter(largest, 0.0f);
  EncodedTensor t = encode_ok(Shape{2}, {1.0f, -1.0f}, Encoding::int8_symmetric_per_channel);
  t.scales[0] = largest;
  auto y = decode(t);
  REQUIRE(y);
  CHECK(std::isfinite((*y)[0]));
  CHECK(std::isfinite((*y)[1]));
  t.scales[0] = std::nextafter(largest, FLT_MAX);
  CHECK(code_of(decode(t)) == "bad_value");
}

TEST_CASE("decode rejects code -128 in int8 symmetric", "[quant]") {
  Status s = decode_after(Encoding::int8_symmetric_per_channel, {3, 5},
                          [](EncodedTensor& t) { t.data[7] = 0x80; });
  REQUIRE(code_of(s) == "bad_value");
  CHECK_THAT(s.error().detail, Contains("element 7"));
}

TEST_CASE("decode rejects the int4 nibble -8 and nonzero padding", "[quant]") {
  const Encoding e = Encoding::int4_symmetric_per_channel;
  Status low = decode_after(e, {3, 5}, [](EncodedTensor& t) {
    t.data[2] = static_cast<std::uint8_t>((t.data[2] & 0xF0) | 0x08);
  });
  REQUIRE(code_of(low) == "bad_value");
  CHECK_THAT(low.error().detail, Contains("element 4"));
  Status high = decode_after(e, {3, 5}, [](EncodedTensor& t) {
    t.data[2] = static_cast<std::uint8_t>((t.data[2] & 0x0F) | 0x80);
  });
  REQUIRE(code_of(high) == "bad_value");
  CHECK_THAT(high.error().detail, Contains("element 5"));
  Status pad = decode_after(e, {3, 5}, [](EncodedTensor& t) { t.data.back() |= 0x10; });
  REQUIRE(code_of(pad) == "bad_value");
  CHECK_THAT(pad.error().detail, Contains("padding"));
}

TEST_CASE("decode rejects zero points out of range or miscounted", "[quant]") {
  const Encoding asym = Encoding::int8_asymmetric_per_tensor;
  for (std::int32_t z : {128, -129, 1 << 30}) {
    INFO("zero point " << z);
    CHECK(code_of(decode_after(asym, {3, 5}, [z](EncodedTensor& t) { t.zero_points[0] = z; })) ==
          "bad_value");
  }
  CHECK(code_of(decode_after(asym, {3, 5}, [](EncodedTensor& t) { t.zero_points.clear(); })) ==
        "bad_length");
  CHECK(code_of(decode_after(asym, {3, 5}, [](EncodedTensor& t) {
          t.zero_points.push_back(0);
        })) == "bad_length");
  CHECK(code_of(decode_after(Encoding::int8_symmetric_per_channel, {3, 5},
                             [](EncodedTensor& t) { t.zero_points.push_back(0); })) ==
        "bad_length");
  // Extremes are valid zero points (with a scale small enough not to overflow).
  CHECK(code_of(decode_after(asym, {3, 5}, [](EncodedTensor& t) { t.zero_points[0] = 127; })) ==
        "ok");
}

TEST_CASE("decode rejects non-finite float32 elements", "[quant]") {
  Status s = decode_after(Encoding::float32, {2, 2}, [](EncodedTensor& t) {
    const std::uint8_t nan_le[] = {0x00, 0x00, 0xC0, 0x7F};
    std::copy(nan_le, nan_le + 4, t.data.begin() + 8);
  });
  REQUIRE(code_of(s) == "bad_value");
  CHECK_THAT(s.error().detail, Contains("element 2 is NaN"));
}

TEST_CASE("decode rejects bad shapes and unknown encodings", "[quant]") {
  for (Encoding e : kAllEncodings) {
    INFO(to_string(e));
    CHECK(code_of(decode_after(e, {3, 5}, [](EncodedTensor& t) { t.shape = {-3, -5}; })) ==
          "bad_value");
    CHECK(code_of(decode_after(e, {3, 5}, [](EncodedTensor& t) { t.shape = Shape(9, 1); })) ==
          "bad_value");
  }
  CHECK(code_of(decode_after(Encoding::int8_symmetric_per_channel, {3, 5}, [](EncodedTensor& t) {
          t.encoding = static_cast<Encoding>(5);
        })) == "bad_value");
}

TEST_CASE("a shape claiming gigabytes fails before anything is allocated", "[quant]") {
  for (Encoding e : kAllEncodings) {
    INFO(to_string(e));
    EncodedTensor t = encode_ok(Shape{4}, {1, 2, 3, 4}, e);
    t.shape = {1 << 20, 1 << 20, 1 << 10};  // 2^50 elements
    // Over the default element limit.
    auto over = decode(t);
    REQUIRE(code_of(over) == "bad_length");
    CHECK_THAT(over.error().detail, Contains("element limit"));
    // With no element limit the data length check still fails first: allocating 2^50 floats
    // would have thrown or aborted instead of returning.
    CHECK(code_of(decode(t, SIZE_MAX)) == "truncated");
    // Under the default limit, a claim bigger than the bytes held is also caught first.
    t.shape = {1 << 27};
    CHECK(code_of(decode(t)) == "truncated");
  }
}

TEST_CASE("decode_into writes only on success and checks the output size", "[quant]") {
  EncodedTensor t = encode_ok(Shape{2, 3}, random_values(6, 21),
                              Encoding::int8_symmetric_per_channel);
  std::vector<float> out(6, 42.0f);
  REQUIRE(decode_into(t, out));
  CHECK(out == *decode(t));
  std::vector<float> small(5);
  CHECK(code_of(decode_into(t, small)) == "invalid_argument");
  t.data[5] = 0x80;
  std::fill(out.begin(), out.end(), 42.0f);
  CHECK(code_of(decode_into(t, out)) == "bad_value");
  CHECK(std::all_of(out.begin(), out.end(), [](float v) { return v == 42.0f; }));
}

TEST_CASE("randomly corrupted tensors are rejected or decode to finite values", "[quant]") {
  std::mt19937 rng(2024);
  for (Encoding e : kAllEncodings) {
    const EncodedTensor good = encode_ok(Shape{6, 5}, random_values(30, 77), e);
    for (int trial = 0; trial < 500; ++trial) {
      EncodedTensor t = good;
      const std::size_t at = rng() % t.data.size();
      t.data[at] = static_cast<std::uint8_t>(rng());
      if (!t.scales.empty() && trial % 3 == 0) {
        const auto bits = static_cast<std::uint32_t>(rng());
        t.scales[rng() % t.scales.size()] = std::bit_cast<float>(bits);
      }
      auto y = decode(t);
      if (!y) {
        CHECK(y.error().condition() == ErrorCondition::malformed);
        continue;
      }
      CHECK(std::all_of(y->begin(), y->end(), [](float v) { return std::isfinite(v); }));
    }
  }
}

// ---- int32 ----------------------------------------------------------------------------------

TEST_CASE("int32 stores little-endian two's complement and has no scales", "[quant]") {
  const EncodedTensor t = encode_ok(Shape{3}, {1.0f, -2.0f, 0.0f}, Encoding::int32);
  CHECK(t.data == Bytes{0x01, 0x00, 0x00, 0x00, 0xFE, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00});
  CHECK(t.scales.empty());
  CHECK(t.zero_points.empty());
  CHECK(scale_count(Encoding::int32, Shape{16, 3}) == 0);
  CHECK(zero_point_count(Encoding::int32) == 0);
  CHECK(data_bytes(Encoding::int32, 10) == 40);
  CHECK(encoded_bytes(t) == 12);
  CHECK(max_error_bound(t, 2) == 0.0f);
  CHECK(decode(t).value() == std::vector<float>{1.0f, -2.0f, 0.0f});
}

TEST_CASE("int32 encode takes integral floats in range and names the first bad element",
          "[quant]") {
  const std::vector<float> extremes{-0x1p31f, 0x1p31f - 128.0f, 0x1p24f, -7.0f};
  const EncodedTensor t = encode_ok(Shape{2, 2}, extremes, Encoding::int32);
  CHECK(decode_int32(t).value() ==
        std::vector<std::int32_t>{INT32_MIN, 2147483520, 1 << 24, -7});
  for (float bad : {0.5f, -1e-3f, 0x1p31f, -0x1p31f - 256.0f, 1e30f}) {
    INFO(bad);
    auto r = encode(Shape{3}, std::vector<float>{1.0f, bad, 2.0f}, Encoding::int32);
    REQUIRE(code_of(r) == "bad_value");
    CHECK_THAT(r.error().detail, Contains("element 1"));
  }
}

TEST_CASE("int32 integers round trip exactly through encode_int32 and decode_int32",
          "[quant]") {
  const std::vector<std::int32_t> q{INT32_MIN, INT32_MAX, (1 << 24) + 1, -1, 0, 123456789};
  auto t = encode_int32(Shape{2, 3}, q);
  REQUIRE(t);
  CHECK(t->encoding == Encoding::int32);
  CHECK(validate(*t));
  CHECK(decode_int32(*t).value() == q);
  // As floats: exact up to 2^24, the nearest float beyond.
  const std::vector<float> f = decode(*t).value();
  CHECK(f[2] == 0x1p24f);
  CHECK(f[5] == static_cast<float>(123456789));
  CHECK(f[4] == 0.0f);
}

TEST_CASE("int32 helpers refuse wrong counts, other encodings and malformed tensors",
          "[quant]") {
  const std::vector<std::int32_t> q{1, 2, 3};
  CHECK(code_of(encode_int32(Shape{2, 2}, q)) == "invalid_argument");
  CHECK(code_of(encode_int32(Shape{-3}, q)) == "bad_value");
  CHECK(code_of(decode_int32(encode_ok(Shape{2}, {1.0f, 2.0f}, Encoding::float32))) ==
        "invalid_argument");
  EncodedTensor t = encode_int32(Shape{3}, q).value();
  EncodedTensor short_data = t;
  short_data.data.pop_back();
  CHECK(code_of(decode_int32(short_data)) == "truncated");
  CHECK(code_of(decode(short_data)) == "truncated");
  EncodedTensor scaled = t;
  scaled.scales.push_back(1.0f);
  CHECK(code_of(decode_int32(scaled)) == "bad_length");
  EncodedTensor zero_point = t;
  zero_point.zero_points.push_back(0);
  CHECK(code_of(decode(zero_point)) == "bad_length");
  // Every byte pattern is an integer.
  std::fill(t.data.begin(), t.data.end(), std::uint8_t{0x80});
  const auto pattern = static_cast<std::int32_t>(0x80808080u);
  CHECK(decode_int32(t).value() == std::vector<std::int32_t>(3, pattern));
}

TEST_CASE("max_error_bound is half the element's scale, zero for float32, NaN out of range",
          "[quant]") {
  const EncodedTensor t =
      encode_ok(Shape{2, 2}, {1.0f, 0.5f, 0.0f, 0.0f}, Encoding::int8_symmetric_per_channel);
  CHECK(max_error_bound(t, 1) == t.scales[0] / 2);
  CHECK(max_error_bound(t, 2) == kEmptyChannelScale / 2);
  CHECK(std::isnan(max_error_bound(t, 4)));
  EncodedTensor broken = t;
  broken.scales.pop_back();
  CHECK(std::isnan(max_error_bound(broken, 3)));
  CHECK(max_error_bound(encode_ok(Shape{2}, {1.0f, 2.0f}, Encoding::float32), 1) == 0.0f);
}

}  // namespace edgefed
