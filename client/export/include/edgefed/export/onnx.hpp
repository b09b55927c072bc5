// A deployable graph as an ONNX model (opset 13, IR version 7) for ONNX Runtime and friends.
// int8 graphs are written in the QDQ form: every int8 tensor of the graph becomes
// QuantizeLinear → DequantizeLinear with the same scale and zero point, weights are int8
// initializers behind DequantizeLinear (per-axis for conv weights, per-tensor for the fully
// connected one), biases int32 behind DequantizeLinear, so a QDQ-aware runtime can run the
// same integer arithmetic and any runtime can run it in float. Float graphs are plain float
// ONNX. Layout: ONNX convolutions are NCHW, so the input is transposed once, weights are
// written OIHW, and the activation is transposed back before the flatten (the graph's head
// expects the (H, W, C) flatten order).
//
//   graph op          ONNX nodes (float result, then QuantizeLinear for an int8 output)
//   quantize          QuantizeLinear
//   dequantize        DequantizeLinear
//   conv2d            Conv (pads KH/2, KW/2; stride 1) [+ Relu]
//   max_pool2d        MaxPool (kernel = stride = pool)
//   add               Add [+ Relu]
//   reshape           [Transpose to NHWC] Reshape [Transpose to NCHW]
//   fully_connected   Gemm (transB = 1) [+ Relu]
//
// Names: the graph input and output keep the graph's names, shapes and dtype (float32
// [1, H, W, C] in, float32 [1, K] out). Every activation the graph's operators write keeps
// its graph name (4-D ones hold NCHW data; an int8 one is the QuantizeLinear output, its float
// view "<name>.dq"). Weights and biases keep their names as initializers, with
// "<name>.scale" and "<name>.zero_point" for int8 / int32 ones (a scalar for one scale, a 1-D
// tensor and axis 0 for per-channel scales). Other names get a suffix made unique.
//
// The model is checked before it is returned: onnx::checker::check_model and strict shape
// inference. Refused (invalid_argument naming the operator and what would make it
// exportable): what Graph::validate refuses, operators or activations outside the graph's set,
// a model the checker rejects.
//
// Thread-safety: both functions keep no state and may run concurrently.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/runtime/graph.hpp"

#include <string>

namespace edgefed::exporter {

struct OnnxOptions {
  std::string producer = "edgefed";  // ModelProto.producer_name
};

Result<Bytes> write_onnx(const runtime::Graph& graph, const OnnxOptions& options = {});

// A serialized ONNX model through onnx::checker::check_model and strict shape inference (type
// checks, node errors thrown, declared and inferred shapes merged), as write_onnx checks its
// own output. bad_encoding when the bytes are not a ModelProto, bad_value with the checker's
// message when it rejects the model. Not checked: per-axis scale counts against the channel
// count (ONNX 1.12's checker lets them differ; runtimes refuse them at load time).
Status check_onnx(ByteSpan model);

}  // namespace edgefed::exporter
