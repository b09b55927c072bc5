// Hashing and signatures for edgefed: SHA-256 and Ed25519, over OpenSSL 3 EVP.
//
// Small, fixed-size, role-named types after libsodium: a public key, a secret key and a
// signature are distinct types over std::array, so one cannot be passed for another. This
// header does not expose OpenSSL (it is a PRIVATE dependency of edgefed_common).
//
// Failure channels:
//   - Bytes from outside (PEM text, key files, wire-sized spans) -> Result: io_error for a
//     missing or unreadable file, too_large for a file over kMaxKeyFileBytes, bad_encoding for
//     garbage or a key that is not Ed25519, bad_length for a raw key of the wrong size.
//   - A signature that does not verify -> `verify` returns false (no detail, as libsodium).
//   - OpenSSL itself failing (no default provider, out of memory, CSPRNG unavailable) is a
//     broken environment, not bad input: the process prints the OpenSSL error and aborts.
//     So `sha256`, `sign` and `generate_ed25519` return plain values.
//
// Thread safety: free functions are safe to call concurrently. A `Sha256` object is not.
//
// Typical use (server signs, device verifies):
//
//   Result<Ed25519SecretKey> key = load_ed25519_secret_key("/etc/edgefed/model.key");
//   if (!key) return key.error();
//   Ed25519Signature sig = sign(*key, message);
//
//   Result<Ed25519PublicKey> trusted = load_ed25519_public_key("model.pub");
//   if (!trusted) return trusted.error();
//   if (!verify(*trusted, message, sig)) return fail(ErrorCode::bad_signature, "...");
//
// Keys for a new deployment: `openssl genpkey -algorithm ed25519 -out model.key` and
// `openssl pkey -in model.key -pubout -out model.pub`, or generate_ed25519() and the save_*
// functions below; both sides read either.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept opaque here.

namespace edgefed {

// ---------------------------------------------------------------------------------------
// SHA-256

inline constexpr std::size_t kSha256DigestBytes = 32;
using Sha256Digest = std::array<std::uint8_t, kSha256DigestBytes>;

// SHA-256 of `data` in one call.
Sha256Digest sha256(ByteSpan data);

// Incremental SHA-256, for inputs produced piecewise:
//
//   Sha256 h;  h.update(header);  h.update(payload);  Sha256Digest d = h.finish();
//
// `finish()` returns the digest and resets the hasher to the empty state, so it can be
// reused. Movable, not copyable; using a moved-from hasher aborts (caller bug).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(ByteSpan data);
  Sha256Digest finish();

 private:
  struct CtxDeleter {
    void operator()(evp_md_ctx_st* ctx) const noexcept;
  };
  std::unique_ptr<evp_md_ctx_st, CtxDeleter> ctx_;
};

// ---------------------------------------------------------------------------------------
// Ed25519 (RFC 8032, pure Ed25519: the message is signed as is, no prehash)

inline constexpr std::size_t kEd25519PublicKeyBytes = 32;
inline constexpr std::size_t kEd25519SecretKeyBytes = 32;  // the RFC 8032 seed
inline constexpr std::size_t kEd25519SignatureBytes = 64;
// Bound on a PEM key file read from disk (a real one is ~120 bytes).
inline constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

struct Ed25519PublicKey {
  std::array<std::uint8_t, kEd25519PublicKeyBytes> bytes{};

  // bad_length unless `raw` is exactly kEd25519PublicKeyBytes. Any 32 bytes are accepted;
  // an encoding that is not a curve point simply never verifies.
  static Result<Ed25519PublicKey> from_bytes(ByteSpan raw);
  ByteSpan span() const noexcept { return bytes; }
  friend bool operator==(const Ed25519PublicKey&, const Ed25519PublicKey&) = default;
};

struct Ed25519Signature {
  std::array<std::uint8_t, kEd25519SignatureBytes> bytes{};

