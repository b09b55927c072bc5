#include "edgefed/compress/evaluate.hpp"
#include "edgefed/compress/lower.hpp"
#include "edgefed/compress/observer.hpp"
#include "edgefed/compress/ptq.hpp"
#include "edgefed/runtime/interpreter.hpp"

#include <catch2/catch.hpp>

#include "edgefed_catch_helpers.hpp"
#include "edgefed_cnn_fixtures.hpp"

#include <algorithm>
#include <cmath>
#include <random>

using namespace edgefed;
using namespace edgefed::compress;

using edgefed::testing::random_cnn_state;
using edgefed::testing::random_images;

namespace {

}  // namespace

TEST_CASE("minmax ranges include zero and ignore non-finite values") {
  RangeObserver o;
  const std::vector<float> v{0.5f, 2.0f, NAN, INFINITY, 1.0f};
  o.observe_minmax(v);
  const Range r = o.range(Calibration::minmax);
  CHECK(r.lo == 0.0f);
  CHECK(r.hi == 2.0f);
}

TEST_CASE("percentile ranges clip the tails") {
  RangeObserver o;
  std::vector<float> v;
  for (int i = 0; i <= 1000; ++i) v.push_back(static_cast<float>(i) - 500.0f);  // uniform on [-500, 500]
  o.observe_minmax(v);
  o.observe_histogram(v);
  const Range r = o.range(Calibration::percentile, 99.0);
  CHECK(r.hi == Approx(490.0).margin(2.0));
  CHECK(r.lo == Approx(-490.0).margin(2.0));
}

TEST_CASE("mse ranges clip a long thin tail and lower the measured quantization error") {
  std::mt19937 rng(3);
  std::exponential_distribution<float> exponential(1.0f);
  std::vector<float> v(200000);
  for (float& x : v) x = exponential(rng);  // ReLU-like, max ≈ ln(200000) ≈ 12
  RangeObserver o;
  o.observe_minmax(v);
  o.observe_histogram(v);
  const Range mse = o.range(Calibration::mse);
  const Range minmax = o.range(Calibration::minmax);
  CHECK(mse.lo == 0.0f);
  CHECK(mse.hi < 0.95f * minmax.hi);
  CHECK(mse.hi > 0.4f * minmax.hi);
  // The actual int8 grid's squared error on the data: mse beats minmax.
  const auto error = [&](Range r) {
    const AffineParams p = affine_params(r);
    double e = 0;
    for (float x : v) {
      const double q = std::clamp(std::round(static_cast<double>(x) / p.scale) + p.zero_point, -128.0, 127.0);
      const double back = (q - p.zero_point) * p.scale;
      e += (back - x) * (back - x);
    }
    return e;
  };
  CHECK(error(mse) < error(minmax));
}

TEST_CASE("affine parameters follow TFLite's nudged zero point") {
  AffineParams p = affine_params({0.0f, 2.55f});
  CHECK(p.scale == Approx(0.01f));
  CHECK(p.zero_point == -128);
  p = affine_params({-1.0f, 1.0f});
  CHECK(p.scale == Approx(2.0 / 255));
  CHECK(std::abs(p.zero_point) <= 1);
  p = affine_params({-3.0f, -1.0f});  // widened to include 0: [-3, 0]
  CHECK(p.zero_point == 127);
  p = affine_params({0.0f, 0.0f});
  CHECK(p.scale == 1.0f);
  CHECK(p.zero_point == -128);
}

TEST_CASE("calibration names are parsed or refused") {
  CHECK(parse_calibration("mse").value() == Calibration::mse);
  CHECK(parse_calibration("percentile").value() == Calibration::percentile);
  const auto bad = parse_calibration("kl");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == ErrorCode::invalid_argument);
}

TEST_CASE("symmetric weights: per channel, per tensor, all-zero channels") {
  const std::vector<float> w{1.0f, -0.5f, 0.0f, 0.0f, 0.2f, 0.1f};  // 3 channels of 2
  SymmetricWeights q = quantize_weights_symmetric(w, 3, true);
  REQUIRE(q.scales.size() == 3);
  CHECK(q.scales[0] == Approx(1.0f / 127));
  CHECK(q.scales[1] == 1.0f);  // empty channel
  CHECK(q.scales[2] == Approx(0.2f / 127));
  CHECK(q.codes == std::vector<std::int8_t>{127, -64, 0, 0, 127, 64});
  q = quantize_weights_symmetric(w, 3, false);
  REQUIRE(q.scales.size() == 1);
  CHECK(q.codes == std::vector<std::int8_t>{127, -64, 0, 0, 25, 13});
}

