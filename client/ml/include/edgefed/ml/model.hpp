// A trainable model as the rest of edgefed sees it: a schema, named tensors in and out as
// ParameterSets, training tiers, evaluation. No LibTorch in this header — the LibTorch
// module lives behind the handle (bring your own through torch_model.hpp).
//
// Thread-safety: a Model is not thread-safe; one per device / thread.
#pragma once

#include "edgefed/common/crypto.hpp"
#include "edgefed/common/parameter_set.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/data/dataset.hpp"
#include "edgefed/ml/schema.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

namespace edgefed::ml {

// The default model for 28×28 single-channel images: three conv blocks, each
//   conv3×3 → BatchNorm → ReLU → residual bottleneck adapter → (2×2 max-pool after 1 and 2)
// then a linear head on the flattened 7×7 feature map. An adapter is x + up(relu(down(x)))
// with 1×1 convolutions: `down` (c → c/ratio) is a fixed random projection drawn from
// `adapter_seed` and never trained, `up` (c/ratio → c) starts at zero, so a fresh adapter is
// the identity and its trained part is linear in what is aggregated (FFA-LoRA).
struct CnnConfig {
  std::vector<std::int64_t> channels = {16, 32, 64};
  std::int64_t adapter_ratio = 8;
  // Adapter rank per block; empty: max(1, channels / adapter_ratio). Set when channel pruning
  // shrinks a block but keeps its adapter's rank (stored in the JSON only when set).
  std::vector<std::int64_t> adapter_ranks;
  std::int64_t num_classes = 10;
  std::int64_t image_size = 28;
  std::uint64_t init_seed = 1;      // initial backbone weights
  std::uint64_t adapter_seed = 7;   // the fixed down-projections (same on every device)

  // The rank of block i's adapter (i < channels.size()).
  std::int64_t adapter_rank(std::size_t i) const;

  nlohmann::json to_json() const;
  // bad_value for missing or out-of-range fields (adapter_ranks: one per block, 1..1024).
  static Result<CnnConfig> from_json(const nlohmann::json& j);
};

struct Evaluation {
  double accuracy = 0;  // fraction correct
  double loss = 0;      // mean cross-entropy
  std::size_t examples = 0;
};

class ModelImpl;  // LibTorch side

class Model {
 public:
  // invalid_argument when adapter_ranks is set but not one per block.
  static Result<Model> default_cnn(const CnnConfig& config = {});
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  // Tensors, roles and the current tier's policies.
  const ModelSchema& schema() const;
  void set_tier(Tier tier, bool train_head = false);
  Tier tier() const;

  // Every tensor (parameters and BatchNorm buffers) in schema order.
  ParameterSet state() const;
  // The tensors whose current policy is `policy`.
  ParameterSet tensors(TensorPolicy policy) const;
  // Copies values in by name. Every name must exist with the same shape, else
  // schema_mismatch naming the tensor; nothing is changed on error.
  Status load(const ParameterSet& values);

  Evaluation evaluate(const data::Dataset& data, std::size_t batch_size = 256) const;
  // Per-example predicted class (argmax), for confusion matrices and agreement checks.
  std::vector<std::uint8_t> predict(const data::Dataset& data, std::size_t batch_size = 256) const;
  // FedBN re-estimation: running statistics become the average over `data` (one pass, no
  // labels, no gradients). The bn_stats tier is exactly this.
  void reestimate_batchnorm(const data::Dataset& data, std::size_t batch_size = 64);

  // Architecture description stored in artifact metadata (rebuilds the same model).
  nlohmann::json architecture() const;

  ModelImpl& impl() { return *impl_; }
  const ModelImpl& impl() const { return *impl_; }
  explicit Model(std::unique_ptr<ModelImpl> impl);

 private:
  std::unique_ptr<ModelImpl> impl_;
};

// Saves every tensor of `model` as a float32 model artifact signed with `key`
// (common/artifact.hpp), with the architecture in the metadata.
Status save_model(const Model& model, const std::filesystem::path& path, const Ed25519SecretKey& key,
                  std::uint64_t model_version);
// Verifies and rebuilds a model saved by save_model (default CNN architectures).
Result<Model> load_model(const std::filesystem::path& path, const Ed25519PublicKey& trusted);

// Limits LibTorch to one intra-op and one inter-op thread (call once, early).
void use_single_thread();

}  // namespace edgefed::ml
