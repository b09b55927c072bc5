#include "edgefed/common/parameter_set.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

using namespace edgefed;

namespace {
ParameterSet two_tensors() {
  ParameterSet p;
  const std::vector<float> w = {1, 2, 3, 4, 5, 6};
  const std::vector<float> b = {0.5f, -0.5f};
  REQUIRE(p.add("fc.weight", {2, 3}, w));
  REQUIRE(p.add("fc.bias", {2}, b));
  return p;
}
}  // namespace

TEST_CASE("tensors keep insertion order and share one flat buffer") {
  ParameterSet p = two_tensors();
  REQUIRE(p.size() == 2);
  CHECK(p.numel() == 8);
  CHECK(p.at(0).name == "fc.weight");
  CHECK(p.at(1).name == "fc.bias");
  CHECK(p.flat()[6] == 0.5f);
  CHECK(p.at(1).data.data() == p.flat().data() + 6);  // a view, not a copy
  CHECK(std::vector<std::int64_t>(p.at(0).shape.begin(), p.at(0).shape.end()) == Shape{2, 3});
}

TEST_CASE("lookup by name returns a view or nothing") {
  ParameterSet p = two_tensors();
  auto bias = p.find("fc.bias");
  REQUIRE(bias);
  CHECK(bias->data[1] == -0.5f);
  CHECK_FALSE(p.find("fc.missing"));
  auto m = p.find_mutable("fc.weight");
  REQUIRE(m);
  m->data[0] = 42.0f;
  CHECK(p.flat()[0] == 42.0f);
}

TEST_CASE("add refuses duplicate names, empty names, bad shapes and wrong value counts") {
  ParameterSet p = two_tensors();
  const std::vector<float> one = {1.0f};
  CHECK(p.add("fc.bias", {1}, one).error().code == ErrorCode::invalid_argument);
  CHECK_FALSE(p.add("", {1}, one));
  CHECK_FALSE(p.add("neg", {-1}, one));
  CHECK_FALSE(p.add("count", {2}, one));
  CHECK_FALSE(p.add("rank", Shape(9, 1), one));
  CHECK(p.size() == 2);  // nothing half-added
  CHECK(p.numel() == 8);
}

TEST_CASE("a rank-0 tensor has one element and a zero dim has none") {
  ParameterSet p;
  const std::vector<float> one = {3.0f};
  REQUIRE(p.add("scalar", {}, one));
  REQUIRE(p.add_zeros("empty", {0, 4}));
  CHECK(p.numel() == 1);
  CHECK(p.at(1).data.empty());
}

TEST_CASE("checked_numel refuses shapes whose element count overflows the limit") {
  CHECK(checked_numel(Shape{1 << 22, 1 << 22, 1 << 22}).error().code == ErrorCode::bad_length);
  CHECK(checked_numel(Shape{1000, 1000}, 999'999).error().code == ErrorCode::bad_length);
  CHECK(checked_numel(Shape{1000, 1000}, 1'000'000).value() == 1'000'000);
}

TEST_CASE("approx_equal honours tolerance, layout and NaN") {
  ParameterSet a = two_tensors();
  ParameterSet b = two_tensors();
  CHECK(a.approx_equal(b));
  b.mutable_flat()[3] += 1e-7f;
  CHECK(a.approx_equal(b, 1e-6f, 0));
  b.mutable_flat()[3] += 1e-3f;
  auto cmp = a.approx_equal(b, 1e-6f, 0);
  CHECK_FALSE(cmp);
  CHECK(cmp.difference.rfind("fc.weight[3]", 0) == 0);
  b = two_tensors();
  b.mutable_flat()[7] = std::numeric_limits<float>::quiet_NaN();
  CHECK_FALSE(a.approx_equal(b, 1.0f, 1.0f));
  ParameterSet c;
  REQUIRE(c.add_zeros("fc.weight", {3, 2}));
  REQUIRE(c.add_zeros("fc.bias", {2}));
  CHECK_FALSE(a.same_layout(c));
  CHECK(a.approx_equal(c).difference == "layouts differ (names, shapes or order)");
}

TEST_CASE("axpy adds a scaled set with the same layout") {
  ParameterSet a = two_tensors();
  ParameterSet d = a.zeros_like();
  CHECK(d.same_layout(a));
  d.mutable_flat()[0] = 1.0f;
  REQUIRE(a.axpy(-2.0f, d));
  CHECK(a.flat()[0] == Approx(-1.0f));
  ParameterSet other;
  REQUIRE(other.add_zeros("x", {1}));
  CHECK(a.axpy(1.0f, other).error().code == ErrorCode::invalid_argument);
}
