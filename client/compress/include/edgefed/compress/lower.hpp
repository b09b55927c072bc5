// From a trained default CNN (its float tensors by name, as ml::Model::state() gives them) to
// the deployable float32 graph the runtime runs and the quantizer consumes:
//
//   input [1,H,W,1]
//   per block k:  conv{k} 3×3 with BatchNorm folded in, fused ReLU       → "conv{k}.out"
//                 adapter{k}.down 1×1 (fixed projection), fused ReLU     → "adapter{k}.hidden"
//                 adapter{k}.up 1×1                                      → "adapter{k}.up.out"
//                 add(conv{k}.out, adapter{k}.up.out)                    → "adapter{k}.out"
//                 (the adapter's convolutions have no bias; an adapter whose up-projection
//                 is all zero is the identity and is left out, as after pre-training)
//                 max_pool 2×2 (all blocks but the last)                 → "pool{k}.out"
//   reshape to [1, H·W·C]                                                → "flatten.out"
//   head fully connected                                                 → "logits"
//
// Folding (eval-mode BatchNorm, ε = 1e-5 as LibTorch): per output channel c,
//   s_c = γ_c / sqrt(var_c + ε),  W'_c = s_c · W_c,  b'_c = β_c − s_c · μ_c.
// Layouts change from LibTorch's to the graph's: conv weights OIHW → OHWI, and the head's
// input columns from the (C, H, W) flatten order to (H, W, C). The graph computes the same
// function as the LibTorch model in eval mode (to float rounding; a test checks it).
//
// The channel counts and adapter ranks are read from the tensors' shapes, so pruned models
// (fewer channels) lower the same way. schema_mismatch naming the missing or misshapen
// tensor otherwise.
#pragma once

#include "edgefed/common/parameter_set.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/runtime/graph.hpp"

namespace edgefed::compress {

inline constexpr double kBatchNormEpsilon = 1e-5;

Result<runtime::Graph> lower_default_cnn(const ParameterSet& state, std::int64_t image_size = 28,
                                         std::int64_t image_channels = 1);

}  // namespace edgefed::compress
