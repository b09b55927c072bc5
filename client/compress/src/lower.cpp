#include "edgefed/compress/lower.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

namespace edgefed::compress {

namespace {

using runtime::Activation;
using runtime::DType;
using runtime::Graph;
using runtime::OpKind;
using runtime::Tensor;

class Lowering {
 public:
  explicit Lowering(const ParameterSet& state) : state_(state) {}

  Result<TensorView> tensor(const std::string& name, std::size_t rank) const {
    const auto t = state_.find(name);
    if (!t) return fail(ErrorCode::schema_mismatch, "lowering: tensor '" + name + "' is missing");
    if (t->shape.size() != rank) {
      return fail(ErrorCode::schema_mismatch, "lowering: tensor '" + name + "' has shape " +
                                                  shape_to_string(t->shape) + ", expected rank " +
                                                  std::to_string(rank));
    }
    return *t;
  }

  int activation(std::string name, Shape shape) {
    Tensor t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    return graph.add_tensor(std::move(t));
  }

  int constant(std::string name, Shape shape, std::vector<float> values) {
    Tensor t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.constant = true;
    t.f32 = std::move(values);
    return graph.add_tensor(std::move(t));
  }

  // OIHW (LibTorch) → OHWI (graph), each output channel scaled by `scale` (empty: 1).
  static std::vector<float> to_ohwi(const TensorView& w, const std::vector<double>& scale) {
    const std::int64_t o_n = w.shape[0], i_n = w.shape[1], kh = w.shape[2], kw = w.shape[3];
    std::vector<float> out(w.data.size());
    for (std::int64_t o = 0; o < o_n; ++o)
      for (std::int64_t i = 0; i < i_n; ++i)
        for (std::int64_t y = 0; y < kh; ++y)
          for (std::int64_t x = 0; x < kw; ++x) {
            const double v = w.data[static_cast<std::size_t>(((o * i_n + i) * kh + y) * kw + x)];
            out[static_cast<std::size_t>(((o * kh + y) * kw + x) * i_n + i)] =
                static_cast<float>(scale.empty() ? v : v * scale[static_cast<std::size_t>(o)]);
          }
    return out;
  }

  Status lower(std::int64_t side, std::int64_t in_channels) {
    graph.input = activation("input", {1, side, side, in_channels});
    int x = graph.input;
    std::int64_t channels = in_channels;
    int blocks = 0;
    while (state_.find("conv" + std::to_string(blocks + 1) + ".weight")) ++blocks;
    if (blocks == 0) return fail(ErrorCode::schema_mismatch, "lowering: no conv1.weight: not a default CNN");
    for (int b = 1; b <= blocks; ++b) {
      EDGEFED_ASSIGN_OR_RETURN(x, lower_block(b, b == blocks, x, side, channels));
      if (b < blocks) side /= 2;
    }
    EDGEFED_ASSIGN_OR_RETURN(const TensorView head_w, tensor("head.weight", 2));
    EDGEFED_ASSIGN_OR_RETURN(const TensorView head_b, tensor("head.bias", 1));
    const std::int64_t features = side * side * channels;
    const std::int64_t classes = head_w.shape[0];
    if (head_w.shape[1] != features || head_b.shape[0] != classes) {
      return fail(ErrorCode::schema_mismatch, "lowering: head.weight " + shape_to_string(head_w.shape) +
                                                  " does not take the " + std::to_string(features) +
                                                  " features of the last block");
    }
    const int flat = activation("flatten.out", {1, features});
    graph.add_op(OpKind::reshape, "flatten", {x}, flat);
    // Columns from LibTorch's (c, y, x) flatten order to the graph's (y, x, c).
    std::vector<float> w(head_w.data.size());
    const std::int64_t hw = side * side;
    for (std::int64_t o = 0; o < classes; ++o)
      for (std::int64_t c = 0; c < channels; ++c)
        for (std::int64_t p = 0; p < hw; ++p)
          w[static_cast<std::size_t>(o * features + p * channels + c)] =
              head_w.data[static_cast<std::size_t>(o * features + c * hw + p)];
    const int wi = constant("head.weight", {classes, features}, std::move(w));
    const int bi = constant("head.bias", {classes}, {head_b.data.begin(), head_b.data.end()});
    graph.output = activation("logits", {1, classes});
    graph.add_op(OpKind::fully_connected, "head", {flat, wi, bi}, graph.output);
    return {};
  }

