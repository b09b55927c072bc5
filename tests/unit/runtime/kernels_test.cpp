// Each kernel through the public interpreter on random data: float kernels against naive
// double-precision loops; int8 kernels against the float reference (dequantize the int8
// operands, compute in double, requantize) within 1 LSB, and exactly against the integer
// formulas of the TFLite reference kernels, with per-channel weight scales, nonzero zero
// points and ReLU on and off. int8 codes are read back with int8_tensor.
#include "edgefed/runtime/fixed_point.hpp"
#include "edgefed/runtime/interpreter.hpp"

#include "runtime_test_support.hpp"

#include <catch2/catch.hpp>

#include "edgefed_catch_helpers.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <random>
#include <vector>

namespace edgefed::runtime {
namespace {

using testing::GraphBuilder;
using testing::per_tensor;
using testing::uniform;

struct ConvCase {
  int h, w, in_c, out_c, k;
  bool relu;
};

// All shapes the blocked loops treat differently: channel counts below, at and past the block
// width, 1×1 / 3×3 / 5×5 kernels, kernels larger than the image.
std::vector<ConvCase> conv_cases() {
  return {{5, 5, 1, 16, 3, true}, {4, 6, 3, 7, 3, false}, {6, 6, 16, 8, 1, true},  {3, 3, 2, 9, 5, false},
          {7, 5, 8, 17, 3, true}, {1, 1, 5, 3, 3, false}, {2, 2, 33, 4, 1, false}, {6, 4, 4, 2, 1, true}};
}

std::vector<float> run(const Graph& g, const std::vector<float>& input) {
  auto interpreter = Interpreter::create(g);
  REQUIRE_OK(interpreter);
  std::vector<float> out(interpreter->output_size());
  REQUIRE_OK(interpreter->invoke(input, out));
  return out;
}

// ---- float -------------------------------------------------------------------------------

TEST_CASE("float conv2d equals a naive direct convolution", "[kernels]") {
  std::mt19937 rng(1);
  for (const ConvCase& c : conv_cases()) {
    INFO("conv " << c.h << "x" << c.w << "x" << c.in_c << " -> " << c.out_c << ", k " << c.k << ", relu " << c.relu);
    const auto n_in = static_cast<std::size_t>(c.h * c.w * c.in_c);
    const auto n_w = static_cast<std::size_t>(c.out_c * c.k * c.k * c.in_c);
    const auto n_out = static_cast<std::size_t>(c.h * c.w * c.out_c);
    const std::vector<float> x = uniform(n_in, rng, -1, 1), wv = uniform(n_w, rng, -1, 1);
    const std::vector<float> bv = uniform(static_cast<std::size_t>(c.out_c), rng, -1, 1);
    GraphBuilder b;
    const int image = b.activation("image", {1, c.h, c.w, c.in_c});
    const int w = b.constant("w", {c.out_c, c.k, c.k, c.in_c}, wv);
    const int bias = b.constant("b", {c.out_c}, bv);
    const int y = b.activation("y", {1, c.h, c.w, c.out_c});
    const int flat = b.activation("flat", {1, static_cast<std::int64_t>(n_out)});
    b.op(OpKind::conv2d, "conv", {image, w, bias}, y, c.relu ? Activation::relu : Activation::none);
    b.op(OpKind::reshape, "flatten", {y}, flat);
    b.graph.input = image;
    b.graph.output = flat;
    const std::vector<float> got = run(b.graph, x);

    const int pad = c.k / 2;
    for (int oy = 0; oy < c.h; ++oy) {
      for (int ox = 0; ox < c.w; ++ox) {
        for (int o = 0; o < c.out_c; ++o) {
          double sum = bv[static_cast<std::size_t>(o)], magnitude = std::fabs(sum);
          for (int ky = 0; ky < c.k; ++ky) {
            for (int kx = 0; kx < c.k; ++kx) {
              const int iy = oy + ky - pad, ix = ox + kx - pad;
              if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
              for (int i = 0; i < c.in_c; ++i) {
                const double t = double{x[static_cast<std::size_t>((iy * c.w + ix) * c.in_c + i)]} *
                                 wv[static_cast<std::size_t>(((o * c.k + ky) * c.k + kx) * c.in_c + i)];
                sum += t;
                magnitude += std::fabs(t);
              }
            }
          }
          if (c.relu) sum = std::max(sum, 0.0);
          const float v = got[static_cast<std::size_t>((oy * c.w + ox) * c.out_c + o)];
          REQUIRE(std::fabs(v - sum) <= 1e-6 * magnitude + 1e-7);
        }
      }
    }
  }
}

TEST_CASE("float fully_connected, max_pool2d and add equal naive loops", "[kernels]") {
  std::mt19937 rng(2);
  const std::int64_t h = 4, w = 6, c = 3, k = 7;
  const std::int64_t features = (h / 2) * (w / 2) * c;
  const std::vector<float> x = uniform(static_cast<std::size_t>(h * w * c), rng, -2, 2);
  const std::vector<float> fw = uniform(static_cast<std::size_t>(k * features), rng, -1, 1);
  const std::vector<float> fb = uniform(static_cast<std::size_t>(k), rng, -1, 1);
  GraphBuilder b;
  const int image = b.activation("image", {1, h, w, c});
  const int doubled = b.activation("doubled", {1, h, w, c});
  const int pool = b.activation("pool", {1, h / 2, w / 2, c});
  const int flat = b.activation("flat", {1, features});
  const int wt = b.constant("w", {k, features}, fw);
  const int bt = b.constant("b", {k}, fb);
  const int logits = b.activation("logits", {1, k});
  b.op(OpKind::add, "add", {image, image}, doubled, Activation::relu);
  b.op(OpKind::max_pool2d, "pool", {doubled}, pool, Activation::none, 2);
  b.op(OpKind::reshape, "flatten", {pool}, flat);
  b.op(OpKind::fully_connected, "fc", {flat, wt, bt}, logits);
  b.graph.input = image;
  b.graph.output = logits;

  std::vector<double> pooled;
  for (std::int64_t oy = 0; oy < h / 2; ++oy) {
    for (std::int64_t ox = 0; ox < w / 2; ++ox) {
      for (std::int64_t ch = 0; ch < c; ++ch) {
        double m = -1e30;
        for (std::int64_t dy = 0; dy < 2; ++dy) {
          for (std::int64_t dx = 0; dx < 2; ++dx) {
            const float v = x[static_cast<std::size_t>(((oy * 2 + dy) * w + ox * 2 + dx) * c + ch)];
            m = std::max(m, std::max(double{v + v}, 0.0));  // add with ReLU, exact in float
          }
        }
        pooled.push_back(m);
      }
    }
  }
  const std::vector<float> got = run(b.graph, x);
  for (std::int64_t o = 0; o < k; ++o) {
    double sum = fb[static_cast<std::size_t>(o)], magnitude = std::fabs(sum);
    for (std::int64_t i = 0; i < features; ++i) {
      const double t = pooled[static_cast<std::size_t>(i)] * fw[static_cast<std::size_t>(o * features + i)];
      sum += t;
      magnitude += std::fabs(t);
    }
    CHECK(std::fabs(got[static_cast<std::size_t>(o)] - sum) <= 1e-6 * magnitude);
  }
}

// ---- int8 --------------------------------------------------------------------------------

// Real value → code, the reference requantization: round half away from zero, then clamp.
int requantize(double real, const Quantization& q, bool relu) {
  const double code = std::round(real / q.scales[0]) + q.zero_points[0];
  const double lo = relu ? std::max(-128, q.zero_points[0]) : -128;
  return static_cast<int>(std::clamp(code, lo, 127.0));
}

double dequantize(int code, const Quantization& q) {
  return static_cast<double>(q.scales[0]) * (code - q.zero_points[0]);
}

std::int32_t random_zero_point(std::mt19937& rng) {
  std::uniform_int_distribution<std::int32_t> d(-100, 100);
  std::int32_t z = 0;
  while (z == 0) z = d(rng);
  return z;
}

std::vector<std::int8_t> random_codes(std::size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(-127, 127);
  std::vector<std::int8_t> v(n);
  for (auto& q : v) q = static_cast<std::int8_t>(d(rng));
  return v;
}

// The TFLite reference kernels' integers, from the fixed-point primitives (tested on their
// own): conv / FC requantize the exact accumulator; add rescales both inputs after a left
// shift of 20. Matching these exactly is what makes us agree with TFLite bit for bit.
int tflite_requantize(std::int32_t acc, double real_multiplier, const Quantization& yq, bool relu) {
  const QuantizedMultiplier m = quantize_multiplier(real_multiplier);
  const int v = multiply_by_quantized_multiplier(acc, m.multiplier, m.shift) + yq.zero_points[0];
  return std::clamp(v, relu ? std::max(-128, yq.zero_points[0]) : -128, 127);
}

int tflite_add(int a, int b, const Quantization& aq, const Quantization& bq, const Quantization& yq, bool relu) {
  const double twice_max = 2 * std::max(double{aq.scales[0]}, double{bq.scales[0]});
  const QuantizedMultiplier ma = quantize_multiplier(aq.scales[0] / twice_max);
  const QuantizedMultiplier mb = quantize_multiplier(bq.scales[0] / twice_max);
  const QuantizedMultiplier mo = quantize_multiplier(twice_max / ((1 << 20) * double{yq.scales[0]}));
  const std::int32_t sa =
      multiply_by_quantized_multiplier_smaller_than_one((a - aq.zero_points[0]) * (1 << 20), ma.multiplier, ma.shift);
  const std::int32_t sb =
      multiply_by_quantized_multiplier_smaller_than_one((b - bq.zero_points[0]) * (1 << 20), mb.multiplier, mb.shift);
  const int v = multiply_by_quantized_multiplier_smaller_than_one(sa + sb, mo.multiplier, mo.shift) + yq.zero_points[0];
  return std::clamp(v, relu ? std::max(-128, yq.zero_points[0]) : -128, 127);
}

void check_exact(std::span<const std::int8_t> got, const std::vector<int>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    REQUIRE(int{got[i]} == want[i]);
  }
}

// Checks the int8 codes of `got` against reference reals: within 1 LSB everywhere, and not
// vacuously: a quarter or more of the outputs strictly inside the clamping range.
void check_within_one_lsb(std::span<const std::int8_t> got, const std::vector<double>& reals, const Quantization& q,
                          bool relu) {
  REQUIRE(got.size() == reals.size());
  std::size_t inside = 0, exact = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const int want = requantize(reals[i], q, relu);
    INFO("element " << i << ": real " << reals[i] << " -> " << want << ", kernel " << int{got[i]});
    REQUIRE(std::abs(got[i] - want) <= 1);
    exact += got[i] == want ? 1 : 0;
    const double code = reals[i] / q.scales[0] + q.zero_points[0];
    inside += code > (relu ? std::max(-128, q.zero_points[0]) : -128) && code < 127 ? 1 : 0;
  }
  CHECK(inside * 4 >= got.size());
  CHECK(exact * 10 > got.size() * 9);  // off by one only near ties
}

