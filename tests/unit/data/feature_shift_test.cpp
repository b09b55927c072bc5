// Synthetic sensors: documented ranges, identity is bit-exact, rotation geometry, the
// pointwise stages, seeded noise, output range and determinism.
#include "edgefed/data/feature_shift.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "data_test_util.hpp"

namespace edgefed::data {
namespace {

using testing::Fnv1a;
using testing::random_dataset;

// One square image whose pixel (r, c) is (r * n + c + 1) / (n * n + 1).
Dataset ramp_image(std::size_t n) {
  Dataset d;
  d.rows = n;
  d.cols = n;
  d.labels = {3};
  for (std::size_t p = 0; p < n * n; ++p) {
    d.pixels.push_back(static_cast<float>(p + 1) / static_cast<float>(n * n + 1));
  }
  return d;
}

float at(const Dataset& d, std::size_t r, std::size_t c) {
  return d.pixels[r * d.cols + c];
}

std::uint64_t hash_of(const Dataset& d) {
  Fnv1a h;
  h.dataset(d);
  return h.value();
}

TEST_CASE("draw sensor stays within the documented ranges") {
  for (float s : {0.25f, 1.0f, 2.0f}) {
    for (std::uint32_t device = 0; device < 500; ++device) {
      const SensorProfile p = draw_sensor(77, device, s);
      REQUIRE(p.contrast >= 1.0f - 0.5f * s);
      REQUIRE(p.contrast <= 1.0f + 0.5f * s);
      REQUIRE(std::abs(p.brightness) <= 0.2f * s);
      REQUIRE(std::abs(p.rotation_degrees) <= 20.0f * s);
      REQUIRE(p.noise_std >= 0.0f);
      REQUIRE(p.noise_std <= 0.1f * s);
    }
  }
}

TEST_CASE("draw sensor is seeded per device and clamps severity") {
  CHECK(draw_sensor(5, 3) == draw_sensor(5, 3));
  CHECK_FALSE(draw_sensor(5, 3) == draw_sensor(5, 4));
  CHECK_FALSE(draw_sensor(5, 3) == draw_sensor(6, 3));
  CHECK(is_identity(draw_sensor(5, 3, 0.0f)));
  CHECK(is_identity(draw_sensor(5, 3, -1.0f)));
  CHECK(is_identity(draw_sensor(5, 3, std::nanf(""))));
  CHECK(draw_sensor(5, 3, 9.0f) == draw_sensor(5, 3, kMaxSeverity));
  // Severity scales the same draws.
  const SensorProfile one = draw_sensor(5, 3, 1.0f);
  const SensorProfile half = draw_sensor(5, 3, 0.5f);
  CHECK(half.rotation_degrees == Approx(one.rotation_degrees / 2));
  CHECK(half.contrast - 1.0f == Approx((one.contrast - 1.0f) / 2));
}

TEST_CASE("the identity sensor leaves every pixel bit identical") {
  Dataset d = random_dataset(50, 3, 5, 7, 1);
  const Dataset before = d;
  apply_sensor(SensorProfile{}, d, 123);
  CHECK(d.pixels == before.pixels);
  CHECK(d.labels == before.labels);
}

TEST_CASE("rotating by ninety degrees turns the image counter clockwise") {
  for (std::size_t n : {4u, 5u, 28u}) {
    const Dataset in = ramp_image(n);
    const Dataset out = apply_sensor_copy(SensorProfile{1, 0, 90, 0}, in, 0);
    for (std::size_t r = 0; r < n; ++r) {
      for (std::size_t c = 0; c < n; ++c) {
        // The right column moves to the top row.
        REQUIRE(at(out, r, c) == at(in, c, n - 1 - r));
      }
    }
    const Dataset back = apply_sensor_copy(SensorProfile{1, 0, -90, 0}, out, 0);
    CHECK(back.pixels == in.pixels);
    const Dataset flipped = apply_sensor_copy(SensorProfile{1, 0, 180, 0}, in, 0);
    CHECK(at(flipped, 0, 0) == at(in, n - 1, n - 1));
  }
}

TEST_CASE("a small rotation interpolates bilinearly and fills with zero outside") {
  Dataset ones;
  ones.rows = 9;
  ones.cols = 9;
  ones.labels = {0};
  ones.pixels.assign(81, 1.0f);
  const Dataset out = apply_sensor_copy(SensorProfile{1, 0, 30, 0}, ones, 0);
  CHECK(at(out, 4, 4) == Approx(1.0f));  // the centre maps to itself
  CHECK(at(out, 0, 0) == 0.0f);          // a corner samples from outside
  CHECK(at(out, 4, 0) > 0.5f);           // the edge midpoint stays mostly inside
  for (float v : out.pixels) REQUIRE((v >= 0.0f && v <= 1.0f));

  // A non-multiple of 90 sampled halfway between pixels averages its neighbours.
  const Dataset ramp = ramp_image(9);
  const Dataset r45 = apply_sensor_copy(SensorProfile{1, 0, 45, 0}, ramp, 0);
  CHECK(at(r45, 4, 4) == Approx(at(ramp, 4, 4)));
}

TEST_CASE("contrast works about mid grey and brightness adds before the clamp") {
  Dataset d;
  d.rows = 1;
  d.cols = 4;
  d.labels = {0};
  d.pixels = {0.5f, 0.75f, 0.25f, 0.0f};
  const Dataset c = apply_sensor_copy(SensorProfile{2, 0, 0, 0}, d, 0);
  CHECK(c.pixels == std::vector<float>{0.5f, 1.0f, 0.0f, 0.0f});
  const Dataset half = apply_sensor_copy(SensorProfile{0.5f, 0, 0, 0}, d, 0);
  CHECK(half.pixels == std::vector<float>{0.5f, 0.625f, 0.375f, 0.25f});
  const Dataset b = apply_sensor_copy(SensorProfile{1, 0.3f, 0, 0}, d, 0);
  CHECK(b.pixels[0] == Approx(0.8f));
  CHECK(b.pixels[1] == 1.0f);
  CHECK(b.pixels[3] == Approx(0.3f));
}

TEST_CASE("noise is seeded per image position and has the requested spread") {
  Dataset grey;
  grey.rows = 28;
  grey.cols = 28;
  grey.labels.assign(200, 1);
  grey.pixels.assign(200 * 784, 0.5f);
  const SensorProfile noisy{1, 0, 0, 0.05f};
  const Dataset a = apply_sensor_copy(noisy, grey, 9);
  CHECK(a.pixels == apply_sensor_copy(noisy, grey, 9).pixels);
  CHECK(a.pixels != apply_sensor_copy(noisy, grey, 10).pixels);
  double sum = 0, sq = 0;
  for (float v : a.pixels) {
    sum += v - 0.5;
    sq += (v - 0.5) * (v - 0.5);
  }
  const double n = static_cast<double>(a.pixels.size());
  CHECK(sum / n == Approx(0.0).margin(0.001));
  CHECK(std::sqrt(sq / n) == Approx(0.05).epsilon(0.02));

  // Image i's noise depends on its position only, not on the rest of the set.
  const std::vector<std::size_t> first_two = {0, 1};
  const Dataset prefix = apply_sensor_copy(noisy, grey.subset(first_two), 9);
  CHECK(std::equal(prefix.pixels.begin(), prefix.pixels.end(), a.pixels.begin()));
}

TEST_CASE("every drawn sensor keeps pixels in the unit interval and is deterministic") {
  const Dataset base = random_dataset(40, 1, 28, 28, 2);
  for (std::uint32_t device = 0; device < 20; ++device) {
    const SensorProfile p = draw_sensor(31, device, 2.0f);
    const Dataset out = apply_sensor_copy(p, base, device);
    for (float v : out.pixels) REQUIRE((v >= 0.0f && v <= 1.0f));
    CHECK(hash_of(out) == hash_of(apply_sensor_copy(p, base, device)));
    CHECK(out.labels == base.labels);
  }
}

TEST_CASE("multi channel images rotate every channel plane alike") {
  Dataset d = random_dataset(3, 3, 6, 6, 4);
  const Dataset out = apply_sensor_copy(SensorProfile{1, 0, 90, 0}, d, 0);
  for (std::size_t i = 0; i < 3; ++i) {
    for (std::size_t ch = 0; ch < 3; ++ch) {
      const auto src = d.image(i).subspan(ch * 36, 36);
      const auto dst = out.image(i).subspan(ch * 36, 36);
      for (std::size_t r = 0; r < 6; ++r) {
        for (std::size_t c = 0; c < 6; ++c) REQUIRE(dst[r * 6 + c] == src[c * 6 + (5 - r)]);
      }
    }
  }
}

}  // namespace
}  // namespace edgefed::data
