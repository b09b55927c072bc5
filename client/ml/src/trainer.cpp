#include "edgefed/ml/trainer.hpp"

#include "edgefed/common/process.hpp"
#include "model_impl.hpp"
#include "train_loop.hpp"

#include <torch/nn/functional/loss.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <chrono>
#include <numeric>

namespace edgefed::ml {

namespace F = torch::nn::functional;

namespace {

// Marks exactly the schema's trainable tensors as requiring gradients; returns them.
std::vector<torch::Tensor> arm_trainable(ModelImpl& m) {
  std::vector<torch::Tensor> trainable;
  for (std::size_t i = 0; i < m.tensors.size(); ++i) {
    const TensorSpec& spec = m.schema.tensors[i];
    const bool is_param = spec.role != TensorRole::bn_mean && spec.role != TensorRole::bn_var;
    if (is_param) m.tensors[i].set_requires_grad(spec.trainable);
    if (spec.trainable && is_param) trainable.push_back(m.tensors[i]);
  }
  return trainable;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& params,
                                                        const TrainConfig& c) {
  if (c.optimizer == OptimizerKind::adam) {
    return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(c.learning_rate));
  }
  return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(c.learning_rate).momentum(c.momentum));
}

Status check(const data::Dataset& data, const TrainConfig& c) {
  if (data.size() == 0) return fail(ErrorCode::invalid_argument, "train: empty dataset");
  if (c.epochs == 0 || c.batch_size == 0) return fail(ErrorCode::invalid_argument, "train: epochs and batch_size must be > 0");
  if (!(c.learning_rate > 0) || !std::isfinite(c.learning_rate)) {
    return fail(ErrorCode::invalid_argument, "train: learning_rate must be a positive number");
  }
  if (c.prox_mu < 0 || c.clip_grad_norm < 0 || c.momentum < 0) {
    return fail(ErrorCode::invalid_argument, "train: prox_mu, clip_grad_norm and momentum must be >= 0");
  }
  return {};
}

// One pass over `order` in batches; returns the mean loss.
double run_epoch(ModelImpl& m, const data::Dataset& data, const std::vector<std::size_t>& order,
                 std::size_t batch_size, torch::optim::Optimizer& opt, const std::vector<torch::Tensor>& trainable,
                 const std::vector<torch::Tensor>& prox_anchor, double prox_mu, double clip) {
  double total = 0;
  for (std::size_t first = 0; first < order.size(); first += batch_size) {
    const std::size_t count = std::min(batch_size, order.size() - first);
    if (count < 2 && order.size() >= 2) break;  // a 1-sample batch breaks BatchNorm's batch statistics
    const torch::Tensor x = images_tensor(data, order, first, count);
    const torch::Tensor y = labels_tensor(data, order, first, count);
    opt.zero_grad();
    torch::Tensor loss = F::cross_entropy(m.forward(x), y);
    total += loss.item<double>() * static_cast<double>(count);
    if (prox_mu > 0) {
      torch::Tensor prox = torch::zeros({});
      for (std::size_t i = 0; i < prox_anchor.size(); ++i) prox = prox + (trainable[i] - prox_anchor[i]).pow(2).sum();
      loss = loss + 0.5 * prox_mu * prox;
    }
    loss.backward();
    if (clip > 0) torch::nn::utils::clip_grad_norm_(trainable, clip);
    opt.step();
  }
  return total / static_cast<double>(order.size());
}

}  // namespace

Result<OptimizerKind> parse_optimizer(std::string_view name) {
  if (name == "sgd") return OptimizerKind::sgd;
  if (name == "adam") return OptimizerKind::adam;
  return fail(ErrorCode::invalid_argument, "optimizer '" + std::string(name) + "': expected sgd or adam");
}

Result<TrainConfig> train_config_for(const protocol::TrainPlan& plan, std::uint64_t seed) {
  TrainConfig config;
  EDGEFED_ASSIGN_OR_RETURN(config.optimizer, parse_optimizer(plan.optimizer));
  config.learning_rate = plan.learning_rate;
  config.momentum = plan.momentum;
  config.epochs = plan.epochs;
  config.batch_size = plan.batch_size;
  config.prox_mu = plan.prox_mu;
  config.reestimate_batchnorm_first = plan.reestimate_batchnorm;
  config.seed = seed;
  return config;
}

Result<TrainReport> train_local(Model& model, const data::Dataset& data, const TrainConfig& config) {
  EDGEFED_TRY(check(data, config));
  const auto t0 = std::chrono::steady_clock::now();
  reset_peak_resident();
  const std::size_t rss_before = resident_bytes();
  ModelImpl& m = model.impl();
  if (config.reestimate_batchnorm_first || model.tier() == Tier::bn_stats) model.reestimate_batchnorm(data);

  TrainReport report;
  const ParameterSet start = model.tensors(TensorPolicy::aggregate);
  if (model.tier() != Tier::bn_stats) {
    std::vector<torch::Tensor> trainable = arm_trainable(m);
    std::vector<torch::Tensor> anchor;
    if (config.prox_mu > 0) {
      for (const torch::Tensor& t : trainable) anchor.push_back(t.detach().clone());
    }
    auto opt = make_optimizer(trainable, config);
    // BatchNorm learns from batch statistics only when it trains; in the head tier the
    // backbone (its statistics included) stays as the device re-estimated it.
    m.set_mode(model.tier() != Tier::head);
    std::vector<std::size_t> order(data.size());
    std::iota(order.begin(), order.end(), 0);
    std::uint64_t rng = config.seed;
    for (std::size_t epoch = 0; epoch < config.epochs; ++epoch) {
      shuffle(order, rng);
      const double loss = run_epoch(m, data, order, config.batch_size, *opt, trainable, anchor, config.prox_mu,
                                    config.clip_grad_norm);
      if (epoch == 0) report.first_epoch_loss = loss;
      report.last_epoch_loss = loss;
    }
    disarm(m);
    m.set_mode(false);
    report.examples = config.epochs * data.size();
  }
  report.delta = model.tensors(TensorPolicy::aggregate);
  (void)report.delta.axpy(-1.0f, start);
  report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::size_t peak = peak_resident_bytes();
  report.peak_rss_increase_bytes = peak > rss_before ? peak - rss_before : 0;
  return report;
}

Result<Evaluation> pretrain(Model& model, const data::Dataset& train, const data::Dataset* test,
                            const PretrainConfig& config,
                            const std::function<void(std::size_t, double, double)>& progress) {
  if (train.size() < 2) return fail(ErrorCode::invalid_argument, "pretrain: need at least two samples");
  if (config.batch_size == 0) return fail(ErrorCode::invalid_argument, "pretrain: batch_size must be > 0");
  ModelImpl& m = model.impl();
  // Everything but the adapters trains: devices start from identity adapters.
  torch::optim::Adam opt(arm_backbone(m), torch::optim::AdamOptions(config.learning_rate));
  Evaluation last;
  for (std::size_t epoch = 0; epoch < config.epochs; ++epoch) {
    if (epoch > 0 && epoch % 4 == 0) {
      for (auto& group : opt.param_groups()) {
        auto& o = static_cast<torch::optim::AdamOptions&>(group.options());
        o.lr(o.lr() / 2);
      }
    }
    m.set_mode(true);
    const double loss = train_epoch(m, train, opt, EpochOptions{config.batch_size, config.seed, epoch});
    if (test) {
      last = model.evaluate(*test);
      if (progress) progress(epoch + 1, loss, last.accuracy);
    }
  }
  disarm(m);
  m.set_mode(false);
  return last;
}

}  // namespace edgefed::ml
