// Local training on a device, and central pre-training of the backbone.
//
// train_local trains only the current tier's trainable tensors (the frozen backbone runs
// without autograd where nothing upstream trains), keeps *local* tensors on the device
// (FedBN), and returns the delta (new − start) of the *aggregate* tensors — the only thing
// that leaves the device, through secure aggregation.
#pragma once

#include "edgefed/common/parameter_set.hpp"
#include "edgefed/common/protocol.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/data/dataset.hpp"
#include "edgefed/ml/model.hpp"

#include <functional>
#include <optional>

namespace edgefed::ml {

enum class OptimizerKind { sgd, adam };
Result<OptimizerKind> parse_optimizer(std::string_view name);

struct TrainConfig {
  OptimizerKind optimizer = OptimizerKind::sgd;
  double learning_rate = 0.05;
  double momentum = 0.0;          // SGD only
  std::size_t epochs = 1;
  std::size_t batch_size = 32;
  double prox_mu = 0.0;           // FedProx: + μ/2 ‖w − w_start‖² over trained aggregate tensors
  double clip_grad_norm = 0.0;    // 0: off
  std::uint64_t seed = 1;         // shuffling
  bool reestimate_batchnorm_first = true;  // FedBN: fit BN statistics to local data first
};

struct TrainReport {
  ParameterSet delta;          // aggregate tensors: new − start
  std::size_t examples = 0;    // samples seen (epochs × dataset size)
  double first_epoch_loss = 0;
  double last_epoch_loss = 0;
  double wall_seconds = 0;
  std::size_t peak_rss_increase_bytes = 0;  // peak resident set during the round − before it
};

// The training config a server's round plan asks for (common/protocol.hpp), with `seed` for
// shuffling. invalid_argument for an unknown optimizer.
Result<TrainConfig> train_config_for(const protocol::TrainPlan& plan, std::uint64_t seed);

// Errors: invalid_argument for an empty dataset or a bad config (epochs, batch, lr).
Result<TrainReport> train_local(Model& model, const data::Dataset& data, const TrainConfig& config);

struct PretrainConfig {
  std::size_t epochs = 12;
  std::size_t batch_size = 64;
  double learning_rate = 2e-3;  // Adam, halved every 4 epochs
  std::uint64_t seed = 1;
};

// Trains the whole backbone and head (adapters stay the identity) on centrally held data.
// `progress(epoch, train_loss, test_accuracy)` is called after every epoch when `test` is given.
Result<Evaluation> pretrain(Model& model, const data::Dataset& train, const data::Dataset* test,
                            const PretrainConfig& config,
                            const std::function<void(std::size_t, double, double)>& progress = {});

}  // namespace edgefed::ml
