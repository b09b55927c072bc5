#include "edgefed/ml/exchange.hpp"

#include <algorithm>

namespace edgefed::ml {

namespace {

constexpr char kFormat[] = "edgefed-model/1";

// Frozen and local weights of rank ≥ 2 travel as int8; aggregated tensors and 1-D tensors
// (biases, BatchNorm) stay float32: they are small, and float keeps deltas exact.
Encoding full_encoding(const TensorSpec& spec) {
  return spec.policy != TensorPolicy::aggregate && spec.shape.size() >= 2 ? Encoding::int8_symmetric_per_channel
                                                                          : Encoding::float32;
}

Result<nlohmann::json> parse_metadata(const ModelArtifact& artifact) {
  nlohmann::json meta = nlohmann::json::parse(artifact.metadata, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) {
    return fail(ErrorCode::bad_encoding, "model artifact: metadata is not a JSON object");
  }
  return meta;
}

Result<std::vector<float>> decode_tensor(const NamedTensor& t, const TensorSpec& spec) {
  if (t.name != spec.name || t.tensor.shape != spec.shape) {
    return fail(ErrorCode::schema_mismatch, "model artifact: tensor '" + t.name + "' " +
                                                shape_to_string(t.tensor.shape) + " where the schema has '" +
                                                spec.name + "' " + shape_to_string(spec.shape));
  }
  return decode(t.tensor);
}

std::vector<const TensorSpec*> aggregated(const ModelSchema& schema) {
  std::vector<const TensorSpec*> out;
  for (const TensorSpec& t : schema.tensors) {
    if (t.policy == TensorPolicy::aggregate) out.push_back(&t);
  }
  return out;
}

Result<Bytes> sign(std::uint64_t version, const nlohmann::json& meta, std::vector<NamedTensor> tensors,
                   const Ed25519SecretKey& key) {
  ModelArtifact artifact;
  artifact.model_version = version;
  artifact.metadata = meta.dump();
  artifact.tensors = std::move(tensors);
  return write_artifact(artifact, key);
}

Result<Tier> tier_of(const nlohmann::json& meta) {
  if (!meta.contains("tier") || !meta["tier"].is_string()) {
    return fail(ErrorCode::missing_field, "model artifact: metadata has no tier");
  }
  return parse_tier(meta["tier"].get<std::string>());
}

}  // namespace

std::vector<float> ModelView::aggregate_values() const {
  std::vector<float> out;
  out.reserve(aggregate_length());
  for (std::size_t i = 0; i < schema.tensors.size(); ++i) {
    if (schema.tensors[i].policy != TensorPolicy::aggregate) continue;
    const TensorView t = values.at(i);
    out.insert(out.end(), t.data.begin(), t.data.end());
  }
  return out;
}

Sha256Digest ModelView::layout_hash() const {
  std::vector<TensorSchema> layout;
  for (const TensorSpec& t : schema.tensors) layout.push_back(TensorSchema{t.name, t.shape, Encoding::float32});
  return schema_hash(layout);
}

Result<ModelView> view_from_pretrained(const ModelArtifact& pretrained, Tier tier, bool train_head) {
  EDGEFED_ASSIGN_OR_RETURN(nlohmann::json meta, parse_metadata(pretrained));
  if (!meta.contains("schema") || !meta.contains("architecture")) {
    return fail(ErrorCode::schema_mismatch,
                "model artifact: no schema/architecture in the metadata (write it with edgefed-model pretrain)");
  }
  EDGEFED_ASSIGN_OR_RETURN(ModelSchema schema, schema_from_json(meta["schema"]));
  if (schema.tensors.size() != pretrained.tensors.size()) {
    return fail(ErrorCode::schema_mismatch, "model artifact: " + std::to_string(pretrained.tensors.size()) +
                                                " tensors for a schema of " + std::to_string(schema.tensors.size()));
  }
  ModelView view;
  view.version = pretrained.model_version;
  view.architecture = meta["architecture"];
  view.schema = policies_for(std::move(schema), tier, train_head);
  view.tier = tier;
  view.train_head = train_head;
  for (std::size_t i = 0; i < view.schema.tensors.size(); ++i) {
    const TensorSpec& spec = view.schema.tensors[i];
    EDGEFED_ASSIGN_OR_RETURN(std::vector<float> v, decode_tensor(pretrained.tensors[i], spec));
    // Round through the encoding devices receive, so both sides hold the same numbers.
    EDGEFED_ASSIGN_OR_RETURN(EncodedTensor enc, encode(spec.shape, v, full_encoding(spec)));
    EDGEFED_ASSIGN_OR_RETURN(v, decode(enc));
    EDGEFED_TRY(view.values.add(spec.name, spec.shape, v));
  }
  return view;
}

Result<Bytes> write_full_artifact(const ModelView& view, const Ed25519SecretKey& key) {
  std::vector<NamedTensor> tensors;
  for (std::size_t i = 0; i < view.schema.tensors.size(); ++i) {
    const TensorSpec& spec = view.schema.tensors[i];
    EDGEFED_ASSIGN_OR_RETURN(EncodedTensor enc, encode(view.values.at(i), full_encoding(spec)));
    tensors.push_back(NamedTensor{spec.name, std::move(enc)});
  }
  const nlohmann::json meta = {{"format", kFormat},         {"kind", "full"},
                               {"base_version", 0},         {"tier", to_string(view.tier)},
                               {"train_head", view.train_head}, {"architecture", view.architecture},
                               {"schema", schema_to_json(view.schema)}};
  return sign(view.version, meta, std::move(tensors), key);
}

Result<DeltaArtifact> write_delta_artifact(const ModelView& view, std::span<const float> delta,
                                           const Ed25519SecretKey& key) {
  if (delta.size() != view.aggregate_length()) {
    return fail(ErrorCode::invalid_argument, "delta artifact: " + std::to_string(delta.size()) +
                                                 " values for " + std::to_string(view.aggregate_length()) +
                                                 " aggregated");
  }
  DeltaArtifact out;
  out.applied.reserve(delta.size());
  std::vector<NamedTensor> tensors;
  std::size_t offset = 0;
  for (const TensorSpec* spec : aggregated(view.schema)) {
    const std::size_t n = checked_numel(spec->shape).value();
    EDGEFED_ASSIGN_OR_RETURN(EncodedTensor enc, encode(spec->shape, delta.subspan(offset, n),
                                                       Encoding::int8_symmetric_per_channel));
    EDGEFED_ASSIGN_OR_RETURN(std::vector<float> decoded, decode(enc));
    out.applied.insert(out.applied.end(), decoded.begin(), decoded.end());
    tensors.push_back(NamedTensor{spec->name, std::move(enc)});
    offset += n;
  }
  const nlohmann::json meta = {{"format", kFormat},
                               {"kind", "delta"},
                               {"base_version", view.version},
                               {"tier", to_string(view.tier)},
                               {"train_head", view.train_head}};
  EDGEFED_ASSIGN_OR_RETURN(out.bytes, sign(view.version + 1, meta, std::move(tensors), key));
  return out;
}

Result<std::string> artifact_kind(const ModelArtifact& artifact) {
  EDGEFED_ASSIGN_OR_RETURN(nlohmann::json meta, parse_metadata(artifact));
  if (!meta.contains("format") || meta["format"] != kFormat) {
    return fail(ErrorCode::unsupported_version, std::string("model artifact: format is not ") + kFormat);
  }
  if (!meta.contains("kind") || (meta["kind"] != "full" && meta["kind"] != "delta")) {
    return fail(ErrorCode::bad_value, "model artifact: kind must be full or delta");
  }
  return meta["kind"].get<std::string>();
}

Result<ModelView> view_from_full(const ModelArtifact& artifact) {
  EDGEFED_ASSIGN_OR_RETURN(std::string kind, artifact_kind(artifact));
  if (kind != "full") return fail(ErrorCode::bad_value, "model artifact: expected a full model, got a delta");
  EDGEFED_ASSIGN_OR_RETURN(nlohmann::json meta, parse_metadata(artifact));
  if (!meta.contains("schema") || !meta.contains("architecture") || !meta.contains("train_head") ||
      !meta["train_head"].is_boolean()) {
    return fail(ErrorCode::missing_field, "model artifact: full model without schema, architecture or train_head");
  }
  EDGEFED_ASSIGN_OR_RETURN(Tier tier, tier_of(meta));
  EDGEFED_ASSIGN_OR_RETURN(ModelSchema schema, schema_from_json(meta["schema"]));
  if (schema.tensors.size() != artifact.tensors.size()) {
    return fail(ErrorCode::schema_mismatch, "model artifact: tensor table does not match its schema");
  }
  ModelView view;
  view.version = artifact.model_version;
  view.architecture = meta["architecture"];
  view.train_head = meta["train_head"].get<bool>();
  view.tier = tier;
  view.schema = policies_for(std::move(schema), tier, view.train_head);
  for (std::size_t i = 0; i < view.schema.tensors.size(); ++i) {
    const TensorSpec& spec = view.schema.tensors[i];
    if (artifact.tensors[i].tensor.encoding != full_encoding(spec)) {
      return fail(ErrorCode::schema_mismatch, "model artifact: tensor '" + spec.name + "' has an unexpected encoding");
    }
    EDGEFED_ASSIGN_OR_RETURN(std::vector<float> v, decode_tensor(artifact.tensors[i], spec));
    EDGEFED_TRY(view.values.add(spec.name, spec.shape, v));
  }
  return view;
}

Status apply_delta(ModelView& view, const ModelArtifact& delta) {
  EDGEFED_ASSIGN_OR_RETURN(std::string kind, artifact_kind(delta));
  if (kind != "delta") return fail(ErrorCode::bad_value, "model artifact: expected a delta, got a full model");
  EDGEFED_ASSIGN_OR_RETURN(nlohmann::json meta, parse_metadata(delta));
  if (!meta.contains("base_version") || !meta["base_version"].is_number_unsigned() ||
      meta["base_version"].get<std::uint64_t>() != view.version || delta.model_version != view.version + 1) {
    return fail(ErrorCode::out_of_order, "model delta does not lead from the held version " +
                                             std::to_string(view.version));
  }
  EDGEFED_ASSIGN_OR_RETURN(Tier tier, tier_of(meta));
  if (tier != view.tier) return fail(ErrorCode::schema_mismatch, "model delta is for another tier");
  const std::vector<const TensorSpec*> specs = aggregated(view.schema);
  if (specs.size() != delta.tensors.size()) {
    return fail(ErrorCode::schema_mismatch, "model delta: " + std::to_string(delta.tensors.size()) +
                                                " tensors, " + std::to_string(specs.size()) + " aggregated");
  }
  std::vector<float> applied;
  applied.reserve(view.aggregate_length());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    EDGEFED_ASSIGN_OR_RETURN(std::vector<float> d, decode_tensor(delta.tensors[i], *specs[i]));
    applied.insert(applied.end(), d.begin(), d.end());
  }
  return apply_decoded_delta(view, applied);
}

Status apply_decoded_delta(ModelView& view, std::span<const float> applied) {
  if (applied.size() != view.aggregate_length()) {
    return fail(ErrorCode::invalid_argument, "delta of " + std::to_string(applied.size()) + " values for " +
                                                 std::to_string(view.aggregate_length()) + " aggregated");
  }
  std::size_t offset = 0;
  for (std::size_t i = 0; i < view.schema.tensors.size(); ++i) {
    if (view.schema.tensors[i].policy != TensorPolicy::aggregate) continue;
    std::span<float> t = view.values.mutable_at(i).data;
    for (float& x : t) x += applied[offset++];
  }
  ++view.version;
  return {};
}

}  // namespace edgefed::ml
