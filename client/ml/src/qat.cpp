#include "edgefed/ml/qat.hpp"

#include "model_impl.hpp"
#include "train_loop.hpp"

#include "edgefed/compress/lower.hpp"

#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/pooling.h>
#include <torch/optim/adam.h>

#include <chrono>
#include <map>

namespace edgefed::ml {

namespace F = torch::nn::functional;

namespace {

// Simulates compress::quantize_graph's int8 graph on the default CNN's LibTorch tensors.
class FakeQuantCnn {
 public:
  FakeQuantCnn(std::map<std::string, torch::Tensor> tensors, compress::ActivationRanges& ranges, double momentum)
      : t_(std::move(tensors)), ranges_(ranges), momentum_(momentum) {
    while (t_.count("conv" + std::to_string(blocks_ + 1) + ".weight")) ++blocks_;
    // As in the lowering: an adapter with an all-zero up-projection is the identity and has
    // no place in the int8 graph. Adapters do not train here, so it is decided once.
    for (int b = 1; b <= blocks_; ++b) {
      const auto up = t_.find("adapter" + std::to_string(b) + ".up.weight");
      identity_.push_back(up != t_.end() && up->second.count_nonzero().item<std::int64_t>() == 0);
    }
  }

  Status check() const {
    if (blocks_ == 0) return fail(ErrorCode::schema_mismatch, "qat: not a default CNN (no conv1.weight)");
    std::vector<std::string> needed{"input", "logits", "head.weight", "head.bias"};
    for (int b = 1; b <= blocks_; ++b) {
      const std::string n = std::to_string(b);
      const std::string a = "adapter" + n;
      for (const char* s : {".weight", ".out"}) needed.push_back("conv" + n + s);
      for (const char* s : {".weight", ".bias", ".running_mean", ".running_var"}) needed.push_back("bn" + n + s);
      for (const char* s : {".down.weight", ".up.weight"}) needed.push_back(a + s);
      if (!t_.count(a + ".up.weight") || identity_[static_cast<std::size_t>(b - 1)]) continue;
      for (const char* s : {".hidden", ".up.out", ".out"}) needed.push_back(a + s);
    }
    for (const std::string& name : needed) {
      if (!t_.count(name) && !ranges_.count(name)) {
        return fail(ErrorCode::schema_mismatch, "qat: '" + name + "' is neither a tensor of the model nor a calibrated range");
      }
    }
    return {};
  }

  torch::Tensor forward(torch::Tensor x) {
    x = activation(x, "input");
    for (int b = 1; b <= blocks_; ++b) {
      const std::string n = std::to_string(b);
      const torch::Tensor scale =
          t_.at("bn" + n + ".weight") / torch::sqrt(t_.at("bn" + n + ".running_var") + compress::kBatchNormEpsilon);
      const torch::Tensor w = t_.at("conv" + n + ".weight") * scale.view({-1, 1, 1, 1});
      const torch::Tensor bias = t_.at("bn" + n + ".bias") - t_.at("bn" + n + ".running_mean") * scale;
      x = activation(torch::relu(F::conv2d(x, weights(w, true), F::Conv2dFuncOptions().bias(bias).padding(1))),
                     "conv" + n + ".out");
      const std::string a = "adapter" + n;
      if (!identity_[static_cast<std::size_t>(b - 1)]) {
        const torch::Tensor h =
            activation(torch::relu(F::conv2d(x, weights(t_.at(a + ".down.weight"), true))), a + ".hidden");
        const torch::Tensor u = activation(F::conv2d(h, weights(t_.at(a + ".up.weight"), true)), a + ".up.out");
        x = activation(x + u, a + ".out");
      }
      if (b < blocks_) x = F::max_pool2d(x, F::MaxPool2dFuncOptions(2));
    }
    // Max-pool and flatten keep their input's grid in the int8 graph: nothing to simulate.
    const torch::Tensor logits =
        torch::nn::functional::linear(x.flatten(1), weights(t_.at("head.weight"), false), t_.at("head.bias"));
    return activation(logits, "logits");
  }

 private:
  // int8 symmetric weights, scale max|w| / 127 per output channel or per tensor.
  static torch::Tensor weights(const torch::Tensor& w, bool per_channel) {
    if (!per_channel) {
      const double scale = std::max(w.detach().abs().max().item<double>(), 1e-12) / 127.0;
      return torch::fake_quantize_per_tensor_affine(w, scale, 0, -127, 127);
    }
    const torch::Tensor scales = (w.detach().abs().flatten(1).amax(1).clamp_min(1e-12) / 127.0).to(torch::kFloat);
    const torch::Tensor zeros = torch::zeros({w.size(0)}, torch::kInt);
    return torch::fake_quantize_per_channel_affine(w, scales, zeros, 0, -127, 127);
  }

  // Per-tensor asymmetric int8 at the named range, which follows the batches while training.
  torch::Tensor activation(const torch::Tensor& x, const std::string& name) {
    compress::Range& r = ranges_.at(name);
    const float lo = x.detach().min().item<float>();
    const float hi = x.detach().max().item<float>();
    r.lo = static_cast<float>((1 - momentum_) * r.lo + momentum_ * std::min(lo, 0.0f));
    r.hi = static_cast<float>((1 - momentum_) * r.hi + momentum_ * std::max(hi, 0.0f));
    const compress::AffineParams p = compress::affine_params(r);
    return torch::fake_quantize_per_tensor_affine(x, p.scale, p.zero_point, -128, 127);
  }

  std::map<std::string, torch::Tensor> t_;
  compress::ActivationRanges& ranges_;
  double momentum_;
  int blocks_ = 0;
  std::vector<bool> identity_;  // per block: its adapter is left out
};

}  // namespace

Result<QatReport> train_quantization_aware(Model& model, const data::Dataset& train, compress::ActivationRanges& ranges,
                                           const QatConfig& config,
                                           const std::function<void(std::size_t, double)>& progress) {
  if (train.size() < 2) return fail(ErrorCode::invalid_argument, "qat: need at least two training samples");
  if (config.epochs == 0 || config.batch_size == 0 || !(config.learning_rate > 0) ||
      !(config.range_momentum >= 0 && config.range_momentum <= 1)) {
    return fail(ErrorCode::invalid_argument, "qat: epochs, batch_size and learning_rate must be positive, "
                                             "range_momentum in [0, 1]");
  }
  const auto t0 = std::chrono::steady_clock::now();
  ModelImpl& impl = model.impl();
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& p : impl.module().named_parameters(true)) tensors[p.key()] = p.value();
  for (const auto& b : impl.module().named_buffers(true)) tensors[b.key()] = b.value();
  compress::ActivationRanges learned = ranges;  // only committed on success
  FakeQuantCnn net(std::move(tensors), learned, config.range_momentum);
  EDGEFED_TRY(net.check());

  torch::optim::Adam optimizer(arm_backbone(impl), torch::optim::AdamOptions(config.learning_rate));
  impl.set_mode(false);  // frozen BatchNorm statistics: they are folded, as on the device
  QatReport report;
  for (std::size_t epoch = 0; epoch < config.epochs; ++epoch) {
    EpochOptions options;
    options.batch_size = config.batch_size;
    options.seed = config.seed;
    options.epoch = epoch;
    const double loss = train_epoch(impl, train, optimizer, options, {}, {},
                                    [&net](const torch::Tensor& x) { return net.forward(x); });
    report.epoch_loss.push_back(loss);
    if (progress) progress(epoch + 1, loss);
  }
  disarm(impl);
  ranges = std::move(learned);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace edgefed::ml
