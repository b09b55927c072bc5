#include "edgefed/ml/prune.hpp"

#include "model_impl.hpp"
#include "train_loop.hpp"

#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numbers>
#include <numeric>
#include <tuple>

namespace edgefed::ml {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::int64_t count_of(double share, std::int64_t total) {
  return static_cast<std::int64_t>(std::llround(share * static_cast<double>(total)));
}

// Steps per epoch as train_epoch takes them (a trailing 1-sample batch is skipped).
std::size_t batches_per_epoch(std::size_t n, std::size_t batch_size) {
  return n / batch_size + (n % batch_size >= 2 ? 1 : 0);
}

std::optional<double> accuracy_on(const Model& model, const data::Dataset* test) {
  if (!test) return std::nullopt;
  return model.evaluate(*test).accuracy;
}

torch::Tensor tensor_named(const ModelImpl& m, const std::string& name) {
  for (std::size_t i = 0; i < m.tensors.size(); ++i) {
    if (m.schema.tensors[i].name == name) return m.tensors[i];
  }
  return {};
}

torch::Tensor index_tensor(const std::vector<std::int64_t>& v) {
  return torch::tensor(torch::ArrayRef<std::int64_t>(v), torch::kLong);
}

Result<CnnConfig> cnn_config_of(const Model& model, std::string_view caller) {
  auto config = CnnConfig::from_json(model.architecture());
  if (!config) return Error{config.error().code, std::string(caller) + ": " + config.error().detail};
  return config;
}

std::vector<std::vector<std::int64_t>> all_channels(const CnnConfig& config) {
  std::vector<std::vector<std::int64_t>> keep;
  for (const std::int64_t c : config.channels) {
    keep.emplace_back(static_cast<std::size_t>(c));
    std::iota(keep.back().begin(), keep.back().end(), 0);
  }
  return keep;
}

Status check_keep(const CnnConfig& config, const std::vector<std::vector<std::int64_t>>& keep) {
  if (keep.size() != config.channels.size()) {
    return fail(ErrorCode::invalid_argument, "remove_channels: " + std::to_string(keep.size()) + " keep lists for " +
                                                 std::to_string(config.channels.size()) + " blocks");
  }
  for (std::size_t k = 0; k < keep.size(); ++k) {
    const std::string block = "remove_channels: block " + std::to_string(k + 1);
    if (keep[k].empty()) return fail(ErrorCode::invalid_argument, block + " keeps no channel");
    if (keep[k].front() < 0 || keep[k].back() >= config.channels[k]) {
      return fail(ErrorCode::invalid_argument,
                  block + ": channels must be in 0.." + std::to_string(config.channels[k] - 1));
    }
    if (std::adjacent_find(keep[k].begin(), keep[k].end(), std::greater_equal<>()) != keep[k].end()) {
      return fail(ErrorCode::invalid_argument, block + ": keep list is not strictly ascending");
    }
  }
  return {};
}

// ---- magnitude masks -------------------------------------------------------------------

struct Masked {
  torch::Tensor weight;  // shares storage with the model
  torch::Tensor pruned;  // bool, same shape: true where the weight is held at zero
};

// The round(sparsity · numel) smallest-|w| entries (ties broken by topk, count exact).
void update_mask(Masked& m, double sparsity) {
  torch::NoGradGuard no_grad;
  const std::int64_t k = count_of(sparsity, m.weight.numel());
  torch::Tensor flat = torch::zeros({m.weight.numel()}, torch::kBool);
  if (k > 0) {
    const torch::Tensor smallest = std::get<1>(m.weight.detach().abs().flatten().topk(k, 0, /*largest=*/false));
    flat.index_fill_(0, smallest, true);
  }
  m.pruned = flat.view(m.weight.sizes());
}

void apply_mask(const Masked& m) {
  torch::NoGradGuard no_grad;
  m.weight.masked_fill_(m.pruned, 0.0);
}

std::vector<TensorSparsity> sparsity_of(const ModelImpl& m) {
  std::vector<TensorSparsity> out;
  for (std::size_t i = 0; i < m.tensors.size(); ++i) {
    const TensorRole r = m.schema.tensors[i].role;
    if (r != TensorRole::weight && r != TensorRole::head_weight) continue;
    const auto zeros = static_cast<std::size_t>(m.tensors[i].eq(0).sum().item<std::int64_t>());
    out.push_back({m.schema.tensors[i].name, static_cast<std::size_t>(m.tensors[i].numel()), zeros});
  }
  return out;
}

Status check(const data::Dataset& train, const MagnitudePruneConfig& c) {
  const std::string what = "prune_magnitude: ";
  if (train.size() < 2) return fail(ErrorCode::invalid_argument, what + "need at least two training samples");
  if (!(c.sparsity >= 0 && c.sparsity < 1)) return fail(ErrorCode::invalid_argument, what + "sparsity must be in [0, 1)");
  if (!(c.ramp > 0 && c.ramp <= 1)) return fail(ErrorCode::invalid_argument, what + "ramp must be in (0, 1]");
  if (c.epochs == 0 || c.frequency == 0 || c.batch_size == 0) {
    return fail(ErrorCode::invalid_argument, what + "epochs, frequency and batch_size must be > 0");
  }
  if (!(c.learning_rate > 0) || !std::isfinite(c.learning_rate)) {
    return fail(ErrorCode::invalid_argument, what + "learning_rate must be a positive number");
  }
  return {};
}

// ---- channels --------------------------------------------------------------------------

Status check(const data::Dataset& train, const ChannelPruneConfig& c) {
  const std::string what = "prune_channels: ";
  if (train.size() < 2) return fail(ErrorCode::invalid_argument, what + "need at least two training samples");
  if (!(c.fraction >= 0 && c.fraction < 1)) return fail(ErrorCode::invalid_argument, what + "fraction must be in [0, 1)");
  if (!(c.min_keep > 0 && c.min_keep <= 1)) return fail(ErrorCode::invalid_argument, what + "min_keep must be in (0, 1]");
  if (c.steps == 0 || c.batch_size == 0) {
    return fail(ErrorCode::invalid_argument, what + "steps and batch_size must be > 0");
  }
  if (!(c.l1 >= 0) || !std::isfinite(c.l1)) return fail(ErrorCode::invalid_argument, what + "l1 must be >= 0");
  if (!(c.learning_rate > 0) || !std::isfinite(c.learning_rate)) {
    return fail(ErrorCode::invalid_argument, what + "learning_rate must be a positive number");
  }
  return {};
}

std::int64_t minimum_kept(std::int64_t channels, double min_keep) {
  const auto share = static_cast<std::int64_t>(std::ceil(min_keep * static_cast<double>(channels)));
  return std::min(channels, std::max<std::int64_t>(2, share));
}

// BatchNorm's default ε (the default CNN does not change it).
constexpr double kBatchNormEps = 1e-5;

// Per-channel saliency of block k (0-based) of the default CNN; see ChannelRanking.
torch::Tensor saliency(const ModelImpl& m, const CnnConfig& config, std::size_t k, ChannelRanking ranking) {
  torch::NoGradGuard no_grad;
  const std::string n = std::to_string(k + 1);
  const torch::Tensor gamma = tensor_named(m, "bn" + n + ".weight").detach().abs();
  if (ranking == ChannelRanking::gamma) return gamma;
  // RMS of relu(γ·z + β) for z ~ N(0, 1): (β² + γ²)·Φ(β/γ) + β·γ·φ(β/γ).
  const torch::Tensor beta = tensor_named(m, "bn" + n + ".bias").detach();
  const torch::Tensor g = gamma.clamp_min(1e-12);
  const torch::Tensor z = beta / g;
  const torch::Tensor cdf = 0.5 * (1 + torch::erf(z / std::sqrt(2.0)));
  const torch::Tensor pdf = torch::exp(-0.5 * z * z) / std::sqrt(2 * std::numbers::pi);
  const torch::Tensor rms = ((beta * beta + g * g) * cdf + beta * g * pdf).clamp_min(0).sqrt();
  if (k + 1 == config.channels.size()) {  // the head's weights on the channel's H·W columns
    const torch::Tensor head = tensor_named(m, "head.weight").detach();
    return rms * head.view({head.size(0), config.channels[k], -1}).pow(2).sum(torch::IntArrayRef{0, 2}).sqrt();
  }
  // The next conv's weights on the channel, each output scaled by its BatchNorm's γ / σ.
  const std::string next = std::to_string(k + 2);
  const torch::Tensor gain = tensor_named(m, "bn" + next + ".weight").detach().abs() /
                             (tensor_named(m, "bn" + next + ".running_var").detach() + kBatchNormEps).sqrt();
  const torch::Tensor w = tensor_named(m, "conv" + next + ".weight").detach() * gain.view({-1, 1, 1, 1});
  return rms * w.pow(2).sum(torch::IntArrayRef{0, 2, 3}).sqrt();
}

// Removes `count` more channels of the model `m` (shape `config`): the least salient across
// all blocks, no block below minimum[k]. Returns the keep lists (ascending current indices).
std::vector<std::vector<std::int64_t>> select_removal(const ModelImpl& m, const CnnConfig& config,
                                                      const std::vector<std::int64_t>& minimum, std::int64_t count,
                                                      ChannelRanking ranking) {
  std::vector<std::tuple<float, std::size_t, std::int64_t>> ranked;  // (saliency, block, channel)
  for (std::size_t k = 0; k < config.channels.size(); ++k) {
    const torch::Tensor s = saliency(m, config, k, ranking).contiguous();
    const float* v = s.data_ptr<float>();
    for (std::int64_t c = 0; c < s.numel(); ++c) ranked.emplace_back(v[c], k, c);
  }
  std::sort(ranked.begin(), ranked.end());
  std::vector<std::vector<bool>> removed;
  std::vector<std::int64_t> left = config.channels;
  for (const std::int64_t c : config.channels) removed.emplace_back(static_cast<std::size_t>(c), false);
  for (const auto& [v, k, c] : ranked) {
    if (count == 0) break;
    if (left[k] <= minimum[k]) continue;
    removed[k][static_cast<std::size_t>(c)] = true;
    --left[k];
    --count;
  }
  std::vector<std::vector<std::int64_t>> keep(config.channels.size());
  for (std::size_t k = 0; k < keep.size(); ++k) {
    for (std::int64_t c = 0; c < config.channels[k]; ++c) {
      if (!removed[k][static_cast<std::size_t>(c)]) keep[k].push_back(c);
    }
  }
  return keep;
}

std::function<torch::Tensor()> gamma_l1(ModelImpl& m, double lambda) {
  if (lambda == 0) return {};
  std::vector<torch::Tensor> gammas;
  for (std::size_t i = 0; i < m.tensors.size(); ++i) {
    if (m.schema.tensors[i].role == TensorRole::bn_gamma) gammas.push_back(m.tensors[i]);
  }
  return [gammas, lambda] {
    torch::Tensor sum = torch::zeros({});
    for (const torch::Tensor& g : gammas) sum = sum + g.abs().sum();
    return lambda * sum;
  };
}

}  // namespace

