// Quantization-aware training (fake quantization with straight-through gradients) for the
// default CNN, used when post-training quantization loses more than its budget.
//
// The forward pass simulates, in float, exactly the int8 graph that compress::quantize_graph
// builds from compress::lower_default_cnn: BatchNorm folded into each conv's weights with the
// frozen running statistics, conv and adapter weights fake-quantized int8 symmetric per
// output channel, head weights per tensor, and every activation the graph quantizes
// fake-quantized per tensor (asymmetric) at its range. Gradients pass straight through the
// rounding and are zero where a value was clipped (LibTorch's fake_quantize_* operators).
//
// Ranges start from the post-training calibration and follow an exponential moving average
// of each batch's min/max (as PyTorch's default QAT observers); the learned ranges are
// returned for quantize_graph. Trained: backbone conv weights, BatchNorm γ/β, the head.
// Untouched: adapters (their up-projection is the federated part) and BatchNorm statistics.
#pragma once

#include "edgefed/common/result.hpp"
#include "edgefed/compress/ptq.hpp"
#include "edgefed/data/dataset.hpp"
#include "edgefed/ml/model.hpp"

#include <functional>

namespace edgefed::ml {

struct QatConfig {
  std::size_t epochs = 2;
  std::size_t batch_size = 64;
  double learning_rate = 5e-5;   // Adam; small: the model is already trained
  double range_momentum = 0.01;  // weight of each batch in the moving-average ranges
  std::uint64_t seed = 1;
};

struct QatReport {
  std::vector<double> epoch_loss;
  double seconds = 0;
};

// `ranges`: in, the calibrated ranges of every activation of the model's lowered graph
// (compress::calibrate); out, the ranges learned during training. schema_mismatch when a
// range or a tensor of the default CNN is missing; invalid_argument for an empty data set or
// a bad config. progress(epoch, mean loss) after every epoch.
Result<QatReport> train_quantization_aware(Model& model, const data::Dataset& train, compress::ActivationRanges& ranges,
                                           const QatConfig& config,
                                           const std::function<void(std::size_t, double)>& progress = {});

}  // namespace edgefed::ml