 private:
  Result<int> lower_block(int b, bool last, int x, std::int64_t side, std::int64_t& channels) {
    const std::string n = std::to_string(b);
    EDGEFED_ASSIGN_OR_RETURN(const TensorView conv, tensor("conv" + n + ".weight", 4));
    if (conv.shape[1] != channels) {
      return fail(ErrorCode::schema_mismatch, "lowering: conv" + n + ".weight " + shape_to_string(conv.shape) +
                                                  " does not take " + std::to_string(channels) + " input channels");
    }
    const std::int64_t out = conv.shape[0];
    std::vector<double> scale(static_cast<std::size_t>(out));
    std::vector<float> bias(static_cast<std::size_t>(out));
    std::array<TensorView, 4> bn;
    const char* const bn_names[] = {".weight", ".bias", ".running_mean", ".running_var"};
    for (int i = 0; i < 4; ++i) {
      EDGEFED_ASSIGN_OR_RETURN(bn[static_cast<std::size_t>(i)], tensor("bn" + n + bn_names[i], 1));
      if (bn[static_cast<std::size_t>(i)].shape[0] != out) {
        return fail(ErrorCode::schema_mismatch, "lowering: bn" + n + bn_names[i] + " has " +
                                                    std::to_string(bn[static_cast<std::size_t>(i)].shape[0]) +
                                                    " channels, conv" + n + " has " + std::to_string(out));
      }
    }
    for (std::size_t c = 0; c < scale.size(); ++c) {
      scale[c] = static_cast<double>(bn[0].data[c]) / std::sqrt(static_cast<double>(bn[3].data[c]) + kBatchNormEpsilon);
      bias[c] = static_cast<float>(bn[1].data[c] - scale[c] * bn[2].data[c]);
    }
    const int w = constant("conv" + n + ".weight", {out, conv.shape[2], conv.shape[3], channels}, to_ohwi(conv, scale));
    const int bi = constant("conv" + n + ".bias", {out}, std::move(bias));
    const int conv_out = activation("conv" + n + ".out", {1, side, side, out});
    graph.add_op(OpKind::conv2d, "conv" + n, {x, w, bi}, conv_out, Activation::relu);
    channels = out;
    x = conv_out;

    const std::string a = "adapter" + n;
    EDGEFED_ASSIGN_OR_RETURN(const TensorView down, tensor(a + ".down.weight", 4));
    EDGEFED_ASSIGN_OR_RETURN(const TensorView up, tensor(a + ".up.weight", 4));
    const std::int64_t rank = down.shape[0];
    if (down.shape[1] != out || up.shape[0] != out || up.shape[1] != rank) {
      return fail(ErrorCode::schema_mismatch, "lowering: " + a + " projections " + shape_to_string(down.shape) +
                                                  " / " + shape_to_string(up.shape) + " do not fit " +
                                                  std::to_string(out) + " channels");
    }
    // An adapter whose up-projection is all zero (fresh, as after pre-training) is the
    // identity: the deployable graph leaves it out.
    if (std::any_of(up.data.begin(), up.data.end(), [](float v) { return v != 0.0f; })) {
      const int dw = constant(a + ".down.weight", {rank, 1, 1, out}, to_ohwi(down, {}));
      const int hidden = activation(a + ".hidden", {1, side, side, rank});
      graph.add_op(OpKind::conv2d, a + ".down", {x, dw}, hidden, Activation::relu);
      const int uw = constant(a + ".up.weight", {out, 1, 1, rank}, to_ohwi(up, {}));
      const int up_out = activation(a + ".up.out", {1, side, side, out});
      graph.add_op(OpKind::conv2d, a + ".up", {hidden, uw}, up_out);
      const int sum = activation(a + ".out", {1, side, side, out});
      graph.add_op(OpKind::add, a + ".add", {x, up_out}, sum);
      x = sum;
    }

    if (!last) {
      const int pooled = activation("pool" + n + ".out", {1, side / 2, side / 2, out});
      graph.add_op(OpKind::max_pool2d, "pool" + n, {x}, pooled);
      x = pooled;
    }
    return x;
  }

 public:
  Graph graph;

 private:
  const ParameterSet& state_;
};

}  // namespace

Result<runtime::Graph> lower_default_cnn(const ParameterSet& state, std::int64_t image_size,
                                         std::int64_t image_channels) {
  if (image_size < 1 || image_channels < 1) {
    return fail(ErrorCode::invalid_argument, "lowering: image size and channels must be positive");
  }
  Lowering l(state);
  EDGEFED_TRY(l.lower(image_size, image_channels));
  EDGEFED_TRY(l.graph.validate());
  return std::move(l.graph);
}

}  // namespace edgefed::compress
