// Wire codec: one WebSocket binary frame = one CBOR-encoded Envelope (DESIGN §3).
//
//   Envelope = CBOR map, keys in this order:
//     "v"       unsigned  protocol version (kProtocolVersion)
//     "type"    text      message type, [a-z0-9_.]{1,64}
//     "session" bytes     16-byte session id: constant-size binding of every message
//     "round"   unsigned  round number
//     "seq"     unsigned  per-sender sequence number (replay and order checks are the
//                         session layer's job; the codec only carries it)
//     "body"    map       type-specific fields; tensors as CBOR byte strings (little-endian)
//
// "v" and "type" must come first so the per-type size limit is applied before the body is
// parsed: a frame whose type allows 4 KiB never gets its 60 MiB body parsed.
//
// Decoding is for untrusted input. It never throws or aborts and never allocates from an
// unchecked length: the whole frame is bounded first (too_large), nesting depth and item
// counts are bounded while parsing, a declared array/map length longer than the bytes left
// is refused (bad_length), and every field is mapped with an explicit type and range check
// (no generic object deserializer). Errors name the field: "body.tensors[2].shape: ...".
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/parameter_set.hpp"
#include "edgefed/common/result.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace edgefed {

inline constexpr std::uint64_t kProtocolVersion = 1;
inline constexpr std::size_t kSessionTokenBytes = 16;
using SessionToken = std::array<std::uint8_t, kSessionTokenBytes>;

struct Envelope {
  std::uint64_t version = kProtocolVersion;
  std::string type;
  SessionToken session{};
  std::uint64_t round = 0;
  std::uint64_t seq = 0;
  nlohmann::json body = nlohmann::json::object();
};

struct DecodeLimits {
  // Whole-frame bound, checked before a single byte is parsed.
  std::size_t max_frame_bytes = 64u << 20;
  // Per-type bounds. When non-empty it is also the allow-list: other types are unknown_type.
  std::map<std::string, std::size_t, std::less<>> max_bytes_by_type;
  std::size_t max_depth = 16;          // nested maps/arrays, the envelope itself is depth 1
  std::size_t max_items = 1u << 20;    // values in the whole frame
};

// Encodes `envelope` (the body must be a JSON object). Never fails for a well-formed
// Envelope; invalid_argument if the body is not an object or the type name is invalid.
Result<Bytes> encode_envelope(const Envelope& envelope);

// Decodes one frame. Errors: too_large (frame or per-type bound), bad_encoding (not CBOR,
// trailing bytes, CBOR tags, wrong key order, extra keys), bad_length, truncated,
// missing_field, bad_type, unknown_type, unsupported_version (detail names ours).
Result<Envelope> decode_envelope(ByteSpan frame, const DecodeLimits& limits = {});

// Typed access to a decoded JSON object, with the object's path for errors.
//
//   FieldReader body(env.body, "body");
//   auto k = body.get_uint("k", 1, 10'000);  if (!k) return k.error();
class FieldReader {
 public:
  FieldReader(const nlohmann::json& object, std::string path);

  Result<std::uint64_t> get_uint(std::string_view key, std::uint64_t min = 0,
                                 std::uint64_t max = UINT64_MAX) const;
  Result<std::int64_t> get_int(std::string_view key, std::int64_t min = INT64_MIN,
                               std::int64_t max = INT64_MAX) const;
  // Accepts integer or float CBOR numbers; rejects NaN and infinities.
  Result<double> get_double(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<std::string> get_string(std::string_view key, std::size_t max_len = 4096) const;
  // A view into the decoded object's byte string; valid while the object lives.
  Result<ByteSpan> get_bytes(std::string_view key, std::size_t max_len) const;
  Result<const nlohmann::json*> get_array(std::string_view key, std::size_t max_items) const;
  Result<FieldReader> get_object(std::string_view key) const;
  bool has(std::string_view key) const;

  const std::string& path() const { return path_; }
  const nlohmann::json& object() const { return *object_; }

 private:
  Result<const nlohmann::json*> field(std::string_view key) const;
  Error type_error(std::string_view key, std::string_view expected,
                   const nlohmann::json& got) const;

  const nlohmann::json* object_;
  std::string path_;
};

// ParameterSet <-> body value: an array of {"name": text, "shape": [uint...], "data": bytes
// (float32 LE)}. Decoding checks names (non-empty, unique, ≤ 256 bytes), shapes (rank ≤ 8,
// element count ≤ max_elements) and that data holds exactly 4 × elements bytes.
nlohmann::json encode_parameters(const ParameterSet& parameters);
Result<ParameterSet> decode_parameters(const nlohmann::json& value, std::string_view path,
                                       std::size_t max_elements = 64u << 20);

// An Envelope's wire "type" must match [a-z0-9_.]{1,64}.
bool is_valid_type_name(std::string_view type);

}  // namespace edgefed
