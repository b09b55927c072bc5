// Graph::validate: two valid graphs (float and int8), then one named defect at a time, each
// refused as bad_value with a message naming the operator and tensor at fault.
#include "edgefed/runtime/graph.hpp"

#include "runtime_test_support.hpp"

#include <catch2/catch.hpp>

#include "edgefed_catch_helpers.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace edgefed::runtime {
namespace {

using Catch::Matchers::Contains;
using testing::GraphBuilder;
using testing::per_tensor;

// image [1,4,4,2] -> conv3x3 (3, ReLU) -> add(self) -> max_pool 2 -> reshape [1,12] -> FC 5.
Graph small_float() {
  GraphBuilder b;
  const int image = b.activation("image", {1, 4, 4, 2});
  const int w = b.constant("conv.weight", {3, 3, 3, 2}, std::vector<float>(54, 0.1f));
  const int bias = b.constant("conv.bias", {3}, std::vector<float>{0.1f, 0.0f, -0.1f});
  const int conv = b.activation("conv", {1, 4, 4, 3});
  const int sum = b.activation("sum", {1, 4, 4, 3});
  const int pool = b.activation("pool", {1, 2, 2, 3});
  const int flat = b.activation("flat", {1, 12});
  const int fw = b.constant("fc.weight", {5, 12}, std::vector<float>(60, -0.05f));
  const int fb = b.constant("fc.bias", {5}, std::vector<float>(5, 0.0f));
  const int logits = b.activation("logits", {1, 5});
  b.op(OpKind::conv2d, "conv", {image, w, bias}, conv, Activation::relu);
  b.op(OpKind::add, "add", {conv, conv}, sum);
  b.op(OpKind::max_pool2d, "pool", {sum}, pool, Activation::none, 2);
  b.op(OpKind::reshape, "flatten", {pool}, flat);
  b.op(OpKind::fully_connected, "fc", {flat, fw, fb}, logits);
  b.graph.input = image;
  b.graph.output = logits;
  return b.graph;
}

// The same as int8: quantize, int8 conv (per-channel weights), add, pool, reshape, FC
// (per-tensor weights), dequantize.
Graph small_int8() {
  GraphBuilder b;
  const Quantization x_q = per_tensor(0.02f, -5);
  const Quantization conv_q = per_tensor(0.05f, -128);
  const Quantization sum_q = per_tensor(0.1f, -128);
  const std::vector<float> w_scales{0.01f, 0.02f, 0.03f};
  const int image = b.activation("image", {1, 4, 4, 2});
  const int xq = b.activation("image.q", {1, 4, 4, 2}, DType::int8, x_q);
  const int w =
      b.constant("conv.weight", {3, 3, 3, 2}, std::vector<std::int8_t>(54, 10), Quantization{w_scales, {0, 0, 0}, 0});
  std::vector<float> bias_scales;
  for (float s : w_scales) bias_scales.push_back(0.02f * s);
  const int bias =
      b.constant("conv.bias", {3}, std::vector<std::int32_t>{100, 0, -100}, Quantization{bias_scales, {0, 0, 0}, 0});
  const int conv = b.activation("conv", {1, 4, 4, 3}, DType::int8, conv_q);
  const int sum = b.activation("sum", {1, 4, 4, 3}, DType::int8, sum_q);
  const int pool = b.activation("pool", {1, 2, 2, 3}, DType::int8, sum_q);
  const int flat = b.activation("flat", {1, 12}, DType::int8, sum_q);
  const int fw = b.constant("fc.weight", {5, 12}, std::vector<std::int8_t>(60, -3), per_tensor(0.004f, 0));
  const int fb = b.constant("fc.bias", {5}, std::vector<std::int32_t>(5, 7), per_tensor(0.1f * 0.004f, 0));
  const int lq = b.activation("logits.q", {1, 5}, DType::int8, per_tensor(0.2f, 3));
  const int logits = b.activation("logits", {1, 5});
  b.op(OpKind::quantize, "quantize", {image}, xq);
  b.op(OpKind::conv2d, "conv", {xq, w, bias}, conv, Activation::relu);
  b.op(OpKind::add, "add", {conv, conv}, sum);
  b.op(OpKind::max_pool2d, "pool", {sum}, pool, Activation::none, 2);
  b.op(OpKind::reshape, "flatten", {pool}, flat);
  b.op(OpKind::fully_connected, "fc", {flat, fw, fb}, lq);
  b.op(OpKind::dequantize, "dequantize", {lq}, logits);
  b.graph.input = image;
  b.graph.output = logits;
  return b.graph;
}

Tensor& tensor(Graph& g, std::string_view name) {
  const int i = g.find(name);
  REQUIRE(i >= 0);
  return g.tensors[static_cast<std::size_t>(i)];
}

Op& op(Graph& g, std::string_view name) {
  const auto it = std::find_if(g.ops.begin(), g.ops.end(), [&](const Op& o) { return o.name == name; });
  REQUIRE(it != g.ops.end());
  return *it;
}

// Applies `mutate` to a copy of `base`; the result must be refused as bad_value naming `what`.
void expect_refused(const Graph& base, const std::function<void(Graph&)>& mutate, std::vector<std::string> what) {
  Graph g = base;
  mutate(g);
  const Status s = g.validate();
  REQUIRE_FALSE(s);
  INFO(s.error().message());
  CHECK(s.error().code == ErrorCode::bad_value);
  for (const std::string& w : what) CHECK_THAT(s.error().detail, Contains(w));
}

TEST_CASE("valid float and int8 graphs pass validate", "[graph]") {
  const Graph f = small_float();
  const Graph q = small_int8();
  REQUIRE_OK(f.validate());
  REQUIRE_OK(q.validate());
  CHECK_FALSE(f.is_int8());
  CHECK(q.is_int8());
  CHECK(q.find("conv.weight") == 2);
  CHECK(q.find("nope") == -1);
}

TEST_CASE("numel and names", "[graph]") {
  Tensor t;
  t.shape = {1, 28, 28, 16};
  CHECK(t.numel() == 12544);
  t.shape = {};
  CHECK(t.numel() == 1);
  t.shape = {3, -1};
  CHECK(t.numel() == -1);
  t.shape = {std::int64_t{1} << 40, std::int64_t{1} << 40};
  CHECK(t.numel() == -1);
  CHECK(to_string(OpKind::fully_connected) == "fully_connected");
  CHECK(to_string(OpKind::max_pool2d) == "max_pool2d");
  CHECK(to_string(DType::int32) == "int32");
  CHECK(to_string(Activation::relu) == "relu");
  CHECK(to_string(static_cast<OpKind>(99)) == "unknown");
}

TEST_CASE("validate refuses wrong operand counts and indices", "[graph]") {
  const Graph f = small_float();
  expect_refused(f, [](Graph& g) { op(g, "conv").inputs.resize(1); }, {"'conv'", "has 1 inputs, expected 2 or 3"});
  expect_refused(f, [](Graph& g) { op(g, "add").inputs.push_back(0); }, {"'add'", "has 3 inputs"});
  expect_refused(f, [](Graph& g) { op(g, "fc").inputs[0] = 99; }, {"'fc'", "tensor index 99, out of range"});
  expect_refused(f, [](Graph& g) { op(g, "pool").output = -1; }, {"'pool'", "output is tensor index -1"});
  expect_refused(f, [](Graph& g) { g.input = 42; }, {"graph input is tensor index 42"});
  expect_refused(f, [](Graph& g) { g.output = -1; }, {"graph output is tensor index -1"});
}

TEST_CASE("validate refuses tensors written twice, read before written, or never written", "[graph]") {
  const Graph f = small_float();
  expect_refused(f, [](Graph& g) { op(g, "add").output = g.find("conv"); },
                 {"'add'", "'conv'", "written twice: also by op 0 'conv'"});
  expect_refused(f, [](Graph& g) { std::swap(g.ops[1], g.ops[2]); },
                 {"'pool'", "'sum'", "read before any operator writes it"});
  expect_refused(f, [](Graph& g) { op(g, "conv").output = g.input; }, {"'conv'", "is the graph input"});
  expect_refused(f, [](Graph& g) { g.ops.pop_back(); }, {"graph output", "'logits'", "no operator writes it"});
  expect_refused(f, [](Graph& g) { op(g, "add").output = g.find("conv.weight"); }, {"'add'", "is a constant"});
  expect_refused(f, [](Graph& g) { op(g, "conv").inputs[1] = g.find("image"); }, {"'conv'", "must be a constant"});
  expect_refused(f, [](Graph& g) { op(g, "add").inputs[1] = g.find("fc.bias"); },
                 {"'add'", "'fc.bias'", "is a constant, expected an activation"});
}

TEST_CASE("validate refuses shape mismatches", "[graph]") {
  const Graph f = small_float();
  expect_refused(f,
                 [](Graph& g) {
                   tensor(g, "conv.weight").shape = {3, 3, 3, 1};
                   tensor(g, "conv.weight").f32.resize(27);
                 },
                 {"'conv'", "'conv.weight'", "expected [O, KH, KW, 2] with odd KH and KW"});
  expect_refused(f,
                 [](Graph& g) {
                   tensor(g, "conv.weight").shape = {3, 2, 3, 2};
                   tensor(g, "conv.weight").f32.resize(36);
                 },
                 {"'conv.weight'", "odd KH and KW"});
  expect_refused(f, [](Graph& g) { tensor(g, "conv").shape = {1, 4, 4, 4}; }, {"'conv'", "expected [1, 4, 4, 3]"});
  expect_refused(f,
                 [](Graph& g) {
                   tensor(g, "conv.bias").shape = {2};
                   tensor(g, "conv.bias").f32.resize(2);
                 },
                 {"'conv.bias'", "expected [3]"});
  expect_refused(f, [](Graph& g) { op(g, "pool").pool = 3; }, {"'pool'", "not divisible by pool 3"});
  expect_refused(f, [](Graph& g) { op(g, "pool").pool = 0; }, {"'pool'", "pool 0, expected >= 1"});
  expect_refused(f, [](Graph& g) { tensor(g, "pool").shape = {1, 1, 1, 3}; }, {"'pool'", "expected [1, 2, 2, 3]"});
  expect_refused(f,
                 [](Graph& g) {
                   tensor(g, "flat").shape = {1, 11};
                 },
                 {"'flatten'", "'flat'", "has 11 elements, the input [1, 2, 2, 3] 12"});
  expect_refused(f,
                 [](Graph& g) {
                   tensor(g, "fc.weight").shape = {5, 10};
                   tensor(g, "fc.weight").f32.resize(50);
                 },
                 {"'fc'", "'fc.weight'", "expected [O, 12]"});
  expect_refused(f, [](Graph& g) { tensor(g, "logits").shape = {1, 4}; }, {"'fc'", "'logits'", "expected [1, 5]"});
  expect_refused(f, [](Graph& g) { tensor(g, "sum").shape = {1, 4, 4, 3, 1}; }, {"'sum'", "rank 5, expected 1 to 4"});
  expect_refused(f, [](Graph& g) { tensor(g, "conv").shape = {2, 4, 4, 3}; }, {"'conv'", "activation shape"});
  expect_refused(f,
                 [](Graph& g) {
                   tensor(g, "conv.bias").shape = {0};
                   tensor(g, "conv.bias").f32.clear();
                 },
                 {"'conv.bias'", "dim below 1"});
  expect_refused(f,
                 [](Graph& g) {
                   tensor(g, "sum").shape = {1, 1 << 13, 1 << 13, 3};
                 },
                 {"'sum'", "over 16777216 elements"});
}

TEST_CASE("validate refuses dtype combinations the operator table does not allow", "[graph]") {
  const Graph f = small_float();
  const Graph q = small_int8();
  expect_refused(f,
                 [](Graph& g) {
                   Tensor& w = tensor(g, "conv.weight");
                   w.dtype = DType::int8;
                   w.i8.assign(w.f32.size(), 1);
                   w.f32.clear();
                   w.quant = Quantization{{1, 1, 1}, {0, 0, 0}, 0};
                 },
                 {"'conv'", "dtypes input/weights/bias/output are float32/int8/float32/float32"});
  expect_refused(q,
                 [](Graph& g) {
                   Tensor& b = tensor(g, "conv.bias");
                   b.dtype = DType::float32;
                   b.f32.assign(3, 0.0f);
                   b.i32.clear();
                   b.quant = {};
                 },
                 {"'conv'", "int8/int8/float32/int8"});
  expect_refused(q,
                 [](Graph& g) {
                   tensor(g, "sum").dtype = DType::float32;
                   tensor(g, "sum").quant = {};
                 },
                 {"'add'", "expected all float32 or all int8"});
  expect_refused(q, [](Graph& g) { op(g, "quantize").kind = OpKind::dequantize; }, {"'quantize'", "expected int8"});
  expect_refused(f,
                 [](Graph& g) {
                   tensor(g, "image").dtype = DType::int8;
                   tensor(g, "image").quant = per_tensor(1, 0);
                 },
                 {"graph input", "expected a float32 activation"});
  expect_refused(q,
                 [](Graph& g) {
                   g.output = g.find("logits.q");
                   g.ops.pop_back();
                 },
                 {"graph output", "'logits.q'", "expected a float32 activation"});
  expect_refused(q,
                 [](Graph& g) {
                   tensor(g, "flat").dtype = DType::int32;
                   tensor(g, "flat").quant.zero_points = {0};
                 },
                 {"'flatten'", "expected the input's int8"});
}

TEST_CASE("validate refuses bad quantization parameters", "[graph]") {
  const Graph q = small_int8();
  expect_refused(q, [](Graph& g) { tensor(g, "conv.weight").quant.zero_points[1] = 3; },
                 {"'conv.weight'", "zero point[1] = 3, expected 0"});
  expect_refused(q, [](Graph& g) { tensor(g, "conv.weight").i8[7] = -128; },
                 {"'conv.weight'", "element 7 has code -128"});
  expect_refused(q, [](Graph& g) { tensor(g, "conv").quant.zero_points[0] = 128; },
                 {"'conv'", "zero point[0] = 128, outside [-128, 127]"});
  expect_refused(q, [](Graph& g) { tensor(g, "conv.bias").quant.zero_points[2] = 1; }, {"'conv.bias'", "expected 0"});
  for (float bad : {0.0f, -0.5f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
    expect_refused(q, [bad](Graph& g) { tensor(g, "sum").quant.scales[0] = bad; },
                   {"'sum'", "scale[0]", "is not finite and positive"});
  }
  expect_refused(q, [](Graph& g) { tensor(g, "conv.bias").quant.scales[1] *= 1.0001f; },
                 {"'conv'", "'conv.bias'", "scale[1]", "expected input scale × weight scale"});
  expect_refused(q, [](Graph& g) { tensor(g, "conv.weight").quant = per_tensor(0.01f, 0); },
                 {"'conv'", "'conv.weight'", "1 scales, expected 3 (one per output channel)"});
  expect_refused(
      q,
      [](Graph& g) {
        tensor(g, "fc.weight").quant = Quantization{std::vector<float>(5, 0.004f), std::vector<std::int32_t>(5, 0), 0};
      },
      {"'fc'", "'fc.weight'", "5 scales, expected 1"});
  expect_refused(q, [](Graph& g) { tensor(g, "conv.weight").quant.zero_points.pop_back(); },
                 {"'conv.weight'", "3 scales but 2 zero points"});
  expect_refused(q, [](Graph& g) { tensor(g, "conv.weight").quant.axis = 3; }, {"'conv.weight'", "axis 3, expected 0"});
  expect_refused(q,
                 [](Graph& g) {
                   tensor(g, "sum").quant = Quantization{{0.1f, 0.1f}, {0, 0}, 0};
                 },
                 {"'sum'", "2 scales for 1 channels"});
  expect_refused(q, [](Graph& g) { tensor(g, "pool").quant = per_tensor(0.1f, -127); },
                 {"'pool'", "quantization differs from the input's (max_pool2d keeps it)"});
  expect_refused(q, [](Graph& g) { tensor(g, "flat").quant = per_tensor(0.2f, -128); },
                 {"'flatten'", "(reshape keeps it)"});
  expect_refused(q, [](Graph& g) { tensor(g, "image.q").quant = {}; }, {"'image.q'", "without a quantization scale"});
  expect_refused(small_float(), [](Graph& g) { tensor(g, "conv").quant = per_tensor(1, 0); },
                 {"'conv'", "float32 tensor has quantization parameters"});
}

TEST_CASE("validate refuses int8 products that could overflow the int32 accumulator", "[graph]") {
  GraphBuilder b;
  const std::int64_t in = 70000;  // > 2^16 products per output
  const int image = b.activation("image", {1, 1, 1, in});
  const int flat = b.activation("flat", {1, in});
  const int fq = b.activation("flat.q", {1, in}, DType::int8, per_tensor(1.0f, 0));
  const int w =
      b.constant("w", {1, in}, std::vector<std::int8_t>(static_cast<std::size_t>(in), 1), per_tensor(1.0f, 0));
  const int bias = b.constant("b", {1}, std::vector<std::int32_t>{0}, per_tensor(1.0f, 0));
  const int yq = b.activation("y.q", {1, 1}, DType::int8, per_tensor(1.0f, 0));
  const int y = b.activation("y", {1, 1});
  b.op(OpKind::reshape, "flatten", {image}, flat);
  b.op(OpKind::quantize, "quantize", {flat}, fq);
  b.op(OpKind::fully_connected, "fc", {fq, w, bias}, yq);
  b.op(OpKind::dequantize, "dequantize", {yq}, y);
  b.graph.input = image;
  b.graph.output = y;
  expect_refused(b.graph, [](Graph&) {}, {"'fc'", "70000 products per output, over 65536"});
}

TEST_CASE("validate refuses bad constant data, names and fused activations", "[graph]") {
  const Graph f = small_float();
  const Graph q = small_int8();
  expect_refused(f, [](Graph& g) { tensor(g, "fc.bias").f32.pop_back(); },
                 {"'fc.bias'", "holds 4 float32, 0 int8 and 0 int32 values; expected 5 float32"});
  expect_refused(q, [](Graph& g) { tensor(g, "conv.bias").f32.assign(3, 0.0f); }, {"'conv.bias'", "expected 3 int32"});
  expect_refused(f, [](Graph& g) { tensor(g, "sum").f32.assign(48, 0.0f); }, {"'sum'", "expected no values"});
  expect_refused(f, [](Graph& g) { tensor(g, "fc.bias").f32[2] = std::numeric_limits<float>::quiet_NaN(); },
                 {"'fc.bias'", "element 2 is not finite"});
  expect_refused(f, [](Graph& g) { tensor(g, "sum").name = "conv"; }, {"'conv'", "duplicate name"});
  expect_refused(f, [](Graph& g) { tensor(g, "sum").name.clear(); }, {"empty name"});
  expect_refused(f, [](Graph& g) { op(g, "pool").activation = Activation::relu; },
                 {"'pool'", "fused activation relu, only conv2d, add and fully_connected"});
  expect_refused(f, [](Graph& g) { op(g, "pool").kind = static_cast<OpKind>(42); }, {"'pool'", "unknown kind 42"});
}

}  // namespace
}  // namespace edgefed::runtime
