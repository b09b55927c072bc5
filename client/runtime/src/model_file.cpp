#include "edgefed/runtime/model_file.hpp"

#include "edgefed/common/artifact.hpp"
#include "edgefed/common/quant.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

namespace edgefed::runtime {
namespace {

using nlohmann::json;

constexpr std::int64_t kDocumentVersion = 1;
constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
constexpr std::int64_t kIntMin = std::numeric_limits<int>::min();

constexpr std::array kDTypes{DType::float32, DType::int8, DType::int32};
constexpr std::array kOpKinds{OpKind::quantize, OpKind::dequantize, OpKind::conv2d, OpKind::max_pool2d,
                              OpKind::add, OpKind::reshape, OpKind::fully_connected};
constexpr std::array kActivations{Activation::none, Activation::relu};

template <typename E, std::size_t N>
std::optional<E> enum_named(std::string_view name, const std::array<E, N>& all) {
  for (E e : all) {
    if (to_string(e) == name) return e;
  }
  return std::nullopt;
}

// ---- writer -------------------------------------------------------------------------------

// What the artifact's tensor table already says (a constant's shape, dtype and weight scales)
// and what the graph rules fix (bias scales = input scale × weight scales, zero points 0 for
// constants, axis 0) is not repeated: the document stays a few kilobytes.
json tensor_document(const Tensor& t) {
  if (t.constant) {
    json j{{"name", t.name}, {"constant", true}};
    if (t.dtype == DType::int8 && t.quant.scales.size() == 1) j["per_tensor"] = true;
    return j;
  }
  json j{{"name", t.name}, {"shape", t.shape}, {"dtype", std::string(to_string(t.dtype))}};
  if (!t.quant.empty()) {
    j["scale"] = t.quant.scales[0];
    j["zero_point"] = t.quant.zero_points[0];
  }
  return j;
}

json op_document(const Op& op) {
  json j{{"kind", std::string(to_string(op.kind))}, {"name", op.name}, {"inputs", op.inputs}, {"output", op.output}};
  if (op.activation != Activation::none) j["activation"] = std::string(to_string(op.activation));
  if (op.kind == OpKind::max_pool2d) j["pool"] = op.pool;
  return j;
}

// int8 weights keep their codes and scales; a per-tensor scale is repeated per channel, as the
// encoding has one per row (the document keeps the single scale, and the reader checks both).
Result<EncodedTensor> constant_payload(const Tensor& t) {
  switch (t.dtype) {
    case DType::float32: return encode(t.shape, t.f32, Encoding::float32);
    case DType::int32: return encode_int32(t.shape, t.i32);
    case DType::int8: break;
  }
  EncodedTensor e{Encoding::int8_symmetric_per_channel, t.shape, {}, {}, {}};
  const std::size_t channels = scale_count(e.encoding, t.shape);
  if (t.quant.scales.size() == channels) {
    e.scales = t.quant.scales;
  } else if (t.quant.scales.size() == 1) {
    e.scales.assign(channels, t.quant.scales[0]);
  } else {
    return fail(ErrorCode::invalid_argument,
                std::to_string(t.quant.scales.size()) + " scales for " + std::to_string(channels) + " channels");
  }
  e.data.resize(t.i8.size());
  std::transform(t.i8.begin(), t.i8.end(), e.data.begin(), [](std::int8_t q) { return static_cast<std::uint8_t>(q); });
  return e;
}

// ---- reader: the document, field by field ---------------------------------------------------

// One JSON object of the document; errors name the field by its path ("ops[3].kind").
class Fields {
 public:
  Fields(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

  Result<const json*> get(std::string_view key, json::value_t type) const {
    const auto it = object_.find(key);
    if (it == object_.end()) return fail(ErrorCode::missing_field, where(key) + ": missing");
    if (!has_type(*it, type)) return fail(ErrorCode::bad_type, where(key) + ": expected " + type_name(type));
    return &*it;
  }

  Result<std::string> string(std::string_view key) const {
    EDGEFED_ASSIGN_OR_RETURN(const json* j, get(key, json::value_t::string));
    return j->get<std::string>();
  }

  bool has(std::string_view key) const { return object_.contains(key); }

  // A number that is finite as float32.
  Result<float> number(std::string_view key) const {
    const auto it = object_.find(key);
    if (it == object_.end()) return fail(ErrorCode::missing_field, where(key) + ": missing");
    if (!it->is_number()) return fail(ErrorCode::bad_type, where(key) + ": expected a number");
    const auto v = static_cast<float>(it->get<double>());
    if (!std::isfinite(v)) return fail(ErrorCode::bad_value, where(key) + ": not a finite float32");
    return v;
  }

  Result<bool> boolean(std::string_view key) const {
    EDGEFED_ASSIGN_OR_RETURN(const json* j, get(key, json::value_t::boolean));
    return j->get<bool>();
  }

  Result<std::int64_t> integer(std::string_view key, std::int64_t lo, std::int64_t hi) const {
    EDGEFED_ASSIGN_OR_RETURN(const json* j, get(key, json::value_t::number_integer));
    return in_range(*j, where(key), lo, hi);
  }

  template <typename E, std::size_t N>
  Result<E> enumeration(std::string_view key, const std::array<E, N>& all) const {
    EDGEFED_ASSIGN_OR_RETURN(const std::string name, string(key));
    const std::optional<E> e = enum_named(name, all);
    if (!e) {
      std::string known;
      for (E v : all) known += (known.empty() ? "" : ", ") + std::string(to_string(v));
      return fail(ErrorCode::bad_value, where(key) + ": unknown value '" + name + "' (known: " + known + ")");
    }
    return *e;
  }

  // An array of integers within [lo, hi], as T.
  template <typename T>
  Result<std::vector<T>> integers(std::string_view key, std::int64_t lo, std::int64_t hi) const {
    EDGEFED_ASSIGN_OR_RETURN(const json* j, get(key, json::value_t::array));
    std::vector<T> out;
    for (std::size_t i = 0; i < j->size(); ++i) {
      const std::string item = where(key) + "[" + std::to_string(i) + "]";
      if (!has_type((*j)[i], json::value_t::number_integer)) {
        return fail(ErrorCode::bad_type, item + ": expected an integer");
      }
      EDGEFED_ASSIGN_OR_RETURN(const std::int64_t v, in_range((*j)[i], item, lo, hi));
      out.push_back(static_cast<T>(v));
    }
    return out;
  }

  std::string where(std::string_view key) const { return path_ + "." + std::string(key); }

 private:
  // Integers: any JSON integer (nlohmann keeps non-negative ones as unsigned).
  static bool has_type(const json& j, json::value_t type) {
    if (type == json::value_t::number_integer) return j.is_number_integer();
    return j.type() == type;
  }

  static std::string type_name(json::value_t type) {
    switch (type) {
      case json::value_t::string: return "a string";
      case json::value_t::boolean: return "a boolean";
      case json::value_t::number_integer: return "an integer";
      case json::value_t::array: return "an array";
      case json::value_t::object: return "an object";
      default: return "another type";
    }
  }

  static Result<std::int64_t> in_range(const json& j, const std::string& where, std::int64_t lo, std::int64_t hi) {
    const bool huge = j.is_number_unsigned() && j.get<std::uint64_t>() > static_cast<std::uint64_t>(hi);
    const std::int64_t v = huge ? hi : j.get<std::int64_t>();
    if (huge || v < lo || v > hi) {
      return fail(ErrorCode::bad_value,
                  where + ": " + j.dump() + " outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    return v;
  }

  const json& object_;
  std::string path_;
};

Result<Tensor> read_tensor(const Fields& f) {
  Tensor t;
  EDGEFED_ASSIGN_OR_RETURN(t.name, f.string("name"));
  if (f.has("constant")) {
    EDGEFED_ASSIGN_OR_RETURN(t.constant, f.boolean("constant"));
  }
  if (t.constant) {
    // Shape, dtype and scales come from the artifact tensor (attach_constant); a one-scale
    // int8 weight is marked so its repeated per-row scales collapse back to one.
    if (f.has("per_tensor")) {
      EDGEFED_ASSIGN_OR_RETURN(const bool per_tensor, f.boolean("per_tensor"));
      if (per_tensor) t.quant.scales = {0.0f};
    }
    return t;
  }
  EDGEFED_ASSIGN_OR_RETURN(t.shape, f.integers<std::int64_t>("shape", 0, kMaxGraphTensorElements));
  if (t.shape.size() > kMaxTensorRank) {
    return fail(ErrorCode::bad_value, f.where("shape") + ": rank " + std::to_string(t.shape.size()) + " over " +
                                          std::to_string(kMaxTensorRank));
  }
  EDGEFED_ASSIGN_OR_RETURN(t.dtype, f.enumeration("dtype", kDTypes));
  if (f.has("scale") || f.has("zero_point")) {
    EDGEFED_ASSIGN_OR_RETURN(const float scale, f.number("scale"));
    EDGEFED_ASSIGN_OR_RETURN(const std::int64_t zero_point,
                             f.integer("zero_point", std::numeric_limits<std::int32_t>::min(),
                                       std::numeric_limits<std::int32_t>::max()));
    t.quant.scales = {scale};
    t.quant.zero_points = {static_cast<std::int32_t>(zero_point)};
  }
  return t;
}

Result<Op> read_op(const Fields& f) {
  Op op;
  EDGEFED_ASSIGN_OR_RETURN(op.kind, f.enumeration("kind", kOpKinds));
  EDGEFED_ASSIGN_OR_RETURN(op.name, f.string("name"));
  EDGEFED_ASSIGN_OR_RETURN(op.inputs, f.integers<int>("inputs", 0, kIntMax));
  EDGEFED_ASSIGN_OR_RETURN(const std::int64_t output, f.integer("output", 0, kIntMax));
  op.output = static_cast<int>(output);
  if (f.has("activation")) {
    EDGEFED_ASSIGN_OR_RETURN(op.activation, f.enumeration("activation", kActivations));
  }
  if (op.kind == OpKind::max_pool2d) {
    EDGEFED_ASSIGN_OR_RETURN(const std::int64_t pool, f.integer("pool", kIntMin, kIntMax));
    op.pool = static_cast<int>(pool);
  }
  return op;
}

// Reads each element of the array `key` of `doc` with `read`, as objects named "key[i]".
template <typename T, typename Read>
Result<std::vector<T>> read_list(const Fields& doc, std::string_view key, Read read) {
  EDGEFED_ASSIGN_OR_RETURN(const json* list, doc.get(key, json::value_t::array));
  std::vector<T> out;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string path = std::string(key) + "[" + std::to_string(i) + "]";
    if (!(*list)[i].is_object()) return fail(ErrorCode::bad_type, path + ": expected an object");
    EDGEFED_ASSIGN_OR_RETURN(T item, read(Fields((*list)[i], path)));
    out.push_back(std::move(item));
  }
  return out;
}

Status read_document(const json& doc, GraphFile& file) {
  if (!doc.is_object()) return fail(ErrorCode::bad_type, "document: expected an object");
  const Fields f(doc, "document");
  EDGEFED_ASSIGN_OR_RETURN(const std::string format, f.string("format"));
  if (format != kGraphFormat) {
    return fail(ErrorCode::bad_value,
                f.where("format") + ": '" + format + "', expected '" + std::string(kGraphFormat) + "'");
  }
  const Result<std::int64_t> version = f.integer("version", kDocumentVersion, kDocumentVersion);
  if (!version) {
    if (version.error().code != ErrorCode::bad_value) return version.error();
    return fail(ErrorCode::unsupported_version, version.error().detail + ": this build reads graph document version " +
                                                    std::to_string(kDocumentVersion));
  }
  EDGEFED_ASSIGN_OR_RETURN(const std::int64_t input, f.integer("input", 0, kIntMax));
  EDGEFED_ASSIGN_OR_RETURN(const std::int64_t output, f.integer("output", 0, kIntMax));
  file.graph.input = static_cast<int>(input);
  file.graph.output = static_cast<int>(output);
  EDGEFED_ASSIGN_OR_RETURN(file.graph.tensors, read_list<Tensor>(f, "tensors", read_tensor));
  EDGEFED_ASSIGN_OR_RETURN(file.graph.ops, read_list<Op>(f, "ops", read_op));
  EDGEFED_ASSIGN_OR_RETURN(const json* info, f.get("info", json::value_t::object));
  file.info = *info;
  return {};
}

// ---- reader: constants from the artifact tensors -------------------------------------------

Status attach_constant(Tensor& t, const EncodedTensor& e) {
  const std::string where = "constant '" + t.name + "'";
  const bool per_tensor = !t.quant.scales.empty();  // marked by read_tensor
  t.shape = e.shape;
  switch (e.encoding) {
    case Encoding::float32: {
      t.dtype = DType::float32;
      EDGEFED_ASSIGN_OR_RETURN(t.f32, decode(e));
      break;
    }
    case Encoding::int32: {
      t.dtype = DType::int32;
      EDGEFED_ASSIGN_OR_RETURN(t.i32, decode_int32(e));
      break;
    }
    case Encoding::int8_symmetric_per_channel: {
      t.dtype = DType::int8;
      if (per_tensor) {
        if (e.scales.empty() || !std::all_of(e.scales.begin(), e.scales.end(), [&](float s) { return s == e.scales[0]; })) {
          return fail(ErrorCode::bad_value, where + ": marked per_tensor, but its channels have different scales");
        }
        t.quant.scales = {e.scales[0]};
      } else {
        t.quant.scales = e.scales;
      }
      t.quant.zero_points.assign(t.quant.scales.size(), 0);
      t.i8.resize(e.data.size());
      std::transform(e.data.begin(), e.data.end(), t.i8.begin(),
                     [](std::uint8_t b) { return static_cast<std::int8_t>(b); });
      break;
    }
    default:
      return fail(ErrorCode::bad_value, where + ": a " + std::string(to_string(e.encoding)) +
                                            " artifact tensor cannot be a graph constant");
  }
  if (per_tensor && t.dtype != DType::int8) {
    return fail(ErrorCode::bad_value, where + ": per_tensor is only for int8 weights");
  }
  return {};
}

// int32 biases are stored without scales: the graph rules fix them to input scale × weight
// scale[c] (computed in float32, as the quantizer does, so they compare exactly).
void derive_bias_quantization(Graph& graph) {
  for (const Op& op : graph.ops) {
    if ((op.kind != OpKind::conv2d && op.kind != OpKind::fully_connected) || op.inputs.size() != 3) continue;  // no bias
    const auto at = [&](int i) -> Tensor* {
      return i >= 0 && static_cast<std::size_t>(i) < graph.tensors.size() ? &graph.tensors[static_cast<std::size_t>(i)]
                                                                          : nullptr;
    };
    const Tensor* x = at(op.inputs[0]);
    const Tensor* w = at(op.inputs[1]);
    Tensor* b = at(op.inputs[2]);
    if (!x || !w || !b || !b->constant || b->dtype != DType::int32 || x->quant.scales.size() != 1) continue;
    b->quant.scales.clear();
    for (float s_w : w->quant.scales) b->quant.scales.push_back(x->quant.scales[0] * s_w);
    b->quant.zero_points.assign(b->quant.scales.size(), 0);
  }
}

Status attach_constants(Graph& graph, const std::vector<NamedTensor>& stored) {
  std::map<std::string_view, const EncodedTensor*> by_name;
  for (const NamedTensor& n : stored) by_name.emplace(n.name, &n.tensor);  // read_artifact: unique
  std::size_t used = 0;
  for (Tensor& t : graph.tensors) {
    if (!t.constant) continue;
    const auto it = by_name.find(t.name);
    if (it == by_name.end()) {
      return fail(ErrorCode::bad_value, "constant '" + t.name + "': no artifact tensor of that name");
    }
    EDGEFED_TRY(attach_constant(t, *it->second));
    ++used;
  }
  if (used != stored.size()) {
    return fail(ErrorCode::bad_value, "the artifact holds " + std::to_string(stored.size()) +
                                          " tensors, the document names " + std::to_string(used) + " constants");
  }
  return {};
}

std::uint32_t load_u32(ByteSpan bytes, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t b = 0; b < 4; ++b) v |= std::uint32_t{bytes[at + b]} << (8 * b);
  return v;
}

}  // namespace

Result<Bytes> write_graph_artifact(const Graph& graph, const Ed25519SecretKey& key, std::uint64_t model_version,
                                   const nlohmann::json& info) {
  if (Status valid = graph.validate(); !valid) {
    return fail(ErrorCode::invalid_argument, "graph: " + valid.error().detail);
  }
  if (!info.is_object()) return fail(ErrorCode::invalid_argument, "graph info: expected a JSON object");
  json doc = {{"format", std::string(kGraphFormat)},
              {"version", kDocumentVersion},
              {"input", graph.input},
              {"output", graph.output},
              {"tensors", json::array()},
              {"ops", json::array()},
              {"info", info}};
  ModelArtifact artifact;
  artifact.model_version = model_version;
  for (const Tensor& t : graph.tensors) {
    doc["tensors"].push_back(tensor_document(t));
    if (!t.constant) continue;
    Result<EncodedTensor> payload = constant_payload(t);
    if (!payload) return fail(ErrorCode::invalid_argument, "constant '" + t.name + "': " + payload.error().message());
    artifact.tensors.push_back(NamedTensor{t.name, std::move(payload).value()});
  }
  for (const Op& op : graph.ops) doc["ops"].push_back(op_document(op));
  try {
    artifact.metadata = doc.dump();
  } catch (const json::exception&) {  // a name or info string that is not UTF-8
    return fail(ErrorCode::invalid_argument, "graph document: a string is not valid UTF-8");
  }
  return write_artifact(artifact, key);
}

Result<GraphFile> read_graph_artifact(ByteSpan bytes, const Ed25519PublicKey& trusted) {
  EDGEFED_ASSIGN_OR_RETURN(const ModelArtifact artifact, read_artifact(bytes, trusted));
  const json doc = json::parse(artifact.metadata, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail(ErrorCode::bad_encoding, "graph artifact: metadata is not JSON");
  GraphFile file;
  file.model_version = artifact.model_version;
  if (Status s = read_document(doc, file); !s) return s.error().with_context("graph artifact");
  if (Status s = attach_constants(file.graph, artifact.tensors); !s) return s.error().with_context("graph artifact");
  derive_bias_quantization(file.graph);
  if (Status s = file.graph.validate(); !s) return s.error().with_context("graph artifact");
  return file;
}

bool looks_like_graph_artifact(ByteSpan bytes) {
  if (bytes.size() < kArtifactFixedHeaderBytes ||
      !std::equal(kArtifactMagic.begin(), kArtifactMagic.end(), bytes.begin()) ||
      load_u32(bytes, kArtifactMagic.size()) != kArtifactFormatVersion) {
    return false;
  }
  const std::uint32_t metadata_bytes = load_u32(bytes, kArtifactFixedHeaderBytes - 4);
  if (metadata_bytes > kMaxArtifactMetadataBytes || bytes.size() - kArtifactFixedHeaderBytes < metadata_bytes) {
    return false;
  }
  const auto* text = reinterpret_cast<const char*>(bytes.data() + kArtifactFixedHeaderBytes);
  const json doc = json::parse(text, text + metadata_bytes, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return false;
  const auto format = doc.find("format");
  return format != doc.end() && format->is_string() && format->get<std::string>() == kGraphFormat;
}

}  // namespace edgefed::runtime
