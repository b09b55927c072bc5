// The signed model artifact (DESIGN §5): a quantized model as one file the server signs
// with its Ed25519 model key and every device verifies before it loads a single tensor.
//
// Byte layout, format version 1. All integers little-endian; floats IEEE-754 binary32 LE.
//
//   offset  size      field
//   ------  --------  ------------------------------------------------------------------
//        0  8         magic 89 45 46 4D 0D 0A 1A 0A ("\x89EFM\r\n\x1a\n": the high byte
//                     and CR LF / ^Z catch 7-bit channels and newline conversion, as PNG)
//        8  4   u32   format version (kArtifactFormatVersion = 1)
//       12  8   u64   total length of the file in bytes, digest and signature included
//       20  8   u64   model version (anti-rollback: devices accept only newer versions)
//       28  32        schema hash, see `schema_hash` below (must match the tensor table)
//       60  4   u32   metadata length M, at most kMaxArtifactMetadataBytes
//       64  M         metadata: UTF-8 text (JSON by convention; not parsed here)
//     64+M  4   u32   tensor count N
//           ...       tensor table: N entries, each
//                       2      u16  name length L, 1..kMaxTensorNameBytes
//                       L           name, UTF-8, unique within the artifact
//                       1      u8   encoding tag (quant.hpp `Encoding`)
//                       1      u8   rank R, 0..kMaxTensorRank
//                       8R     i64  dims, each >= 0
//                       4      u32  scale count S
//                       4S     f32  scales
//                       4      u32  zero point count Z
//                       4Z     i32  zero points
//                       8      u64  payload length P (bytes of EncodedTensor::data)
//           ...       payload: the N tensors' data bytes, concatenated in table order;
//                     exactly sum(P) bytes, nothing before the digest is left over
//   T - 96  32        SHA-256 of bytes [0, T - 96)          (T = total length)
//   T - 64  64        Ed25519 signature by the model key of the 58 bytes
//                     kArtifactSignatureLabel (26 bytes, NUL included) || the digest
//
// The label separates these signatures from anything else the model key might sign.
//
// Reading (`read_artifact`) is for untrusted bytes and checks, in this order, each failure
// with its own code so logs say what happened:
//   1. size over limits.max_bytes                                  too_large
//   2. magic (a shorter input that is a prefix of it: truncated)   bad_encoding
//   3. format version                                              unsupported_version
//   4. declared total length vs actual size: a shorter input is     truncated
//      a cut-off download ("artifact is N bytes, its header declares M: truncated");
//      trailing bytes, or a length under kMinArtifactBytes         bad_length
//   5. SHA-256 ("corrupted")                                       checksum_mismatch
//   6. signature ("not signed by the trusted model key")           bad_signature
//   7. header, table and payload, every declared length checked against the bytes left
//      before anything is allocated for it:
//        a length past the end, a count or size over a limit, payload lengths that do not
//        add up to exactly the bytes before the digest             bad_length
//        a fixed-size field past the end                           truncated
//        bad name (empty, too long, not UTF-8, duplicate), unknown encoding tag,
//        rank over 8, negative dim, metadata not UTF-8              bad_value
//        stored schema hash differs from the table's               bad_value
//   8. model version <= the version already held                   rollback
//   9. schema hash differs from the expected one                   schema_mismatch
//  10. each tensor through quant `validate` (scales, codes, sizes)  its code, e.g. bad_value
// Only signed content reaches step 7; steps 1-4 read nothing but the fixed header. Nothing
// is half-loaded: on any error the caller gets only the Error.
//
// All functions are safe to call concurrently; none keeps state.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/common/parameter_set.hpp"
#include "edgefed/common/quant.hpp"
#include "edgefed/common/result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace edgefed {

inline constexpr std::array<std::uint8_t, 8> kArtifactMagic = {0x89, 'E',  'F',  'M',
                                                               '\r', '\n', 0x1A, '\n'};
