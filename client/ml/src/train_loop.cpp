#include "train_loop.hpp"

#include <torch/nn/functional/loss.h>

#include <numeric>

namespace edgefed::ml {

namespace F = torch::nn::functional;

namespace {

bool is_statistic(TensorRole role) { return role == TensorRole::bn_mean || role == TensorRole::bn_var; }

}  // namespace

void shuffle(std::vector<std::size_t>& order, std::uint64_t& state) {
  for (std::size_t i = order.size(); i > 1; --i) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    std::swap(order[i - 1], order[static_cast<std::size_t>(z % i)]);
  }
}

std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::size_t epoch) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::uint64_t state = seed;
  for (std::size_t e = 0; e <= epoch; ++e) shuffle(order, state);  // O(epoch · n), cheap next to training
  return order;
}

double train_epoch(ModelImpl& model, const data::Dataset& data, torch::optim::Optimizer& optimizer,
                   const EpochOptions& options, const std::function<torch::Tensor()>& extra_loss,
                   const std::function<void()>& after_step,
                   const std::function<torch::Tensor(const torch::Tensor&)>& forward) {
  const std::vector<std::size_t> order = epoch_order(data.size(), options.seed, options.epoch);
  double total = 0;
  std::size_t seen = 0;
  for (std::size_t first = 0; first < order.size(); first += options.batch_size) {
    const std::size_t count = std::min(options.batch_size, order.size() - first);
    if (count < 2) break;
    const torch::Tensor x = images_tensor(data, order, first, count);
    const torch::Tensor y = labels_tensor(data, order, first, count);
    optimizer.zero_grad();
    torch::Tensor loss = F::cross_entropy(forward ? forward(x) : model.forward(x), y);
    total += loss.item<double>() * static_cast<double>(count);
    seen += count;
    if (extra_loss) loss = loss + extra_loss();
    loss.backward();
    optimizer.step();
    if (after_step) after_step();
  }
  return seen ? total / static_cast<double>(seen) : 0.0;
}

std::vector<torch::Tensor> arm_backbone(ModelImpl& model) {
  std::vector<torch::Tensor> params;
  for (std::size_t i = 0; i < model.tensors.size(); ++i) {
    const TensorRole r = model.schema.tensors[i].role;
    if (is_statistic(r) || r == TensorRole::adapter_down || r == TensorRole::adapter_up) continue;
    model.tensors[i].set_requires_grad(true);
    params.push_back(model.tensors[i]);
  }
  return params;
}

void disarm(ModelImpl& model) {
  for (std::size_t i = 0; i < model.tensors.size(); ++i) {
    if (!is_statistic(model.schema.tensors[i].role)) model.tensors[i].set_requires_grad(false);
  }
}

}  // namespace edgefed::ml
