// Internal: the supervised training epoch shared by pre-training, pruning and
// quantization-aware training (LibTorch; include only from client/ml sources).
#pragma once

#include "model_impl.hpp"

#include <torch/optim/optimizer.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace edgefed::ml {

// Portable in-place shuffle (splitmix64 + Fisher–Yates) advancing `state`: the same seed
// orders batches the same way on every platform and LibTorch version.
void shuffle(std::vector<std::size_t>& order, std::uint64_t& state);

// The sample order of epoch `epoch` (0-based) of a run seeded with `seed`: 0..n-1 shuffled
// epoch + 1 times by one stream seeded with `seed`, i.e. what a single running shuffle
// gives epoch after epoch — so a run can be split into calls without changing its batches.
std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::size_t epoch);

struct EpochOptions {
  std::size_t batch_size = 64;
  std::uint64_t seed = 1;
  std::size_t epoch = 0;  // selects the shuffle (epoch_order)
};

// One pass over `data` in epoch_order(data.size(), seed, epoch), in batches of batch_size
// (a trailing 1-sample batch is skipped: BatchNorm needs two samples for batch statistics):
// forward (ModelImpl::forward, or `forward` if given), cross-entropy + extra_loss() if given,
// backward, optimizer.step(), then after_step() if given (e.g. to re-apply pruning masks).
// Gradients are zeroed before every batch. Train/eval modes and requires_grad flags are the
// caller's. Returns the mean cross-entropy over the samples used (extra_loss not included).
// Preconditions: data.size() >= 2, batch_size >= 1.
double train_epoch(ModelImpl& model, const data::Dataset& data, torch::optim::Optimizer& optimizer,
                   const EpochOptions& options, const std::function<torch::Tensor()>& extra_loss = {},
                   const std::function<void()>& after_step = {},
                   const std::function<torch::Tensor(const torch::Tensor&)>& forward = {});

// Marks every parameter except the adapters (backbone weights and biases, BatchNorm affine,
// head) as requiring gradients and returns them in schema order: what pre-training and
// server-side compression train. Running statistics are buffers and never require gradients.
std::vector<torch::Tensor> arm_backbone(ModelImpl& model);
// Clears requires_grad on every parameter.
void disarm(ModelImpl& model);

}  // namespace edgefed::ml