// Quantization that maps the reals onto most of the int8 range.
Quantization fitted(const std::vector<double>& reals, std::mt19937& rng) {
  const auto [lo, hi] = std::minmax_element(reals.begin(), reals.end());
  Quantization q = testing::activation_quant(static_cast<float>(*lo), static_cast<float>(*hi));
  q.scales[0] *= std::uniform_real_distribution<float>(0.8f, 1.0f)(rng);  // some clamping too
  return q;
}

TEST_CASE("int8 conv2d matches dequantize, float conv, requantize within 1 LSB", "[kernels]") {
  std::mt19937 rng(3);
  for (const ConvCase& c : conv_cases()) {
    INFO("conv " << c.h << "x" << c.w << "x" << c.in_c << " -> " << c.out_c << ", k " << c.k << ", relu " << c.relu);
    const auto n_in = static_cast<std::size_t>(c.h * c.w * c.in_c);
    const auto n_w = static_cast<std::size_t>(c.out_c * c.k * c.k * c.in_c);
    const auto n_out = static_cast<std::size_t>(c.h * c.w * c.out_c);
    const Quantization xq =
        per_tensor(std::uniform_real_distribution<float>(0.005f, 0.05f)(rng), random_zero_point(rng));
    std::vector<float> w_scales = uniform(static_cast<std::size_t>(c.out_c), rng, 0.001f, 0.02f);
    const std::vector<std::int8_t> codes = random_codes(n_w, rng);
    std::vector<std::int32_t> bias(static_cast<std::size_t>(c.out_c));
    std::vector<float> bias_scales(bias.size());
    for (std::size_t o = 0; o < bias.size(); ++o) {
      bias[o] = std::uniform_int_distribution<std::int32_t>(-20000, 20000)(rng);
      bias_scales[o] = static_cast<float>(double{xq.scales[0]} * w_scales[o]);
    }
    const std::vector<float> x = uniform(n_in, rng, -3, 3);
    // The reference needs the quantized input first: a throwaway graph could give it, but
    // quantize is tested separately, so take the codes from this graph's own run below.
    const auto build = [&](const Quantization& yq) {
      GraphBuilder b;
      const int image = b.activation("image", {1, c.h, c.w, c.in_c});
      const int xt = b.activation("x.q", {1, c.h, c.w, c.in_c}, DType::int8, xq);
      const int w = b.constant("w", {c.out_c, c.k, c.k, c.in_c}, codes,
                               Quantization{w_scales, std::vector<std::int32_t>(w_scales.size(), 0), 0});
      const int bt =
          b.constant("b", {c.out_c}, bias, Quantization{bias_scales, std::vector<std::int32_t>(bias.size(), 0), 0});
      const int y = b.activation("y.q", {1, c.h, c.w, c.out_c}, DType::int8, yq);
      const int flat = b.activation("flat.q", {1, static_cast<std::int64_t>(n_out)}, DType::int8, yq);
      const int out = b.activation("out", {1, static_cast<std::int64_t>(n_out)});
      b.op(OpKind::quantize, "quantize", {image}, xt);
      b.op(OpKind::conv2d, "conv", {xt, w, bt}, y, c.relu ? Activation::relu : Activation::none);
      b.op(OpKind::reshape, "flatten", {y}, flat);
      b.op(OpKind::dequantize, "dequantize", {flat}, out);
      b.graph.input = image;
      b.graph.output = out;
      return b.graph;
    };
    // Exact accumulators Σ (x − zx) w + bias, and the real outputs from dequantized operands.
    std::vector<std::int32_t> accs(n_out);
    const auto reals_from = [&](std::span<const std::int8_t> xc) {
      std::vector<double> reals(n_out);
      const int pad = c.k / 2;
      for (int oy = 0; oy < c.h; ++oy) {
        for (int ox = 0; ox < c.w; ++ox) {
          for (int o = 0; o < c.out_c; ++o) {
            const double s_w = w_scales[static_cast<std::size_t>(o)];
            double sum = double{xq.scales[0]} * s_w * bias[static_cast<std::size_t>(o)];
            std::int32_t acc = bias[static_cast<std::size_t>(o)];
            for (int ky = 0; ky < c.k; ++ky) {
              for (int kx = 0; kx < c.k; ++kx) {
                const int iy = oy + ky - pad, ix = ox + kx - pad;
                if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
                for (int i = 0; i < c.in_c; ++i) {
                  const int q = xc[static_cast<std::size_t>((iy * c.w + ix) * c.in_c + i)];
                  const int wq = codes[static_cast<std::size_t>(((o * c.k + ky) * c.k + kx) * c.in_c + i)];
                  sum += dequantize(q, xq) * s_w * wq;
                  acc += (q - xq.zero_points[0]) * wq;
                }
              }
            }
            const auto at = static_cast<std::size_t>((oy * c.w + ox) * c.out_c + o);
            reals[at] = c.relu ? std::max(sum, 0.0) : sum;
            accs[at] = acc;
          }
        }
      }
      return reals;
    };
    // First pass with any output quantization to get the input codes and the real outputs.
    auto probe = Interpreter::create(build(per_tensor(1.0f, 0)), {true});
    REQUIRE_OK(probe);
    std::vector<float> out(n_out);
    REQUIRE_OK(probe->invoke(x, out));
    const std::vector<std::int8_t> xc(probe->int8_tensor(1).begin(), probe->int8_tensor(1).end());
    const std::vector<double> reals = reals_from(xc);
    const Quantization yq = fitted(reals, rng);

    auto interpreter = Interpreter::create(build(yq), {true});
    REQUIRE_OK(interpreter);
    REQUIRE_OK(interpreter->invoke(x, out));
    REQUIRE(std::equal(xc.begin(), xc.end(), interpreter->int8_tensor(1).begin()));
    const std::span<const std::int8_t> yc = interpreter->int8_tensor(interpreter->graph().find("y.q"));
    check_within_one_lsb(yc, reals, yq, c.relu);
    std::vector<int> tflite(n_out);
    for (std::size_t i = 0; i < n_out; ++i) {
      const double s_w = w_scales[i % static_cast<std::size_t>(c.out_c)];
      tflite[i] = tflite_requantize(accs[i], double{xq.scales[0]} * s_w / yq.scales[0], yq, c.relu);
    }
    check_exact(yc, tflite);
  }
}

