// Model exchange between the server and devices: the signed artifacts of DESIGN §5, without
// LibTorch.
//
// A *full* artifact carries the whole global model: every weight tensor of rank ≥ 2 that the
// run does not aggregate as int8 symmetric per output channel; the aggregated tensors and
// the small 1-D tensors (biases, BatchNorm) as float32 so that later deltas compose exactly.
// A *delta* artifact carries only the aggregated tensors' change from version v − 1 to v,
// int8 per channel.
//
// Both sides hold the same `ModelView`: the server builds it from its float model by
// decoding what it encodes, and a device by decoding what it receives, with the same code —
// so a device that applies the chain of deltas holds bit for bit what the server holds
// (apply_delta adds the decoded delta in float32 in tensor order on both sides).
//
// Metadata (JSON in the artifact): {"format": "edgefed-model/1", "kind": "full"|"delta",
// "base_version", "tier", "train_head", "architecture", "schema"} — architecture and schema
// only in full artifacts.
#pragma once

#include "edgefed/common/artifact.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/common/parameter_set.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/ml/schema.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace edgefed::ml {

// What a party holds of the global model.
struct ModelView {
  std::uint64_t version = 0;
  nlohmann::json architecture;  // opaque to this layer (ml::CnnConfig for the built-in CNN)
  ModelSchema schema;           // with the run's policies (policies_for(tier))
  Tier tier = Tier::adapters_bn;
  bool train_head = false;
  ParameterSet values;          // every tensor of the schema, in schema order

  // The aggregated tensors' values, flat in schema order (the SecAgg vector, weight aside).
  std::vector<float> aggregate_values() const;
  std::size_t aggregate_length() const { return schema.numel(TensorPolicy::aggregate); }
  // schema_hash over (name, shape) of every tensor with float32 encoding: identifies the
  // architecture, not the run's encodings.
  Sha256Digest layout_hash() const;
};

// Builds the view the server starts a run from: the pretrained float model (an artifact
// written by ml::save_model: metadata with "architecture" and "schema"), with its
// non-aggregated rank ≥ 2 weights rounded through int8 so that they equal what devices decode.
// Errors: schema_mismatch (no schema in the metadata, tensors that do not match it),
// the codec's errors.
Result<ModelView> view_from_pretrained(const ModelArtifact& pretrained, Tier tier, bool train_head);

Result<Bytes> write_full_artifact(const ModelView& view, const Ed25519SecretKey& key);
// `delta` = the aggregated tensors' change (aggregate_length() floats). Returns the artifact
// for version view.version + 1 and `applied` = what a device will add (decoded delta).
struct DeltaArtifact {
  Bytes bytes;
  std::vector<float> applied;
};
Result<DeltaArtifact> write_delta_artifact(const ModelView& view, std::span<const float> delta,
                                           const Ed25519SecretKey& key);

// Device side. `artifact` has been verified (read_artifact with the trusted key and the
// no-rollback version). A full artifact yields a new view; a delta must have base_version ==
// view.version and the view's layout (schema_mismatch otherwise) and advances it.
Result<ModelView> view_from_full(const ModelArtifact& artifact);
Status apply_delta(ModelView& view, const ModelArtifact& delta);
// Adds `applied` to the aggregated tensors and bumps the version (the server's side of it).
Status apply_decoded_delta(ModelView& view, std::span<const float> applied);

// "full" | "delta" from the metadata (bad_value when absent or unknown).
Result<std::string> artifact_kind(const ModelArtifact& artifact);

}  // namespace edgefed::ml
