// A deployable graph (runtime/graph.hpp) as a TensorFlow Lite flatbuffer, for the runtimes
// device makers already ship (TFLite, TFLite Micro, Arm NN). The file is a one-to-one
// translation: the graph's operators and quantization already follow the TFLite int8
// specification, so nothing is re-quantized on the way. Tensors keep their graph names,
// shapes (NHWC activations, OHWI conv weights, [O, I] FC weights), dtypes, scales and zero
// points; constants' bytes are the graph's values, little-endian.
//
//   graph op          TFLite builtin (version int8 / float)   notes
//   quantize          QUANTIZE (1)                  float → int8
//   dequantize        DEQUANTIZE (2)                int8 → float
//   conv2d            CONV_2D (3 / 1)               SAME padding, stride 1, dilation 1, fused
//                                                   RELU; int8 weights per output channel
//                                                   (quantized_dimension 0, zero point 0),
//                                                   int32 bias, quantized_dimension 0
//   max_pool2d        MAX_POOL_2D (2 / 1)           VALID padding, filter = stride = pool
//   add               ADD (2 / 1)                   fused RELU
//   reshape           RESHAPE (1)                   new_shape option and an int32 shape
//                                                   input "<op>.shape" (the graph's (H, W, C)
//                                                   flatten order is TFLite's row-major one)
//   fully_connected   FULLY_CONNECTED (4 / 1)       per-tensor int8 weights (Arm NN 20.08
//                                                   aborts on per-channel FC weights)
//   (softmax option)  SOFTMAX (2 / 1)               beta 1; int8 output scale 1/256, zero
//                                                   point −128
// Versions are upstream TFLite's (tools/versioning/op_version.cc) for these signatures.
// A conv2d or fully_connected without a bias (the adapters' convolutions) gets an explicit
// zero bias "<op>.bias" (int32 at input × weight scale, or float32): the one form both target
// runtimes load — an omitted (-1) bias is refused by Arm NN 20.08 and by TFLite's interpreter
// (tfjs-tflite 0.0.1-alpha.10), and the latter also refuses a 2-input int8 CONV_2D.
// Activations share the empty buffer 0; each constant has its own buffer.
//
// Edges (TfliteOptions): by default the file takes the float image and returns float logits,
// like the graph. int8_io leaves out the graph's edge QUANTIZE and DEQUANTIZE, so the file
// takes the int8 image (the quantize output's name, scale and zero point) and returns int8
// logits (or probabilities). softmax appends SOFTMAX to the logits — on the int8 logits
// before the DEQUANTIZE for an int8 graph — and names its output "probabilities" (the int8
// one "probabilities.int8" when a DEQUANTIZE follows). Added names are made unique with a
// "_2", "_3", … suffix when the graph already uses them.
//
// Both OperatorCode fields (deprecated_builtin_code and builtin_code) are set: Arm NN 20.08
// reads only the old one. The schema is the project's own subset (schema/tflite_subset.fbs,
// namespace edgefed.tflite so it never clashes with another tflite:: in the same binary),
// compiled by flatc at build time; the written buffer is verified before it is returned.
//
// Refused at export time, never written (invalid_argument, "TFLite export: ..." naming the
// operator or tensor and what would make it exportable): a graph that fails Graph::validate
// (which holds the int8 rules: weight zero point 0, bias scale = input × weight scale,
// per-tensor FC weights, int8 codes in range, pooling and reshape keeping quantization, …),
// int8 I/O asked of a float graph or of an int8 graph whose input is not read by one quantize
// only or whose output is not written by a dequantize, an edge left out whose tensor another
// operator reads, constants over 1 GiB (a flatbuffer addresses under 2 GiB). bad_encoding if
// the written buffer failed verification (an exporter bug; nothing is returned).
//
// Thread-safety: the functions keep no state and may run concurrently.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/runtime/graph.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace edgefed::exporter {

struct TfliteOptions {
  // int8 graphs only: the model takes the int8 image and returns int8 logits (the QUANTIZE /
  // DEQUANTIZE at the graph's edges are left out; the caller quantizes with the input
  // tensor's scale and zero point). Default: float in, float out.
  bool int8_io = false;
  // Append SOFTMAX after the logits (probabilities instead of logits).
  bool softmax = false;
  std::string description = "edgefed";  // Model.description
};

Result<Bytes> write_tflite(const runtime::Graph& graph, const TfliteOptions& options = {});

// What a TFLite file takes and returns, read back from its bytes: for tools that report what
// they wrote and for callers that quantize the input themselves (int8_io).
struct TfliteTensorInfo {
  std::string name;
  std::string type;  // TFLite's name: "FLOAT32", "INT8", "INT32", …; "TYPE_<n>" outside the schema subset
  std::vector<std::int64_t> shape;
  std::vector<float> scales;  // empty when the tensor has no quantization
  std::vector<std::int64_t> zero_points;
};

struct TfliteInfo {
  std::size_t operators = 0;
  std::string description;
  TfliteTensorInfo input;
  TfliteTensorInfo output;
};

// bad_encoding when the bytes do not verify as a TFLite ("TFL3") flatbuffer; bad_value when
// it does not have exactly one subgraph with one input and one output, or a tensor index is
// out of range.
Result<TfliteInfo> inspect_tflite(ByteSpan bytes);

}  // namespace edgefed::exporter