TEST_CASE("int8 fully_connected with per-tensor weights matches the float reference within 1 LSB", "[kernels]") {
  std::mt19937 rng(4);
  for (bool relu : {false, true}) {
    const std::int64_t in = 300, k = 12;
    const Quantization xq = per_tensor(0.02f, random_zero_point(rng));
    const float s_w = 0.003f;
    const std::vector<std::int8_t> codes = random_codes(static_cast<std::size_t>(in * k), rng);
    std::vector<std::int32_t> bias(static_cast<std::size_t>(k));
    for (auto& v : bias) v = std::uniform_int_distribution<std::int32_t>(-50000, 50000)(rng);
    const std::vector<float> x = uniform(static_cast<std::size_t>(in), rng, -2, 2);
    const auto build = [&](const Quantization& yq) {
      GraphBuilder b;
      const int image = b.activation("image", {1, 1, 1, in});
      const int flat = b.activation("flat", {1, in});
      const int xt = b.activation("x.q", {1, in}, DType::int8, xq);
      const int w = b.constant("w", {k, in}, codes, per_tensor(s_w, 0));
      const int bt = b.constant("b", {k}, bias, per_tensor(static_cast<float>(double{xq.scales[0]} * s_w), 0));
      const int y = b.activation("y.q", {1, k}, DType::int8, yq);
      const int out = b.activation("out", {1, k});
      b.op(OpKind::reshape, "flatten", {image}, flat);
      b.op(OpKind::quantize, "quantize", {flat}, xt);
      b.op(OpKind::fully_connected, "fc", {xt, w, bt}, y, relu ? Activation::relu : Activation::none);
      b.op(OpKind::dequantize, "dequantize", {y}, out);
      b.graph.input = image;
      b.graph.output = out;
      return b.graph;
    };
    auto probe = Interpreter::create(build(per_tensor(1.0f, 0)), {true});
    REQUIRE_OK(probe);
    std::vector<float> out(static_cast<std::size_t>(k));
    REQUIRE_OK(probe->invoke(x, out));
    const std::span<const std::int8_t> xc = probe->int8_tensor(2);  // x.q
    std::vector<double> reals;
    std::vector<std::int32_t> accs;
    for (std::int64_t o = 0; o < k; ++o) {
      double sum = double{xq.scales[0]} * s_w * bias[static_cast<std::size_t>(o)];
      std::int32_t acc = bias[static_cast<std::size_t>(o)];
      for (std::int64_t i = 0; i < in; ++i) {
        const int q = xc[static_cast<std::size_t>(i)], wq = codes[static_cast<std::size_t>(o * in + i)];
        sum += dequantize(q, xq) * s_w * wq;
        acc += (q - xq.zero_points[0]) * wq;
      }
      reals.push_back(relu ? std::max(sum, 0.0) : sum);
      accs.push_back(acc);
    }
    const Quantization yq = fitted(reals, rng);
    auto interpreter = Interpreter::create(build(yq), {true});
    REQUIRE_OK(interpreter);
    REQUIRE_OK(interpreter->invoke(x, out));
    const std::span<const std::int8_t> yc = interpreter->int8_tensor(5);  // y.q
    check_within_one_lsb(yc, reals, yq, relu);
    std::vector<int> tflite;
    for (std::int32_t acc : accs)
      tflite.push_back(tflite_requantize(acc, double{xq.scales[0]} * s_w / yq.scales[0], yq, relu));
    check_exact(yc, tflite);
    // The float output is the dequantized codes exactly.
    for (std::size_t o = 0; o < out.size(); ++o) {
      CHECK(out[o] == yq.scales[0] * static_cast<float>(yc[o] - yq.zero_points[0]));
    }
  }
}

