// The signed model artifact: round trip, the documented byte layout, and one named case per
// way a file can be wrong. Hostile files are built by hand from the layout in artifact.hpp
// and sealed (total length, SHA-256, signature) with the trusted key, so the check under
// test, not the checksum, is what refuses them.
#include "edgefed/common/artifact.hpp"

#include "edgefed_test_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <numeric>
#include <optional>

// ----- allocation probe -----
// Replaces the global allocation functions for this test binary so a test can assert that
// reading a hostile file never asks for a large block. Off (one relaxed load) unless a
// LargestAllocation is alive. All forms are replaced together, so new and delete always
// pair malloc with free (also under AddressSanitizer).
namespace {
std::atomic<bool> g_probe_on{false};
std::atomic<std::size_t> g_probe_largest{0};

void* probe_alloc(std::size_t n) noexcept {
  if (g_probe_on.load(std::memory_order_relaxed)) {
    std::size_t seen = g_probe_largest.load(std::memory_order_relaxed);
    while (n > seen && !g_probe_largest.compare_exchange_weak(seen, n)) {
    }
  }
  return std::malloc(n == 0 ? 1 : n);
}
// Out of line so the compiler does not see free() meet operator new (-Wmismatched-new-delete).
[[gnu::noinline]] void probe_free(void* p) noexcept { std::free(p); }
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = probe_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = probe_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return probe_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return probe_alloc(n); }
void operator delete(void* p) noexcept { probe_free(p); }
void operator delete[](void* p) noexcept { probe_free(p); }
void operator delete(void* p, std::size_t) noexcept { probe_free(p); }
void operator delete[](void* p, std::size_t) noexcept { probe_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { probe_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { probe_free(p); }

namespace edgefed {
namespace {

using testing::TempDir;

class LargestAllocation {
 public:
  LargestAllocation() {
    g_probe_largest = 0;
    g_probe_on = true;
  }
  ~LargestAllocation() { g_probe_on = false; }
  std::size_t bytes() const { return g_probe_largest.load(); }
};

constexpr std::uint64_t kFourGiB = std::uint64_t{4} << 30;

Ed25519SecretKey seeded_key(std::uint8_t fill) {
  return Ed25519SecretKey::from_seed(Bytes(kEd25519SecretKeyBytes, fill)).value();
}

const Ed25519SecretKey& model_key() {
  static const Ed25519SecretKey key = seeded_key(0x11);
  return key;
}
const Ed25519PublicKey& trusted() {
  static const Ed25519PublicKey key = derive_public_key(model_key());
  return key;
}

std::vector<float> ramp(std::size_t n, float step) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = (static_cast<float>(i) - static_cast<float>(n) / 2) * step;
  }
  return v;
}

NamedTensor make_tensor(std::string name, Shape shape, Encoding encoding, float step = 0.1f) {
  const std::vector<float> values = ramp(checked_numel(shape).value(), step);
  return NamedTensor{std::move(name), encode(shape, values, encoding).value()};
}

ModelArtifact model(std::uint64_t version = 7) {
  ModelArtifact a;
  a.model_version = version;
  a.metadata = R"({"arch":"tiny-cnn","note":"µ-model"})";
  a.tensors.push_back(
      make_tensor("conv1.weight", {4, 1, 3, 3}, Encoding::int8_symmetric_per_channel));
  a.tensors.push_back(make_tensor("conv1.bias", {4}, Encoding::float32));
  a.tensors.push_back(make_tensor("fc.weight", {3, 5}, Encoding::int4_symmetric_per_channel));
  a.tensors.push_back(make_tensor("act.scale", {2, 2}, Encoding::int8_asymmetric_per_tensor, 0.3f));
  a.tensors.push_back(make_tensor("step", {}, Encoding::float32));
  return a;
}

// Small enough to flip every bit of, big enough to have every section.
ModelArtifact small_model() {
  ModelArtifact a;
  a.model_version = 3;
  a.metadata = "{}";
  a.tensors.push_back(make_tensor("w", {2, 3}, Encoding::int4_symmetric_per_channel));
  a.tensors.push_back(make_tensor("b", {2}, Encoding::float32));
  return a;
}

Bytes written(const ModelArtifact& a, const Ed25519SecretKey& key = model_key()) {
  return write_artifact(a, key).value();
}

ErrorCode read_error(ByteSpan bytes, const ArtifactReadOptions& options = {}) {
  Result<ModelArtifact> r = read_artifact(bytes, trusted(), options);
  REQUIRE_FALSE(r);
  return r.error().code;
}

// ----- hand-built files, following the layout documented in artifact.hpp -----

struct RawTensor {
  std::string name;
  std::uint8_t tag = 0;
  Shape shape;
  std::vector<float> scales;
  std::vector<std::int32_t> zero_points;
  std::optional<std::uint64_t> declared_payload;  // default: data.size()
  Bytes data;
  std::optional<std::uint32_t> declared_scales;  // default: scales.size()
};

struct RawArtifact {
  std::uint32_t format_version = kArtifactFormatVersion;
  std::uint64_t model_version = 1;
  std::optional<Sha256Digest> schema;  // default: the tensors' schema hash
  std::string metadata = "{}";
  std::optional<std::uint32_t> declared_count;  // default: tensors.size()
  std::vector<RawTensor> tensors;
};

RawTensor raw_from(const NamedTensor& t) {
  return RawTensor{t.name,
                   static_cast<std::uint8_t>(t.tensor.encoding),
                   t.tensor.shape,
                   t.tensor.scales,
                   t.tensor.zero_points,
                   std::nullopt,
                   t.tensor.data,
                   std::nullopt};
}

RawArtifact raw_from(const ModelArtifact& a) {
  RawArtifact raw;
  raw.model_version = a.model_version;
  raw.metadata = a.metadata;
  for (const NamedTensor& t : a.tensors) raw.tensors.push_back(raw_from(t));
  return raw;
}

Sha256Digest raw_schema(const RawArtifact& raw) {
  std::vector<TensorSchema> schema;
  for (const RawTensor& t : raw.tensors) {
    schema.push_back(TensorSchema{t.name, t.shape, static_cast<Encoding>(t.tag)});
  }
  return schema_hash(schema);
}

// Total length, SHA-256 and signature over `body` (everything before the digest).
Bytes seal(Bytes body, const Ed25519SecretKey& key = model_key()) {
  Bytes total;
  ByteWriter(total).put<std::uint64_t>(body.size() + kArtifactTrailerBytes);
  std::copy(total.begin(), total.end(), body.begin() + kArtifactTotalLengthOffset);
  const Sha256Digest digest = sha256(body);
  Bytes message(kArtifactSignatureLabel, kArtifactSignatureLabel + kArtifactSignatureLabelBytes);
  message.insert(message.end(), digest.begin(), digest.end());
  ByteWriter w(body);
  w.put_bytes(digest);
  w.put_bytes(sign(key, message).span());
  return body;
}

Bytes reseal(const Bytes& artifact, const Ed25519SecretKey& key = model_key()) {
  return seal(Bytes(artifact.begin(), artifact.end() - kArtifactTrailerBytes), key);
}

Bytes build(const RawArtifact& raw) {
  Bytes body;
  ByteWriter w(body);
  w.put_bytes(kArtifactMagic);
  w.put<std::uint32_t>(raw.format_version);
  w.put<std::uint64_t>(0);  // total length, set by seal
  w.put<std::uint64_t>(raw.model_version);
  w.put_bytes(raw.schema.value_or(raw_schema(raw)));
  w.put<std::uint32_t>(static_cast<std::uint32_t>(raw.metadata.size()));
  w.put_bytes(as_bytes(raw.metadata));
  w.put<std::uint32_t>(raw.declared_count.value_or(static_cast<std::uint32_t>(raw.tensors.size())));
  for (const RawTensor& t : raw.tensors) {
    w.put<std::uint16_t>(static_cast<std::uint16_t>(t.name.size()));
    w.put_bytes(as_bytes(t.name));
    w.put<std::uint8_t>(t.tag);
    w.put<std::uint8_t>(static_cast<std::uint8_t>(t.shape.size()));
    for (std::int64_t d : t.shape) w.put<std::int64_t>(d);
    w.put<std::uint32_t>(t.declared_scales.value_or(static_cast<std::uint32_t>(t.scales.size())));
    for (float s : t.scales) w.put<float>(s);
    w.put<std::uint32_t>(static_cast<std::uint32_t>(t.zero_points.size()));
    for (std::int32_t z : t.zero_points) w.put<std::int32_t>(z);
    w.put<std::uint64_t>(t.declared_payload.value_or(t.data.size()));
  }
  for (const RawTensor& t : raw.tensors) w.put_bytes(t.data);
  return seal(std::move(body));
}

void put_u32_at(Bytes& bytes, std::size_t offset, std::uint32_t value) {
  Bytes le;
  ByteWriter(le).put<std::uint32_t>(value);
  std::copy(le.begin(), le.end(), bytes.begin() + static_cast<std::ptrdiff_t>(offset));
}

TEST_CASE("allocation probe sees a large block, so the no-allocation cases are not vacuous") {
  LargestAllocation probe;
  Bytes big(std::size_t{1} << 20);
  big[12345] = 1;
  CHECK(big[12345] == 1);
  CHECK(probe.bytes() >= big.size());
}

// ----- round trip and layout -----

TEST_CASE("artifact round trip of float32, int8 and int4 tensors with metadata is identical") {
  const ModelArtifact original = model();
  Result<ModelArtifact> back = read_artifact(written(original), trusted());
  REQUIRE(back);
  CHECK(*back == original);
  for (std::size_t i = 0; i < original.tensors.size(); ++i) {
    CHECK(decode(back->tensors[i].tensor).value() == decode(original.tensors[i].tensor).value());
  }
}

TEST_CASE("artifact round trip keeps int32 tensors' integers exactly") {
  ModelArtifact a = small_model();
  const std::vector<std::int32_t> bias{INT32_MIN, -1, (1 << 24) + 1, INT32_MAX};
  a.tensors.push_back(NamedTensor{"bias.q", encode_int32(Shape{4}, bias).value()});
  Result<ModelArtifact> back = read_artifact(written(a), trusted());
  REQUIRE(back);
  CHECK(*back == a);
  CHECK(back->tensors[2].tensor.encoding == Encoding::int32);
  CHECK(decode_int32(back->tensors[2].tensor).value() == bias);
}

TEST_CASE("artifact with no tensors and no metadata round trips") {
  ModelArtifact empty;
  empty.model_version = 1;
  const Bytes bytes = written(empty);
  CHECK(bytes.size() == kMinArtifactBytes);
  Result<ModelArtifact> back = read_artifact(bytes, trusted());
  REQUIRE(back);
  CHECK(*back == empty);
}

TEST_CASE("artifact bytes are exactly the layout documented in the header") {
  const ModelArtifact original = model();
  const Bytes bytes = written(original);
  CHECK(build(raw_from(original)) == bytes);  // Ed25519 is deterministic
  CHECK(std::equal(kArtifactMagic.begin(), kArtifactMagic.end(), bytes.begin()));
}

TEST_CASE("artifact schema hash covers names, shapes, encodings and order, not values") {
  const ModelArtifact a = model();
  ModelArtifact values_changed = a;
  values_changed.tensors[1] = make_tensor("conv1.bias", {4}, Encoding::float32, 0.7f);
  CHECK(schema_hash(values_changed.tensors) == schema_hash(a.tensors));

  ModelArtifact renamed = a, reshaped = a, reencoded = a, reordered = a;
  renamed.tensors[1].name = "conv1.b";
  reshaped.tensors[1] = make_tensor("conv1.bias", {2, 2}, Encoding::float32);
  reencoded.tensors[1] = make_tensor("conv1.bias", {4}, Encoding::int8_symmetric_per_channel);
  std::swap(reordered.tensors[0], reordered.tensors[1]);
  for (const ModelArtifact* other : {&renamed, &reshaped, &reencoded, &reordered}) {
    CHECK(schema_hash(other->tensors) != schema_hash(a.tensors));
  }
}

// ----- truncation and corruption -----

TEST_CASE("artifact truncated at every length is refused as truncated") {
  const Bytes bytes = written(small_model());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    CHECK(read_error(ByteSpan(bytes).first(n)) == ErrorCode::truncated);
  }
}

TEST_CASE("artifact with any single bit flipped is refused") {
  const Bytes bytes = written(small_model());
  const std::size_t digest_at = bytes.size() - kArtifactTrailerBytes;
  const std::size_t signature_at = digest_at + kSha256DigestBytes;
  for (std::size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    Bytes flipped = bytes;
    const std::size_t at = bit / 8;
    flipped[at] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    CAPTURE(bit);
    const ErrorCode code = read_error(flipped);
    if (at < 8) {
      CHECK(code == ErrorCode::bad_encoding);
    } else if (at < 12) {
      CHECK(code == ErrorCode::unsupported_version);
    } else if (at < 20) {
      CHECK((code == ErrorCode::truncated || code == ErrorCode::bad_length));
    } else if (at < signature_at) {
      CHECK(code == ErrorCode::checksum_mismatch);
    } else {
      CHECK(code == ErrorCode::bad_signature);
    }
  }
}

TEST_CASE("artifact with a trailing byte is bad_length") {
  Bytes bytes = written(small_model());
  bytes.push_back(0);
  CHECK(read_error(bytes) == ErrorCode::bad_length);
}

TEST_CASE("artifact over the size limit is too_large before anything is read") {
  const Bytes bytes = written(model());
  ArtifactReadOptions options;
  options.limits.max_bytes = bytes.size() - 1;
  CHECK(read_error(bytes, options) == ErrorCode::too_large);
  CHECK(read_error(Bytes(bytes.size(), 0), options) == ErrorCode::too_large);
}

// ----- authenticity -----

TEST_CASE("artifact re-signed with another key is bad_signature") {
  const Bytes forged = reseal(written(model()), seeded_key(0x22));
  Result<ModelArtifact> r = read_artifact(forged, trusted());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::bad_signature);
  CHECK(r.error().detail.find("not signed by the trusted model key") != std::string::npos);
}

