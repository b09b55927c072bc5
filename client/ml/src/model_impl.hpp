// Internal: the LibTorch side of a Model, for client/ml's own sources (and white-box tests).
#pragma once

#include "edgefed/ml/torch_model.hpp"

#include <torch/nn/modules/batchnorm.h>

#include <functional>
#include <string>
#include <vector>

namespace edgefed::ml {

class ModelImpl {
 public:
  explicit ModelImpl(TorchModelSpec spec) : spec_(std::move(spec)) {}

  torch::nn::Module& module() { return *spec_.module; }
  torch::Tensor forward(const torch::Tensor& x) { return spec_.forward(x); }
  const nlohmann::json& architecture() const { return spec_.architecture; }
  std::optional<TensorRole> role_of(const std::string& name) const { return spec_.role_of(name); }

  ModelSchema schema;                 // with the current tier's policies
  Tier tier = Tier::adapters_bn;
  bool train_head = false;
  std::vector<torch::Tensor> tensors;  // schema order, float32, sharing storage with the module

  // Every BatchNorm layer (1d, 2d, 3d) of the module: its options and its stats reset.
  struct BatchNormRef {
    torch::nn::BatchNormOptions* options;
    std::function<void()> reset_running_stats;
  };
  std::vector<BatchNormRef> batchnorms();
  // train() on BatchNorm layers iff `train` (others follow `train` too).
  void set_mode(bool train);

 private:
  TorchModelSpec spec_;
};

// Images [first, first + count) of `data` as an N×C×H×W tensor (copied).
torch::Tensor images_tensor(const data::Dataset& data, const std::vector<std::size_t>& indices,
                            std::size_t first, std::size_t count);
torch::Tensor labels_tensor(const data::Dataset& data, const std::vector<std::size_t>& indices,
                            std::size_t first, std::size_t count);

}  // namespace edgefed::ml
