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
// The model is checked before it is returned: onnx::checker::check_model and strict shape
// inference. Refused (invalid_argument naming the operator and what would make it
// exportable): what Graph::validate refuses, operators or activations outside the graph's set.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/runtime/graph.hpp"

#include <string>

namespace edgefed::exporter {

struct OnnxOptions {
  std::string producer = "edgefed";
};

Result<Bytes> write_onnx(const runtime::Graph& graph, const OnnxOptions& options = {});

}  // namespace edgefed::exporter