TEST_CASE("artifact with wrong magic is bad_encoding") {
  Bytes bytes = written(small_model());
  bytes[1] = 'X';
  CHECK(read_error(bytes) == ErrorCode::bad_encoding);
  CHECK(read_error(as_bytes("\x89PNG\r\n\x1a\n and the rest of a picture")) ==
        ErrorCode::bad_encoding);
}

TEST_CASE("artifact of an unsupported format version names the supported one") {
  Bytes bytes = written(small_model());
  put_u32_at(bytes, 8, 2);
  Result<ModelArtifact> r = read_artifact(reseal(bytes), trusted());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::unsupported_version);
  CHECK(r.error().detail.find("reads version 1") != std::string::npos);
}

// ----- freshness and schema -----

TEST_CASE("artifact model version equal to or lower than the held one is rollback") {
  const Bytes v7 = written(model(7));
  ArtifactReadOptions options;
  options.min_model_version_exclusive = 7;
  CHECK(read_error(v7, options) == ErrorCode::rollback);
  CHECK(read_error(written(model(6)), options) == ErrorCode::rollback);
  options.min_model_version_exclusive = 6;
  CHECK(read_artifact(v7, trusted(), options).ok());
  options.min_model_version_exclusive.reset();  // first join: any version
  CHECK(read_artifact(written(model(0)), trusted(), options).ok());
}

