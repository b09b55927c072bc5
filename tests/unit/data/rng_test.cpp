// The portable generator: reference known answers for splitmix64 and xoshiro256**, the exact
// seeding rule, and statistical sanity of the derived draws (uniform, bounded, normal, gamma,
// Dirichlet).
#include "edgefed/data/rng.hpp"

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

namespace edgefed::data {
namespace {

TEST_CASE("splitmix64 from state zero gives the reference outputs") {
  std::uint64_t state = 0;
  CHECK(splitmix64(state) == 0xE220A8397B1DCDAFULL);
  CHECK(splitmix64(state) == 0x6E789E6AA1B965F4ULL);
  CHECK(splitmix64(state) == 0x06C45D188009454FULL);
  CHECK(splitmix64(state) == 0xF88BB8A8724C81ECULL);
}

TEST_CASE("xoshiro256 star star from state 1 2 3 4 gives the reference outputs") {
  Rng rng = Rng::from_state({1, 2, 3, 4});
  const std::array<std::uint64_t, 6> expected = {11520ULL,
                                                 0ULL,
                                                 1509978240ULL,
                                                 1215971899390074240ULL,
                                                 1216172134540287360ULL,
                                                 607988272756665600ULL};
  for (std::uint64_t e : expected) CHECK(rng.next_u64() == e);
}

TEST_CASE("a seeded generator starts from four splitmix64 outputs of the seed") {
  Rng rng(42);
  CHECK(rng.next_u64() == 1546998764402558742ULL);
  CHECK(rng.next_u64() == 6990951692964543102ULL);
  CHECK(rng.next_u64() == 12544586762248559009ULL);
}

TEST_CASE("derive seed is a pure function that separates streams and seeds") {
  CHECK(derive_seed(7, 1) == derive_seed(7, 1));
  std::set<std::uint64_t> seen;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    for (std::uint64_t stream = 0; stream < 20; ++stream) seen.insert(derive_seed(seed, stream));
  }
  CHECK(seen.size() == 400);
}

TEST_CASE("uniform draws stay in their intervals and average one half") {
  Rng rng(3);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = rng.uniform01();
    const double v = rng.uniform_open();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    REQUIRE(v > 0.0);
    REQUIRE(v < 1.0);
    sum += u;
  }
  CHECK(sum / 100000 == Approx(0.5).margin(0.005));
}

TEST_CASE("below covers its range evenly and maps 0 and 1 to 0") {
  Rng rng(5);
  CHECK(rng.below(0) == 0);
  CHECK(rng.below(1) == 0);
  std::array<int, 7> counts{};
  for (int i = 0; i < 70000; ++i) {
    const std::uint64_t x = rng.below(7);
    REQUIRE(x < 7);
    ++counts[x];
  }
  for (int c : counts) CHECK(c == Approx(10000).margin(400));
}

TEST_CASE("shuffle is a seeded permutation") {
  std::vector<int> a(100);
  std::iota(a.begin(), a.end(), 0);
  std::vector<int> b = a;
  Rng(9).shuffle(std::span(a));
  Rng(9).shuffle(std::span(b));
  CHECK(a == b);
  std::vector<int> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> expected(100);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(sorted == expected);
  CHECK(a != expected);
}

TEST_CASE("normal draws have mean zero and variance one") {
  Rng rng(11);
  const int n = 200000;
  double sum = 0, sq = 0;
  for (int i = 0; i < n; ++i) {
    const double z = rng.normal();
    sum += z;
    sq += z * z;
  }
  CHECK(sum / n == Approx(0.0).margin(0.01));
  CHECK(sq / n == Approx(1.0).margin(0.015));
}

TEST_CASE("gamma draws have mean and variance equal to the shape") {
  for (double shape : {0.1, 0.5, 1.0, 2.5, 10.0}) {
    Rng rng(13);
    const int n = 200000;
    double sum = 0, sq = 0;
    for (int i = 0; i < n; ++i) {
      const double g = rng.gamma(shape);
      REQUIRE(g >= 0.0);
      sum += g;
      sq += g * g;
    }
    const double mean = sum / n;
    CAPTURE(shape);
    CHECK(mean == Approx(shape).epsilon(0.03));
    CHECK(sq / n - mean * mean == Approx(shape).epsilon(0.06));
  }
}

TEST_CASE("log gamma stays finite for tiny shapes") {
  Rng rng(17);
  for (int i = 0; i < 10000; ++i) REQUIRE(std::isfinite(rng.log_gamma(0.01)));
}

TEST_CASE("dirichlet draws sum to one with mean one over k") {
  for (double alpha : {0.01, 0.5, 100.0}) {
    Rng rng(19);
    std::vector<double> p(5);
    std::vector<double> mean(5, 0.0);
    for (int i = 0; i < 20000; ++i) {
      rng.dirichlet(alpha, p);
      double sum = 0;
      for (std::size_t k = 0; k < p.size(); ++k) {
        REQUIRE(p[k] >= 0.0);
        sum += p[k];
        mean[k] += p[k] / 20000;
      }
      REQUIRE(sum == Approx(1.0).margin(1e-12));
    }
    CAPTURE(alpha);
    for (double m : mean) CHECK(m == Approx(0.2).margin(0.02));
  }
}

}  // namespace
}  // namespace edgefed::data
