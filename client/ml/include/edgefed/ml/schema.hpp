// Model schema: every tensor of a model with its name, shape, role and policy (DESIGN §4).
//
// The policy decides where a tensor goes each round:
//   frozen     never changes on a device (the pretrained backbone)
//   aggregate  trained on the device; its delta enters secure aggregation (only tensors that
//              average linearly: adapter up-projections, the head)
//   local      trained or re-estimated on the device and kept there (FedBN: BatchNorm
//              affine parameters and running statistics never leave the device)
//
// Tiers choose which tensors train, cheapest first; `policies_for` maps a tier onto a schema.
// No LibTorch here: the server, the simulator and the SDK all reason about schemas.
#pragma once

#include "edgefed/common/parameter_set.hpp"
#include "edgefed/common/result.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace edgefed::ml {

enum class TensorRole {
  weight,        // conv / linear weights of the backbone
  bias,
  bn_gamma,
  bn_beta,
  bn_mean,       // running statistics (buffers, not parameters)
  bn_var,
  adapter_down,  // residual bottleneck adapter, fixed random projection (FFA-LoRA style)
  adapter_up,    // residual bottleneck adapter, trained projection (zero-initialised)
  head_weight,
  head_bias,
};

enum class TensorPolicy { frozen, aggregate, local };

enum class Tier {
  bn_stats,     // re-estimate BatchNorm statistics; no gradients at all
  head,         // train the classifier head
  bn_head,      // BatchNorm affine + head
  adapters_bn,  // adapter up-projections + BatchNorm affine (the default)
};

std::string_view to_string(TensorRole role) noexcept;
std::string_view to_string(TensorPolicy policy) noexcept;
std::string_view to_string(Tier tier) noexcept;
// "bn_stats" | "head" | "bn_head" | "adapters_bn"; invalid_argument otherwise.
Result<Tier> parse_tier(std::string_view name);

struct TensorSpec {
  std::string name;
  Shape shape;
  TensorRole role;
  TensorPolicy policy = TensorPolicy::frozen;
  bool trainable = false;  // receives gradients in the current tier
};

struct ModelSchema {
  std::vector<TensorSpec> tensors;  // in the model's canonical order

  const TensorSpec* find(std::string_view name) const;
  std::size_t numel(TensorPolicy policy) const;
  std::size_t numel() const;           // every tensor, buffers included
  std::size_t parameter_numel() const;  // parameters only (no running statistics)
  std::size_t trainable_numel() const;
  // Names of the tensors with `policy`, in order.
  std::vector<std::string> names(TensorPolicy policy) const;
};

// Sets policy and trainable flags of every tensor for `tier` with FedBN defaults:
// BatchNorm tensors are local; adapter up-projections aggregate (adapters_bn); the head
// aggregates when trained (head, bn_head); everything else is frozen.
// `train_head` additionally trains and aggregates the head in the adapters_bn tier.
ModelSchema policies_for(ModelSchema schema, Tier tier, bool train_head = false);

// "weight" | "bias" | ... (to_string's names); bad_value otherwise.
Result<TensorRole> parse_role(std::string_view name);

// A schema as JSON, for model files and the server (which reasons about tensors without
// LibTorch): [{"name", "shape": [..], "role"}] in canonical order. Policies are not stored:
// they follow from the tier (policies_for), which the run configures.
nlohmann::json schema_to_json(const ModelSchema& schema);
// The inverse, with every field checked (bad_value / missing_field naming the entry); the
// result has the adapters_bn tier's policies.
Result<ModelSchema> schema_from_json(const nlohmann::json& value);

}  // namespace edgefed::ml
