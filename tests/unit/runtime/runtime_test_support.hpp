// Graph builders for the runtime tests and the speed program: a float CNN shaped like the
// default model (conv3x3+ReLU, adapter 1x1 down/ReLU/1x1 up, residual add, max pool, FC) with
// random weights, and a small post-training quantizer (min/max calibration through the
// interpreter's Observer) that turns it into the equivalent int8 graph.
#pragma once

#include "edgefed/runtime/graph.hpp"
#include "edgefed/runtime/interpreter.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace edgefed::runtime::testing {

inline Quantization per_tensor(float scale, std::int32_t zero_point) { return {{scale}, {zero_point}, 0}; }

// Appends tensors and operators; indices are returned for wiring.
struct GraphBuilder {
  Graph graph;

  int activation(std::string name, Shape shape, DType dtype = DType::float32, Quantization quant = {}) {
    Tensor t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.dtype = dtype;
    t.quant = std::move(quant);
    return add(std::move(t));
  }
  int constant(std::string name, Shape shape, std::vector<float> values) {
    Tensor t{std::move(name), std::move(shape), DType::float32, {}, true, std::move(values), {}, {}};
    return add(std::move(t));
  }
  int constant(std::string name, Shape shape, std::vector<std::int8_t> codes, Quantization quant) {
    Tensor t{std::move(name), std::move(shape), DType::int8, std::move(quant), true, {}, std::move(codes), {}};
    return add(std::move(t));
  }
  int constant(std::string name, Shape shape, std::vector<std::int32_t> values, Quantization quant) {
    Tensor t{std::move(name), std::move(shape), DType::int32, std::move(quant), true, {}, {}, std::move(values)};
    return add(std::move(t));
  }
  void op(OpKind kind, std::string name, std::vector<int> inputs, int output, Activation act = Activation::none,
          int pool = 2) {
    graph.ops.push_back(Op{kind, std::move(name), std::move(inputs), output, act, pool});
  }
  int add(Tensor t) {
    graph.tensors.push_back(std::move(t));
    return static_cast<int>(graph.tensors.size()) - 1;
  }
};

