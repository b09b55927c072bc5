// Bring your own LibTorch module to edgefed: define it, tag its tensors, train a tier.
//
// Build against the installed SDK (find_package(edgefed), link edgefed::ml and torch) or
// in-tree (target edgefed_byo_example). Run: edgefed_byo_example
#include "edgefed/ml/torch_model.hpp"
#include "edgefed/ml/trainer.hpp"

#include <torch/nn/functional/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>

#include <cstdio>

// An adapter as the naming conventions expect it: a submodule called "adapter…" with a fixed
// "down" projection and a trained "up" projection that starts at zero (the identity).
struct TinyAdapter : torch::nn::Module {
  explicit TinyAdapter(std::int64_t width) {
    down = register_module("down", torch::nn::Linear(torch::nn::LinearOptions(width, 8).bias(false)));
    up = register_module("up", torch::nn::Linear(torch::nn::LinearOptions(8, width).bias(false)));
    torch::NoGradGuard no_grad;
    up->weight.zero_();
  }
  torch::Tensor forward(const torch::Tensor& x) { return x + up(torch::nn::functional::relu(down(x))); }
  torch::nn::Linear down{nullptr}, up{nullptr};
};

// A small MLP for 28×28 images: linear → BatchNorm → ReLU → adapter → head.
struct TinyNet : torch::nn::Module {
  TinyNet() {
    fc1 = register_module("fc1", torch::nn::Linear(784, 64));
    norm1 = register_module("norm1", torch::nn::BatchNorm1d(64));
    adapter = register_module("adapter", std::make_shared<TinyAdapter>(64));
    head = register_module("head", torch::nn::Linear(64, 10));
  }
  torch::Tensor forward(const torch::Tensor& images) {
    return head(adapter->forward(torch::nn::functional::relu(norm1(fc1(images.flatten(1))))));
  }
  torch::nn::Linear fc1{nullptr}, head{nullptr};
  torch::nn::BatchNorm1d norm1{nullptr};
  std::shared_ptr<TinyAdapter> adapter;
};

int main() {
  using namespace edgefed;
  ml::use_single_thread();
  auto net = std::make_shared<TinyNet>();

  ml::TorchModelSpec spec;
  spec.module = net;
  spec.forward = [net](const torch::Tensor& x) { return net->forward(x); };
  // Tag tensors by convention; a custom function could name roles tensor by tensor.
  spec.role_of = ml::conventional_role;
  spec.architecture = {{"name", "tiny-net"}};
  auto model = ml::make_model(std::move(spec));
  if (!model) {
    std::fprintf(stderr, "%s\n", model.error().message().c_str());
    return 1;
  }
  model->set_tier(ml::Tier::adapters_bn);
  std::printf("schema: %zu tensors, %zu parameters, %zu trainable in adapters_bn\n", model->schema().tensors.size(),
              model->schema().parameter_numel(), model->schema().trainable_numel());

  // Synthetic data: the label is which quarter of the image is bright.
  data::Dataset d;
  for (std::size_t i = 0; i < 256; ++i) {
    const std::uint8_t label = static_cast<std::uint8_t>(i % 4);
    d.labels.push_back(label);
    for (std::size_t p = 0; p < 784; ++p) d.pixels.push_back((p / 196) == label ? 1.0f : 0.0f);
  }
  ml::TrainConfig config;
  config.epochs = 2;
  config.learning_rate = 0.1;
  auto report = ml::train_local(*model, d, config);
  if (!report) {
    std::fprintf(stderr, "%s\n", report.error().message().c_str());
    return 1;
  }
  std::printf("trained: loss %.3f -> %.3f, delta of %zu aggregate tensors (%zu values)\n", report->first_epoch_loss,
              report->last_epoch_loss, report->delta.size(), report->delta.numel());
  const bool ok = report->delta.size() == 1 && report->last_epoch_loss < report->first_epoch_loss;
  std::printf(ok ? "byo example OK\n" : "byo example FAILED\n");
  return ok ? 0 : 1;
}
