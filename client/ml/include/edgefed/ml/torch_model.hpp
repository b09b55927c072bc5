// Bring your own LibTorch module (this header includes LibTorch: include it only in the
// translation units that define models).
//
//   auto net = std::make_shared<MyNet>();
//   TorchModelSpec spec;
//   spec.module = net;
//   spec.forward = [net](const torch::Tensor& x) { return net->forward(x); };
//   spec.role_of = conventional_role;            // or your own tagging function
//   spec.architecture = {{"name", "my-net"}};
//   auto model = make_model(std::move(spec));    // then train_local(), evaluate(), ...
//
// Every floating-point parameter and buffer must get a role; integer buffers (BatchNorm's
// num_batches_tracked) are ignored. Policies then follow from the tier (schema.hpp).
#pragma once

#include "edgefed/ml/model.hpp"

#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace edgefed::ml {

struct TorchModelSpec {
  std::shared_ptr<torch::nn::Module> module;
  std::function<torch::Tensor(const torch::Tensor&)> forward;  // images N×C×H×W → logits N×K
  std::function<std::optional<TensorRole>(const std::string& name)> role_of;
  nlohmann::json architecture = nlohmann::json::object();
};

// invalid_argument naming the first tensor `role_of` leaves untagged.
Result<Model> make_model(TorchModelSpec spec);

// Tags by common PyTorch naming: "*bn*|*norm*.weight/bias/running_mean/running_var" →
// BatchNorm roles, "*adapter*.down.*" / "*adapter*.up.*" → adapter roles, "head.*" or
// "fc.*" / "classifier.*" → head roles, other ".weight"/".bias" → backbone weight/bias.
std::optional<TensorRole> conventional_role(const std::string& name);

// The LibTorch module behind a model (for users who need it, e.g. to export it).
torch::nn::Module& module_of(Model& model);

}  // namespace edgefed::ml
