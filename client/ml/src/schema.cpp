#include "edgefed/ml/schema.hpp"

namespace edgefed::ml {

std::string_view to_string(TensorRole role) noexcept {
  switch (role) {
    case TensorRole::weight: return "weight";
    case TensorRole::bias: return "bias";
    case TensorRole::bn_gamma: return "bn_gamma";
    case TensorRole::bn_beta: return "bn_beta";
    case TensorRole::bn_mean: return "bn_mean";
    case TensorRole::bn_var: return "bn_var";
    case TensorRole::adapter_down: return "adapter_down";
    case TensorRole::adapter_up: return "adapter_up";
    case TensorRole::head_weight: return "head_weight";
    case TensorRole::head_bias: return "head_bias";
  }
  return "unknown";
}

std::string_view to_string(TensorPolicy policy) noexcept {
  switch (policy) {
    case TensorPolicy::frozen: return "frozen";
    case TensorPolicy::aggregate: return "aggregate";
    case TensorPolicy::local: return "local";
  }
  return "unknown";
}

std::string_view to_string(Tier tier) noexcept {
  switch (tier) {
    case Tier::bn_stats: return "bn_stats";
    case Tier::head: return "head";
    case Tier::bn_head: return "bn_head";
    case Tier::adapters_bn: return "adapters_bn";
  }
  return "unknown";
}

Result<Tier> parse_tier(std::string_view name) {
  for (Tier t : {Tier::bn_stats, Tier::head, Tier::bn_head, Tier::adapters_bn}) {
    if (name == to_string(t)) return t;
  }
  return fail(ErrorCode::invalid_argument,
              "tier '" + std::string(name) + "': expected bn_stats, head, bn_head or adapters_bn");
}

const TensorSpec* ModelSchema::find(std::string_view name) const {
  for (const TensorSpec& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

namespace {
std::size_t numel_of(const TensorSpec& t) { return checked_numel(t.shape).value(); }
bool is_buffer(TensorRole r) { return r == TensorRole::bn_mean || r == TensorRole::bn_var; }
}  // namespace

std::size_t ModelSchema::numel(TensorPolicy policy) const {
  std::size_t n = 0;
  for (const TensorSpec& t : tensors) n += t.policy == policy ? numel_of(t) : 0;
  return n;
}

std::size_t ModelSchema::numel() const {
  std::size_t n = 0;
  for (const TensorSpec& t : tensors) n += numel_of(t);
  return n;
}

std::size_t ModelSchema::parameter_numel() const {
  std::size_t n = 0;
  for (const TensorSpec& t : tensors) n += is_buffer(t.role) ? 0 : numel_of(t);
  return n;
}

std::size_t ModelSchema::trainable_numel() const {
  std::size_t n = 0;
  for (const TensorSpec& t : tensors) n += t.trainable ? numel_of(t) : 0;
  return n;
}

std::vector<std::string> ModelSchema::names(TensorPolicy policy) const {
  std::vector<std::string> out;
  for (const TensorSpec& t : tensors) {
    if (t.policy == policy) out.push_back(t.name);
  }
  return out;
}

ModelSchema policies_for(ModelSchema schema, Tier tier, bool train_head) {
  const bool head_trains = tier == Tier::head || tier == Tier::bn_head || (tier == Tier::adapters_bn && train_head);
  const bool bn_trains = tier == Tier::bn_head || tier == Tier::adapters_bn;
  for (TensorSpec& t : schema.tensors) {
    switch (t.role) {
      case TensorRole::bn_gamma:
      case TensorRole::bn_beta:
        t.policy = TensorPolicy::local;
        t.trainable = bn_trains;
        break;
      case TensorRole::bn_mean:
      case TensorRole::bn_var:
        t.policy = TensorPolicy::local;  // re-estimated on every device, never trained
        t.trainable = false;
        break;
      case TensorRole::adapter_up:
        t.trainable = tier == Tier::adapters_bn;
        t.policy = t.trainable ? TensorPolicy::aggregate : TensorPolicy::frozen;
        break;
      case TensorRole::head_weight:
      case TensorRole::head_bias:
        t.trainable = head_trains;
        t.policy = head_trains ? TensorPolicy::aggregate : TensorPolicy::frozen;
        break;
      default:
        t.policy = TensorPolicy::frozen;
        t.trainable = false;
    }
  }
  return schema;
}

Result<TensorRole> parse_role(std::string_view name) {
  for (TensorRole r : {TensorRole::weight, TensorRole::bias, TensorRole::bn_gamma, TensorRole::bn_beta,
                       TensorRole::bn_mean, TensorRole::bn_var, TensorRole::adapter_down, TensorRole::adapter_up,
                       TensorRole::head_weight, TensorRole::head_bias}) {
    if (name == to_string(r)) return r;
  }
  return fail(ErrorCode::bad_value, "tensor role '" + std::string(name) + "' is unknown");
}

nlohmann::json schema_to_json(const ModelSchema& schema) {
  nlohmann::json out = nlohmann::json::array();
  for (const TensorSpec& t : schema.tensors) {
    out.push_back({{"name", t.name}, {"shape", t.shape}, {"role", to_string(t.role)}});
  }
  return out;
}

Result<ModelSchema> schema_from_json(const nlohmann::json& value) {
  if (!value.is_array()) return fail(ErrorCode::bad_type, "schema: expected an array of tensors");
  ModelSchema schema;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const nlohmann::json& e = value[i];
    const std::string where = "schema[" + std::to_string(i) + "]";
    if (!e.is_object() || !e.contains("name") || !e.contains("shape") || !e.contains("role")) {
      return fail(ErrorCode::missing_field, where + ": expected {name, shape, role}");
    }
    if (!e["name"].is_string() || e["name"].get_ref<const std::string&>().empty() || !e["role"].is_string() ||
        !e["shape"].is_array()) {
      return fail(ErrorCode::bad_type, where + ": name and role must be strings, shape an array");
    }
    TensorSpec spec;
    spec.name = e["name"].get<std::string>();
    for (const nlohmann::json& d : e["shape"]) {
      if (!d.is_number_unsigned()) return fail(ErrorCode::bad_type, where + ".shape: dimensions must be unsigned");
      spec.shape.push_back(d.get<std::int64_t>());
    }
    if (auto n = checked_numel(spec.shape); !n) return Error{ErrorCode::bad_value, where + ".shape: " + n.error().detail};
    EDGEFED_ASSIGN_OR_RETURN(spec.role, parse_role(e["role"].get<std::string>()));
    if (schema.find(spec.name) != nullptr) return fail(ErrorCode::bad_value, where + ": duplicate name " + spec.name);
    schema.tensors.push_back(std::move(spec));
  }
  return policies_for(std::move(schema), Tier::adapters_bn);
}

}  // namespace edgefed::ml
