// The compression pipeline for a trained default CNN, as `edgefed-model quantize` and
// `edgefed-bench compress` run it:
//
//   lower      the float32 deployable graph (compress::lower_default_cnn)
//   calibrate  activation ranges on a representative set (default 100 samples, mse observer)
//   PTQ        compress::quantize_graph → int8 graph, accuracy measured with int8 arithmetic
//   QAT        if PTQ loses more than `budget` against the float graph on the validation set
//              (or always / never, as configured): quantization-aware fine-tuning of a copy
//              of the model, then quantize_graph again with the learned ranges; in auto mode
//              the QAT graph replaces the PTQ one only if it is at least as accurate
//
// The input model is never modified. Validation accuracy decides; report test accuracy
// separately (the decision must not see the test set).
#pragma once

#include "edgefed/common/result.hpp"
#include "edgefed/compress/ptq.hpp"
#include "edgefed/data/dataset.hpp"
#include "edgefed/data/partition.hpp"
#include "edgefed/ml/model.hpp"
#include "edgefed/ml/qat.hpp"
#include "edgefed/runtime/graph.hpp"

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace edgefed::ml {

enum class QatMode { never, automatic, always };
std::string_view to_string(QatMode mode) noexcept;
Result<QatMode> parse_qat_mode(std::string_view name);  // "never" | "auto" | "always"

struct QuantizeOptions {
  compress::CalibrationConfig calibration;
  QatMode qat = QatMode::automatic;
  double budget = 0.01;  // accuracy PTQ may lose before QAT runs (fraction: 0.01 = 1 point)
  QatConfig qat_config;
};

struct QuantizeResult {
  runtime::Graph float_graph;
  runtime::Graph int8_graph;       // the PTQ graph, or the QAT one when QAT ran
  double float_accuracy = 0;       // validation set, float graph
  double ptq_accuracy = 0;         // validation set, PTQ int8 graph
  std::optional<double> qat_accuracy;  // validation set, QAT int8 graph (when QAT ran)
  bool used_qat = false;
  std::optional<QatReport> qat;
};

// The server-side data compression works with: the cloud split of the Fashion-MNIST training
// set (the same split edgefed-model pretrain trains on; devices' data never enters), its
// last `validation` images held out from calibration and fine-tuning, and the test set.
struct CompressionData {
  data::Dataset train;
  data::Dataset validation;
  data::Dataset test;
};
inline constexpr std::uint64_t kDefaultCloudSeed = 1;
inline constexpr std::size_t kDefaultValidationImages = 2000;
Result<CompressionData> load_compression_data(const std::filesystem::path& fashion_mnist_dir,
                                              std::uint64_t seed = kDefaultCloudSeed,
                                              double cloud_fraction = data::kDefaultCloudFraction,
                                              std::size_t validation = kDefaultValidationImages);

// The representative set for calibration: the first `samples` images of
// load_compression_data's training part (default seed and split).
Result<data::Dataset> load_calibration_images(const std::filesystem::path& fashion_mnist_dir, std::size_t samples = 100);

// Lowers `model` (a default CNN, pruned or not) to its float graph.
Result<runtime::Graph> lower(const Model& model);

// A new model with the same architecture and tensors (default CNNs only).
Result<Model> copy_model(const Model& model);

// `train`: QAT data and the calibration set (its first calibration.samples images);
// `validation`: decides whether QAT is needed. `log` receives progress lines.
Result<QuantizeResult> quantize_model(const Model& model, const data::Dataset& train, const data::Dataset& validation,
                                      const QuantizeOptions& options,
                                      const std::function<void(const std::string&)>& log = {});

}  // namespace edgefed::ml