inline std::vector<float> uniform(std::size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// He-uniform weights: unit-variance outputs for unit-variance inputs under ReLU.
inline std::vector<float> he_weights(std::size_t n, std::size_t fan_in, std::mt19937& rng, float gain = 1.0f) {
  const float bound = gain * std::sqrt(6.0f / static_cast<float>(fan_in));
  return uniform(n, rng, -bound, bound);
}

struct CnnSpec {
  int image = 28;
  int in_channels = 1;
  std::vector<int> channels{16, 32, 64};
  int adapter_ratio = 8;
  int classes = 10;
};

// image -> per block: conv3x3 + ReLU, adapter (1x1 down + ReLU, 1x1 up), add; max pool 2
// between blocks -> reshape -> fully connected. Tensor names follow the PyTorch model.
inline Graph float_cnn(const CnnSpec& spec, std::uint32_t seed) {
  std::mt19937 rng(seed);
  GraphBuilder b;
  std::int64_t side = spec.image;
  std::int64_t in_c = spec.in_channels;
  int x = b.activation("image", {1, side, side, in_c});
  b.graph.input = x;
  for (std::size_t i = 0; i < spec.channels.size(); ++i) {
    const std::string n = std::to_string(i + 1);
    const std::int64_t c = spec.channels[i];
    const std::int64_t r = std::max<std::int64_t>(1, c / spec.adapter_ratio);
    const auto sz = [](std::int64_t a, std::int64_t bb = 1, std::int64_t cc = 1, std::int64_t d = 1) {
      return static_cast<std::size_t>(a * bb * cc * d);
    };
    const int w = b.constant("conv" + n + ".weight", {c, 3, 3, in_c}, he_weights(sz(c, 9, in_c), sz(9, in_c), rng));
    const int bias = b.constant("conv" + n + ".bias", {c}, uniform(sz(c), rng, -0.1f, 0.1f));
    const int conv = b.activation("conv" + n, {1, side, side, c});
    b.op(OpKind::conv2d, "conv" + n, {x, w, bias}, conv, Activation::relu);
    const int wd = b.constant("adapter" + n + ".down.weight", {r, 1, 1, c}, he_weights(sz(r, c), sz(c), rng));
    const int bd = b.constant("adapter" + n + ".down.bias", {r}, std::vector<float>(sz(r), 0.0f));
    const int down = b.activation("adapter" + n + ".down", {1, side, side, r});
    b.op(OpKind::conv2d, "adapter" + n + ".down", {conv, wd, bd}, down, Activation::relu);
    const int wu = b.constant("adapter" + n + ".up.weight", {c, 1, 1, r}, he_weights(sz(c, r), sz(r), rng, 0.5f));
    const int bu = b.constant("adapter" + n + ".up.bias", {c}, std::vector<float>(sz(c), 0.0f));
    const int up = b.activation("adapter" + n + ".up", {1, side, side, c});
    b.op(OpKind::conv2d, "adapter" + n + ".up", {down, wu, bu}, up);
    x = b.activation("block" + n, {1, side, side, c});
    b.op(OpKind::add, "block" + n, {conv, up}, x);
    if (i + 1 < spec.channels.size()) {
      const int pooled = b.activation("pool" + n, {1, side / 2, side / 2, c});
      b.op(OpKind::max_pool2d, "pool" + n, {x}, pooled, Activation::none, 2);
      x = pooled;
      side /= 2;
    }
    in_c = c;
  }
  const std::int64_t features = side * side * in_c;
  const int flat = b.activation("flatten", {1, features});
  b.op(OpKind::reshape, "flatten", {x}, flat);
  const auto k = static_cast<std::size_t>(spec.classes);
  const int wh =
      b.constant("head.weight", {spec.classes, features},
                 he_weights(k * static_cast<std::size_t>(features), static_cast<std::size_t>(features), rng));
  const int bh = b.constant("head.bias", {spec.classes}, uniform(k, rng, -0.1f, 0.1f));
  const int logits = b.activation("logits", {1, spec.classes});
  b.op(OpKind::fully_connected, "head", {flat, wh, bh}, logits);
  b.graph.output = logits;
  return b.graph;
}

// Asymmetric int8 for the range [lo, hi] widened to include 0 (so 0.0 is a code).
inline Quantization activation_quant(float lo, float hi) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  const float scale = hi > lo ? (hi - lo) / 255.0f : 1.0f;
  const auto zp = static_cast<std::int32_t>(std::clamp(std::round(-128.0f - lo / scale), -128.0f, 127.0f));
  return per_tensor(scale, zp);
}

// Symmetric codes in [-127, 127] per row of `values` (rows = channels), or one scale for all.
inline std::pair<std::vector<std::int8_t>, std::vector<float>> symmetric_codes(const std::vector<float>& values,
                                                                               std::size_t rows) {
  const std::size_t inner = values.size() / rows;
  std::vector<std::int8_t> codes(values.size());
  std::vector<float> scales(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    float m = 0.0f;
    for (std::size_t i = 0; i < inner; ++i) m = std::max(m, std::fabs(values[r * inner + i]));
    scales[r] = m > 0.0f ? m / 127.0f : 1.0f;
    for (std::size_t i = 0; i < inner; ++i) {
      const float q = std::round(values[r * inner + i] / scales[r]);
      codes[r * inner + i] = static_cast<std::int8_t>(std::clamp(q, -127.0f, 127.0f));
    }
  }
  return {codes, scales};
}

// Per-tensor min/max of every float activation over `images`, through the Observer.
inline std::vector<std::pair<float, float>> calibrate(const Graph& g, std::span<const std::vector<float>> images) {
  auto interpreter = Interpreter::create(g);
  if (!interpreter) throw std::runtime_error(interpreter.error().message());
  std::vector<std::pair<float, float>> range(g.tensors.size(), {0.0f, 0.0f});
  std::vector<float> logits(interpreter->output_size());
  for (const std::vector<float>& image : images) {
    const auto s = interpreter->invoke(image, logits, [&](int t, std::span<const float> v) {
      auto& r = range[static_cast<std::size_t>(t)];
      for (float x : v) r = {std::min(r.first, x), std::max(r.second, x)};
    });
    if (!s) throw std::runtime_error(s.error().message());
  }
  return range;
}

