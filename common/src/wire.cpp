#include "edgefed/common/wire.hpp"

#include "bounded_cbor.hpp"

#include <array>
#include <cmath>
#include <cstring>
#include <set>

namespace edgefed {

using json = nlohmann::json;

namespace {

constexpr std::array<std::string_view, 6> kEnvelopeKeys = {"v", "type", "session", "round", "seq", "body"};

const char* type_name(const json& v) {
  if (v.is_binary()) return "bytes";
  if (v.is_number_unsigned()) return "unsigned integer";
  if (v.is_number_integer()) return "negative integer";
  return v.type_name();
}

void append_cbor(Bytes& out, const json& value) { json::to_cbor(value, out); }

// Envelope keys must come in kEnvelopeKeys order, so "type" is known before "body" starts.
Status check_key_order(std::string_view key, std::size_t index) {
  if (index >= kEnvelopeKeys.size() || key != kEnvelopeKeys[index]) {
    return fail(ErrorCode::bad_encoding,
                "envelope key '" + std::string(key.substr(0, 32)) + "' at position " + std::to_string(index) +
                    "; expected keys in order v, type, session, round, seq, body");
  }
  return {};
}

// Applies the per-type size bound as soon as "type" is parsed, before the body.
Status check_type_limit(const json& type, std::size_t frame_bytes, const DecodeLimits& limits) {
  if (!type.is_string()) return fail(ErrorCode::bad_type, "envelope.type: expected text, got " + std::string(type_name(type)));
  const std::string& t = type.get_ref<const std::string&>();
  if (!is_valid_type_name(t)) return fail(ErrorCode::bad_value, "envelope.type: not a valid message type name");
  if (limits.max_bytes_by_type.empty()) return {};
  auto it = limits.max_bytes_by_type.find(t);
  if (it == limits.max_bytes_by_type.end()) return fail(ErrorCode::unknown_type, "type '" + t + "' is not accepted here");
  if (frame_bytes > it->second) {
    return fail(ErrorCode::too_large, "'" + t + "' frame of " + std::to_string(frame_bytes) +
                                          " bytes exceeds its limit of " + std::to_string(it->second));
  }
  return {};
}

}  // namespace

bool is_valid_type_name(std::string_view type) {
  if (type.empty() || type.size() > 64) return false;
  for (char c : type) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Result<Bytes> encode_envelope(const Envelope& envelope) {
  if (!envelope.body.is_object()) return fail(ErrorCode::invalid_argument, "envelope body must be an object");
  if (!is_valid_type_name(envelope.type)) {
    return fail(ErrorCode::invalid_argument, "invalid message type name '" + envelope.type + "'");
  }
  // A CBOR map written key by key keeps our key order (nlohmann's json map would sort it).
  Bytes out;
  out.push_back(0xA0 | static_cast<std::uint8_t>(kEnvelopeKeys.size()));
  const json values[] = {envelope.version, envelope.type,
                         json::binary(std::vector<std::uint8_t>(envelope.session.begin(), envelope.session.end())),
                         envelope.round, envelope.seq};
  for (std::size_t i = 0; i < kEnvelopeKeys.size(); ++i) {
    append_cbor(out, json(kEnvelopeKeys[i]));
    append_cbor(out, i < 5 ? values[i] : envelope.body);
  }
  return out;
}

Result<Envelope> decode_envelope(ByteSpan frame, const DecodeLimits& limits) {
  if (frame.size() > limits.max_frame_bytes) {
    return fail(ErrorCode::too_large, "frame of " + std::to_string(frame.size()) + " bytes exceeds " +
                                          std::to_string(limits.max_frame_bytes));
  }
  detail::CborBounds bounds;
  bounds.max_depth = limits.max_depth;
  bounds.max_items = limits.max_items;
  bounds.on_top_level_key = check_key_order;
  bounds.on_top_level_value = [&](std::string_view key, const json& value) -> Status {
    return key == "type" ? check_type_limit(value, frame.size(), limits) : Status{};
  };
  auto parsed = detail::parse_cbor_bounded(frame, bounds);
  if (!parsed) return parsed.error().with_context("envelope");
  json& root = parsed.value();
  if (!root.is_object()) return fail(ErrorCode::bad_type, "envelope: expected a map, got " + std::string(type_name(root)));

  FieldReader r(root, "envelope");
  Envelope env;
  auto v = r.get_uint("v");
  if (!v) return v.error();
  if (*v != kProtocolVersion) {
    return fail(ErrorCode::unsupported_version, "protocol version " + std::to_string(*v) +
                                                    "; this build speaks " + std::to_string(kProtocolVersion));
  }
  env.version = *v;
  auto type = r.get_string("type", 64);
  if (!type) return type.error();
  env.type = std::move(*type);
  auto session = r.get_bytes("session", kSessionTokenBytes);
  if (!session) return session.error();
  if (session->size() != kSessionTokenBytes) {
    return fail(ErrorCode::bad_length, "envelope.session: expected " + std::to_string(kSessionTokenBytes) +
                                           " bytes, got " + std::to_string(session->size()));
  }
  std::memcpy(env.session.data(), session->data(), kSessionTokenBytes);
  auto round = r.get_uint("round");
  if (!round) return round.error();
  auto seq = r.get_uint("seq");
  if (!seq) return seq.error();
  env.round = *round;
  env.seq = *seq;
  auto body = r.get_object("body");
  if (!body) return body.error();
  env.body = std::move(root["body"]);
  return env;
}

// ---- FieldReader ---------------------------------------------------------------------

FieldReader::FieldReader(const json& object, std::string path) : object_(&object), path_(std::move(path)) {}

bool FieldReader::has(std::string_view key) const {
  return object_->is_object() && object_->find(key) != object_->end();
}

Result<const json*> FieldReader::field(std::string_view key) const {
  if (!object_->is_object()) return fail(ErrorCode::bad_type, path_ + ": expected a map");
  auto it = object_->find(key);
  if (it == object_->end()) return fail(ErrorCode::missing_field, path_ + "." + std::string(key) + ": missing");
  return &*it;
}

Error FieldReader::type_error(std::string_view key, std::string_view expected, const json& got) const {
  return Error{ErrorCode::bad_type, path_ + "." + std::string(key) + ": expected " + std::string(expected) +
                                        ", got " + type_name(got)};
}

Result<std::uint64_t> FieldReader::get_uint(std::string_view key, std::uint64_t min, std::uint64_t max) const {
  auto f = field(key);
  if (!f) return f.error();
  // A non-negative value built as a signed JSON integer in code is the same number.
  const bool non_negative = (*f)->is_number_unsigned() || ((*f)->is_number_integer() && (*f)->get<std::int64_t>() >= 0);
  if (!non_negative) return type_error(key, "unsigned integer", **f);
  const auto v = (*f)->get<std::uint64_t>();
  if (v < min || v > max) {
    return fail(ErrorCode::bad_value, path_ + "." + std::string(key) + ": " + std::to_string(v) +
                                          " outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return v;
}

Result<std::int64_t> FieldReader::get_int(std::string_view key, std::int64_t min, std::int64_t max) const {
  auto f = field(key);
  if (!f) return f.error();
  const json& j = **f;
  if (j.is_number_unsigned() && j.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
    return fail(ErrorCode::bad_value, path_ + "." + std::string(key) + ": exceeds int64");
  }
  if (!j.is_number_integer()) return type_error(key, "integer", j);
  const auto v = j.get<std::int64_t>();
  if (v < min || v > max) {
    return fail(ErrorCode::bad_value, path_ + "." + std::string(key) + ": " + std::to_string(v) +
                                          " outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return v;
}

Result<double> FieldReader::get_double(std::string_view key) const {
  auto f = field(key);
  if (!f) return f.error();
  if (!(*f)->is_number()) return type_error(key, "number", **f);
  const double v = (*f)->get<double>();
  if (!std::isfinite(v)) return fail(ErrorCode::bad_value, path_ + "." + std::string(key) + ": not finite");
  return v;
}

Result<bool> FieldReader::get_bool(std::string_view key) const {
  auto f = field(key);
  if (!f) return f.error();
  if (!(*f)->is_boolean()) return type_error(key, "boolean", **f);
  return (*f)->get<bool>();
}

Result<std::string> FieldReader::get_string(std::string_view key, std::size_t max_len) const {
  auto f = field(key);
  if (!f) return f.error();
  if (!(*f)->is_string()) return type_error(key, "text", **f);
  const auto& s = (*f)->get_ref<const std::string&>();
  if (s.size() > max_len) {
    return fail(ErrorCode::bad_length, path_ + "." + std::string(key) + ": " + std::to_string(s.size()) +
                                           " bytes exceeds " + std::to_string(max_len));
  }
  return s;
}

Result<ByteSpan> FieldReader::get_bytes(std::string_view key, std::size_t max_len) const {
  auto f = field(key);
  if (!f) return f.error();
  if (!(*f)->is_binary()) return type_error(key, "bytes", **f);
  const auto& b = (*f)->get_binary();
  if (b.size() > max_len) {
    return fail(ErrorCode::bad_length, path_ + "." + std::string(key) + ": " + std::to_string(b.size()) +
                                           " bytes exceeds " + std::to_string(max_len));
  }
  return ByteSpan(b.data(), b.size());
}

Result<const json*> FieldReader::get_array(std::string_view key, std::size_t max_items) const {
  auto f = field(key);
  if (!f) return f.error();
  if (!(*f)->is_array()) return type_error(key, "array", **f);
  if ((*f)->size() > max_items) {
    return fail(ErrorCode::bad_length, path_ + "." + std::string(key) + ": " + std::to_string((*f)->size()) +
                                           " items exceeds " + std::to_string(max_items));
  }
  return *f;
}

Result<FieldReader> FieldReader::get_object(std::string_view key) const {
  auto f = field(key);
  if (!f) return f.error();
  if (!(*f)->is_object()) return type_error(key, "map", **f);
  return FieldReader(**f, path_ + "." + std::string(key));
}

// ---- ParameterSet <-> CBOR -----------------------------------------------------------

json encode_parameters(const ParameterSet& parameters) {
  json out = json::array();
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const TensorView t = parameters.at(i);
    Bytes data;
    data.reserve(t.data.size() * sizeof(float));
    ByteWriter w(data);
    for (float x : t.data) w.put(x);
    out.push_back({{"name", t.name}, {"shape", t.shape}, {"data", json::binary(std::move(data))}});
  }
  return out;
}

Result<ParameterSet> decode_parameters(const json& value, std::string_view path, std::size_t max_elements) {
  if (!value.is_array()) return fail(ErrorCode::bad_type, std::string(path) + ": expected an array of tensors");
  ParameterSet out;
  std::size_t total = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    FieldReader t(value[i], std::string(path) + "[" + std::to_string(i) + "]");
    auto name = t.get_string("name", 256);
    if (!name) return name.error();
    auto shape_json = t.get_array("shape", kMaxTensorRank);
    if (!shape_json) return shape_json.error();
    Shape shape;
    for (const json& d : **shape_json) {
      const bool non_negative = d.is_number_unsigned() || (d.is_number_integer() && d.get<std::int64_t>() >= 0);
      if (!non_negative || d.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
        return fail(ErrorCode::bad_type, t.path() + ".shape: expected unsigned integers");
      }
      shape.push_back(static_cast<std::int64_t>(d.get<std::uint64_t>()));
    }
    auto numel = checked_numel(shape, max_elements - total);
    if (!numel) return numel.error().with_context(t.path() + ".shape");
    total += *numel;
    auto data = t.get_bytes("data", *numel * sizeof(float));
    if (!data) return data.error();
    if (data->size() != *numel * sizeof(float)) {
      return fail(ErrorCode::bad_length, t.path() + ".data: " + std::to_string(data->size()) +
                                             " bytes for shape " + shape_to_string(shape));
    }
    std::vector<float> values(*numel);
    ByteReader r(*data);
    for (float& x : values) x = r.get<float>("data").value();  // length checked above
    if (auto st = out.add(std::move(*name), std::move(shape), values); !st) {
      return Error{ErrorCode::bad_value, t.path() + ": " + st.error().detail};
    }
  }
  return out;
}

}  // namespace edgefed