TEST_CASE("lowering a default CNN gives a valid graph with folded BatchNorm") {
  const ParameterSet s = random_cnn_state({16, 32, 64});
  auto g = lower_default_cnn(s);
  REQUIRE(g);
  REQUIRE(g->validate());
  CHECK_FALSE(g->is_int8());
  const runtime::Tensor& conv1 = g->tensors[static_cast<std::size_t>(g->find("conv1.weight"))];
  CHECK(conv1.shape == Shape{16, 3, 3, 1});
  // Folded: W'[o] = W[o] · γ/√(var + ε); for one input channel OIHW and OHWI agree.
  const auto w = s.find("conv1.weight")->data;
  const float gamma = s.find("bn1.weight")->data[0];
  const float var = s.find("bn1.running_var")->data[0];
  CHECK(conv1.f32[4] == Approx(w[4] * gamma / std::sqrt(var + 1e-5)).epsilon(1e-5));
  const runtime::Tensor& head = g->tensors[static_cast<std::size_t>(g->find("head.weight"))];
  CHECK(head.shape == Shape{10, 7 * 7 * 64});
  // (c, y, x) → (y, x, c): the graph's column p·64 + c is LibTorch's c·49 + p.
  const auto hw = s.find("head.weight")->data;
  CHECK(head.f32[5 * 64 + 3] == hw[3 * 49 + 5]);
  const runtime::GraphCost cost = runtime::cost_of(*g);
  CHECK(cost.macs > 1'900'000);  // three 3×3 convs alone: 112,896 + 903,168 + 903,168
}

TEST_CASE("lowering leaves out identity adapters and gives adapters no bias") {
  ParameterSet s = random_cnn_state({8, 8});
  const std::span<float> up = s.find_mutable("adapter1.up.weight")->data;
  std::fill(up.begin(), up.end(), 0.0f);  // fresh: the identity
  auto g = lower_default_cnn(s);
  REQUIRE_OK(g);
  CHECK(g->find("adapter1.hidden") == -1);
  CHECK(g->find("adapter1.down.weight") == -1);
  CHECK(g->find("adapter2.hidden") >= 0);
  for (const runtime::Op& op : g->ops) {
    if (op.name.rfind("adapter", 0) == 0 && op.kind == runtime::OpKind::conv2d) CHECK(op.inputs.size() == 2);
  }
  // pool1 now reads conv1's output directly.
  const auto pool = std::find_if(g->ops.begin(), g->ops.end(), [](const runtime::Op& op) { return op.name == "pool1"; });
  REQUIRE(pool != g->ops.end());
  CHECK(pool->inputs[0] == g->find("conv1.out"));
}

TEST_CASE("lowering refuses tensors that do not make a default CNN") {
  ParameterSet s = random_cnn_state({8, 8});
  ParameterSet missing;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const TensorView t = s.at(i);
    if (t.name != "bn2.running_var") REQUIRE(missing.add(std::string(t.name), Shape(t.shape.begin(), t.shape.end()), t.data));
  }
  auto r = lower_default_cnn(missing);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::schema_mismatch);
  CHECK_THAT(r.error().detail, Catch::Contains("bn2.running_var"));

  ParameterSet wrong_head;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const TensorView t = s.at(i);
    if (t.name == "head.weight") {
      REQUIRE(wrong_head.add_zeros("head.weight", {10, 100}));
    } else {
      REQUIRE(wrong_head.add(std::string(t.name), Shape(t.shape.begin(), t.shape.end()), t.data));
    }
  }
  r = lower_default_cnn(wrong_head);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::schema_mismatch);
  CHECK_THAT(r.error().detail, Catch::Contains("head.weight"));

  CHECK(lower_default_cnn(ParameterSet{}).error().code == ErrorCode::schema_mismatch);
}

