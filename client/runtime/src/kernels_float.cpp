// float32 kernels: plain IEEE arithmetic in a fixed summation order (taps, then input
// channels, then the bias), so results do not depend on the build's vector width.
#include "kernels.hpp"

#include <algorithm>

namespace edgefed::runtime::detail {
namespace {

// Output channels are computed in blocks of this many, so the innermost loop has a fixed trip
// count that the compiler turns into vector instructions (at -O2, without fast-math).
constexpr int kOutputBlock = 8;

int blocks(const ConvGeometry& g) { return (g.out_channels + kOutputBlock - 1) / kOutputBlock; }
std::size_t block_stride(const ConvGeometry& g) { return g.taps_in() * kOutputBlock; }

// OHWI weights ([O, I] for fully_connected) as [O / block][KH][KW][I][block], zero past O.
std::vector<float> pack_weights(const ConvGeometry& g, const std::vector<float>& ohwi) {
  std::vector<float> packed(static_cast<std::size_t>(blocks(g)) * block_stride(g), 0.0f);
  const std::size_t taps_in = g.taps_in();
  for (std::size_t o = 0; o < static_cast<std::size_t>(g.out_channels); ++o) {
    float* block = packed.data() + (o / kOutputBlock) * block_stride(g) + o % kOutputBlock;
    for (std::size_t j = 0; j < taps_in; ++j) block[j * kOutputBlock] = ohwi[o * taps_in + j];
  }
  return packed;
}

// For each output pixel and block of output channels: acc[k] = Σ over the kernel taps inside
// the image and the input channels of x × w[tap][i][k] (an axpy over contiguous output
// channels; taps in the zero padding contribute nothing and are skipped), then
// finish(pixel, block, acc).
template <typename Finish>
void conv_blocked(const ConvGeometry& g, const float* x, const float* packed, Finish finish) {
  const int pad_h = g.kernel_h / 2;
  const int pad_w = g.kernel_w / 2;
  const auto in_c = static_cast<std::size_t>(g.in_channels);
  for (int oy = 0; oy < g.height; ++oy) {
    const int ky_begin = std::max(0, pad_h - oy);
    const int ky_end = std::min(g.kernel_h, g.height + pad_h - oy);
    for (int ox = 0; ox < g.width; ++ox) {
      const int kx_begin = std::max(0, pad_w - ox);
      const int kx_end = std::min(g.kernel_w, g.width + pad_w - ox);
      for (int b = 0; b < blocks(g); ++b) {
        float acc[kOutputBlock] = {};
        const float* block = packed + static_cast<std::size_t>(b) * block_stride(g);
        for (int ky = ky_begin; ky < ky_end; ++ky) {
          for (int kx = kx_begin; kx < kx_end; ++kx) {
            const float* src = x + (static_cast<std::size_t>(oy + ky - pad_h) * g.width + (ox + kx - pad_w)) * in_c;
            const float* w = block + static_cast<std::size_t>(ky * g.kernel_w + kx) * in_c * kOutputBlock;
            for (std::size_t i = 0; i < in_c; ++i) {
              const float v = src[i];
              const float* wi = w + i * kOutputBlock;
              for (int k = 0; k < kOutputBlock; ++k) acc[k] += v * wi[k];
            }
          }
        }
        finish(static_cast<std::size_t>(oy) * g.width + ox, b, acc);
      }
    }
  }
}

std::ptrdiff_t offset_of(const ArenaPlan& plan, int tensor) { return plan.offsets[static_cast<std::size_t>(tensor)]; }

class FloatConv final : public Kernel {
 public:
  FloatConv(const Graph& graph, const Op& op, const ArenaPlan& plan)
      : g_(ConvGeometry::of(graph, op)),
        weights_(pack_weights(g_, graph.tensors[static_cast<std::size_t>(op.inputs[1])].f32)),
        bias_(op.inputs.size() > 2 ? graph.tensors[static_cast<std::size_t>(op.inputs[2])].f32
                                   : std::vector<float>(static_cast<std::size_t>(g_.out_channels), 0.0f)),
        relu_(op.activation == Activation::relu),
        in_(offset_of(plan, op.inputs[0])),
        out_(offset_of(plan, op.output)) {}

  void run(std::byte* arena) override {
    float* y = tensor_at<float>(arena, out_);
    const auto out_c = static_cast<std::size_t>(g_.out_channels);
    conv_blocked(g_, tensor_at<const float>(arena, in_), weights_.data(),
                 [&](std::size_t pixel, int block, const float* acc) {
                   const std::size_t c0 = static_cast<std::size_t>(block) * kOutputBlock;
                   const std::size_t n = std::min<std::size_t>(kOutputBlock, out_c - c0);
                   float* dst = y + pixel * out_c + c0;
                   for (std::size_t k = 0; k < n; ++k) {
                     const float v = acc[k] + bias_[c0 + k];
                     dst[k] = relu_ ? std::max(v, 0.0f) : v;
                   }
                 });
  }

 private:
  ConvGeometry g_;
  std::vector<float> weights_;
  std::vector<float> bias_;
  bool relu_;
  std::ptrdiff_t in_, out_;
};

class FloatAdd final : public Kernel {
 public:
  FloatAdd(const Graph& graph, const Op& op, const ArenaPlan& plan)
      : n_(graph.tensors[static_cast<std::size_t>(op.output)].numel()),
        relu_(op.activation == Activation::relu),
        a_(offset_of(plan, op.inputs[0])),
        b_(offset_of(plan, op.inputs[1])),
        out_(offset_of(plan, op.output)) {}

  void run(std::byte* arena) override {
    const float* a = tensor_at<const float>(arena, a_);
    const float* b = tensor_at<const float>(arena, b_);
    float* y = tensor_at<float>(arena, out_);
    for (std::int64_t i = 0; i < n_; ++i) {
      const float v = a[i] + b[i];
      y[i] = relu_ ? std::max(v, 0.0f) : v;
    }
  }

 private:
  std::int64_t n_;
  bool relu_;
  std::ptrdiff_t a_, b_, out_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> make_float_kernel(const Graph& graph, const Op& op, const ArenaPlan& plan) {
  switch (op.kind) {
    case OpKind::conv2d:
    case OpKind::fully_connected: return std::unique_ptr<Kernel>(std::make_unique<FloatConv>(graph, op, plan));
    case OpKind::max_pool2d: return std::unique_ptr<Kernel>(std::make_unique<MaxPool<float>>(graph, op, plan));
    case OpKind::add: return std::unique_ptr<Kernel>(std::make_unique<FloatAdd>(graph, op, plan));
    case OpKind::quantize:
    case OpKind::dequantize:
    case OpKind::reshape: break;
  }
  return fail(ErrorCode::invalid_argument,
              "op '" + op.name + "' (" + std::string(to_string(op.kind)) + ") has no float32 kernel");
}

}  // namespace edgefed::runtime::detail