double CubicSchedule::at(std::size_t step) const noexcept {
  if (step < begin_step) return initial_sparsity;
  if (step >= end_step) return final_sparsity;
  const std::size_t every = std::max<std::size_t>(1, frequency);
  const std::size_t boundary = begin_step + (step - begin_step) / every * every;
  const double p = static_cast<double>(boundary - begin_step) / static_cast<double>(end_step - begin_step);
  return final_sparsity + (initial_sparsity - final_sparsity) * std::pow(1.0 - p, 3);
}

std::string_view to_string(PrunePhase phase) noexcept {
  switch (phase) {
    case PrunePhase::magnitude: return "magnitude";
    case PrunePhase::sparsity_training: return "sparsity_training";
    case PrunePhase::removal: return "removal";
    case PrunePhase::fine_tune: return "fine_tune";
  }
  return "unknown_phase";
}

Result<PruneReport> prune_magnitude(Model& model, const data::Dataset& train, const data::Dataset* test,
                                    const MagnitudePruneConfig& config, const PruneProgressFn& progress) {
  EDGEFED_TRY(check(train, config));
  const auto t0 = Clock::now();
  ModelImpl& m = model.impl();
  PruneReport report;
  if (test) report.before = model.evaluate(*test);
  std::vector<Masked> masks;
  for (std::size_t i = 0; i < m.tensors.size(); ++i) {
    const TensorRole r = m.schema.tensors[i].role;
    if (r == TensorRole::weight || r == TensorRole::head_weight) masks.push_back({m.tensors[i], {}});
  }
  const auto total_steps = static_cast<double>(config.epochs * batches_per_epoch(train.size(), config.batch_size));
  const auto ramp_steps = static_cast<std::size_t>(std::llround(config.ramp * total_steps));
  const CubicSchedule schedule{0, config.sparsity, 0, std::max<std::size_t>(1, ramp_steps), config.frequency};
  const auto cnn = CnnConfig::from_json(model.architecture());
  const std::vector<std::int64_t> channels = cnn ? cnn->channels : std::vector<std::int64_t>{};
  std::size_t step = 0;
  double target = schedule.at(0);
  for (Masked& mask : masks) update_mask(mask, target);
  const auto after_step = [&] {
    if (const double next = schedule.at(++step); next != target) {
      target = next;
      for (Masked& mask : masks) update_mask(mask, target);
    }
    for (const Masked& mask : masks) apply_mask(mask);
  };
  torch::optim::Adam opt(arm_backbone(m), torch::optim::AdamOptions(config.learning_rate));
  for (std::size_t epoch = 0; epoch < config.epochs; ++epoch) {
    m.set_mode(true);
    const double loss = train_epoch(m, train, opt, EpochOptions{config.batch_size, config.seed, epoch}, {}, after_step);
    if (progress) {
      progress(PruneProgress{PrunePhase::magnitude, epoch + 1, config.epochs, channels, target, loss,
                             accuracy_on(model, test), since(t0)});
    }
  }
  disarm(m);
  m.set_mode(false);
  report.tensors = sparsity_of(m);
  if (test) report.after = model.evaluate(*test);
  report.seconds = since(t0);
  return report;
}

