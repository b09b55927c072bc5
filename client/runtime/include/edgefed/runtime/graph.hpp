// A deployable model as a small static graph: the format a device runs (no LibTorch), the
// input of the int8 quantizer, and what the exporters (TFLite, ONNX) translate. Its operators
// and quantization scheme are those of the TFLite int8 specification, so an exported file is a
// one-to-one translation, never a re-interpretation.
//
// Tensors (batch 1, channels last, as TFLite):
//   activation   [1, H, W, C] or [1, N]                                  float32 | int8
//   conv weight  [O, KH, KW, I]  ("OHWI")                                float32 | int8
//   FC weight    [O, I]                                                  float32 | int8
//   bias         [O]                                                     float32 | int32
//
// Quantization of an int8 / int32 tensor, real = scale × (q − zero_point):
//   activations  int8, one scale and one zero point in [−128, 127] (asymmetric, per tensor)
//   conv weights int8 in [−127, 127], zero point 0, one scale per output channel (axis 0)
//   FC weights   int8 in [−127, 127], zero point 0, ONE scale (per tensor: Arm NN 20.08 and
//                older TFLite kernels abort on per-channel FULLY_CONNECTED weights)
//   biases       int32, zero point 0, scale[c] = input scale × weight scale[c], exactly
//
// Operators, in execution order (`Graph::ops`); every operator reads tensors written by
// earlier operators or constants, and writes exactly one new tensor:
//   quantize         float32 → int8 with the output's (scale, zero point)
//   dequantize       int8 → float32
//   conv2d           inputs {input, weights[, bias]} (no bias: zero); stride 1, "same" padding (zero padding,
//                    i.e. the input zero point for int8), optional fused ReLU
//   max_pool2d       inputs {input}; window = stride = `pool`; int8 output keeps the input's
//                    quantization exactly
//   add              inputs {a, b}, same shape; optional fused ReLU
//   reshape          inputs {input}; same element count and (int8) quantization
//   fully_connected  inputs {input [1, I], weights [O, I][, bias [O]]}; optional fused ReLU
//
// A float32 graph uses only float tensors; an int8 graph quantizes its float input first and
// dequantizes its logits last, so both take an image and return logits as floats.
#pragma once

#include "edgefed/common/parameter_set.hpp"
#include "edgefed/common/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace edgefed::runtime {

enum class DType : std::uint8_t { float32, int8, int32 };

// Largest element count of one tensor (64 MiB as float32): what a device can be asked to hold,
// so a hostile graph cannot make the interpreter allocate without bound.
inline constexpr std::int64_t kMaxGraphTensorElements = std::int64_t{1} << 24;

struct Quantization {
  std::vector<float> scales;              // empty for float32 tensors
  std::vector<std::int32_t> zero_points;  // same count as scales
  int axis = 0;                           // the channel axis when there is more than one scale

  bool empty() const { return scales.empty(); }
  bool operator==(const Quantization&) const = default;
};

struct Tensor {
  std::string name;
  Shape shape;
  DType dtype = DType::float32;
  Quantization quant;
  bool constant = false;
  // Values of a constant, in the vector of its dtype (row-major); all empty for activations.
  std::vector<float> f32;
  std::vector<std::int8_t> i8;
  std::vector<std::int32_t> i32;

  // Product of the dims, 1 for rank 0; -1 when a dim is negative, the rank is over
  // kMaxTensorRank or the product overflows.
  std::int64_t numel() const;
  bool operator==(const Tensor&) const = default;
};

enum class OpKind : std::uint8_t { quantize, dequantize, conv2d, max_pool2d, add, reshape, fully_connected };
enum class Activation : std::uint8_t { none, relu };

struct Op {
  OpKind kind = OpKind::conv2d;
  std::string name;                          // for messages and export: "conv1", "adapter1.down", "head"
  std::vector<int> inputs;                   // tensor indices, see the operator table above
  int output = -1;                           // tensor index
  Activation activation = Activation::none;  // conv2d, add, fully_connected
  int pool = 2;                              // max_pool2d

  bool operator==(const Op&) const = default;
};

struct Graph {
  std::vector<Tensor> tensors;
  std::vector<Op> ops;
  int input = -1;   // a float32 activation [1, H, W, C], written by no operator
  int output = -1;  // a float32 activation [1, K]: the logits

  // Everything the operator table above requires: indices in range, each tensor written once
  // and before it is read, shapes, dtypes, quantization (counts, axes, zero points, positive
  // finite scales, bias scales = input × weight scale to a relative 1e-6), constant sizes and
  // code ranges. Also: tensor names non-empty and unique (they name artifact tensors), every
  // dim >= 1 and at most kMaxGraphTensorElements elements, activations [1, H, W, C] or
  // [1, N], weights and biases constants and every other operand an activation, a fused
  // activation only on conv2d / add / fully_connected, pool >= 1, quantization axis 0, finite
  // float constants, at most 2^16 products per int8 output (KH × KW × I: the int32 accumulator
  // cannot overflow), the output written by an operator. bad_value naming the operator and the tensor at fault:
  //   "op 3 'block1.conv' (conv2d): weights, tensor 4 'block1.conv.weight': shape [16, 3, 3, 2]
  //    does not match input channels 1"
  Status validate() const;

  bool is_int8() const;                           // any int8 tensor

  // Building a graph in order: append a tensor (returns its index) or an operator.
  int add_tensor(Tensor tensor);
  void add_op(OpKind kind, std::string name, std::vector<int> inputs, int output,
              Activation activation = Activation::none);
  int find(std::string_view tensor_name) const;   // -1 when absent
  bool operator==(const Graph&) const = default;  // every field, values included
};

// Stable lower_snake names, as in the artifact document ("fully_connected", "int8", "relu");
// "unknown" for a value outside the enum.
std::string_view to_string(OpKind kind) noexcept;
std::string_view to_string(DType dtype) noexcept;
std::string_view to_string(Activation activation) noexcept;

}  // namespace edgefed::runtime
