#include "edgefed/ml/compression.hpp"

#include "edgefed/compress/evaluate.hpp"
#include "edgefed/compress/lower.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/data/federated.hpp"
#include "edgefed/data/partition.hpp"
#include "edgefed/data/rng.hpp"
#include "edgefed/runtime/interpreter.hpp"

#include <cstdio>
#include <numeric>

namespace edgefed::ml {

std::string_view to_string(QatMode mode) noexcept {
  switch (mode) {
    case QatMode::never: return "never";
    case QatMode::automatic: return "auto";
    case QatMode::always: return "always";
  }
  return "unknown";
}

Result<QatMode> parse_qat_mode(std::string_view name) {
  for (QatMode m : {QatMode::never, QatMode::automatic, QatMode::always}) {
    if (name == to_string(m)) return m;
  }
  return fail(ErrorCode::invalid_argument, "qat mode '" + std::string(name) + "' is not one of never, auto, always");
}

namespace {
// Indices into the training pool: the cloud split's images before, and from, the last
// `validation` (held out of pre-training and fine-tuning).
struct CloudIndices {
  std::vector<std::size_t> train;
  std::vector<std::size_t> validation;
};

Result<CloudIndices> cloud_indices(std::size_t pool_size, std::uint64_t seed, double cloud_fraction,
                                   std::size_t validation) {
  EDGEFED_ASSIGN_OR_RETURN(const data::CloudSplit split,
                           data::split_cloud(pool_size, cloud_fraction, data::derive_seed(seed, data::kCloudStream)));
  if (split.cloud.size() < validation + 2) {
    return fail(ErrorCode::invalid_argument, "compression data: the cloud split has " + std::to_string(split.cloud.size()) +
                                                 " images, too few to hold out " + std::to_string(validation));
  }
  const auto cut = split.cloud.end() - static_cast<std::ptrdiff_t>(validation);
  return CloudIndices{{split.cloud.begin(), cut}, {cut, split.cloud.end()}};
}
}  // namespace

Result<CompressionData> load_compression_data(const std::filesystem::path& dir, std::uint64_t seed,
                                              double cloud_fraction, std::size_t validation) {
  EDGEFED_ASSIGN_OR_RETURN(data::Dataset pool, data::load_fashion_mnist(dir, data::Split::train));
  EDGEFED_ASSIGN_OR_RETURN(data::Dataset test, data::load_fashion_mnist(dir, data::Split::test));
  EDGEFED_ASSIGN_OR_RETURN(const CloudIndices indices, cloud_indices(pool.size(), seed, cloud_fraction, validation));
  CompressionData d;
  d.train = pool.subset(indices.train);
  d.validation = pool.subset(indices.validation);
  d.test = std::move(test);
  return d;
}

Result<data::Dataset> load_calibration_images(const std::filesystem::path& dir, std::size_t samples) {
  // The training pool only: the test set has no part in calibration.
  EDGEFED_ASSIGN_OR_RETURN(data::Dataset pool, data::load_fashion_mnist(dir, data::Split::train));
  EDGEFED_ASSIGN_OR_RETURN(CloudIndices indices, cloud_indices(pool.size(), kDefaultCloudSeed, data::kDefaultCloudFraction,
                                                                kDefaultValidationImages));
  indices.train.resize(std::min(samples, indices.train.size()));
  return pool.subset(indices.train);
}

Result<runtime::Graph> lower(const Model& model) {
  EDGEFED_ASSIGN_OR_RETURN(const CnnConfig config, CnnConfig::from_json(model.architecture()));
  return compress::lower_default_cnn(model.state(), config.image_size, 1);
}

Result<Model> copy_model(const Model& model) {
  EDGEFED_ASSIGN_OR_RETURN(const CnnConfig config, CnnConfig::from_json(model.architecture()));
  EDGEFED_ASSIGN_OR_RETURN(Model copy, Model::default_cnn(config));
  EDGEFED_TRY(copy.load(model.state()));
  copy.set_tier(model.tier());
  return copy;
}

namespace {
Result<double> accuracy_of(const runtime::Graph& graph, const data::Dataset& data) {
  EDGEFED_ASSIGN_OR_RETURN(runtime::Interpreter interpreter, runtime::Interpreter::create(graph));
  EDGEFED_ASSIGN_OR_RETURN(const compress::GraphEvaluation e, compress::evaluate_graph(interpreter, data));
  return e.accuracy;
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100 * v);
  return buf;
}
}  // namespace

Result<QuantizeResult> quantize_model(const Model& model, const data::Dataset& train, const data::Dataset& validation,
                                      const QuantizeOptions& options,
                                      const std::function<void(const std::string&)>& log) {
  const auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  if (!(options.budget >= 0)) return fail(ErrorCode::invalid_argument, "quantize: budget must be >= 0");
  QuantizeResult r;
  EDGEFED_ASSIGN_OR_RETURN(r.float_graph, lower(model));
  EDGEFED_ASSIGN_OR_RETURN(compress::ActivationRanges ranges,
                           compress::calibrate(r.float_graph, train, options.calibration));
  EDGEFED_ASSIGN_OR_RETURN(r.int8_graph, compress::quantize_graph(r.float_graph, ranges));
  EDGEFED_ASSIGN_OR_RETURN(r.float_accuracy, accuracy_of(r.float_graph, validation));
  EDGEFED_ASSIGN_OR_RETURN(r.ptq_accuracy, accuracy_of(r.int8_graph, validation));
  const double loss = r.float_accuracy - r.ptq_accuracy;
  say("validation accuracy: float32 " + percent(r.float_accuracy) + ", PTQ int8 " + percent(r.ptq_accuracy) + " (" +
      std::string(compress::to_string(options.calibration.method)) + " calibration on " +
      std::to_string(std::min(options.calibration.samples, train.size())) + " samples)");
  const bool run_qat =
      options.qat == QatMode::always || (options.qat == QatMode::automatic && loss > options.budget);
  if (!run_qat) return r;
  say(options.qat == QatMode::always ? "quantization-aware training (forced)"
                                     : "PTQ loses " + percent(loss) + " > budget " + percent(options.budget) +
                                           ": quantization-aware training");
  EDGEFED_ASSIGN_OR_RETURN(Model student, copy_model(model));
  EDGEFED_ASSIGN_OR_RETURN(QatReport report,
                           train_quantization_aware(student, train, ranges, options.qat_config,
                                                    [&](std::size_t epoch, double l) {
                                                      say("QAT epoch " + std::to_string(epoch) + "/" +
                                                          std::to_string(options.qat_config.epochs) + "  loss " +
                                                          std::to_string(l));
                                                    }));
  EDGEFED_ASSIGN_OR_RETURN(const runtime::Graph qat_float, lower(student));
  EDGEFED_ASSIGN_OR_RETURN(runtime::Graph qat_graph, compress::quantize_graph(qat_float, ranges));
  EDGEFED_ASSIGN_OR_RETURN(const double qat_accuracy, accuracy_of(qat_graph, validation));
  say("validation accuracy: QAT int8 " + percent(qat_accuracy));
  r.qat_accuracy = qat_accuracy;
  r.qat = std::move(report);
  // Automatic QAT is kept only when it helps (it can overfit a small training set); forced
  // QAT is what the caller asked for.
  if (options.qat == QatMode::always || qat_accuracy >= r.ptq_accuracy) {
    r.int8_graph = std::move(qat_graph);
    r.used_qat = true;
  } else {
    say("QAT did not beat PTQ on the validation set: keeping the PTQ graph");
  }
  return r;
}

}  // namespace edgefed::ml