Result<Model> remove_channels(const Model& model, const std::vector<std::vector<std::int64_t>>& keep) {
  EDGEFED_ASSIGN_OR_RETURN(CnnConfig config, cnn_config_of(model, "remove_channels"));
  EDGEFED_TRY(check_keep(config, keep));
  CnnConfig smaller = config;
  smaller.adapter_ranks.resize(config.channels.size());
  for (std::size_t k = 0; k < keep.size(); ++k) {
    smaller.adapter_ranks[k] = config.adapter_rank(k);
    smaller.channels[k] = static_cast<std::int64_t>(keep[k].size());
  }
  EDGEFED_ASSIGN_OR_RETURN(Model out, Model::default_cnn(smaller));

  const ModelImpl& src = model.impl();
  const auto get = [&](const std::string& name) { return tensor_named(src, name).detach(); };
  std::map<std::string, torch::Tensor> sliced;
  torch::Tensor previous;  // the kept channels of the block before
  for (std::size_t k = 0; k < keep.size(); ++k) {
    const std::string n = std::to_string(k + 1);
    const torch::Tensor rows = index_tensor(keep[k]);
    torch::Tensor conv = get("conv" + n + ".weight").index_select(0, rows);
    sliced["conv" + n + ".weight"] = previous.defined() ? conv.index_select(1, previous) : conv;
    for (const char* field : {".weight", ".bias", ".running_mean", ".running_var"}) {
      sliced["bn" + n + field] = get("bn" + n + field).index_select(0, rows);
    }
    sliced["adapter" + n + ".down.weight"] = get("adapter" + n + ".down.weight").index_select(1, rows);
    sliced["adapter" + n + ".up.weight"] = get("adapter" + n + ".up.weight").index_select(0, rows);
    previous = rows;
  }
  const torch::Tensor head = get("head.weight");
  const std::int64_t area = head.size(1) / config.channels.back();  // H·W of the last feature map
  std::vector<std::int64_t> columns;
  for (const std::int64_t c : keep.back()) {
    for (std::int64_t p = 0; p < area; ++p) columns.push_back(c * area + p);
  }
  sliced["head.weight"] = head.index_select(1, index_tensor(columns));
  sliced["head.bias"] = get("head.bias");

  ModelImpl& dst = out.impl();
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < dst.tensors.size(); ++i) {
    const std::string& name = dst.schema.tensors[i].name;
    const auto it = sliced.find(name);
    if (it == sliced.end() || !it->second.sizes().equals(dst.tensors[i].sizes())) {
      return fail(ErrorCode::schema_mismatch, "remove_channels: cannot rebuild tensor '" + name + "'");
    }
    dst.tensors[i].copy_(it->second);
  }
  out.set_tier(model.tier(), src.train_head);
  return out;
}

