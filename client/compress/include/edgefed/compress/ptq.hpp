// Post-training int8 quantization of a float32 graph (runtime/graph.hpp, TFLite int8 scheme):
//
//   calibrate       runs the float graph on a representative set and returns, per float
//                   activation tensor, the range its int8 grid will cover
//   quantize_graph  the int8 graph: a quantize op after the input, int8 activations with the
//                   calibrated (scale, zero point), conv weights int8 symmetric per output
//                   channel, fully-connected weights int8 symmetric per tensor, biases int32
//                   at scale s_in × s_w[c], max-pool and reshape outputs sharing their input's
//                   parameters, and a dequantize op producing float logits
//
// Ranges are keyed by tensor name (lower.hpp names them), so quantization-aware training can
// hand back its own learned ranges for the same graph.
#pragma once

#include "edgefed/common/result.hpp"
#include "edgefed/compress/observer.hpp"
#include "edgefed/data/dataset.hpp"
#include "edgefed/runtime/graph.hpp"

#include <functional>
#include <map>
#include <string>

namespace edgefed::compress {

using ActivationRanges = std::map<std::string, Range>;

struct CalibrationConfig {
  Calibration method = Calibration::mse;
  double percentile = 99.99;
  std::size_t samples = 100;  // the first `samples` images of the representative set
};

// invalid_argument for an empty set, a non-float graph or samples == 0.
Result<ActivationRanges> calibrate(const runtime::Graph& float_graph, const data::Dataset& representative,
                                   const CalibrationConfig& config);

// schema_mismatch when a float activation has no range.
Result<runtime::Graph> quantize_graph(const runtime::Graph& float_graph, const ActivationRanges& ranges);

// Symmetric int8 codes and scales of a weight tensor [O, ...]: per output channel, or one
// scale for the whole tensor. scale = max|w| / 127 (kEmptyChannelScale for an all-zero slice).
struct SymmetricWeights {
  std::vector<std::int8_t> codes;
  std::vector<float> scales;
};
SymmetricWeights quantize_weights_symmetric(std::span<const float> values, std::int64_t out_channels,
                                            bool per_channel);

}  // namespace edgefed::compress