inline constexpr std::uint32_t kArtifactFormatVersion = 1;
// Signed message prefix; sizeof includes the terminating NUL, which is signed too.
inline constexpr char kArtifactSignatureLabel[] = "edgefed model artifact v1";
inline constexpr std::size_t kArtifactSignatureLabelBytes = sizeof(kArtifactSignatureLabel);
// Offsets of the fixed header fields (see the layout above).
inline constexpr std::size_t kArtifactTotalLengthOffset = 12;
inline constexpr std::size_t kArtifactFixedHeaderBytes = 64;  // through the metadata length
inline constexpr std::size_t kArtifactTrailerBytes = kSha256DigestBytes + kEd25519SignatureBytes;
// Smallest possible artifact: fixed header, tensor count, trailer (no metadata, no tensors).
inline constexpr std::size_t kMinArtifactBytes =
    kArtifactFixedHeaderBytes + 4 + kArtifactTrailerBytes;

inline constexpr std::size_t kMaxArtifactMetadataBytes = 64 * 1024;
inline constexpr std::size_t kMaxTensorNameBytes = 1024;

struct NamedTensor {
  std::string name;
  EncodedTensor tensor;

  bool operator==(const NamedTensor&) const = default;
};

struct ModelArtifact {
  std::uint64_t model_version = 0;
  std::string metadata;              // UTF-8, at most kMaxArtifactMetadataBytes
  std::vector<NamedTensor> tensors;  // table order is significant (it enters the schema hash)

  bool operator==(const ModelArtifact&) const = default;
};

// One tensor of a model schema: what a client expects, independent of values.
struct TensorSchema {
  std::string name;
  Shape shape;
  Encoding encoding = Encoding::float32;
};

// SHA-256 of the canonical description of a schema: the ASCII label "edgefed schema v1"
// and a NUL, u64 tensor count, then per tensor in order: u32 name length, name bytes,
// u8 encoding tag, u32 rank, rank x i64 dims (all little-endian). Defined for any input,
// valid or not, and injective over it. A client builds its TensorSchema list and compares
// the result with `ArtifactReadOptions::expected_schema_hash`.
Sha256Digest schema_hash(std::span<const TensorSchema> schema);
// The same hash for the names, shapes and encodings of `tensors`.
Sha256Digest schema_hash(std::span<const NamedTensor> tensors);

// Bounds on an untrusted artifact. Defaults suit edge models (tens of MB).
struct ArtifactLimits {
  std::size_t max_bytes = std::size_t{256} << 20;  // whole file, checked first
  std::size_t max_tensors = 4096;
  std::size_t max_elements_per_tensor = kMaxQuantElements;  // 2^28
};

struct ArtifactReadOptions {
  // The highest model version the device already holds; an artifact whose version is equal
  // or lower is refused with rollback. nullopt (first join): any version is accepted.
  std::optional<std::uint64_t> min_model_version_exclusive;
  // When set, the artifact's schema hash must equal it (schema_mismatch otherwise).
  std::optional<Sha256Digest> expected_schema_hash;
  ArtifactLimits limits;
};

// Serializes and signs `artifact` with the model key.
// Errors, all invalid_argument (the caller's data, nothing was written): metadata over
// kMaxArtifactMetadataBytes or not UTF-8; more than 2^32 - 1 tensors; an empty, over-long,
// non-UTF-8 or duplicate name; a tensor that fails quant `validate` (detail names it).
Result<Bytes> write_artifact(const ModelArtifact& artifact, const Ed25519SecretKey& model_key);

// Verifies and parses an artifact signed by `trusted_model_key`; see the checks above.
Result<ModelArtifact> read_artifact(ByteSpan bytes, const Ed25519PublicKey& trusted_model_key,
                                    const ArtifactReadOptions& options = {});

// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync,
// rename over `path`, fsync of the directory. A crash leaves the old file or the new one,
// never a mix. Mode 0644. Errors: io_error.
Status save_artifact(const std::filesystem::path& path, ByteSpan bytes);

// Reads a whole regular file of at most `max_bytes` (checked with fstat before allocating).
// Errors: io_error (missing, unreadable, not a regular file), too_large.
Result<Bytes> load_file(const std::filesystem::path& path, std::size_t max_bytes);

}  // namespace edgefed