TEST_CASE("artifact schema differing from the expected one is schema_mismatch") {
  const Bytes bytes = written(model());
  std::vector<TensorSchema> client_schema;
  for (const NamedTensor& t : model().tensors) {
    client_schema.push_back(TensorSchema{t.name, t.tensor.shape, t.tensor.encoding});
  }
  ArtifactReadOptions options;
  options.expected_schema_hash = schema_hash(client_schema);
  CHECK(read_artifact(bytes, trusted(), options).ok());

  client_schema[2].shape = {5, 3};
  options.expected_schema_hash = schema_hash(client_schema);
  CHECK(read_error(bytes, options) == ErrorCode::schema_mismatch);
}

// ----- hostile but correctly signed tables -----

TEST_CASE("artifact table entry claiming a 4 GiB payload is refused without allocating") {
  RawArtifact raw = raw_from(small_model());
  raw.tensors[0].declared_payload = kFourGiB;
  const Bytes bytes = build(raw);
  LargestAllocation probe;
  CHECK(read_error(bytes) == ErrorCode::bad_length);
  CHECK(probe.bytes() < 64 * 1024);
}

TEST_CASE("artifact claiming 2^32 - 1 tensors is refused without allocating") {
  RawArtifact raw = raw_from(small_model());
  raw.declared_count = UINT32_MAX;
  ArtifactReadOptions options;
  options.limits.max_tensors = SIZE_MAX;  // so the bytes-left bound is what refuses it
  const Bytes bytes = build(raw);
  LargestAllocation probe;
  CHECK(read_error(bytes, options) == ErrorCode::bad_length);
  CHECK(read_error(bytes) == ErrorCode::bad_length);
  CHECK(probe.bytes() < 64 * 1024);
}