// The int8 graph of a float graph built by float_cnn (any conv2d / add / max_pool2d / reshape /
// fully_connected graph): image -> quantize -> int8 operators -> dequantize -> logits. Conv
// weights per output channel, FC weights per tensor, int32 biases at input × weight scale.
inline Graph quantize_for_test(const Graph& f, std::span<const std::vector<float>> calibration) {
  const auto range = calibrate(f, calibration);
  GraphBuilder b;
  std::vector<int> map(f.tensors.size(), -1);  // float activation -> its int8 tensor
  const auto& image = f.tensors[static_cast<std::size_t>(f.input)];
  b.graph.input = b.activation(image.name, image.shape);
  const auto [lo, hi] = range[static_cast<std::size_t>(f.input)];
  map[static_cast<std::size_t>(f.input)] =
      b.activation(image.name + ".q", image.shape, DType::int8, activation_quant(lo, hi));
  b.op(OpKind::quantize, "quantize", {b.graph.input}, map[static_cast<std::size_t>(f.input)]);
  const auto q_of = [&](int float_tensor) -> const Tensor& {
    return b.graph.tensors[static_cast<std::size_t>(map[static_cast<std::size_t>(float_tensor)])];
  };
  for (const Op& op : f.ops) {
    const Tensor& out = f.tensors[static_cast<std::size_t>(op.output)];
    Quantization out_q;
    if (op.kind == OpKind::max_pool2d || op.kind == OpKind::reshape) {
      out_q = q_of(op.inputs[0]).quant;
    } else {
      const auto [olo, ohi] = range[static_cast<std::size_t>(op.output)];
      out_q = activation_quant(olo, ohi);
    }
    std::vector<int> inputs;
    if (op.kind == OpKind::conv2d || op.kind == OpKind::fully_connected) {
      const Tensor& w = f.tensors[static_cast<std::size_t>(op.inputs[1])];
      const Tensor& bias = f.tensors[static_cast<std::size_t>(op.inputs[2])];
      const float s_in = q_of(op.inputs[0]).quant.scales[0];
      const std::size_t rows = static_cast<std::size_t>(w.shape[0]);
      // Conv per output channel; FC one scale for the whole matrix.
      const auto [codes, scales] = symmetric_codes(w.f32, op.kind == OpKind::conv2d ? rows : 1);
      Quantization wq{scales, std::vector<std::int32_t>(scales.size(), 0), 0};
      std::vector<float> bias_scales(scales.size());
      std::vector<std::int32_t> bias_codes(bias.f32.size());
      for (std::size_t c = 0; c < scales.size(); ++c) {
        bias_scales[c] = static_cast<float>(static_cast<double>(s_in) * scales[c]);
      }
      for (std::size_t c = 0; c < bias.f32.size(); ++c) {
        const float s = bias_scales[scales.size() == 1 ? 0 : c];
        bias_codes[c] = static_cast<std::int32_t>(std::round(static_cast<double>(bias.f32[c]) / s));
      }
      const int wi = b.constant(w.name, w.shape, codes, wq);
      const int bi = b.constant(bias.name, bias.shape, bias_codes,
                                Quantization{bias_scales, std::vector<std::int32_t>(bias_scales.size(), 0), 0});
      inputs = {map[static_cast<std::size_t>(op.inputs[0])], wi, bi};
    } else {
      for (int t : op.inputs) inputs.push_back(map[static_cast<std::size_t>(t)]);
    }
    const std::string name = op.output == f.output ? out.name + ".q" : out.name;
    map[static_cast<std::size_t>(op.output)] = b.activation(name, out.shape, DType::int8, out_q);
    b.op(op.kind, op.name, inputs, map[static_cast<std::size_t>(op.output)], op.activation, op.pool);
  }
  const Tensor& logits = f.tensors[static_cast<std::size_t>(f.output)];
  b.graph.output = b.activation(logits.name, logits.shape);
  b.op(OpKind::dequantize, "dequantize", {map[static_cast<std::size_t>(f.output)]}, b.graph.output);
  return b.graph;
}

inline std::vector<std::vector<float>> random_images(std::size_t count, std::size_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<float>> images;
  for (std::size_t i = 0; i < count; ++i) images.push_back(uniform(size, rng, 0.0f, 1.0f));
  return images;
}

}  // namespace edgefed::runtime::testing