TEST_CASE("int8 add matches the float reference within 1 LSB for scale ratios both ways", "[kernels]") {
  std::mt19937 rng(5);
  const std::int64_t h = 6, w = 5, c = 10;
  const auto n = static_cast<std::size_t>(h * w * c);
  for (int trial = 0; trial < 8; ++trial) {
    const bool relu = trial % 2 == 1;
    // b comes from a 1×1 conv of a so that the two operands differ; its scale is drawn below
    // or above a's.
    const Quantization aq =
        per_tensor(std::uniform_real_distribution<float>(0.01f, 0.03f)(rng), random_zero_point(rng));
    const Quantization bq = per_tensor(aq.scales[0] * (trial < 4 ? 0.37f : 2.9f), random_zero_point(rng));
    const std::vector<std::int8_t> codes = random_codes(static_cast<std::size_t>(c * c), rng);
    const float s_w = 0.01f;
    const std::vector<float> x = uniform(n, rng, -2, 2);
    const auto build = [&](const Quantization& yq) {
      GraphBuilder b;
      const int image = b.activation("image", {1, h, w, c});
      const int a = b.activation("a", {1, h, w, c}, DType::int8, aq);
      const int wt = b.constant("w", {c, 1, 1, c}, codes,
                                Quantization{std::vector<float>(c, s_w), std::vector<std::int32_t>(c, 0), 0});
      const int bt = b.constant("bias", {c}, std::vector<std::int32_t>(c, 0),
                                Quantization{std::vector<float>(c, static_cast<float>(double{aq.scales[0]} * s_w)),
                                             std::vector<std::int32_t>(c, 0), 0});
      const int bb = b.activation("b", {1, h, w, c}, DType::int8, bq);
      const int y = b.activation("y", {1, h, w, c}, DType::int8, yq);
      const int flat = b.activation("flat", {1, static_cast<std::int64_t>(n)}, DType::int8, yq);
      const int out = b.activation("out", {1, static_cast<std::int64_t>(n)});
      b.op(OpKind::quantize, "quantize", {image}, a);
      b.op(OpKind::conv2d, "mix", {a, wt, bt}, bb);
      b.op(OpKind::add, "add", {a, bb}, y, relu ? Activation::relu : Activation::none);
      b.op(OpKind::reshape, "flatten", {y}, flat);
      b.op(OpKind::dequantize, "dequantize", {flat}, out);
      b.graph.input = image;
      b.graph.output = out;
      return b.graph;
    };
    auto probe = Interpreter::create(build(per_tensor(1.0f, 0)), {true});
    REQUIRE_OK(probe);
    std::vector<float> out(n);
    REQUIRE_OK(probe->invoke(x, out));
    std::vector<double> reals(n);
    for (std::size_t i = 0; i < n; ++i) {
      const double v = dequantize(probe->int8_tensor(1)[i], aq) + dequantize(probe->int8_tensor(4)[i], bq);
      reals[i] = relu ? std::max(v, 0.0) : v;
    }
    const Quantization yq = fitted(reals, rng);
    auto interpreter = Interpreter::create(build(yq), {true});
    REQUIRE_OK(interpreter);
    REQUIRE_OK(interpreter->invoke(x, out));
    INFO("trial " << trial);
    check_within_one_lsb(interpreter->int8_tensor(5), reals, yq, relu);
    std::vector<int> tflite(n);
    for (std::size_t i = 0; i < n; ++i) {
      tflite[i] = tflite_add(interpreter->int8_tensor(1)[i], interpreter->int8_tensor(4)[i], aq, bq, yq, relu);
    }
    check_exact(interpreter->int8_tensor(5), tflite);
  }
}