TEST_CASE("artifact table entry claiming 2^32 - 1 scales is refused without allocating") {
  RawArtifact raw = raw_from(small_model());
  raw.tensors[0].declared_scales = UINT32_MAX;
  const Bytes bytes = build(raw);
  LargestAllocation probe;
  CHECK(read_error(bytes) == ErrorCode::bad_length);
  CHECK(probe.bytes() < 64 * 1024);
}

TEST_CASE("artifact tensor over the element limit is bad_length") {
  RawArtifact raw = raw_from(small_model());
  raw.tensors[0].shape = {std::int64_t{1} << 40, 1 << 20};
  CHECK(read_error(build(raw)) == ErrorCode::bad_length);
}

TEST_CASE("artifact with more tensors than the limit is bad_length") {
  ArtifactReadOptions options;
  options.limits.max_tensors = 1;
  CHECK(read_error(written(small_model()), options) == ErrorCode::bad_length);
}

TEST_CASE("artifact whose payload does not add up to the table is bad_length") {
  RawArtifact raw = raw_from(small_model());
  raw.tensors[1].declared_payload = raw.tensors[1].data.size() - 1;
  CHECK(read_error(build(raw)) == ErrorCode::bad_length);
}

TEST_CASE("artifact with metadata over 64 KiB is bad_length") {
  RawArtifact raw = raw_from(small_model());
  raw.metadata = std::string(kMaxArtifactMetadataBytes + 1, ' ');
  CHECK(read_error(build(raw)) == ErrorCode::bad_length);
}