  // bad_length unless `raw` is exactly kEd25519SignatureBytes.
  static Result<Ed25519Signature> from_bytes(ByteSpan raw);
  ByteSpan span() const noexcept { return bytes; }
  friend bool operator==(const Ed25519Signature&, const Ed25519Signature&) = default;
};

// The 32-byte Ed25519 seed. The bytes never leave this object through the API except into
// a PEM file (`save_ed25519_secret_key`); they are wiped with OPENSSL_cleanse on
// destruction and when moved from.
//
// Move-only; copy explicitly with `clone()`. A moved-from key is empty, and signing with or
// deriving from an empty key aborts (caller bug): an all-zero seed is a valid, public key.
class Ed25519SecretKey {
 public:
  // bad_length unless `seed` is exactly kEd25519SecretKeyBytes.
  static Result<Ed25519SecretKey> from_seed(ByteSpan seed);

  ~Ed25519SecretKey();
  Ed25519SecretKey(Ed25519SecretKey&& other) noexcept;
  Ed25519SecretKey& operator=(Ed25519SecretKey&& other) noexcept;
  Ed25519SecretKey(const Ed25519SecretKey&) = delete;
  Ed25519SecretKey& operator=(const Ed25519SecretKey&) = delete;

  Ed25519SecretKey clone() const;
  bool empty() const noexcept { return !has_seed_; }

 private:
  Ed25519SecretKey() = default;
  friend class Ed25519SecretKeyAccess;  // crypto.cpp only
  std::array<std::uint8_t, kEd25519SecretKeyBytes> seed_{};
  bool has_seed_ = false;
};

struct Ed25519KeyPair {
  Ed25519PublicKey public_key;
  Ed25519SecretKey secret_key;
};

// A fresh key pair from OpenSSL's CSPRNG (RAND_priv_bytes).
Ed25519KeyPair generate_ed25519();

// The public key belonging to `secret`.
Ed25519PublicKey derive_public_key(const Ed25519SecretKey& secret);

// Deterministic Ed25519 signature (RFC 8032) of `message`.
// WARNING: sign a domain-separated message (a fixed label, then the data), never bytes
// another protocol could also ask this key to sign.
Ed25519Signature sign(const Ed25519SecretKey& secret, ByteSpan message);

// True iff `signature` is a valid signature of `message` under `public_key`.
[[nodiscard]] bool verify(const Ed25519PublicKey& public_key, ByteSpan message,
                          const Ed25519Signature& signature);

// ---------------------------------------------------------------------------------------
// PEM, compatible with the openssl CLI:
//   secret key  PKCS#8 "BEGIN PRIVATE KEY", as `openssl genpkey -algorithm ed25519`
//   public key  SPKI   "BEGIN PUBLIC KEY",  as `openssl pkey -pubout`
// Encrypted private keys are refused (bad_encoding), never prompted for.

Result<Ed25519SecretKey> ed25519_secret_key_from_pem(std::string_view pem);
Result<Ed25519PublicKey> ed25519_public_key_from_pem(std::string_view pem);
std::string ed25519_public_key_to_pem(const Ed25519PublicKey& public_key);

// Reads a PEM file (at most kMaxKeyFileBytes). The file's bytes are wiped after parsing.
Result<Ed25519SecretKey> load_ed25519_secret_key(const std::filesystem::path& path);
Result<Ed25519PublicKey> load_ed25519_public_key(const std::filesystem::path& path);

// Writes atomically (temporary file in the same directory, fsync, rename). The secret key
// file is created with mode 0600 and replaces any existing file; the public key gets 0644.
// Errors: io_error.
Status save_ed25519_secret_key(const std::filesystem::path& path, const Ed25519SecretKey& secret);
Status save_ed25519_public_key(const std::filesystem::path& path,
                               const Ed25519PublicKey& public_key);

// ---------------------------------------------------------------------------------------
// Comparison

// Equality in time independent of the contents (CRYPTO_memcmp); differing lengths return
// false at once (lengths are not secret). WARNING: equality only, not an ordering.
[[nodiscard]] bool constant_time_equal(ByteSpan a, ByteSpan b) noexcept;

}  // namespace edgefed
