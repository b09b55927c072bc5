// Prepared operators of the interpreter. A kernel is built once from a validated graph and the
// arena plan: it keeps its weights in the layout its inner loop wants, the arena offsets of its
// operands and any scratch it needs, and `run` reads and writes the arena and that scratch only
// (no allocation, no checks).
#pragma once

#include "edgefed/runtime/graph.hpp"
#include "edgefed/runtime/interpreter.hpp"

#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

namespace edgefed::runtime::detail {

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run(std::byte* arena) = 0;
};

// Float kernels: conv2d, fully_connected, max_pool2d, add (all operands float32).
Result<std::unique_ptr<Kernel>> make_float_kernel(const Graph& graph, const Op& op, const ArenaPlan& plan);
// Integer kernels: quantize, dequantize, and conv2d, fully_connected, max_pool2d, add on int8.
// bad_value naming the operator when a requantization multiplier is out of the range the
// fixed-point arithmetic represents.
Result<std::unique_ptr<Kernel>> make_int8_kernel(const Graph& graph, const Op& op, const ArenaPlan& plan);

// ---- shared ----------------------------------------------------------------------------------

template <typename T>
T* tensor_at(std::byte* arena, std::ptrdiff_t offset) {
  return reinterpret_cast<T*>(arena + offset);
}

// A "same"-padded stride-1 convolution; fully_connected is the 1×1 case on a 1×1 image.
struct ConvGeometry {
  int height = 1, width = 1, in_channels = 0, out_channels = 0, kernel_h = 1, kernel_w = 1;

  static ConvGeometry of(const Graph& graph, const Op& op);
  std::size_t taps_in() const { return static_cast<std::size_t>(kernel_h) * kernel_w * in_channels; }
};

inline ConvGeometry ConvGeometry::of(const Graph& graph, const Op& op) {
  const Shape& w = graph.tensors[static_cast<std::size_t>(op.inputs[1])].shape;
  ConvGeometry g;
  g.out_channels = static_cast<int>(w[0]);
  g.in_channels = static_cast<int>(w.back());
  if (op.kind == OpKind::conv2d) {
    const Shape& x = graph.tensors[static_cast<std::size_t>(op.inputs[0])].shape;
    g.height = static_cast<int>(x[1]);
    g.width = static_cast<int>(x[2]);
    g.kernel_h = static_cast<int>(w[1]);
    g.kernel_w = static_cast<int>(w[2]);
  }
  return g;
}

// max_pool2d on float32 values or on int8 codes (the output keeps the input's quantization, so
// the largest code is the code of the largest value).
template <typename T>
class MaxPool final : public Kernel {
 public:
  MaxPool(const Graph& graph, const Op& op, const ArenaPlan& plan)
      : shape_(graph.tensors[static_cast<std::size_t>(op.inputs[0])].shape),
        pool_(op.pool),
        in_(plan.offsets[static_cast<std::size_t>(op.inputs[0])]),
        out_(plan.offsets[static_cast<std::size_t>(op.output)]) {}

  void run(std::byte* arena) override {
    const T* x = tensor_at<const T>(arena, in_);
    T* y = tensor_at<T>(arena, out_);
    const std::int64_t w = shape_[2], c = shape_[3];
    const std::int64_t out_h = shape_[1] / pool_, out_w = w / pool_;
    for (std::int64_t oy = 0; oy < out_h; ++oy) {
      for (std::int64_t ox = 0; ox < out_w; ++ox) {
        T* dst = y + (oy * out_w + ox) * c;
        const T* corner = x + (oy * pool_ * w + ox * pool_) * c;
        std::copy(corner, corner + c, dst);
        for (int dy = 0; dy < pool_; ++dy) {
          for (int dx = 0; dx < pool_; ++dx) {
            const T* src = corner + (dy * w + dx) * c;
            for (std::int64_t k = 0; k < c; ++k) dst[k] = std::max(dst[k], src[k]);
          }
        }
      }
    }
  }

 private:
  Shape shape_;
  int pool_;
  std::ptrdiff_t in_, out_;
};

}  // namespace edgefed::runtime::detail