TEST_CASE("artifact with an unknown encoding tag, bad rank or negative dim is bad_value") {
  RawArtifact tag = raw_from(small_model());
  tag.tensors[0].tag = 9;
  CHECK(read_error(build(tag)) == ErrorCode::bad_value);

  RawArtifact rank = raw_from(small_model());
  rank.tensors[1].shape = Shape(9, 1);
  CHECK(read_error(build(rank)) == ErrorCode::bad_value);

  RawArtifact negative = raw_from(small_model());
  negative.tensors[1].shape = {-2};
  CHECK(read_error(build(negative)) == ErrorCode::bad_value);
}

TEST_CASE("artifact with an empty, non-UTF-8 or duplicate tensor name is bad_value") {
  for (const std::string& name : {std::string(), std::string("\xC0\xAF"), std::string("w")}) {
    RawArtifact raw = raw_from(small_model());
    raw.tensors[1].name = name;  // "w" duplicates tensor 0
    CAPTURE(name);
    CHECK(read_error(build(raw)) == ErrorCode::bad_value);
  }
}

TEST_CASE("artifact whose header schema hash disagrees with its table is bad_value") {
  RawArtifact raw = raw_from(small_model());
  raw.schema = sha256(as_bytes("some other schema"));
  CHECK(read_error(build(raw)) == ErrorCode::bad_value);
}