namespace {

// The state of one prune_channels run: the shrinking model and where its channels came from.
class ChannelPruner {
 public:
  ChannelPruner(Model model, const CnnConfig& config, const data::Dataset& train, const data::Dataset* test,
                const ChannelPruneConfig& options, const PruneProgressFn& progress)
      : model_(std::move(model)), shape_(config), origin_(all_channels(config)), train_(train), test_(test),
        options_(options), progress_(progress) {}

  // Adam over the backbone for `epochs`, + l1 · Σ|γ| when `with_l1`, the learning rate
  // cosine-annealed to 0 when `anneal`; `each_epoch(epoch, loss)` after every epoch.
  double train(std::size_t epochs, bool with_l1, bool anneal,
               const std::function<void(std::size_t, double)>& each_epoch) {
    ModelImpl& m = model_.impl();
    torch::optim::Adam opt(arm_backbone(m), torch::optim::AdamOptions(options_.learning_rate));
    const auto penalty = gamma_l1(m, with_l1 ? options_.l1 : 0.0);
    const double total = static_cast<double>(epochs * batches_per_epoch(train_.size(), options_.batch_size));
    std::size_t done = 0;
    const auto cosine = [&] {
      const double t = std::min(1.0, static_cast<double>(++done) / total);
      for (auto& group : opt.param_groups()) {
        static_cast<torch::optim::AdamOptions&>(group.options())
            .lr(options_.learning_rate * 0.5 * (1 + std::cos(std::numbers::pi * t)));
      }
    };
    double loss = 0;
    for (std::size_t e = 0; e < epochs; ++e) {
      m.set_mode(true);
      loss = train_epoch(m, train_, opt, EpochOptions{options_.batch_size, options_.seed, epoch_++}, penalty,
                         anneal ? std::function<void()>(cosine) : std::function<void()>());
      if (each_epoch) each_epoch(e + 1, loss);
    }
    disarm(m);
    m.set_mode(false);
    return loss;
  }

