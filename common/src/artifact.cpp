#include "edgefed/common/artifact.hpp"

#include "file_io.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace edgefed {
namespace {

// Smallest table entry: u16 name length, 1-byte name, tag, rank, scale count, zero point
// count, payload length. Bounds a declared tensor count by the bytes that hold the table.
constexpr std::size_t kMinTableEntryBytes = 2 + 1 + 1 + 1 + 4 + 4 + 8;
constexpr char kSchemaLabel[] = "edgefed schema v1";  // hashed with its NUL

using SigningMessage = std::array<std::uint8_t, kArtifactSignatureLabelBytes + kSha256DigestBytes>;

SigningMessage signing_message(ByteSpan digest) {
  SigningMessage m;
  const auto* label = reinterpret_cast<const std::uint8_t*>(kArtifactSignatureLabel);
  std::copy(label, label + kArtifactSignatureLabelBytes, m.begin());
  std::copy(digest.begin(), digest.end(), m.begin() + kArtifactSignatureLabelBytes);
  return m;
}

bool is_valid_utf8(std::string_view s) {
  static constexpr std::uint32_t kMinCodePoint[] = {0, 0, 0x80, 0x800, 0x10000};
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const std::size_t len = lead < 0x80             ? 1
                            : (lead & 0xE0) == 0xC0 ? 2
                            : (lead & 0xF0) == 0xE0 ? 3
                            : (lead & 0xF8) == 0xF0 ? 4
                                                    : 0;
    if (len == 0 || s.size() - i < len) return false;
    if (len == 1) {
      ++i;
      continue;
    }
    std::uint32_t cp = lead & (0x7Fu >> len);
    for (std::size_t k = 1; k < len; ++k) {
      const auto cont = static_cast<unsigned char>(s[i + k]);
      if ((cont & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cont & 0x3Fu);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (cp < kMinCodePoint[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Name rules shared by writer (code = invalid_argument) and reader (code = bad_value).
Status check_name(std::string_view name, std::size_t index, ErrorCode code) {
  const std::string where = "tensor " + std::to_string(index);
  if (name.empty()) return fail(code, where + ": empty name");
  if (name.size() > kMaxTensorNameBytes) {
    return fail(code, where + ": name of " + std::to_string(name.size()) + " bytes exceeds " +
                          std::to_string(kMaxTensorNameBytes));
  }
  if (!is_valid_utf8(name)) return fail(code, where + ": name is not UTF-8");
  return {};
}

Status check_unique(std::span<const NamedTensor> tensors, ErrorCode code) {
  std::set<std::string_view> seen;
  for (const NamedTensor& t : tensors) {
    if (!seen.insert(t.name).second) return fail(code, "duplicate tensor name '" + t.name + "'");
  }
  return {};
}

using SchemaFields = std::tuple<std::string_view, std::span<const std::int64_t>, Encoding>;

template <typename Entries, typename Fields>
Sha256Digest hash_schema(const Entries& entries, Fields fields) {
  Bytes canonical;
  ByteWriter w(canonical);
  w.put_bytes(as_bytes(std::string_view(kSchemaLabel, sizeof kSchemaLabel)));
  w.put<std::uint64_t>(entries.size());
  for (const auto& entry : entries) {
    const auto [name, shape, encoding] = fields(entry);
    w.put<std::uint32_t>(static_cast<std::uint32_t>(name.size()));
    w.put_bytes(as_bytes(name));
    w.put<std::uint8_t>(static_cast<std::uint8_t>(encoding));
    w.put<std::uint32_t>(static_cast<std::uint32_t>(shape.size()));
    for (std::int64_t d : shape) w.put<std::int64_t>(d);
  }
  return sha256(canonical);
}

// ----- writer -----

Status check_writable(const ModelArtifact& artifact) {
  const ErrorCode bad = ErrorCode::invalid_argument;
  if (artifact.metadata.size() > kMaxArtifactMetadataBytes) {
    return fail(bad, "metadata of " + std::to_string(artifact.metadata.size()) + " bytes exceeds " +
                         std::to_string(kMaxArtifactMetadataBytes));
  }
  if (!is_valid_utf8(artifact.metadata)) return fail(bad, "metadata is not UTF-8");
  if (artifact.tensors.size() > UINT32_MAX) return fail(bad, "more than 2^32 - 1 tensors");
  for (std::size_t i = 0; i < artifact.tensors.size(); ++i) {
    const NamedTensor& t = artifact.tensors[i];
    EDGEFED_TRY(check_name(t.name, i, bad));
    if (Status valid = validate(t.tensor); !valid) {
      return Error{bad, "tensor '" + t.name + "': " + valid.error().message()};
    }
  }
  return check_unique(artifact.tensors, bad);
}

void put_table_entry(ByteWriter& w, const NamedTensor& t) {
  w.put<std::uint16_t>(static_cast<std::uint16_t>(t.name.size()));
  w.put_bytes(as_bytes(t.name));
  w.put<std::uint8_t>(static_cast<std::uint8_t>(t.tensor.encoding));
  w.put<std::uint8_t>(static_cast<std::uint8_t>(t.tensor.shape.size()));
  for (std::int64_t d : t.tensor.shape) w.put<std::int64_t>(d);
  w.put<std::uint32_t>(static_cast<std::uint32_t>(t.tensor.scales.size()));
  for (float s : t.tensor.scales) w.put<float>(s);
  w.put<std::uint32_t>(static_cast<std::uint32_t>(t.tensor.zero_points.size()));
  for (std::int32_t z : t.tensor.zero_points) w.put<std::int32_t>(z);
  w.put<std::uint64_t>(t.tensor.data.size());
}

// ----- reader -----

// The next `n` bytes, or bad_length: past the checksum and signature, a length running
// over the end is a malformed (signed) file, not a truncated download.
Result<ByteSpan> take(ByteReader& r, std::uint64_t n, std::string_view what) {
  if (n > r.remaining()) {
    return fail(ErrorCode::bad_length, std::string(what) + ": declares " + std::to_string(n) +
                                           " bytes, only " + std::to_string(r.remaining()) +
                                           " left");
  }
  return r.get_span(static_cast<std::size_t>(n), what);
}

// Steps 1-4 of the header comment: only the fixed, not yet authenticated header is read.
Status check_frame(ByteSpan bytes, const ArtifactLimits& limits) {
  if (bytes.size() > limits.max_bytes) {
    return fail(ErrorCode::too_large, "artifact of " + std::to_string(bytes.size()) +
                                          " bytes exceeds the limit of " +
                                          std::to_string(limits.max_bytes));
  }
  const std::size_t prefix = std::min(bytes.size(), kArtifactMagic.size());
  if (!std::equal(bytes.begin(), bytes.begin() + prefix, kArtifactMagic.begin())) {
    return fail(ErrorCode::bad_encoding, "not an edgefed model artifact (bad magic)");
  }
  ByteReader r(bytes);
  EDGEFED_TRY(r.get_span(kArtifactMagic.size(), "artifact magic"));
  const Result<std::uint32_t> version = r.get<std::uint32_t>("artifact format version");
  if (!version) return version.error();
  if (*version != kArtifactFormatVersion) {
    return fail(ErrorCode::unsupported_version,
                "artifact format version " + std::to_string(*version) +
                    "; this build reads version " + std::to_string(kArtifactFormatVersion));
  }
  const Result<std::uint64_t> total = r.get<std::uint64_t>("artifact total length");
  if (!total) return total.error();
  const std::string sizes = "artifact is " + std::to_string(bytes.size()) +
                            " bytes, its header declares " + std::to_string(*total);
  if (*total > bytes.size()) return fail(ErrorCode::truncated, sizes + ": truncated");
  if (*total < bytes.size()) return fail(ErrorCode::bad_length, sizes + ": trailing bytes");
  if (bytes.size() < kMinArtifactBytes) {
    return fail(ErrorCode::bad_length,
                sizes + ", under the minimum of " + std::to_string(kMinArtifactBytes));
  }
  return {};
}

template <typename T>
Status read_array(ByteReader& r, std::vector<T>& out, std::string_view what) {
  const Result<std::uint32_t> count = r.get<std::uint32_t>(what);
  if (!count) return count.error();
  const Result<ByteSpan> raw = take(r, std::uint64_t{*count} * sizeof(T), what);
  if (!raw) return raw.error();
  ByteReader items(*raw);
  out.reserve(*count);
  for (std::uint32_t i = 0; i < *count; ++i) out.push_back(items.get<T>(what).value());
  return {};
}

// One table entry; the tensor's data stays empty and its length goes to `payload_bytes`.
Result<NamedTensor> read_table_entry(ByteReader& r, std::size_t index, const ArtifactLimits& limits,
                                     std::uint64_t& payload_bytes) {
  NamedTensor t;
  const Result<std::uint16_t> name_length = r.get<std::uint16_t>("tensor name length");
  if (!name_length) return name_length.error();
  const Result<ByteSpan> name = take(r, *name_length, "tensor name");
  if (!name) return name.error();
  t.name.assign(name->begin(), name->end());
  EDGEFED_TRY(check_name(t.name, index, ErrorCode::bad_value));
  const std::string where = "tensor '" + t.name + "'";
  const Result<std::uint8_t> tag = r.get<std::uint8_t>("tensor encoding");
  if (!tag) return tag.error();
  const Result<Encoding> encoding = parse_encoding(*tag);
  if (!encoding) return encoding.error().with_context(where);
  t.tensor.encoding = *encoding;
  const Result<std::uint8_t> rank = r.get<std::uint8_t>("tensor rank");
  if (!rank) return rank.error();
  if (*rank > kMaxTensorRank) {
    return fail(ErrorCode::bad_value, where + ": rank " + std::to_string(*rank) + " over " +
                                          std::to_string(kMaxTensorRank));
  }
  for (std::uint8_t i = 0; i < *rank; ++i) {
    const Result<std::int64_t> dim = r.get<std::int64_t>("tensor dim");
    if (!dim) return dim.error();
    t.tensor.shape.push_back(*dim);
  }
  const Result<std::size_t> numel = checked_numel(t.tensor.shape, limits.max_elements_per_tensor);
  if (!numel) return numel.error().with_context(where);
  EDGEFED_TRY(read_array(r, t.tensor.scales, where + " scales"));
  EDGEFED_TRY(read_array(r, t.tensor.zero_points, where + " zero points"));
  const Result<std::uint64_t> payload = r.get<std::uint64_t>("tensor payload length");
  if (!payload) return payload.error();
  if (*payload > r.remaining()) {
    return fail(ErrorCode::bad_length, where + ": payload of " + std::to_string(*payload) +
                                           " bytes, only " + std::to_string(r.remaining()) +
                                           " left");
  }
  payload_bytes = *payload;
  return t;
}

// Model version, schema hash and metadata, after the already checked fixed fields.
Status read_header(ByteReader& r, ModelArtifact& out, Sha256Digest& stored_schema) {
  // check_frame guaranteed the body holds the whole fixed header.
  (void)r.get_span(kArtifactTotalLengthOffset + 8, "magic, format version, total length");
  out.model_version = r.get<std::uint64_t>("model version").value();
  const ByteSpan schema = r.get_span(kSha256DigestBytes, "schema hash").value();
  std::copy(schema.begin(), schema.end(), stored_schema.begin());
  const std::uint32_t metadata_length = r.get<std::uint32_t>("metadata length").value();
  if (metadata_length > kMaxArtifactMetadataBytes) {
    return fail(ErrorCode::bad_length, "metadata of " + std::to_string(metadata_length) +
                                           " bytes exceeds " +
                                           std::to_string(kMaxArtifactMetadataBytes));
  }
  const Result<ByteSpan> metadata = take(r, metadata_length, "metadata");
  if (!metadata) return metadata.error();
  out.metadata.assign(metadata->begin(), metadata->end());
  if (!is_valid_utf8(out.metadata)) return fail(ErrorCode::bad_value, "metadata is not UTF-8");
  return {};
}

// Copies each tensor's data once the table's lengths are known to add up exactly.
Status read_payloads(ByteReader& r, std::span<const std::uint64_t> lengths,
                     std::vector<NamedTensor>& tensors) {
  std::uint64_t total = 0;
  for (std::uint64_t n : lengths) {
    total += n;  // n <= bytes left, and we stop once over: at most twice that, no overflow
    if (total > r.remaining()) break;
  }
  if (total != r.remaining()) {
    return fail(ErrorCode::bad_length, "the table declares " + std::to_string(total) +
                                           " payload bytes or more, the artifact holds " +
                                           std::to_string(r.remaining()));
  }
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    const ByteSpan data = r.get_span(static_cast<std::size_t>(lengths[i]), "payload").value();
    tensors[i].tensor.data.assign(data.begin(), data.end());
  }
  return {};
}

// Step 7: header fields, table and payload of an authenticated body (all before the digest).
Result<ModelArtifact> parse_body(ByteSpan body, const ArtifactLimits& limits,
                                 Sha256Digest& stored_schema) {
  ByteReader r(body);
  ModelArtifact out;
  EDGEFED_TRY(read_header(r, out, stored_schema));
  const Result<std::uint32_t> count = r.get<std::uint32_t>("tensor count");
  if (!count) return count.error();
  if (*count > limits.max_tensors || std::uint64_t{*count} * kMinTableEntryBytes > r.remaining()) {
    return fail(ErrorCode::bad_length, "tensor count " + std::to_string(*count) +
                                           " exceeds the limit of " +
                                           std::to_string(limits.max_tensors) + " or the " +
                                           std::to_string(r.remaining()) + " bytes left");
  }
  out.tensors.reserve(*count);
  std::vector<std::uint64_t> payload_lengths(*count);
  for (std::uint32_t i = 0; i < *count; ++i) {
    Result<NamedTensor> entry = read_table_entry(r, i, limits, payload_lengths[i]);
    if (!entry) return entry.error();
    out.tensors.push_back(std::move(entry).value());
  }
  EDGEFED_TRY(read_payloads(r, payload_lengths, out.tensors));
  EDGEFED_TRY(check_unique(out.tensors, ErrorCode::bad_value));
  return out;
}

}  // namespace

Sha256Digest schema_hash(std::span<const TensorSchema> schema) {
  return hash_schema(
      schema, [](const TensorSchema& s) { return SchemaFields(s.name, s.shape, s.encoding); });
}

Sha256Digest schema_hash(std::span<const NamedTensor> tensors) {
  return hash_schema(tensors, [](const NamedTensor& t) {
    return SchemaFields(t.name, t.tensor.shape, t.tensor.encoding);
  });
}

Result<Bytes> write_artifact(const ModelArtifact& artifact, const Ed25519SecretKey& model_key) {
  EDGEFED_TRY(check_writable(artifact));
  Bytes out;
  ByteWriter w(out);
  w.put_bytes(kArtifactMagic);
  w.put<std::uint32_t>(kArtifactFormatVersion);
  w.put<std::uint64_t>(0);  // total length, patched below
  w.put<std::uint64_t>(artifact.model_version);
  w.put_bytes(schema_hash(artifact.tensors));
  w.put<std::uint32_t>(static_cast<std::uint32_t>(artifact.metadata.size()));
  w.put_bytes(as_bytes(artifact.metadata));
  w.put<std::uint32_t>(static_cast<std::uint32_t>(artifact.tensors.size()));
  for (const NamedTensor& t : artifact.tensors) put_table_entry(w, t);
  for (const NamedTensor& t : artifact.tensors) w.put_bytes(t.tensor.data);

  Bytes total;
  ByteWriter(total).put<std::uint64_t>(out.size() + kArtifactTrailerBytes);
  std::copy(total.begin(), total.end(), out.begin() + kArtifactTotalLengthOffset);
  const Sha256Digest digest = sha256(out);
  w.put_bytes(digest);
  w.put_bytes(sign(model_key, signing_message(digest)).span());
  return out;
}

Result<ModelArtifact> read_artifact(ByteSpan bytes, const Ed25519PublicKey& trusted_model_key,
                                    const ArtifactReadOptions& options) {
  EDGEFED_TRY(check_frame(bytes, options.limits));
  const ByteSpan body = bytes.first(bytes.size() - kArtifactTrailerBytes);
  const ByteSpan digest = bytes.subspan(body.size(), kSha256DigestBytes);
  const ByteSpan signature = bytes.last(kEd25519SignatureBytes);
  if (!constant_time_equal(sha256(body), digest)) {
    return fail(ErrorCode::checksum_mismatch, "artifact SHA-256 does not match: corrupted");
  }
  if (!verify(trusted_model_key, signing_message(digest),
              Ed25519Signature::from_bytes(signature).value())) {
    return fail(ErrorCode::bad_signature, "artifact is not signed by the trusted model key");
  }

  Sha256Digest stored_schema{};
  Result<ModelArtifact> parsed = parse_body(body, options.limits, stored_schema);
  if (!parsed) return parsed.error();
  ModelArtifact& artifact = parsed.value();
  const Sha256Digest actual_schema = schema_hash(artifact.tensors);
  if (actual_schema != stored_schema) {
    return fail(ErrorCode::bad_value, "header schema hash does not match the tensor table");
  }
  if (options.min_model_version_exclusive &&
      artifact.model_version <= *options.min_model_version_exclusive) {
    return fail(ErrorCode::rollback, "model version " + std::to_string(artifact.model_version) +
                                         " is not newer than the held version " +
                                         std::to_string(*options.min_model_version_exclusive));
  }
  if (options.expected_schema_hash && *options.expected_schema_hash != actual_schema) {
    return fail(ErrorCode::schema_mismatch, "artifact schema " + to_hex(actual_schema) +
                                                " differs from the expected " +
                                                to_hex(*options.expected_schema_hash));
  }
  for (const NamedTensor& t : artifact.tensors) {
    if (Status valid = validate(t.tensor, options.limits.max_elements_per_tensor); !valid) {
      return valid.error().with_context("tensor '" + t.name + "'");
    }
  }
  return parsed;
}

Status save_artifact(const std::filesystem::path& path, ByteSpan bytes) {
  return detail::write_file_atomic(path, bytes, 0644);
}

Result<Bytes> load_file(const std::filesystem::path& path, std::size_t max_bytes) {
  return detail::read_file_bounded(path, max_bytes);
}

}  // namespace edgefed