// Every pair of input codes (a 256 × 256 grid, each input picked out of one channel by a 1×1
// conv), so that even a rare difference in the intermediate rounding would show.
TEST_CASE("int8 add equals the TFLite integer formula on every pair of codes", "[kernels]") {
  std::mt19937 rng(7);
  const float s_x = 1.0f / 64;  // image values (i − 128) / 64 quantize to code i − 128 exactly
  std::vector<float> image(256 * 256 * 2);
  for (std::size_t i = 0; i < 256; ++i) {
    for (std::size_t j = 0; j < 256; ++j) {
      image[(i * 256 + j) * 2] = (static_cast<float>(i) - 128) * s_x;
      image[(i * 256 + j) * 2 + 1] = (static_cast<float>(j) - 128) * s_x;
    }
  }
  const std::vector<std::array<float, 3>> scales{
      {0.02f, 0.0137f, 0.031f}, {0.011f, 0.05f, 0.043f}, {0.03f, 0.03f, 0.051f}, {0.007f, 0.019f, 0.0091f}};
  for (std::size_t trial = 0; trial < scales.size() * 2; ++trial) {
    const auto [s_a, s_b, s_y] = scales[trial / 2];
    const bool relu = trial % 2 == 1;
    const Quantization aq = per_tensor(s_a, random_zero_point(rng)), bq = per_tensor(s_b, random_zero_point(rng));
    const Quantization yq = per_tensor(s_y, random_zero_point(rng));
    GraphBuilder b;
    const int in = b.activation("image", {1, 256, 256, 2});
    const int xq = b.activation("x.q", {1, 256, 256, 2}, DType::int8, per_tensor(s_x, 0));
    const auto pick = [&](const char* name, std::vector<std::int8_t> w, const Quantization& q) {
      const float s_w = q.scales[0] / s_x;  // a copy of the channel, up to rounding and clamping
      const int wt = b.constant(std::string(name) + ".w", {1, 1, 1, 2}, std::move(w), per_tensor(s_w, 0));
      const int bt = b.constant(std::string(name) + ".b", {1}, std::vector<std::int32_t>{0},
                                per_tensor(static_cast<float>(double{s_x} * s_w), 0));
      const int out = b.activation(name, {1, 256, 256, 1}, DType::int8, q);
      b.op(OpKind::conv2d, name, {xq, wt, bt}, out);
      return out;
    };
    b.op(OpKind::quantize, "quantize", {in}, xq);
    const int a = pick("a", {1, 0}, aq);
    const int bb = pick("b", {0, 1}, bq);
    const int y = b.activation("y", {1, 256, 256, 1}, DType::int8, yq);
    const int flat = b.activation("flat", {1, 65536}, DType::int8, yq);
    const int out = b.activation("out", {1, 65536});
    b.op(OpKind::add, "add", {a, bb}, y, relu ? Activation::relu : Activation::none);
    b.op(OpKind::reshape, "flatten", {y}, flat);
    b.op(OpKind::dequantize, "dequantize", {flat}, out);
    b.graph.input = in;
    b.graph.output = out;
    auto interpreter = Interpreter::create(b.graph, {true});
    REQUIRE_OK(interpreter);
    std::vector<float> result(65536);
    REQUIRE_OK(interpreter->invoke(image, result));
    const auto ac = interpreter->int8_tensor(a), bc = interpreter->int8_tensor(bb);
    std::vector<int> tflite(65536);
    for (std::size_t i = 0; i < tflite.size(); ++i) tflite[i] = tflite_add(ac[i], bc[i], aq, bq, yq, relu);
    INFO("trial " << trial);
    check_exact(interpreter->int8_tensor(y), tflite);
  }
}

