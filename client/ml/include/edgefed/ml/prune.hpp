// Pruning: server-side compression of a trained model before it is shipped to devices
// (research/ondevice.md §4). No LibTorch in this header.
//
//   unstructured  prune_magnitude: per-tensor magnitude masks on the backbone and head weights,
//                 raised gradually on the Zhu & Gupta cubic schedule while fine-tuning. Same
//                 shapes, so it only pays off with sparse storage or kernels.
//   structured    prune_channels: Network Slimming (Liu et al. 2017) — L1 on every BatchNorm γ,
//                 then the channels ranked lowest across all blocks are removed in steps on
//                 the cubic schedule, each step physically rebuilding a smaller default CNN
//                 (remove_channels) and fine-tuning it. Dense kernels run the result faster.
//
// Fine-tuning trains what pre-training trains (backbone weights, BatchNorm affine, head) with
// Adam and BatchNorm in training mode; the adapters stay as they are (`down` is fixed, `up` is
// the federated part). Everything is deterministic for a seed on one machine.
//
// Thread-safety: as Model — one call per model at a time. LibTorch's thread settings apply
// (use_single_thread()).
#pragma once

#include "edgefed/common/result.hpp"
#include "edgefed/data/dataset.hpp"
#include "edgefed/ml/model.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgefed::ml {

// Zhu & Gupta's gradual schedule (as TF-MOT's PolynomialDecay with power 3):
//   s(t) = final + (initial − final) · (1 − p)³,  p = (t' − begin_step) / (end_step − begin_step)
// clamped to [0, 1], where t' is the last frequency boundary (begin_step + k·frequency) at or
// before t: the value only changes every `frequency` steps. initial before begin_step, final
// from end_step on (also when end_step <= begin_step). frequency 0 counts as 1.
struct CubicSchedule {
  double initial_sparsity = 0;
  double final_sparsity = 0.5;
  std::size_t begin_step = 0;
  std::size_t end_step = 1000;
  std::size_t frequency = 100;

  double at(std::size_t step) const noexcept;
};

enum class PrunePhase {
  magnitude,          // prune_magnitude: fine-tuning under the growing masks
  sparsity_training,  // prune_channels: L1 on BatchNorm γ, nothing removed yet
  removal,            // prune_channels: a removal step and its fine-tuning
  fine_tune,          // prune_channels: final fine-tuning of the smallest model
};
std::string_view to_string(PrunePhase phase) noexcept;

// Reported after every epoch of the magnitude, sparsity_training and fine_tune phases, and
// once per removal step (after its fine-tuning).
struct PruneProgress {
  PrunePhase phase = PrunePhase::magnitude;
  std::size_t step = 0;   // 1-based within the phase (epochs; removal steps for `removal`)
  std::size_t steps = 0;  // in the phase
  std::vector<std::int64_t> channels;  // per block, now (empty for a model that is not a default CNN)
  double sparsity = 0;    // magnitude: the masks' target now; channels: share of BN channels removed
  double train_loss = 0;  // mean cross-entropy of the last epoch (penalties not included; 0 if none ran)
  std::optional<double> test_accuracy;  // when a test set was given
  double seconds = 0;     // since the call began
};
using PruneProgressFn = std::function<void(const PruneProgress&)>;

// ---- unstructured ----------------------------------------------------------------------

struct MagnitudePruneConfig {
  double sparsity = 0.5;        // final share of zeros in every pruned tensor, in [0, 1)
  std::size_t epochs = 2;       // fine-tuning passes over the training set
  double ramp = 0.75;           // share of the fine-tuning steps over which the masks grow, (0, 1]
  std::size_t frequency = 20;   // optimizer steps between mask updates
  std::size_t batch_size = 64;
  double learning_rate = 5e-4;  // Adam
  std::uint64_t seed = 1;       // shuffling
};

struct TensorSparsity {
  std::string name;
  std::size_t numel = 0;
  std::size_t zeros = 0;  // exact zeros
  double sparsity() const { return numel ? static_cast<double>(zeros) / static_cast<double>(numel) : 0.0; }
};

struct PruneReport {
  std::vector<TensorSparsity> tensors;  // the pruned tensors, schema order
  std::optional<Evaluation> before;     // on the test set, when given
  std::optional<Evaluation> after;
  double seconds = 0;
};

// Masks the smallest-|w| entries of every tensor with role `weight` or `head_weight` (any
// model, default CNN or not), each tensor on its own threshold: at step t of the fine-tuning
// (S optimizer steps in all) the masks hold round(s(t) · numel) entries of each tensor, s the
// CubicSchedule{0, sparsity, 0, round(ramp · S), frequency}, so the final masks are in place
// after ramp · S steps and the remaining steps recover. Masked weights are set to exactly 0
// after every optimizer step and stay 0. Leaves the model in eval mode, its tier unchanged.
// Errors (invalid_argument, model unchanged): fewer than two training samples; sparsity outside
// [0, 1); ramp outside (0, 1]; epochs, frequency or batch_size 0; learning_rate not > 0.
Result<PruneReport> prune_magnitude(Model& model, const data::Dataset& train, const data::Dataset* test,
                                    const MagnitudePruneConfig& config, const PruneProgressFn& progress = {});