  // Removes `count` channels (select_removal) and rebuilds the model.
  Status remove(std::int64_t count, const std::vector<std::int64_t>& minimum) {
    const auto keep = select_removal(model_.impl(), shape_, minimum, count, options_.ranking);
    EDGEFED_ASSIGN_OR_RETURN(model_, remove_channels(model_, keep));
    for (std::size_t k = 0; k < keep.size(); ++k) {
      std::vector<std::int64_t> kept;
      for (const std::int64_t c : keep[k]) kept.push_back(origin_[k][static_cast<std::size_t>(c)]);
      origin_[k] = std::move(kept);
      shape_.channels[k] = static_cast<std::int64_t>(keep[k].size());
    }
    return {};
  }

  void report(PrunePhase phase, std::size_t step, std::size_t steps, double removed_share, double loss,
              Clock::time_point t0) const {
    if (progress_) {
      progress_(PruneProgress{phase, step, steps, shape_.channels, removed_share, loss, accuracy_on(model_, test_),
                              since(t0)});
    }
  }

  std::int64_t channels() const {
    return std::accumulate(shape_.channels.begin(), shape_.channels.end(), std::int64_t{0});
  }
  const std::vector<std::int64_t>& shape() const { return shape_.channels; }
  const std::vector<std::vector<std::int64_t>>& origin() const { return origin_; }
  Model& model() { return model_; }