TEST_CASE("post-training quantization: int8 graph close to the float graph") {
  auto g = lower_default_cnn(random_cnn_state({8, 16, 16}));
  REQUIRE(g);
  const data::Dataset images = random_images(60);
  CalibrationConfig config;
  config.samples = 40;
  for (Calibration method : {Calibration::minmax, Calibration::percentile, Calibration::mse}) {
    config.method = method;
    auto ranges = calibrate(*g, images, config);
    REQUIRE(ranges);
    CHECK(ranges->count("input"));
    CHECK(ranges->count("adapter2.out"));
    CHECK(ranges->at("conv1.out").lo == 0.0f);  // after ReLU
    auto q = quantize_graph(*g, *ranges);
    REQUIRE_OK(q);
    REQUIRE(q->is_int8());
    // Weights per channel for convs, per tensor for the head; biases at s_in × s_w.
    CHECK(q->tensors[static_cast<std::size_t>(q->find("conv2.weight"))].quant.scales.size() == 16);
    CHECK(q->tensors[static_cast<std::size_t>(q->find("head.weight"))].quant.scales.size() == 1);
    auto fi = runtime::Interpreter::create(*g);
    auto qi = runtime::Interpreter::create(*q);
    REQUIRE(fi);
    REQUIRE(qi);
    // Logits of the int8 graph track the float ones, relative to their spread.
    std::vector<float> lf(10), lq(10);
    double err = 0, spread = 0;
    for (std::size_t i = 40; i < 60; ++i) {
      REQUIRE(fi->invoke(images.image(i), lf));
      REQUIRE(qi->invoke(images.image(i), lq));
      for (int k = 0; k < 10; ++k) {
        err += std::fabs(lf[static_cast<std::size_t>(k)] - lq[static_cast<std::size_t>(k)]);
        spread += std::fabs(lf[static_cast<std::size_t>(k)]);
      }
    }
    INFO(to_string(method));
    CHECK(err < 0.1 * spread);
  }
}

TEST_CASE("quantize_graph refuses missing ranges and int8 input graphs") {
  auto g = lower_default_cnn(random_cnn_state({8, 8}));
  REQUIRE(g);
  auto ranges = calibrate(*g, random_images(10), {});
  REQUIRE(ranges);
  ActivationRanges partial = *ranges;
  partial.erase("adapter1.hidden");
  auto r = quantize_graph(*g, partial);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::schema_mismatch);
  CHECK_THAT(r.error().detail, Catch::Contains("adapter1.hidden"));
  auto q = quantize_graph(*g, *ranges);
  REQUIRE(q);
  CHECK(quantize_graph(*q, *ranges).error().code == ErrorCode::invalid_argument);
  CHECK(calibrate(*q, random_images(10), {}).error().code == ErrorCode::invalid_argument);
  CHECK(calibrate(*g, data::Dataset{}, {}).error().code == ErrorCode::invalid_argument);
}

TEST_CASE("evaluate_graph counts argmax hits; wrong image sizes are refused") {
  auto g = lower_default_cnn(random_cnn_state({8, 8}));
  REQUIRE(g);
  auto interpreter = runtime::Interpreter::create(*g);
  REQUIRE(interpreter);
  data::Dataset images = random_images(30);
  auto e = evaluate_graph(*interpreter, images);
  REQUIRE(e);
  REQUIRE(e->predictions.size() == 30);
  std::size_t hits = 0;
  for (std::size_t i = 0; i < 30; ++i) hits += e->predictions[i] == images.labels[i];
  CHECK(e->accuracy == Approx(static_cast<double>(hits) / 30));
  // Relabel every image with its prediction: accuracy 1.
  images.labels = e->predictions;
  CHECK(evaluate_graph(*interpreter, images)->accuracy == 1.0);
  auto latency = measure_latency(*interpreter, images, 5, 1);
  REQUIRE(latency);
  CHECK(latency->median_ms > 0);

  data::Dataset small;
  small.rows = small.cols = 14;
  small.pixels.assign(14 * 14, 0.0f);
  small.labels = {0};
  CHECK(evaluate_graph(*interpreter, small).error().code == ErrorCode::invalid_argument);
  CHECK(measure_latency(*interpreter, small).error().code == ErrorCode::invalid_argument);
}