// ---- structured ------------------------------------------------------------------------

// How prune_channels ranks the channels of all blocks against each other.
enum class ChannelRanking {
  // |γ| of the channel's BatchNorm: Network Slimming as published.
  gamma,
  // What the channel passes on: the RMS of relu(γ·z + β) for z ~ N(0, 1) times the norm of the
  // weights that read it — the next conv's input slice with each output scaled by the next
  // BatchNorm's γ / sqrt(running_var + ε), or the head's columns for the last block. Unlike
  // |γ| it is comparable across blocks: a block followed by BatchNorm can scale all its γ
  // without changing the function, so its |γ| say nothing against another block's.
  output_gain,
};

// Defaults chosen on Fashion-MNIST with the pretrained default CNN and its 12,000 cloud
// samples: removing 25 % or 50 % of the channels stays within half a point of the unpruned
// test accuracy and takes about a minute on one thread (see prune_channels for the phases).
struct ChannelPruneConfig {
  double fraction = 0.5;            // share of all BatchNorm channels removed, in [0, 1)
  ChannelRanking ranking = ChannelRanking::output_gain;
  double l1 = 1e-4;                 // λ: + λ · Σ|γ| over every BatchNorm γ before the final phase
  std::size_t sparsity_epochs = 1;  // L1 training before the first removal
  std::size_t steps = 4;            // removal steps
  std::size_t step_epochs = 1;      // fine-tuning (with L1) after each removal
  std::size_t final_epochs = 4;     // fine-tuning (without L1) of the final model, cosine-annealed
  double min_keep = 0.125;          // every block keeps at least max(2, ceil(min_keep · its channels))
  std::size_t batch_size = 64;
  double learning_rate = 1e-3;      // Adam; constant until the final phase, then cosine to 0
  std::uint64_t seed = 1;           // shuffling
};

struct ChannelPruneReport {
  std::vector<std::int64_t> channels_before;     // per block
  std::vector<std::int64_t> channels_after;
  std::vector<std::vector<std::int64_t>> kept;   // per block, the original indices kept
  std::optional<Evaluation> before;              // on the test set, when given
  std::optional<Evaluation> after;
  double seconds = 0;
};

// Network Slimming (Liu et al. 2017), gradual. With N BatchNorm channels in all:
//   1. sparsity training: sparsity_epochs with + l1 · Σ|γ|;
//   2. for step j = 1..steps: the removed share becomes CubicSchedule{0, fraction, 0, steps, 1}.at(j)
//      (round(share · N) channels in all): the remaining channels ranked lowest by `ranking`
//      across all blocks go, no block below its minimum (min_keep); remove_channels rebuilds
//      the model; step_epochs of fine-tuning with the L1 term (a fresh Adam each step);
//   3. final_epochs of fine-tuning without it, the learning rate cosine-annealed to 0.
// `model` is not changed; the result is an ordinary smaller default CNN with `model`'s tier.
// A channel's block output is relu(bn(conv)) plus its adapter's up-projection; the rankings
// look at the first part only, which is the whole output while the adapters are fresh
// (up = 0, as after pre-training).
// Errors: what remove_channels returns for a model that is not a default CNN; invalid_argument
// for fewer than two training samples, fraction outside [0, 1) or more than the minimums
// leave, steps or batch_size 0, min_keep outside (0, 1], l1 < 0, learning_rate not > 0.
Result<Model> prune_channels(const Model& model, const data::Dataset& train, const data::Dataset* test,
                             const ChannelPruneConfig& config, const PruneProgressFn& progress = {},
                             ChannelPruneReport* report = nullptr);

// The physical rebuild: a default CNN keeping, for every block k, the output channels keep[k]
// (ascending original indices) of `model`: rows of conv{k}.weight, entries of bn{k}'s γ, β and
// running statistics, input columns of adapter{k}.down.weight and output rows of
// adapter{k}.up.weight (adapter ranks unchanged, recorded in CnnConfig::adapter_ranks), the
// matching input slices of conv{k+1}.weight and, for the last block, the head columns of those
// channels (flatten order C, H, W: columns c·H·W .. c·H·W + H·W − 1). The result has `model`'s
// tier; save_model / load_model work on it. Removing a channel whose block output is zero
// everywhere (γ = β = 0 and a zero adapter up row) leaves the logits unchanged.
// Errors: schema_mismatch / bad_value (from CnnConfig::from_json) when `model` is not a default
// CNN; invalid_argument naming the block for a keep list count other than one per block, or an
// empty, unsorted (not strictly ascending) or out-of-range keep list.
Result<Model> remove_channels(const Model& model, const std::vector<std::vector<std::int64_t>>& keep);

}  // namespace edgefed::ml