TEST_CASE("artifact tensor failing quant validation is refused after the signature") {
  RawArtifact bad_code = raw_from(model());
  bad_code.tensors[0].data[0] = 0x80;  // -128 is outside int8 symmetric [-127, 127]
  CHECK(read_error(build(bad_code)) == ErrorCode::bad_value);

  RawArtifact few_scales = raw_from(model());
  few_scales.tensors[0].scales.pop_back();
  CHECK(read_error(build(few_scales)) == ErrorCode::bad_length);

  RawArtifact short_data = raw_from(model());
  short_data.tensors[1].data.pop_back();
  CHECK(read_error(build(short_data)) == ErrorCode::truncated);
}

TEST_CASE("artifact names and metadata may be any UTF-8, but not surrogates or overlongs") {
  ModelArtifact a = small_model();
  a.tensors[0].name = "\xC2\xB5.\xE5\xB1\x82.\xF0\x9F\x98\x80";  // 2-, 3- and 4-byte forms
  a.metadata = "{\"note\":\"\xE2\x82\xAC\"}";
  Result<ModelArtifact> back = read_artifact(written(a), trusted());
  REQUIRE(back);
  CHECK(*back == a);

  for (const char* bad : {"\xED\xA0\x80", "\xE0\x80\xAF", "\xF4\x90\x80\x80", "\xE2\x82"}) {
    ModelArtifact b = small_model();
    b.tensors[0].name = bad;
    CAPTURE(bad);
    CHECK(write_artifact(b, model_key()).error().code == ErrorCode::invalid_argument);
  }
}

// ----- writer input checks -----

TEST_CASE("write_artifact refuses invalid inputs as invalid_argument") {
  ModelArtifact big_metadata = small_model();
  big_metadata.metadata.assign(kMaxArtifactMetadataBytes + 1, ' ');
  ModelArtifact bad_utf8 = small_model();
  bad_utf8.metadata = "\xFF";
  ModelArtifact duplicate = small_model();
  duplicate.tensors[1].name = "w";
  ModelArtifact unnamed = small_model();
  unnamed.tensors[0].name.clear();
  ModelArtifact long_name = small_model();
  long_name.tensors[0].name.assign(kMaxTensorNameBytes + 1, 'n');
  ModelArtifact invalid_tensor = small_model();
  invalid_tensor.tensors[0].tensor.scales.clear();
  for (const ModelArtifact* a :
       {&big_metadata, &bad_utf8, &duplicate, &unnamed, &long_name, &invalid_tensor}) {
    Result<Bytes> r = write_artifact(*a, model_key());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::invalid_argument);
  }
}

// ----- files -----

TEST_CASE("artifact saved atomically loads back byte for byte") {
  TempDir dir;
  const std::filesystem::path path = dir.path() / "model.efm";
  const Bytes first = written(model(1));
  const Bytes second = written(model(2));
  REQUIRE(save_artifact(path, first));
  REQUIRE(save_artifact(path, second));  // replaces

  Result<Bytes> loaded = load_file(path, ArtifactLimits{}.max_bytes);
  REQUIRE(loaded);
  CHECK(*loaded == second);
  CHECK(read_artifact(*loaded, trusted())->model_version == 2);
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);  // no temporary file left behind
}

TEST_CASE("load_file of a missing file is io_error, of a file over the bound too_large") {
  TempDir dir;
  CHECK(load_file(dir.path() / "absent", 1024).error().code == ErrorCode::io_error);
  CHECK(load_file(dir.path(), 1024).error().code == ErrorCode::io_error);
  REQUIRE(save_artifact(dir.path() / "f", Bytes(100, 1)));
  CHECK(load_file(dir.path() / "f", 99).error().code == ErrorCode::too_large);
  CHECK(load_file(dir.path() / "f", 100)->size() == 100);
  CHECK(save_artifact(dir.path() / "no" / "dir", Bytes(1)).error().code == ErrorCode::io_error);
}

}  // namespace
}  // namespace edgefed