 private:
  Model model_;
  CnnConfig shape_;
  std::vector<std::vector<std::int64_t>> origin_;  // original index of each current channel
  const data::Dataset& train_;
  const data::Dataset* test_;
  const ChannelPruneConfig& options_;
  const PruneProgressFn& progress_;
  std::size_t epoch_ = 0;  // a fresh shuffle for every epoch of the run
};

}  // namespace

Result<Model> prune_channels(const Model& model, const data::Dataset& train, const data::Dataset* test,
                             const ChannelPruneConfig& config, const PruneProgressFn& progress,
                             ChannelPruneReport* report) {
  EDGEFED_ASSIGN_OR_RETURN(const CnnConfig original, cnn_config_of(model, "prune_channels"));
  EDGEFED_TRY(check(train, config));
  const std::int64_t total = std::accumulate(original.channels.begin(), original.channels.end(), std::int64_t{0});
  std::vector<std::int64_t> minimum;
  for (const std::int64_t c : original.channels) minimum.push_back(minimum_kept(c, config.min_keep));
  const std::int64_t removable = total - std::accumulate(minimum.begin(), minimum.end(), std::int64_t{0});
  if (count_of(config.fraction, total) > removable) {
    return fail(ErrorCode::invalid_argument, "prune_channels: fraction " + std::to_string(config.fraction) +
                                                 " removes more channels than the per-block minimums leave (" +
                                                 std::to_string(removable) + " of " + std::to_string(total) + ")");
  }
  const auto t0 = Clock::now();
  ChannelPruneReport out;
  out.channels_before = original.channels;
  if (test) out.before = model.evaluate(*test);
  EDGEFED_ASSIGN_OR_RETURN(Model copy, remove_channels(model, all_channels(original)));
  ChannelPruner pruner(std::move(copy), original, train, test, config, progress);

  pruner.train(config.sparsity_epochs, true, false, [&](std::size_t epoch, double loss) {
    pruner.report(PrunePhase::sparsity_training, epoch, config.sparsity_epochs, 0.0, loss, t0);
  });
  const CubicSchedule schedule{0, config.fraction, 0, config.steps, 1};
  for (std::size_t step = 1; step <= config.steps; ++step) {
    const double share = schedule.at(step);
    const std::int64_t count = count_of(share, total) - (total - pruner.channels());
    if (count > 0) EDGEFED_TRY(pruner.remove(count, minimum));
    const double loss = pruner.train(config.step_epochs, true, false, {});
    pruner.report(PrunePhase::removal, step, config.steps, share, loss, t0);
  }
  pruner.train(config.final_epochs, false, true, [&](std::size_t epoch, double loss) {
    pruner.report(PrunePhase::fine_tune, epoch, config.final_epochs, config.fraction, loss, t0);
  });

  out.channels_after = pruner.shape();
  out.kept = pruner.origin();
  if (test) out.after = pruner.model().evaluate(*test);
  out.seconds = since(t0);
  if (report) *report = std::move(out);
  return std::move(pruner.model());
}

}  // namespace edgefed::ml