TEST_CASE("int8 quantize, max_pool2d, reshape and dequantize are exact", "[kernels]") {
  const Quantization q = per_tensor(0.5f, 3);
  GraphBuilder b;
  const int image = b.activation("image", {1, 2, 4, 1});
  const int xq = b.activation("x.q", {1, 2, 4, 1}, DType::int8, q);
  const int pool = b.activation("pool", {1, 1, 2, 1}, DType::int8, q);
  const int flat = b.activation("flat", {1, 2}, DType::int8, q);
  const int out = b.activation("out", {1, 2});
  b.op(OpKind::quantize, "quantize", {image}, xq);
  b.op(OpKind::max_pool2d, "pool", {xq}, pool, Activation::none, 2);
  b.op(OpKind::reshape, "flatten", {pool}, flat);
  b.op(OpKind::dequantize, "dequantize", {flat}, out);
  b.graph.input = image;
  b.graph.output = out;
  auto interpreter = Interpreter::create(b.graph, {true});
  REQUIRE_OK(interpreter);
  // x / 0.5 rounded half away from zero, + 3, clamped: 1.25 -> 2.5 -> 3 -> 6; -1.25 -> -3 -> 0;
  // 0.2 -> 0.4 -> 0 -> 3; -0.26 -> -0.52 -> -1 -> 2; ±1000 clamp to 127 / -128; -63 -> -126 -> -123;
  // 62 -> 124 -> 127.
  const std::vector<float> x{1.25f, -1.25f, 0.2f, -0.26f, 1000.0f, -1000.0f, -63.0f, 62.0f};
  std::vector<float> y(2);
  REQUIRE_OK(interpreter->invoke(x, y));
  const std::span<const std::int8_t> codes = interpreter->int8_tensor(xq);
  CHECK(std::vector<int>(codes.begin(), codes.end()) == std::vector<int>{6, 0, 3, 2, 127, -128, -123, 127});
  // Rows 0 and 1 (width 4, pool 2): max(6, 0, 127, -128) = 127, max(3, 2, -123, 127) = 127.
  CHECK(std::vector<int>(interpreter->int8_tensor(pool).begin(), interpreter->int8_tensor(pool).end()) ==
        std::vector<int>{127, 127});
  CHECK(y == std::vector<float>{62.0f, 62.0f});  // 0.5 × (127 − 3)

  // Random values: within 1 code of the double-precision rounding (the kernel divides in float,
  // as TFLite), and exact away from ties.
  std::mt19937 rng(6);
  std::size_t exact = 0;
  const std::size_t n = 20000;
  const Quantization r = per_tensor(0.037f, -17);
  GraphBuilder rb;
  const int in = rb.activation("image", {1, 1, 1, static_cast<std::int64_t>(n)});
  const int rq = rb.activation("x.q", {1, 1, 1, static_cast<std::int64_t>(n)}, DType::int8, r);
  const int rf = rb.activation("flat", {1, static_cast<std::int64_t>(n)}, DType::int8, r);
  const int ro = rb.activation("out", {1, static_cast<std::int64_t>(n)});
  rb.op(OpKind::quantize, "quantize", {in}, rq);
  rb.op(OpKind::reshape, "flatten", {rq}, rf);
  rb.op(OpKind::dequantize, "dequantize", {rf}, ro);
  rb.graph.input = in;
  rb.graph.output = ro;
  auto ri = Interpreter::create(rb.graph, {true});
  REQUIRE_OK(ri);
  const std::vector<float> v = uniform(n, rng, -6, 6);
  std::vector<float> back(n);
  REQUIRE_OK(ri->invoke(v, back));
  for (std::size_t i = 0; i < n; ++i) {
    const int want = requantize(v[i], r, false);
    const int got = ri->int8_tensor(rq)[i];
    REQUIRE(std::abs(got - want) <= 1);
    exact += got == want ? 1 : 0;
    REQUIRE(back[i] == r.scales[0] * static_cast<float>(got - r.zero_points[0]));
  }
  CHECK(exact >= n - 5);
}

}  // namespace
}  // namespace edgefed::runtime
