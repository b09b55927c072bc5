// A deployable graph (runtime/graph.hpp) as a TensorFlow Lite flatbuffer, for the runtimes
// device makers already ship (TFLite, TFLite Micro, Arm NN). The file is a one-to-one
// translation: the graph's operators and quantization already follow the TFLite int8
// specification, so nothing is re-quantized on the way.
//
//   graph op          TFLite builtin (version)     notes
//   quantize          QUANTIZE (2)                  int8 graphs with float input
//   dequantize        DEQUANTIZE (2)                int8 graphs with float output
//   conv2d            CONV_2D (3)                   SAME padding, stride 1, fused RELU; int8
//                                                   weights per output channel (axis 0, zero
//                                                   point 0), int32 bias, quantized_dimension 0
//   max_pool2d        MAX_POOL_2D (2)               VALID padding, filter = stride = pool
//   add               ADD (2)                       fused RELU
//   reshape           RESHAPE (1)                   new_shape option and shape tensor
//   fully_connected   FULLY_CONNECTED (4)           per-tensor int8 weights (Arm NN 20.08
//                                                   aborts on per-channel FC weights)
//   (softmax option)  SOFTMAX (2)                   int8 output scale 1/256, zero point −128
//
// Both OperatorCode fields (deprecated_builtin_code and builtin_code) are set: Arm NN 20.08
// reads only the old one. The schema is the project's own subset (schema/tflite_subset.fbs,
// namespace edgefed.tflite so it never clashes with another tflite:: in the same binary),
// compiled by flatc at build time; the written buffer is verified before it is returned.
//
// Refused at export time, never written (invalid_argument naming the operator or tensor and
// what would make it exportable): a graph that fails Graph::validate, an operator or fused
// activation outside the table, a quantization the TFLite int8 spec does not allow (weight
// zero point ≠ 0, bias scale ≠ input × weight scale, per-channel FC weights, …), int8 I/O
// asked of a float graph.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/runtime/graph.hpp"

#include <string>

namespace edgefed::exporter {

struct TfliteOptions {
  // int8 graphs only: the model takes the int8 image and returns int8 logits (the QUANTIZE /
  // DEQUANTIZE at the graph's edges are left out; the caller quantizes with the input
  // tensor's scale and zero point). Default: float in, float out.
  bool int8_io = false;
  // Append SOFTMAX after the logits (probabilities instead of logits).
  bool softmax = false;
  std::string description = "edgefed";
};

Result<Bytes> write_tflite(const runtime::Graph& graph, const TfliteOptions& options = {});

}  // namespace edgefed::exporter
